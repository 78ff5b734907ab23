//! Reading part of an object, for servers: the one chunk loop of [`super::chunks`] over
//! the chunks that cover the range, releasing only the requested bytes of each.

use mirra_driver_api::Key;
use tokio::io::AsyncWrite;

use super::chunks::{ChunkRead, Hedging};
use super::{ProviderFailure, Store, StoreError};
use crate::manifest::Manifest;

/// What a server needs before it sends any byte of an object: the verified manifest of
/// the version it will serve, and the facts its headers carry.
#[derive(Debug, Clone)]
pub struct ObjectHead {
    /// The verified manifest; pass it to [`Store::get_range`] so the bytes sent are the
    /// version the headers describe.
    pub manifest: Manifest,
    /// The provider the manifest came from.
    pub provider: String,
}

impl ObjectHead {
    /// SHA-256 of the whole object, lowercase hex: a strong validator (ETag).
    pub fn sha256_hex(&self) -> String {
        hex::encode(self.manifest.body.sha256)
    }

    /// The object's size in bytes.
    pub fn size(&self) -> u64 {
        self.manifest.body.size
    }

    /// The content type recorded at put time (may be empty).
    pub fn content_type(&self) -> &str {
        &self.manifest.body.content_type
    }

    /// The version this manifest describes.
    pub fn version(&self) -> u64 {
        self.manifest.body.version
    }

    /// When the version was written, in unix seconds.
    pub fn created(&self) -> u64 {
        self.manifest.body.created
    }
}

/// A ranged read that delivered every requested byte.
#[derive(Debug, Clone, Default)]
pub struct RangeReport {
    /// Bytes written to the output.
    pub bytes: u64,
    /// Chunks fetched.
    pub chunks: u32,
    /// Chunks won by a provider asked because the one before it was slow (with no
    /// provider failing the chunk).
    pub hedged: u32,
    /// Chunks that came from another provider after at least one failed them.
    pub failovers: u32,
    /// Every provider failure along the way, one entry per chunk a provider failed (not
    /// deduplicated, so a server can count them).
    pub provider_errors: Vec<ProviderFailure>,
}

impl Store {
    /// The manifest a read of `key` should follow (first valid one in read order, never
    /// older than a version seen here), as [`Store::get`] resolves it.
    ///
    /// # Errors
    /// `NoValidCopy` naming each provider's failure, `Deleted` for a tombstone, or
    /// `State` when the local record of versions seen cannot be used.
    pub async fn head(&self, key: &Key) -> Result<ObjectHead, StoreError> {
        self.head_with(key, false).await
    }

    /// [`Store::head`] asking every provider and following the newest valid manifest
    /// (`get --latest`).
    ///
    /// # Errors
    /// As for [`Store::head`].
    pub async fn head_latest(&self, key: &Key) -> Result<ObjectHead, StoreError> {
        self.head_with(key, true).await
    }

    async fn head_with(&self, key: &Key, latest: bool) -> Result<ObjectHead, StoreError> {
        let (manifest, index) = self.resolve_manifest(key, latest).await?;
        Ok(ObjectHead {
            manifest,
            provider: self.replicas[index].name().to_owned(),
        })
    }

    /// After a read of `failed` stopped with `error` before releasing a byte: the newest
    /// manifest of `key`, asking every provider, when it outranks `failed` and some
    /// provider's bytes did not match `failed`.
    ///
    /// [`Store::head`] follows the first provider's manifest, and a write interrupted
    /// between committing a provider's bytes and writing its manifest leaves that
    /// provider with bytes newer than its manifest; when no other provider still holds
    /// the older version's bytes, only the newer manifest can be read. `None`: read
    /// nothing else (the failure was not one of bytes, or nothing newer exists).
    pub async fn newer_after_failed_read(
        &self,
        key: &Key,
        failed: &Manifest,
        error: &StoreError,
    ) -> Option<ObjectHead> {
        if !error.bytes_mismatched() {
            return None;
        }
        let newest = self.head_latest(key).await.ok()?;
        newest.manifest.outranks(failed).then_some(newest)
    }

    /// Writes bytes `start..end_exclusive` of the object `manifest` describes to `out`,
    /// fetching only the chunks that cover them. The range is clamped to the object.
    ///
    /// Each chunk is verified against `manifest` before any of its bytes are written; a
    /// chunk no provider can deliver intact ends the read with an error, so `out` then
    /// holds a verified prefix of the range and nothing else.
    ///
    /// # Errors
    /// `NoValidCopy` naming each provider's failure for the chunk that could not be
    /// read, or `Output` when writing to `out` failed (e.g. the client went away).
    pub async fn get_range(
        &self,
        key: &Key,
        manifest: &Manifest,
        start: u64,
        end_exclusive: u64,
        out: &mut (impl AsyncWrite + Unpin),
    ) -> Result<RangeReport, StoreError> {
        let read = ChunkRead {
            key,
            manifest,
            start,
            end: end_exclusive,
            order: self.read_order(),
            hedging: Hedging::SmallChunks,
        };
        // A failing chunk's error names only that chunk's failures: a server counts the
        // earlier ones from the reports it already had.
        let read = self
            .read_chunks(read, out)
            .await
            .map_err(|failed| failed.into_store_error(key))?;
        Ok(RangeReport {
            bytes: read.bytes,
            chunks: read.chunks,
            hedged: read.hedged,
            failovers: read.failovers,
            provider_errors: read.failures,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use mirra_driver_api::{
        Capabilities, DriverInfo, DriverResult, ObjectMeta, ObjectWriter, StorageDriver,
    };

    use super::*;
    use crate::config::WriteQuorum;
    use crate::health::BreakerPolicy;
    use crate::identity::Identity;
    use crate::replica::{Replica, ReplicaSettings};
    use crate::state::{RepairJournal, VersionsSeen};
    use crate::store::StoreParts;

    type Objects = Arc<Mutex<HashMap<String, Vec<u8>>>>;

    /// An in-memory provider that flips a byte of every data read when `corrupt` is set.
    struct Memory {
        objects: Objects,
        corrupt: bool,
        reads: Arc<Mutex<Vec<u64>>>,
    }

    struct MemoryWriter {
        objects: Objects,
        key: String,
        data: Vec<u8>,
    }

    impl ObjectWriter for MemoryWriter {
        fn write(&mut self, data: &[u8]) -> DriverResult<()> {
            self.data.extend_from_slice(data);
            Ok(())
        }
        fn commit(self: Box<Self>) -> DriverResult<()> {
            self.objects.lock().unwrap().insert(self.key, self.data);
            Ok(())
        }
        fn abort(self: Box<Self>) -> DriverResult<()> {
            Ok(())
        }
    }

    impl StorageDriver for Memory {
        fn stat(&self, key: &Key) -> DriverResult<ObjectMeta> {
            let objects = self.objects.lock().unwrap();
            let data = objects
                .get(key.as_str())
                .ok_or_else(|| mirra_driver_api::DriverError::not_found(key))?;
            Ok(ObjectMeta {
                size: data.len() as u64,
            })
        }
        fn read(&self, key: &Key, offset: u64, buf: &mut [u8]) -> DriverResult<usize> {
            let objects = self.objects.lock().unwrap();
            let data = objects
                .get(key.as_str())
                .ok_or_else(|| mirra_driver_api::DriverError::not_found(key))?;
            let rest = data.get(offset as usize..).unwrap_or_default();
            let n = rest.len().min(buf.len());
            buf[..n].copy_from_slice(&rest[..n]);
            if !key.as_str().starts_with(".mirra/") {
                self.reads.lock().unwrap().push(offset);
                if self.corrupt && n > 0 {
                    buf[0] ^= 0xff;
                }
            }
            Ok(n)
        }
        fn put(&self, key: &Key, data: &[u8]) -> DriverResult<()> {
            self.objects
                .lock()
                .unwrap()
                .insert(key.to_string(), data.to_vec());
            Ok(())
        }
        fn begin_write(&self, key: &Key) -> DriverResult<Box<dyn ObjectWriter>> {
            Ok(Box::new(MemoryWriter {
                objects: self.objects.clone(),
                key: key.to_string(),
                data: Vec::new(),
            }))
        }
    }

    struct Fixture {
        store: Store,
        reads: Arc<Mutex<Vec<u64>>>,
        _state: tempfile::TempDir,
    }

    fn replica(name: &str, priority: u16, driver: Memory) -> Replica {
        let settings = ReplicaSettings {
            breaker: BreakerPolicy {
                failures: 100,
                cooldown: Duration::from_secs(1),
            },
            concurrency: 4,
            ..ReplicaSettings::for_tests(name, priority)
        };
        let info = DriverInfo {
            name: "memory".into(),
            version: "0".into(),
            url_schemes: Vec::new(),
            capabilities: Capabilities::READ | Capabilities::RANGE_READ | Capabilities::WRITE,
        };
        Replica::new(settings, info, Arc::new(driver))
    }

    /// Two providers: `bad` (tried first) corrupts every read, `good` does not.
    fn fixture() -> Fixture {
        let state = tempfile::tempdir().unwrap();
        let identity = Arc::new(Identity::generate());
        let reads = Arc::new(Mutex::new(Vec::new()));
        let bad = Memory {
            objects: Objects::default(),
            corrupt: true,
            reads: reads.clone(),
        };
        let good = Memory {
            objects: Objects::default(),
            corrupt: false,
            reads: Arc::new(Mutex::new(Vec::new())),
        };
        let store = Store::new(StoreParts {
            replicas: vec![replica("bad", 1, bad), replica("good", 2, good)],
            signer: identity.public_key(),
            identity: Some(identity),
            versions: VersionsSeen::open(state.path()).unwrap(),
            journal: RepairJournal::open(state.path()).unwrap(),
            quorum: WriteQuorum::default(),
            chunk_size: 10,
            hedge_after: Some(Duration::from_secs(5)),
        });
        Fixture {
            store,
            reads,
            _state: state,
        }
    }

    async fn read(
        store: &Store,
        key: &Key,
        head: &ObjectHead,
        start: u64,
        end: u64,
    ) -> Result<(Vec<u8>, RangeReport), StoreError> {
        let mut out = Vec::new();
        let report = store
            .get_range(key, &head.manifest, start, end, &mut out)
            .await?;
        Ok((out, report))
    }

    #[tokio::test]
    async fn ranges_return_exactly_the_bytes_asked_for_from_the_chunks_covering_them() {
        let f = fixture();
        let key = Key::parse("obj").unwrap();
        let data: Vec<u8> = (0..95u8).collect();
        f.store
            .put(&key, &data[..], "application/x-test")
            .await
            .unwrap();
        let head = f.store.head(&key).await.unwrap();
        assert_eq!(
            (head.size(), head.content_type(), head.version()),
            (95, "application/x-test", 1)
        );
        assert_eq!(
            head.sha256_hex(),
            hex::encode(crate::manifest::sha256(&data))
        );
        for (start, end) in [
            (0, 1),
            (94, 95),
            (0, 95),
            (9, 11),
            (10, 20),
            (33, 71),
            (50, 50),
            (90, 500),
        ] {
            let (out, report) = read(&f.store, &key, &head, start, end).await.unwrap();
            let end = end.min(95);
            assert_eq!(
                out,
                &data[start as usize..end as usize],
                "range {start}..{end}"
            );
            assert_eq!(report.bytes, end - start);
            let chunks = if start == end {
                0
            } else {
                (end - 1) / 10 - start / 10 + 1
            };
            assert_eq!(
                u64::from(report.chunks),
                chunks,
                "chunks fetched for {start}..{end}"
            );
        }
    }

    #[tokio::test]
    async fn corrupt_chunks_fail_over_and_are_counted_per_chunk() {
        let f = fixture();
        let key = Key::parse("obj").unwrap();
        let data: Vec<u8> = (0..95u8).collect();
        f.store.put(&key, &data[..], "").await.unwrap();
        let head = f.store.head(&key).await.unwrap();
        f.reads.lock().unwrap().clear();
        let (out, report) = read(&f.store, &key, &head, 5, 95).await.unwrap();
        assert_eq!(out, &data[5..95]);
        // Ranges read ahead as whole reads do: the first four chunks were asked of `bad`
        // before its first corrupt answer was known, and failed over; every chunk after
        // them stayed with the provider that answered.
        let mut bad_reads = f.reads.lock().unwrap().clone();
        bad_reads.sort_unstable();
        assert_eq!(bad_reads, vec![0, 10, 20, 30]);
        assert_eq!(
            (report.chunks, report.failovers, report.hedged),
            (10, 4, 0),
            "{report:?}"
        );
        assert_eq!(report.provider_errors.len(), 4);
        assert!(report
            .provider_errors
            .iter()
            .all(|e| e.provider == "bad" && e.reason().contains("corrupt")));
    }

    #[tokio::test]
    async fn a_manifest_whose_chunks_end_early_is_named_as_such() {
        let f = fixture();
        let key = Key::parse("obj").unwrap();
        f.store.put(&key, &[7u8; 30][..], "").await.unwrap();
        let head = f.store.head(&key).await.unwrap();
        // Signed by the owner, yet missing its last chunk: no reader signs such a
        // manifest, but a read must say what is wrong rather than blame providers.
        let mut body = head.manifest.body.clone();
        body.chunks.pop();
        let identity = Identity::generate();
        let manifest = body.sign(&identity);
        let err = f
            .store
            .get_range(&key, &manifest, 0, 30, &mut Vec::new())
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::ManifestGap { offset: 20, .. }),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "obj: the signed manifest has no chunk for byte 20"
        );
    }

    #[tokio::test]
    async fn a_chunk_no_provider_can_deliver_ends_the_read_after_a_verified_prefix() {
        let f = fixture();
        let key = Key::parse("obj").unwrap();
        let data: Vec<u8> = (0..30u8).collect();
        f.store.put(&key, &data[..], "").await.unwrap();
        let head = f.store.head(&key).await.unwrap();
        // Make every provider's copy of chunk 2 (bytes 20..30) wrong: `bad` corrupts
        // anyway, `good` is the other one; replace its object with a truncated copy.
        let store = &f.store;
        let good = &store
            .replicas()
            .iter()
            .find(|r| r.name() == "good")
            .unwrap()
            .clone();
        good.put(&key, Arc::new(data[..25].to_vec())).await.unwrap();
        let mut out = Vec::new();
        let err = store
            .get_range(&key, &head.manifest, 5, 30, &mut out)
            .await
            .unwrap_err();
        assert_eq!(out, &data[5..20], "only verified chunks were written");
        match err {
            StoreError::NoValidCopy { failures, .. } => {
                assert!(
                    failures.contains("bad") && failures.contains("good"),
                    "{failures}"
                );
            }
            other => panic!("expected NoValidCopy, got {other}"),
        }
    }
}
