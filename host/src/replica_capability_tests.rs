//! The host calls only what a driver declares, and writes to a `WRITE`-only driver
//! through `put`.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use mirra_driver_api::{
    Capabilities, DriverError, DriverInfo, DriverResult, ErrorKind, Key, ListPage, ObjectMeta,
    ObjectWriter, StorageDriver,
};

use super::{Replica, ReplicaSettings, BUFFERED_WRITE_LIMIT};
use crate::config::WriteQuorum;
use crate::identity::Identity;
use crate::state::{RepairJournal, VersionsSeen};
use crate::store::{Store, StoreParts};

/// An in-memory store that records every call it gets, whatever it declares.
#[derive(Default)]
pub(crate) struct Recording {
    pub(crate) objects: Mutex<HashMap<String, Vec<u8>>>,
    calls: Mutex<Vec<String>>,
}

impl Recording {
    fn note(&self, call: String) {
        self.calls.lock().unwrap().push(call);
    }
    pub(crate) fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
}

impl StorageDriver for Recording {
    fn stat(&self, key: &Key) -> DriverResult<ObjectMeta> {
        self.note(format!("stat {key}"));
        let objects = self.objects.lock().unwrap();
        let data = objects
            .get(key.as_str())
            .ok_or_else(|| DriverError::not_found(key))?;
        Ok(ObjectMeta {
            size: data.len() as u64,
        })
    }
    fn read(&self, key: &Key, offset: u64, buf: &mut [u8]) -> DriverResult<usize> {
        self.note(format!("read {offset}"));
        let objects = self.objects.lock().unwrap();
        let data = objects
            .get(key.as_str())
            .ok_or_else(|| DriverError::not_found(key))?;
        let rest = data.get(offset as usize..).unwrap_or_default();
        // Short reads of at most 4 bytes, so the host has to loop.
        let n = rest.len().min(buf.len()).min(4);
        buf[..n].copy_from_slice(&rest[..n]);
        Ok(n)
    }
    fn put(&self, key: &Key, data: &[u8]) -> DriverResult<()> {
        self.note(format!("put {key}"));
        self.objects
            .lock()
            .unwrap()
            .insert(key.to_string(), data.to_vec());
        Ok(())
    }
    fn begin_write(&self, key: &Key) -> DriverResult<Box<dyn ObjectWriter>> {
        self.note(format!("begin_write {key}"));
        Err(DriverError::other("begin_write must not be called"))
    }
    fn delete(&self, key: &Key) -> DriverResult<()> {
        self.note(format!("delete {key}"));
        Ok(())
    }
    fn list(&self, prefix: &str, _: Option<&str>, _: u32) -> DriverResult<ListPage> {
        self.note(format!("list {prefix}"));
        Ok(ListPage::default())
    }
    fn public_url(&self, key: &Key) -> DriverResult<String> {
        self.note(format!("public_url {key}"));
        Ok(format!("https://example.invalid/{key}"))
    }
}

/// A provider named `rec` over a fresh [`Recording`] that declares `capabilities`.
pub(crate) fn replica(capabilities: Capabilities) -> (Replica, Arc<Recording>) {
    named_replica("rec", capabilities)
}

/// A store over `replicas` with a new owner key, its state in `state`, a write
/// succeeding once `quorum` providers committed it.
pub(crate) fn store_over(replicas: Vec<Replica>, quorum: usize, state: &std::path::Path) -> Store {
    let identity = Arc::new(Identity::generate());
    Store::new(StoreParts {
        replicas,
        signer: identity.public_key(),
        identity: Some(identity),
        versions: VersionsSeen::open(state).unwrap(),
        journal: RepairJournal::open(state).unwrap(),
        quorum: WriteQuorum::Count(NonZeroUsize::new(quorum).unwrap()),
        chunk_size: 1 << 20,
        hedge_after: None,
    })
}

/// [`replica`] under another name.
pub(crate) fn named_replica(name: &str, capabilities: Capabilities) -> (Replica, Arc<Recording>) {
    let driver = Arc::new(Recording::default());
    let settings = ReplicaSettings::for_tests(name, 0);
    let info = DriverInfo {
        name: "recording".into(),
        version: "0".into(),
        url_schemes: Vec::new(),
        capabilities,
    };
    (Replica::new(settings, info, driver.clone()), driver)
}

fn key(s: &str) -> Key {
    Key::parse(s).unwrap()
}

#[tokio::test]
async fn a_write_only_driver_gets_one_put_at_commit_and_never_begin_write() {
    let (replica, driver) = replica(Capabilities::READ | Capabilities::WRITE);
    let k = key("obj");
    let mut writer = replica.begin_write(&k).unwrap();
    writer.write(Arc::new(b"hello ".to_vec())).await.unwrap();
    writer.write(Arc::new(b"world".to_vec())).await.unwrap();
    assert!(driver.calls().is_empty(), "{:?}", driver.calls());
    writer.commit().await.unwrap();
    assert_eq!(driver.calls(), ["put obj"]);
    assert_eq!(driver.objects.lock().unwrap()["obj"], b"hello world");

    // An aborted buffered write calls nothing and stores nothing.
    let mut writer = replica.begin_write(&key("gone")).unwrap();
    writer.write(Arc::new(b"x".to_vec())).await.unwrap();
    writer.abort().await.unwrap();
    assert_eq!(driver.calls(), ["put obj"]);
    assert!(!driver.objects.lock().unwrap().contains_key("gone"));
}

#[tokio::test]
async fn a_buffered_write_over_the_limit_fails_clearly_and_stores_nothing() {
    let (replica, driver) = replica(Capabilities::READ | Capabilities::WRITE);
    let mut writer = replica.begin_write(&key("big")).unwrap();
    writer
        .write(Arc::new(vec![0u8; BUFFERED_WRITE_LIMIT]))
        .await
        .unwrap();
    let err = writer.write(Arc::new(vec![1u8])).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidInput);
    assert!(err.message.contains("64 MiB"), "{err}");
    assert!(err.message.contains("rec"), "names the provider: {err}");
    writer.abort().await.unwrap();
    assert!(driver.calls().is_empty(), "{:?}", driver.calls());
}

#[tokio::test]
async fn undeclared_operations_are_refused_without_calling_the_driver() {
    let (replica, driver) = replica(Capabilities::READ);
    let k = key("k");
    let refusals = [
        replica.put(&k, Arc::new(b"x".to_vec())).await.err(),
        replica.begin_write(&k).err(),
        replica.delete(&k).await.err(),
        replica.list("", None, 10).await.err(),
        replica.public_url(&k).await.err(),
    ];
    for (op, err) in ["put", "write", "delete", "list", "public_url"]
        .iter()
        .zip(refusals)
    {
        let err = err.unwrap_or_else(|| panic!("{op} was not refused"));
        assert_eq!(err.kind, ErrorKind::Unsupported, "{op}: {err}");
        assert!(err.message.starts_with(op), "{op}: {err}");
    }
    let (nothing, none) = self::replica(Capabilities::NONE);
    assert_eq!(
        nothing.stat(&k).await.unwrap_err().kind,
        ErrorKind::Unsupported
    );
    assert_eq!(
        nothing
            .read_range(&k, 0, 4, Vec::new())
            .await
            .unwrap_err()
            .kind,
        ErrorKind::Unsupported
    );
    assert!(driver.calls().is_empty(), "{:?}", driver.calls());
    assert!(none.calls().is_empty(), "{:?}", none.calls());
}

#[tokio::test]
async fn a_driver_without_range_read_only_sees_reads_that_continue() {
    let data: Vec<u8> = (0..40u8).collect();
    for (caps, sequential) in [
        (Capabilities::READ, true),
        (Capabilities::READ | Capabilities::RANGE_READ, false),
    ] {
        let (replica, driver) = replica(caps);
        driver
            .objects
            .lock()
            .unwrap()
            .insert("k".into(), data.clone());
        let got = replica
            .read_range(&key("k"), 10, 9, Vec::new())
            .await
            .unwrap();
        assert_eq!(got, data[10..19]);
        let past = replica
            .read_range(&key("k"), 50, 9, Vec::new())
            .await
            .unwrap();
        assert!(past.is_empty());
        let offsets: Vec<u64> = driver
            .calls()
            .iter()
            .map(|c| c.trim_start_matches("read ").parse().unwrap())
            .collect();
        // Without RANGE_READ each read starts where the previous one ended, from 0.
        let first_call = if sequential {
            vec![0, 4, 8, 10, 14, 18]
        } else {
            vec![10, 14, 18]
        };
        assert_eq!(offsets[..first_call.len()], first_call, "{caps:?}");
    }
}
