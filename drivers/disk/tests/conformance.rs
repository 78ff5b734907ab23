//! The disk driver, linked in-process, against the conformance kit and its own contract.

use mirra_driver_api::{testkit, Capabilities, DriverFactory, ErrorKind, Key};
use mirra_driver_disk::DiskFactory;

fn config_for(root: &std::path::Path) -> String {
    format!("root = {:?}", root.to_str().expect("temp dirs are UTF-8"))
}

#[test]
fn passes_the_whole_conformance_kit() {
    let dir = tempfile::tempdir().unwrap();
    let driver = DiskFactory::open(&config_for(dir.path())).unwrap();
    let summary = testkit::run_all(&*driver, DiskFactory::info().capabilities);
    assert!(summary.skipped.is_empty(), "skipped {:?}", summary.skipped);
    // The kit cleans up after itself; with empty directories pruned nothing is left.
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn info_describes_the_driver() {
    let info = DiskFactory::info();
    assert_eq!(info.name, "disk");
    assert_eq!(info.version, env!("CARGO_PKG_VERSION"));
    assert_eq!(info.url_schemes, ["file"]);
    for cap in [
        Capabilities::READ,
        Capabilities::RANGE_READ,
        Capabilities::WRITE,
        Capabilities::STREAMING_WRITE,
        Capabilities::LIST,
        Capabilities::DELETE,
        Capabilities::PUBLIC_URL,
        Capabilities::ATOMIC_WRITE,
    ] {
        assert!(info.capabilities.contains(cap), "missing {cap:?}");
    }
}

#[test]
fn open_creates_a_missing_root() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("new/nested/root");
    let driver = DiskFactory::open(&config_for(&root)).unwrap();
    assert!(root.is_dir());
    driver.health().unwrap();
    let key = Key::parse("k").unwrap();
    driver.put(&key, b"v").unwrap();
    assert_eq!(std::fs::read(root.join("k")).unwrap(), b"v");
}

#[test]
fn bad_configs_are_invalid_input_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let unknown = format!("{}\nbucket = \"x\"", config_for(dir.path()));
    for (config, field) in [
        ("", "root"),
        (unknown.as_str(), "bucket"),
        ("root = 1", "root"),
        ("root = \"relative/path\"", "root"),
    ] {
        let err = DiskFactory::open(config).map(|_| ()).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidInput, "{config:?}: {err}");
        assert!(err.message.contains(field), "{config:?}: {}", err.message);
    }
}

#[test]
fn a_file_as_root_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain");
    std::fs::write(&file, b"x").unwrap();
    assert!(DiskFactory::open(&config_for(&file)).is_err());
}

#[test]
fn public_url_is_the_file_url_of_the_object() {
    let dir = tempfile::tempdir().unwrap();
    let driver = DiskFactory::open(&config_for(dir.path())).unwrap();
    let key = Key::parse("dir/a b#ü.txt").unwrap();
    driver.put(&key, b"hello").unwrap();
    let url = driver.public_url(&key).unwrap();
    let root = dir.path().canonicalize().unwrap();
    let expected_start = format!("file://{}/dir/", root.display());
    assert!(url.starts_with(&expected_start), "{url}");
    assert!(url.ends_with("/dir/a%20b%23%C3%BC.txt"), "{url}");
    // The directory part of the URL opens as a read-only provider holding the object.
    let dir_url = url.rsplit_once('/').unwrap().0;
    let reader = DiskFactory::open_url(dir_url).unwrap();
    let mut buf = [0u8; 16];
    let n = reader
        .read(&Key::parse("a b#ü.txt").unwrap(), 0, &mut buf)
        .unwrap();
    assert_eq!(&buf[..n], b"hello");
}

#[test]
fn a_directory_where_an_object_goes_is_a_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let driver = DiskFactory::open(&config_for(dir.path())).unwrap();
    driver.put(&Key::parse("a/b").unwrap(), b"x").unwrap();
    let err = driver.put(&Key::parse("a").unwrap(), b"y").unwrap_err();
    assert_eq!(err.kind, ErrorKind::Conflict, "{err}");
    let err = driver.put(&Key::parse("a/b/c").unwrap(), b"y").unwrap_err();
    assert_eq!(err.kind, ErrorKind::Conflict, "{err}");
    // Neither a file standing in for a directory nor a directory is an object.
    let err = driver.stat(&Key::parse("a").unwrap()).unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound);
    let err = driver.stat(&Key::parse("a/b/c").unwrap()).unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound);
    let err = driver.delete(&Key::parse("a").unwrap()).unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound);
    assert!(dir.path().join("a/b").is_file());
}

#[test]
fn delete_prunes_empty_directories_but_not_the_root() {
    let dir = tempfile::tempdir().unwrap();
    let driver = DiskFactory::open(&config_for(dir.path())).unwrap();
    let deep = Key::parse("x/y/z/obj").unwrap();
    let sibling = Key::parse("x/keep").unwrap();
    driver.put(&deep, b"1").unwrap();
    driver.put(&sibling, b"2").unwrap();
    driver.delete(&deep).unwrap();
    assert!(!dir.path().join("x/y").exists());
    assert!(dir.path().join("x/keep").is_file());
    driver.delete(&sibling).unwrap();
    assert!(dir.path().is_dir());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn keys_using_the_temporary_prefix_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let driver = DiskFactory::open(&config_for(dir.path())).unwrap();
    let key = Key::parse("a/.mirra-tmp-1-2-3").unwrap();
    let err = driver.put(&key, b"x").unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidInput);
    assert!(!dir.path().join("a").exists());
}
