//! Writes to providers with `FLUSH`, one object at a time and in batches: nothing becomes
//! visible before a flush made its bytes durable, nothing is reported before a flush made
//! its commit durable, and concurrent writes share flushes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::join_all;
use mirra_driver_api::{
    Capabilities, DriverError, DriverInfo, DriverResult, Key, ObjectMeta, ObjectWriter,
    StorageDriver,
};

use crate::replica::capability_tests::store_over;
use crate::replica::{Replica, ReplicaSettings};
use crate::store::{GetOptions, PutOptions, Store, StoreError, WriteCondition};

/// An in-memory store that tracks durability: a flush makes everything written so far
/// durable, and it notes every commit of bytes no flush covered yet.
#[derive(Default)]
struct Batched {
    state: Arc<Mutex<Durability>>,
}

#[derive(Default)]
struct Durability {
    visible: HashMap<String, Vec<u8>>,
    /// Flushes so far; a write or commit made at epoch `e` is durable once `epoch > e`.
    epoch: u64,
    committed_at: HashMap<String, u64>,
    puts: usize,
    problems: Vec<String>,
    /// Set: every flush fails.
    failing_flush: bool,
}

struct BatchedWriter {
    key: String,
    data: Vec<u8>,
    written_at: u64,
    state: Arc<Mutex<Durability>>,
}

impl ObjectWriter for BatchedWriter {
    fn write(&mut self, data: &[u8]) -> DriverResult<()> {
        self.data.extend_from_slice(data);
        self.written_at = self.state.lock().unwrap().epoch;
        Ok(())
    }
    fn commit(self: Box<Self>) -> DriverResult<()> {
        let mut state = self.state.lock().unwrap();
        if state.epoch <= self.written_at {
            state.problems.push(format!(
                "{} visible before its bytes were flushed",
                self.key
            ));
        }
        let epoch = state.epoch;
        state.committed_at.insert(self.key.clone(), epoch);
        state.visible.insert(self.key, self.data);
        Ok(())
    }
    fn abort(self: Box<Self>) -> DriverResult<()> {
        Ok(())
    }
}

impl StorageDriver for Batched {
    fn stat(&self, key: &Key) -> DriverResult<ObjectMeta> {
        let state = self.state.lock().unwrap();
        let data = state
            .visible
            .get(key.as_str())
            .ok_or_else(|| DriverError::not_found(key))?;
        Ok(ObjectMeta {
            size: data.len() as u64,
        })
    }
    fn read(&self, key: &Key, offset: u64, buf: &mut [u8]) -> DriverResult<usize> {
        let state = self.state.lock().unwrap();
        let data = state
            .visible
            .get(key.as_str())
            .ok_or_else(|| DriverError::not_found(key))?;
        let rest = data.get(offset as usize..).unwrap_or_default();
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        Ok(n)
    }
    fn put(&self, key: &Key, data: &[u8]) -> DriverResult<()> {
        let mut state = self.state.lock().unwrap();
        state.puts += 1;
        state.visible.insert(key.to_string(), data.to_vec());
        Ok(())
    }
    fn begin_write(&self, _: &Key) -> DriverResult<Box<dyn ObjectWriter>> {
        Err(DriverError::other(
            "writes to a FLUSH provider are unsynced",
        ))
    }
    fn begin_unsynced_write(&self, key: &Key) -> DriverResult<Box<dyn ObjectWriter>> {
        Ok(Box::new(BatchedWriter {
            key: key.to_string(),
            data: Vec::new(),
            written_at: self.state.lock().unwrap().epoch,
            state: self.state.clone(),
        }))
    }
    fn flush(&self) -> DriverResult<()> {
        // As long as a sync takes, so that concurrent writers have to wait for it.
        std::thread::sleep(Duration::from_millis(20));
        let mut state = self.state.lock().unwrap();
        if state.failing_flush {
            return Err(DriverError::unavailable("disk full"));
        }
        state.epoch += 1;
        Ok(())
    }
}

/// How the store writes small objects to the test providers.
#[derive(Clone, Copy, Debug)]
enum Path {
    /// One object at a time: the providers lack `RANGE_READ`, which batches need.
    Single,
    /// In batches.
    Batched,
}

fn batched_replica(name: &str, path: Path) -> (Replica, Arc<Mutex<Durability>>) {
    let driver = Batched::default();
    let state = driver.state.clone();
    let ranged = match path {
        Path::Single => Capabilities::default(),
        Path::Batched => Capabilities::RANGE_READ,
    };
    let info = DriverInfo {
        name: "batched".into(),
        version: "0".into(),
        url_schemes: Vec::new(),
        capabilities: Capabilities::READ
            | Capabilities::WRITE
            | Capabilities::STREAMING_WRITE
            | Capabilities::FLUSH
            | ranged,
    };
    let mut settings = ReplicaSettings::for_tests(name, 0);
    settings.concurrency = 8;
    (Replica::new(settings, info, Arc::new(driver)), state)
}

fn store_of(path: Path, state: &std::path::Path) -> (Store, Vec<Arc<Mutex<Durability>>>) {
    let (replicas, states): (Vec<_>, Vec<_>) = ["a", "b", "c"]
        .iter()
        .map(|n| batched_replica(n, path))
        .unzip();
    let store = store_over(replicas, 2, state);
    assert_eq!(
        store.small_put_limit().is_some(),
        matches!(path, Path::Batched)
    );
    (store, states)
}

#[tokio::test]
async fn concurrent_puts_are_durable_before_visible_and_before_reported_and_share_flushes() {
    for path in [Path::Single, Path::Batched] {
        concurrent_puts_on(path).await;
    }
}

async fn concurrent_puts_on(path: Path) {
    let dir = tempfile::tempdir().unwrap();
    let (store, states) = store_of(path, dir.path());
    const OBJECTS: usize = 16;
    let keys: Vec<Key> = (0..OBJECTS)
        .map(|i| Key::parse(&format!("small/{i}.json")).unwrap())
        .collect();
    let puts = keys.iter().enumerate().map(|(i, key)| {
        let (store, states) = (&store, &states);
        async move {
            let body = vec![i as u8; 4096];
            store.put(key, &body[..], "").await.unwrap();
            // Reported: every commit of it is durable.
            for state in states {
                let state = state.lock().unwrap();
                let committed = state.committed_at[key.as_str()];
                assert!(
                    state.epoch > committed,
                    "{path:?}: {key} reported before a flush"
                );
            }
        }
    });
    join_all(puts).await;
    for (i, key) in keys.iter().enumerate() {
        let mut out = Vec::new();
        store
            .get(key, GetOptions::default(), &mut out)
            .await
            .unwrap();
        assert_eq!(out, vec![i as u8; 4096]);
    }
    // Overwrites: every provider holds a version now, so commits go in turn.
    let overwrites = keys
        .iter()
        .map(|key| store.put(key, key.as_str().as_bytes(), ""));
    for report in join_all(overwrites).await {
        let report = report.unwrap();
        assert_eq!(report.version, 2, "{path:?}: {report:?}");
        assert!(report.providers.iter().all(|p| p.error.is_none()));
    }
    for key in &keys {
        let mut out = Vec::new();
        store
            .get(key, GetOptions::default(), &mut out)
            .await
            .unwrap();
        assert_eq!(out, key.as_str().as_bytes(), "{path:?}");
    }
    for state in &states {
        let state = state.lock().unwrap();
        assert_eq!(state.problems, Vec::<String>::new(), "{path:?}");
        // Bytes and manifest both went through unsynced writers, none through `put`.
        assert_eq!(state.puts, 0, "{path:?}");
        // Two flushes per write unshared (two rounds of writes here); concurrent
        // writes share them.
        assert!(
            (4..2 * OBJECTS as u64).contains(&state.epoch),
            "{path:?}: {} flushes for {OBJECTS} writes",
            state.epoch
        );
    }
}

#[tokio::test]
async fn a_refused_write_in_a_batch_leaves_the_key_as_it_was_and_the_others_written() {
    let dir = tempfile::tempdir().unwrap();
    let (store, states) = store_of(Path::Batched, dir.path());
    let taken = Key::parse("taken").unwrap();
    store.put(&taken, &b"first"[..], "").await.unwrap();
    let keys: Vec<Key> = (0..8)
        .map(|i| Key::parse(&format!("new/{i}")).unwrap())
        .collect();
    let if_absent = PutOptions {
        condition: WriteCondition::IfAbsent,
        ..PutOptions::default()
    };
    let refused = store.put_with(&taken, &b"second"[..], &if_absent);
    let others = join_all(
        keys.iter()
            .map(|key| store.put_with(key, key.as_str().as_bytes(), &if_absent)),
    );
    let (refused, others) = tokio::join!(refused, others);
    assert!(
        matches!(refused, Err(StoreError::PreconditionFailed { .. })),
        "{refused:?}"
    );
    for report in others {
        assert_eq!(report.unwrap().version, 1);
    }
    let mut out = Vec::new();
    store
        .get(&taken, GetOptions::default(), &mut out)
        .await
        .unwrap();
    assert_eq!(out, b"first");
    for state in &states {
        let state = state.lock().unwrap();
        assert_eq!(state.visible["taken"], b"first", "refused bytes committed");
        assert_eq!(state.problems, Vec::<String>::new());
    }
}

#[tokio::test]
async fn a_provider_failing_its_flush_misses_the_batch_and_is_journaled() {
    let dir = tempfile::tempdir().unwrap();
    let (store, states) = store_of(Path::Batched, dir.path());
    states[2].lock().unwrap().failing_flush = true;
    let keys: Vec<Key> = (0..8)
        .map(|i| Key::parse(&format!("k/{i}")).unwrap())
        .collect();
    let reports = join_all(keys.iter().map(|key| store.put(key, &b"data"[..], ""))).await;
    for (key, report) in keys.iter().zip(reports) {
        let report = report.unwrap();
        let failed: Vec<_> = report
            .providers
            .iter()
            .filter(|p| p.error.is_some())
            .map(|p| p.provider.as_str())
            .collect();
        assert_eq!(failed, ["c"], "{report:?}");
        assert!(
            report.providers[2]
                .error
                .as_deref()
                .is_some_and(|e| e.contains("disk full")),
            "{report:?}"
        );
        assert!(store.journal.contains("c", key.as_str()).unwrap());
        assert!(!store.journal.contains("a", key.as_str()).unwrap());
    }
    // Nothing on the failing provider became visible without a flush behind it.
    let state = states[2].lock().unwrap();
    assert!(state.visible.is_empty(), "{:?}", state.visible.keys());
}
