//! Writes to providers with `FLUSH`: nothing becomes visible before a flush made its
//! bytes durable, nothing is reported before a flush made its commit durable, and
//! concurrent writes share flushes.

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
use crate::store::GetOptions;

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
        self.state.lock().unwrap().epoch += 1;
        Ok(())
    }
}

fn batched_replica(name: &str) -> (Replica, Arc<Mutex<Durability>>) {
    let driver = Batched::default();
    let state = driver.state.clone();
    let info = DriverInfo {
        name: "batched".into(),
        version: "0".into(),
        url_schemes: Vec::new(),
        capabilities: Capabilities::READ
            | Capabilities::WRITE
            | Capabilities::STREAMING_WRITE
            | Capabilities::FLUSH,
    };
    let mut settings = ReplicaSettings::for_tests(name, 0);
    settings.concurrency = 8;
    (Replica::new(settings, info, Arc::new(driver)), state)
}

#[tokio::test]
async fn concurrent_puts_are_durable_before_visible_and_before_reported_and_share_flushes() {
    let dir = tempfile::tempdir().unwrap();
    let (replicas, states): (Vec<_>, Vec<_>) =
        ["a", "b", "c"].iter().map(|n| batched_replica(n)).unzip();
    let store = store_over(replicas, 3, dir.path());
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
                assert!(state.epoch > committed, "{key} reported before a flush");
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
    for state in &states {
        let state = state.lock().unwrap();
        assert_eq!(state.problems, Vec::<String>::new());
        // Bytes and manifest both went through unsynced writers, none through `put`.
        assert_eq!(state.puts, 0);
        // Two flushes per write unshared; concurrent writes share them.
        assert!(
            (2..OBJECTS as u64).contains(&state.epoch),
            "{} flushes for {OBJECTS} writes",
            state.epoch
        );
    }
}
