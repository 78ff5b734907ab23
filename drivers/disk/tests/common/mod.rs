//! What the disk driver's integration tests share: a root with an `outside` directory
//! beside it, and the driver opened on the root.

use std::fs;
use std::path::PathBuf;

use mirra_driver_api::{DriverFactory, Key, StorageDriver};
use mirra_driver_disk::DiskFactory;

pub struct Fixture {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
    pub outside: PathBuf,
    pub driver: Box<dyn StorageDriver>,
}

pub fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let outside = dir.path().join("outside");
    fs::create_dir_all(&root).unwrap();
    fs::create_dir_all(&outside).unwrap();
    let driver = DiskFactory::open(&format!("root = {root:?}")).unwrap();
    Fixture {
        _dir: dir,
        root,
        outside,
        driver,
    }
}

pub fn key(s: &str) -> Key {
    Key::parse(s).unwrap()
}
