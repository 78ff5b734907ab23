//! The driver keeps directory handles open between calls; a handle whose directory was
//! pruned, moved, or replaced by a symlink or a file meanwhile is never written through.
//! Every check looks at the files with `std::fs`, not only through the driver.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

use mirra_driver_api::{DriverError, ErrorKind, StorageDriver};

mod common;
use common::{fixture, key};

fn read_all(driver: &dyn StorageDriver, k: &str) -> Result<Vec<u8>, DriverError> {
    let mut buf = vec![0u8; 1024];
    let n = driver.read(&key(k), 0, &mut buf)?;
    buf.truncate(n);
    Ok(buf)
}

fn assert_kind<T: std::fmt::Debug>(what: &str, kind: ErrorKind, result: Result<T, DriverError>) {
    match result {
        Err(e) => assert_eq!(e.kind, kind, "{what}: {e}"),
        Ok(v) => panic!("{what}: expected {kind:?}, got {v:?}"),
    }
}

/// Every file below `dir`, relative to it, sorted.
fn files_below(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_dir() {
                stack.push(entry.path());
            } else {
                let rel = entry.path().strip_prefix(dir).unwrap().to_owned();
                out.push(rel.display().to_string());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn a_directory_pruned_by_delete_is_recreated_by_the_next_write() {
    let f = fixture();
    f.driver.put(&key("a/b/first"), b"1").unwrap();
    f.driver.delete(&key("a/b/first")).unwrap();
    assert!(!f.root.join("a").exists(), "delete did not prune");
    f.driver.put(&key("a/b/second"), b"2").unwrap();
    assert_eq!(fs::read(f.root.join("a/b/second")).unwrap(), b"2");
    assert_eq!(read_all(&*f.driver, "a/b/second").unwrap(), b"2");
    // Streamed writes too.
    f.driver.delete(&key("a/b/second")).unwrap();
    let mut w = f.driver.begin_write(&key("a/b/third")).unwrap();
    w.write(b"3").unwrap();
    w.commit().unwrap();
    assert_eq!(files_below(&f.root), ["a/b/third"]);
}

#[test]
fn a_directory_removed_and_recreated_behind_the_drivers_back_is_found_again() {
    let f = fixture();
    f.driver.put(&key("a/b/old"), b"old").unwrap();
    // Another process replaces the whole tree: new directories, new inodes.
    fs::rename(f.root.join("a"), f.root.join("gone")).unwrap();
    fs::remove_dir_all(f.root.join("gone")).unwrap();
    fs::create_dir_all(f.root.join("a/b")).unwrap();
    fs::write(f.root.join("a/b/theirs"), b"theirs").unwrap();

    assert_eq!(read_all(&*f.driver, "a/b/theirs").unwrap(), b"theirs");
    assert_eq!(f.driver.stat(&key("a/b/theirs")).unwrap().size, 6);
    assert_kind(
        "read old",
        ErrorKind::NotFound,
        read_all(&*f.driver, "a/b/old"),
    );
    f.driver.put(&key("a/b/new"), b"new").unwrap();
    assert_eq!(fs::read(f.root.join("a/b/new")).unwrap(), b"new");
    assert_eq!(files_below(&f.root), ["a/b/new", "a/b/theirs"]);
}

#[test]
fn a_write_never_lands_in_a_directory_that_was_moved_away() {
    let f = fixture();
    f.driver.put(&key("a/b/one"), b"1").unwrap();
    fs::rename(f.root.join("a"), f.root.join("moved")).unwrap();
    f.driver.put(&key("a/b/two"), b"2").unwrap();
    assert_eq!(fs::read(f.root.join("a/b/two")).unwrap(), b"2");
    assert!(!f.root.join("moved/b/two").exists());

    // Moved while a streamed write runs: the commit follows the key, and the temporary
    // file leaves the old directory with it.
    let mut w = f.driver.begin_write(&key("a/b/three")).unwrap();
    w.write(b"3").unwrap();
    fs::rename(f.root.join("a"), f.root.join("moved-again")).unwrap();
    w.commit().unwrap();
    assert_eq!(fs::read(f.root.join("a/b/three")).unwrap(), b"3");
    assert_eq!(
        files_below(&f.root),
        ["a/b/three", "moved-again/b/two", "moved/b/one"]
    );
}

#[test]
fn a_symlink_swapped_in_for_a_cached_directory_is_refused() {
    let f = fixture();
    f.driver.put(&key("dir/one"), b"1").unwrap();
    fs::rename(f.root.join("dir"), f.root.join("moved")).unwrap();
    symlink(&f.outside, f.root.join("dir")).unwrap();
    fs::write(f.outside.join("secret"), b"secret").unwrap();

    let denied = ErrorKind::PermissionDenied;
    assert_kind("put", denied, f.driver.put(&key("dir/two"), b"2"));
    assert_kind(
        "begin_write",
        denied,
        f.driver.begin_write(&key("dir/two")).map(|_| ()),
    );
    assert_kind("stat", denied, f.driver.stat(&key("dir/secret")));
    assert_kind("read", denied, read_all(&*f.driver, "dir/secret"));
    assert_kind("delete", denied, f.driver.delete(&key("dir/secret")));
    // Neither through the link nor into the directory the cache knew.
    assert_eq!(files_below(&f.outside), ["secret"]);
    assert_eq!(files_below(&f.root.join("moved")), ["one"]);
}

#[test]
fn a_symlink_to_the_cached_directory_itself_is_refused_at_every_depth() {
    let f = fixture();
    f.driver.put(&key("a/b/one"), b"1").unwrap();
    // The link leads to the very directories the cache holds open, still inside the
    // root: following it would be harmless here, but the driver never follows one.
    fs::rename(f.root.join("a"), f.root.join("real")).unwrap();
    symlink(f.root.join("real"), f.root.join("a")).unwrap();
    assert_kind(
        "put via linked parent",
        ErrorKind::PermissionDenied,
        f.driver.put(&key("a/b/two"), b"2"),
    );
    assert_kind(
        "read via linked parent",
        ErrorKind::PermissionDenied,
        read_all(&*f.driver, "a/b/one"),
    );
    assert_eq!(files_below(&f.root.join("real")), ["b/one"]);
}

#[test]
fn a_file_where_a_directory_should_be() {
    let f = fixture();
    f.driver.put(&key("plain"), b"file").unwrap();
    assert_kind(
        "put below a file",
        ErrorKind::Conflict,
        f.driver.put(&key("plain/x"), b"x"),
    );
    assert_kind(
        "stat below a file",
        ErrorKind::NotFound,
        f.driver.stat(&key("plain/x")),
    );
    assert_kind(
        "read below a file",
        ErrorKind::NotFound,
        read_all(&*f.driver, "plain/x"),
    );
    assert_kind(
        "delete below a file",
        ErrorKind::NotFound,
        f.driver.delete(&key("plain/x")),
    );

    // A cached directory replaced by a file behind the driver's back.
    f.driver.put(&key("d/e/x"), b"x").unwrap();
    fs::remove_dir_all(f.root.join("d/e")).unwrap();
    fs::write(f.root.join("d/e"), b"in the way").unwrap();
    assert_kind(
        "put",
        ErrorKind::Conflict,
        f.driver.put(&key("d/e/y"), b"y"),
    );
    assert_kind("stat", ErrorKind::NotFound, f.driver.stat(&key("d/e/x")));
    assert_kind("read", ErrorKind::NotFound, read_all(&*f.driver, "d/e/x"));
    assert_eq!(fs::read(f.root.join("d/e")).unwrap(), b"in the way");
    assert_eq!(files_below(&f.root), ["d/e", "plain"]);
}

#[test]
fn writes_racing_deletes_that_prune_their_directories_land_on_disk() {
    // Each thread puts an object, checks it is on disk where its key says, and deletes
    // it again, so the directories keep being emptied, pruned and re-created under the
    // other threads' cached handles.
    let f = fixture();
    let (driver, root) = (&*f.driver, &f.root);
    std::thread::scope(|s| {
        for t in 0..3 {
            s.spawn(move || {
                for i in 0..300 {
                    let name = format!("x/y{}/w{t}-{i}", i % 2);
                    driver.put(&key(&name), name.as_bytes()).unwrap();
                    assert_eq!(fs::read(root.join(&name)).unwrap(), name.as_bytes());
                    driver.delete(&key(&name)).unwrap();
                }
            });
        }
    });
    assert_eq!(
        fs::read_dir(root).unwrap().count(),
        0,
        "{:?}",
        files_below(root)
    );
}
