//! Reading one object: chunk by chunk, each verified before it is released, failing over
//! between providers at the same offset, and hedging a slow provider with the next one.

use mirra_driver_api::Key;
use tokio::io::AsyncWrite;

use super::chunks::{ChunkRead, ChunksFailed, Hedging};
use super::{Failures, Store, StoreError};
use crate::manifest::Manifest;

/// How a read chooses its manifest.
#[derive(Debug, Clone, Copy, Default)]
pub struct GetOptions {
    /// Ask every provider and follow the newest valid manifest, instead of the first.
    pub latest: bool,
}

/// A successful read.
#[derive(Debug, Clone, serde::Serialize)]
pub struct GetReport {
    /// The key read.
    pub key: String,
    /// The version returned.
    pub version: u64,
    /// Bytes returned.
    pub size: u64,
    /// SHA-256 of the object, hex.
    pub sha256: String,
    /// The content type recorded at put time.
    pub content_type: String,
    /// Providers that failed along the way (for the manifest or a chunk), and why.
    pub skipped: Failures,
    /// Chunks won by a second provider asked because the first was slow (a chunk that
    /// failed over after an error is not a hedge).
    pub hedged: u32,
}

impl Store {
    /// Writes the verified bytes of `key` to `out`, chunk by chunk.
    ///
    /// Nothing reaches `out` that did not match its chunk's signed hash. A provider that
    /// errors, stalls, returns short or returns corrupt bytes is skipped and the read
    /// continues at the same chunk on the next one. When no provider delivers the first
    /// chunk and some answered with bytes that do not match (a write replaced them after
    /// this manifest), every provider is asked for the newest manifest, and a newer one
    /// is read instead.
    ///
    /// # Errors
    /// `NoValidCopy` naming each provider's failure, `Deleted`, or an output error. On
    /// error `out` may hold a verified prefix of the object.
    pub async fn get(
        &self,
        key: &Key,
        options: GetOptions,
        out: &mut (impl AsyncWrite + Unpin),
    ) -> Result<GetReport, StoreError> {
        let (mut manifest, mut served_by, manifest_failures) =
            self.resolve_manifest_reporting(key, options.latest).await?;
        let mut asked_all = options.latest;
        let mut report = loop {
            // Ask first the provider that just served the manifest: it answered, while
            // the first in read order may be the one that did not (a black-holed provider
            // would otherwise cost a second hedge delay, on the first chunk).
            let mut order = self.read_order();
            order.retain(|&i| i != served_by);
            order.insert(0, served_by);
            let error = match self.read_whole(key, &manifest, order, out).await {
                Ok(report) => break report,
                Err(ChunksFailed::Unreadable { read, failures }) if read.bytes == 0 => {
                    no_valid_copy(key, read.failures.into_iter().chain(failures))
                }
                Err(failed) => return Err(whole_read_error(key, failed)),
            };
            // Nothing was written yet: a newer version may still be read in its place.
            if asked_all || !error.bytes_mismatched() {
                return Err(error);
            }
            asked_all = true;
            match self.resolve_manifest(key, true).await {
                Ok((newest, index)) if newest.outranks(&manifest) => {
                    (manifest, served_by) = (newest, index);
                }
                Err(deleted @ StoreError::Deleted { .. }) => return Err(deleted),
                _ => return Err(error),
            }
        };
        // Providers that failed before the first chunk count as skipped too.
        let chunk_failures = std::mem::replace(&mut report.skipped, manifest_failures);
        for failure in chunk_failures.0 {
            report.skipped.add(&failure.provider, failure.verdict);
        }
        Ok(report)
    }

    /// Streams the bytes `manifest` describes to `out`.
    pub(crate) async fn get_verified(
        &self,
        key: &Key,
        manifest: &Manifest,
        out: &mut (impl AsyncWrite + Unpin),
    ) -> Result<GetReport, StoreError> {
        self.get_verified_from(key, manifest, self.read_order(), out)
            .await
    }

    /// Streams the bytes `manifest` describes to `out`, asking only the providers in
    /// `order` (indices into the replicas), in that order: a range over the whole object.
    pub(crate) async fn get_verified_from(
        &self,
        key: &Key,
        manifest: &Manifest,
        order: Vec<usize>,
        out: &mut (impl AsyncWrite + Unpin),
    ) -> Result<GetReport, StoreError> {
        self.read_whole(key, manifest, order, out)
            .await
            .map_err(|failed| whole_read_error(key, failed))
    }

    async fn read_whole(
        &self,
        key: &Key,
        manifest: &Manifest,
        order: Vec<usize>,
        out: &mut (impl AsyncWrite + Unpin),
    ) -> Result<GetReport, ChunksFailed> {
        let read = ChunkRead {
            key,
            manifest,
            start: 0,
            end: manifest.body.size,
            order,
            hedging: Hedging::EveryChunk,
        };
        let read = self.read_chunks(read, out).await?;
        Ok(GetReport {
            key: key.to_string(),
            version: manifest.body.version,
            size: manifest.body.size,
            sha256: hex::encode(manifest.body.sha256),
            content_type: manifest.body.content_type.clone(),
            skipped: deduplicated(read.failures),
            hedged: read.hedged,
        })
    }
}

/// Whole reads name every provider that failed any chunk so far.
fn whole_read_error(key: &Key, failed: ChunksFailed) -> StoreError {
    match failed {
        ChunksFailed::Unreadable { read, failures } => {
            no_valid_copy(key, read.failures.into_iter().chain(failures))
        }
        failed => failed.into_store_error(key),
    }
}

/// One entry per provider, its first failure (usually the telling one).
pub(crate) fn deduplicated(failures: impl IntoIterator<Item = super::ProviderFailure>) -> Failures {
    let mut deduplicated = Failures::default();
    for failure in failures {
        deduplicated.add(&failure.provider, failure.verdict);
    }
    deduplicated
}

fn no_valid_copy(
    key: &Key,
    failures: impl IntoIterator<Item = super::ProviderFailure>,
) -> StoreError {
    StoreError::NoValidCopy {
        key: key.to_string(),
        failures: deduplicated(failures),
    }
}
