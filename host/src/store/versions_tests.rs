//! The version rules with in-memory providers: turn-taking on one machine, conditions
//! that hold under concurrency, and a write that a concurrent writer elsewhere outranks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mirra_driver_api::{
    Capabilities, DriverInfo, DriverResult, Key, ObjectMeta, ObjectWriter, StorageDriver,
};

use crate::config::WriteQuorum;
use crate::health::BreakerPolicy;
use crate::identity::Identity;
use crate::manifest::{manifest_key, sha256, ManifestBody};
use crate::replica::{Replica, ReplicaSettings};
use crate::state::{RepairJournal, VersionsSeen};
use crate::store::{PutOptions, Store, StoreError, StoreParts, WriteCondition};

type Objects = Arc<Mutex<HashMap<String, Vec<u8>>>>;

/// What another machine writes to a provider right after this one's manifest lands.
type Interloper = Arc<Mutex<Option<Vec<(String, Vec<u8>)>>>>;

struct Memory {
    objects: Objects,
    interloper: Interloper,
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
        Ok(n)
    }
    fn put(&self, key: &Key, data: &[u8]) -> DriverResult<()> {
        let mut objects = self.objects.lock().unwrap();
        objects.insert(key.to_string(), data.to_vec());
        if key.as_str().starts_with(".mirra/manifests/") {
            for (k, v) in self.interloper.lock().unwrap().take().unwrap_or_default() {
                objects.insert(k, v);
            }
        }
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
    store: Arc<Store>,
    identity: Arc<Identity>,
    objects: Vec<Objects>,
    /// Per provider.
    interlopers: Vec<Interloper>,
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

/// Two providers, each with its interloper.
fn fixture() -> Fixture {
    let state = tempfile::tempdir().unwrap();
    let identity = Arc::new(Identity::generate());
    let interlopers = vec![Interloper::default(), Interloper::default()];
    let objects: Vec<Objects> = vec![Objects::default(), Objects::default()];
    let replicas = vec![
        replica(
            "a",
            1,
            Memory {
                objects: objects[0].clone(),
                interloper: interlopers[0].clone(),
            },
        ),
        replica(
            "b",
            2,
            Memory {
                objects: objects[1].clone(),
                interloper: interlopers[1].clone(),
            },
        ),
    ];
    let store = Store::new(StoreParts {
        replicas,
        signer: identity.public_key(),
        identity: Some(identity.clone()),
        versions: VersionsSeen::open(state.path()).unwrap(),
        journal: RepairJournal::open(state.path()).unwrap(),
        quorum: WriteQuorum::default(),
        chunk_size: 1 << 20,
        hedge_after: Some(Duration::from_secs(5)),
    });
    Fixture {
        store: Arc::new(store),
        identity,
        objects,
        interlopers,
        _state: state,
    }
}

fn body(key: &str, version: u64, data: &[u8]) -> ManifestBody {
    ManifestBody {
        key: key.into(),
        version,
        size: data.len() as u64,
        sha256: sha256(data),
        chunk_size: 1 << 20,
        chunks: vec![sha256(data)],
        content_type: String::new(),
        created: 0,
        mtime_ns: None,
        deleted: false,
        etag: None,
        metadata: Default::default(),
    }
}

async fn read(store: &Store, key: &Key) -> Vec<u8> {
    let mut out = Vec::new();
    store
        .get(key, crate::store::GetOptions::default(), &mut out)
        .await
        .unwrap();
    out
}

#[test]
fn same_version_twins_are_ordered_one_way() {
    let identity = Identity::generate();
    let x = body("k", 3, b"x").sign(&identity);
    let y = body("k", 3, b"y").sign(&identity);
    assert_ne!(x.outranks(&y), y.outranks(&x));
    let newer = body("k", 4, b"x").sign(&identity);
    assert!(newer.outranks(&x) && newer.outranks(&y));
}

#[tokio::test]
async fn concurrent_writers_on_one_machine_get_distinct_versions() {
    let f = fixture();
    let key = Key::parse("k").unwrap();
    let writes = (0..6u8).map(|i| {
        let (store, key) = (f.store.clone(), key.clone());
        tokio::spawn(async move { store.put(&key, &[i; 100][..], "").await.unwrap() })
    });
    let mut versions: Vec<u64> = futures::future::join_all(writes)
        .await
        .into_iter()
        .map(|r| r.unwrap().version)
        .collect();
    versions.sort_unstable();
    assert_eq!(versions, (1..=6).collect::<Vec<_>>());
}

#[tokio::test]
async fn if_absent_admits_exactly_one_of_two_racing_creates() {
    let f = fixture();
    let key = Key::parse("k").unwrap();
    let create = |data: &'static [u8]| {
        let (store, key) = (f.store.clone(), key.clone());
        tokio::spawn(async move {
            let options = PutOptions {
                condition: WriteCondition::IfAbsent,
                ..PutOptions::default()
            };
            store.put_with(&key, data, &options).await
        })
    };
    let (one, two) = tokio::join!(create(b"one"), create(b"two"));
    let results = [one.unwrap(), two.unwrap()];
    let won: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(won.len(), 1, "{results:?}");
    assert!(results
        .iter()
        .any(|r| matches!(r, Err(StoreError::PreconditionFailed { .. }))));
    let expected: &[u8] = if won[0].sha256 == hex::encode(sha256(b"one")) {
        b"one"
    } else {
        b"two"
    };
    assert_eq!(read(&f.store, &key).await, expected);
}

#[tokio::test]
async fn a_busy_key_fails_fast_and_writes_nothing() {
    let f = fixture();
    let key = Key::parse("k").unwrap();
    let held = f.store.write_lock(&key, false).await.unwrap();
    let options = PutOptions {
        fail_if_busy: true,
        ..PutOptions::default()
    };
    let busy = f.store.put_with(&key, &b"x"[..], &options).await;
    assert!(matches!(busy, Err(StoreError::Busy { .. })), "{busy:?}");
    let busy = f
        .store
        .remove_with(&key, &WriteCondition::Always, true)
        .await;
    assert!(matches!(busy, Err(StoreError::Busy { .. })), "{busy:?}");
    assert!(f.objects.iter().all(|o| o.lock().unwrap().is_empty()));
    drop(held);
    f.store.put_with(&key, &b"x"[..], &options).await.unwrap();
}

#[tokio::test]
async fn a_write_outranked_by_another_machine_reports_superseded_and_converges() {
    let f = fixture();
    let key = Key::parse("doc").unwrap();
    // Another machine commits version 2 on provider b right after this write's manifest
    // lands there: its bytes and manifest replace ours.
    let theirs = b"written elsewhere".to_vec();
    let winner = body("doc", 2, &theirs).sign(&f.identity);
    *f.interlopers[1].lock().unwrap() = Some(vec![
        ("doc".into(), theirs.clone()),
        (manifest_key("doc"), winner.to_json()),
    ]);
    let report = f.store.put(&key, &b"ours"[..], "").await.unwrap();
    assert_eq!((report.version, report.superseded_by), (1, Some(2)));
    // The loser repaired provider a toward the winner, so every copy agrees.
    for objects in &f.objects {
        assert_eq!(objects.lock().unwrap()["doc"], theirs);
    }
    assert_eq!(read(&f.store, &key).await, theirs);
    // Not superseded when nobody interferes.
    let next = f.store.put(&key, &b"later"[..], "").await.unwrap();
    assert_eq!((next.version, next.superseded_by), (3, None));
}

#[tokio::test]
async fn a_loser_whose_bytes_buried_the_winner_everywhere_republishes_above_it() {
    let f = fixture();
    let key = Key::parse("doc").unwrap();
    // The other machine's manifest lands on both providers, but this write's bytes were
    // committed after its bytes: no provider holds the winner's bytes.
    let winner = body("doc", 2, b"written elsewhere").sign(&f.identity);
    for interloper in &f.interlopers {
        *interloper.lock().unwrap() = Some(vec![(manifest_key("doc"), winner.to_json())]);
    }
    let report = f.store.put(&key, &b"ours"[..], "").await.unwrap();
    assert_eq!((report.version, report.superseded_by), (3, None));
    assert_eq!(read(&f.store, &key).await, b"ours");
    let newest = f.store.newest_on_providers(&key).await.unwrap();
    assert_eq!(newest.body.version, 3);
}
