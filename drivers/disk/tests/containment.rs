//! No key reaches a file outside the root: traversal keys never parse, and symlinks
//! below the root (to directories or files, outside or inside) are never followed.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

use mirra_driver_api::{DriverError, DriverFactory, ErrorKind, Key};
use mirra_driver_disk::DiskFactory;

mod common;
use common::{key, Fixture};

const SECRET: &[u8] = b"outside the root";

/// A root and, beside it, an `outside` directory holding a secret.
fn fixture() -> Fixture {
    let fixture = common::fixture();
    fs::write(fixture.outside.join("secret.txt"), SECRET).unwrap();
    fixture
}

fn assert_refused<T: std::fmt::Debug>(what: &str, result: Result<T, DriverError>) {
    match result {
        Err(e) => assert_eq!(e.kind, ErrorKind::PermissionDenied, "{what}: {e}"),
        Ok(v) => panic!("{what}: went through a symlink and returned {v:?}"),
    }
}

/// Every operation on `k` is refused and nothing outside changes.
fn assert_all_refused(f: &Fixture, k: &str) {
    let k = key(k);
    let d = &*f.driver;
    assert_refused("stat", d.stat(&k));
    assert_refused("read", d.read(&k, 0, &mut [0u8; 64]));
    assert_refused("put", d.put(&k, b"pwned"));
    assert_refused("begin_write", d.begin_write(&k).map(|_| ()));
    assert_refused("delete", d.delete(&k));
    assert_eq!(fs::read(f.outside.join("secret.txt")).unwrap(), SECRET);
    let outside: Vec<_> = fs::read_dir(&f.outside).unwrap().collect();
    assert_eq!(outside.len(), 1, "something was created outside the root");
}

#[test]
fn traversal_keys_never_reach_the_driver() {
    // The driver takes a `Key`, and none of these parse; over the ABI the export glue
    // parses again before the driver runs (the loaded-.so test covers that path).
    for bad in [
        "/etc/passwd",
        "../outside/secret.txt",
        "a/../../outside/secret.txt",
        "..",
        ".",
        "./a",
        "a/./b",
        "a//b",
        "a/",
        "a\\..\\b",
        "a\0b",
        "",
    ] {
        assert!(Key::parse(bad).is_err(), "{bad:?} parsed as a key");
    }
}

#[test]
fn dotted_names_that_are_not_traversal_stay_inside() {
    let f = fixture();
    for name in ["...", "a..b", "..a/b", ".hidden/x"] {
        f.driver.put(&key(name), name.as_bytes()).unwrap();
        assert_eq!(fs::read(f.root.join(name)).unwrap(), name.as_bytes());
    }
    assert_eq!(fs::read_dir(&f.outside).unwrap().count(), 1);
}

#[test]
fn symlinked_directory_pointing_outside_is_refused() {
    let f = fixture();
    symlink(&f.outside, f.root.join("link")).unwrap();
    assert_all_refused(&f, "link/secret.txt");
    assert_all_refused(&f, "link/new.txt");
    assert_all_refused(&f, "link/deeper/new.txt");
    let page = f.driver.list("", None, 100).unwrap();
    assert!(page.entries.is_empty(), "listed {:?}", page.entries);
}

#[test]
fn symlinked_directory_deeper_in_the_tree_is_refused() {
    let f = fixture();
    fs::create_dir_all(f.root.join("a/b")).unwrap();
    symlink(&f.outside, f.root.join("a/b/c")).unwrap();
    assert_all_refused(&f, "a/b/c/secret.txt");
}

#[test]
fn symlinked_file_pointing_outside_is_refused() {
    let f = fixture();
    symlink(f.outside.join("secret.txt"), f.root.join("secret.txt")).unwrap();
    assert_all_refused(&f, "secret.txt");
    // The link itself is left alone too (delete refused, put did not replace it).
    assert!(fs::symlink_metadata(f.root.join("secret.txt"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(f.driver.list("", None, 100).unwrap().entries.is_empty());
}

#[test]
fn symlinks_within_the_root_are_not_followed_either() {
    let f = fixture();
    f.driver.put(&key("real/obj"), b"data").unwrap();
    symlink(f.root.join("real"), f.root.join("alias")).unwrap();
    symlink(f.root.join("real/obj"), f.root.join("obj-link")).unwrap();
    assert_refused(
        "read via dir link",
        f.driver.read(&key("alias/obj"), 0, &mut [0; 8]),
    );
    assert_refused(
        "read via file link",
        f.driver.read(&key("obj-link"), 0, &mut [0; 8]),
    );
    let page = f.driver.list("", None, 100).unwrap();
    let keys: Vec<&str> = page.entries.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["real/obj"]);
}

#[test]
fn a_symlink_swapped_in_during_a_write_is_caught_at_commit() {
    let f = fixture();
    f.driver.put(&key("dir/placeholder"), b"x").unwrap();
    let mut writer = f.driver.begin_write(&key("dir/obj")).unwrap();
    writer.write(b"pwned").unwrap();
    // Replace the real directory with a symlink to the outside while the write runs.
    fs::rename(f.root.join("dir"), f.root.join("moved")).unwrap();
    symlink(&f.outside, f.root.join("dir")).unwrap();
    assert_refused("commit", writer.commit());
    assert!(!f.outside.join("obj").exists());
    assert_eq!(fs::read_dir(&f.outside).unwrap().count(), 1);
}

#[test]
fn a_symlinked_root_is_fine() {
    // The operator picks the root; only what is below it is checked.
    let f = fixture();
    let alias = f.root.parent().unwrap().join("root-alias");
    symlink(&f.root, &alias).unwrap();
    let driver = DiskFactory::open(&format!("root = {alias:?}")).unwrap();
    driver.put(&key("via-alias"), b"ok").unwrap();
    assert_eq!(fs::read(f.root.join("via-alias")).unwrap(), b"ok");
    assert!(Path::new(&f.root).join("via-alias").is_file());
}
