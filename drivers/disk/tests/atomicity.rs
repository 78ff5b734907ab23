//! Atomic replacement: readers see one whole version, and unfinished writes leave no
//! temporary file behind.

use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use mirra_driver_api::{DriverFactory, ErrorKind, Key, StorageDriver};
use mirra_driver_disk::DiskFactory;

fn open(root: &Path) -> Box<dyn StorageDriver> {
    DiskFactory::open(&format!("root = {root:?}")).unwrap()
}

/// Version `v` of the object: its number, then a byte pattern of a length that
/// differs from the neighbouring versions'.
fn version(v: u32) -> Vec<u8> {
    let len = 8 + (v as usize * 7919) % 300_000;
    let mut data = Vec::with_capacity(len);
    data.extend_from_slice(&v.to_le_bytes());
    data.extend_from_slice(&(len as u32).to_le_bytes());
    data.extend((8..len).map(|i| (i as u32 ^ v.wrapping_mul(2_654_435_761)) as u8));
    data
}

const MAX_LEN: usize = 8 + 300_000;

/// Every file below `dir`, recursively.
fn files_below(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            out.extend(files_below(&entry.path()));
        } else {
            out.push(entry.path().display().to_string());
        }
    }
    out
}

#[test]
fn a_concurrent_reader_never_sees_a_partial_object() {
    let dir = tempfile::tempdir().unwrap();
    let driver = open(dir.path());
    let key = Key::parse("hot/object.bin").unwrap();
    driver.put(&key, &version(0)).unwrap();
    let writing = AtomicBool::new(true);
    const VERSIONS: u32 = 300;

    let (reads, distinct) = std::thread::scope(|s| {
        s.spawn(|| {
            for v in 1..=VERSIONS {
                if v % 2 == 0 {
                    driver.put(&key, &version(v)).unwrap();
                } else {
                    // Streamed in pieces, so a non-atomic writer would expose a prefix.
                    let data = version(v);
                    let mut w = driver.begin_write(&key).unwrap();
                    for piece in data.chunks(4096) {
                        w.write(piece).unwrap();
                    }
                    w.commit().unwrap();
                }
            }
            writing.store(false, Ordering::SeqCst);
        });
        let reader = s.spawn(|| {
            let mut buf = vec![0u8; MAX_LEN + 1];
            let mut reads = 0u32;
            let mut seen = std::collections::HashSet::new();
            while writing.load(Ordering::SeqCst) || reads < 100 {
                // One call with room for any version: the driver fills it from one
                // open file, so it must hold exactly one complete version.
                let n = driver.read(&key, 0, &mut buf).unwrap();
                assert!(n >= 8, "read only {n} bytes");
                let v = u32::from_le_bytes(buf[..4].try_into().unwrap());
                let expected = version(v);
                assert_eq!(n, expected.len(), "version {v}: partial read");
                assert!(buf[..n] == expected[..], "version {v}: mixed bytes");
                seen.insert(v);
                reads += 1;
            }
            (reads, seen.len())
        });
        reader.join().unwrap()
    });
    assert!(reads >= 100, "only {reads} reads");
    assert!(distinct > 1, "the reader only ever saw one version");
    assert_eq!(
        driver.stat(&key).unwrap().size,
        version(VERSIONS).len() as u64
    );
    assert_eq!(files_below(dir.path()).len(), 1, "temporary files left");
}

#[test]
fn an_uncommitted_write_is_invisible_until_commit() {
    let dir = tempfile::tempdir().unwrap();
    let driver = open(dir.path());
    let key = Key::parse("obj").unwrap();
    driver.put(&key, b"old").unwrap();
    let mut w = driver.begin_write(&key).unwrap();
    w.write(b"new and longer").unwrap();
    let mut buf = [0u8; 32];
    let n = driver.read(&key, 0, &mut buf).unwrap();
    assert_eq!(&buf[..n], b"old");
    let page = driver.list("", None, 10).unwrap();
    assert_eq!(page.entries.len(), 1, "listed {:?}", page.entries);
    assert_eq!(page.entries[0].key, "obj");
    w.commit().unwrap();
    let n = driver.read(&key, 0, &mut buf).unwrap();
    assert_eq!(&buf[..n], b"new and longer");
}

#[test]
fn abort_and_drop_leave_no_temporary_files() {
    let dir = tempfile::tempdir().unwrap();
    let driver = open(dir.path());
    let existing = Key::parse("a/kept").unwrap();
    driver.put(&existing, b"kept").unwrap();

    let mut w = driver
        .begin_write(&Key::parse("a/aborted").unwrap())
        .unwrap();
    w.write(&[7u8; 100_000]).unwrap();
    assert_eq!(
        files_below(dir.path()).len(),
        2,
        "the temporary file exists meanwhile"
    );
    w.abort().unwrap();

    let mut w = driver
        .begin_write(&Key::parse("a/dropped").unwrap())
        .unwrap();
    w.write(&[8u8; 100_000]).unwrap();
    drop(w);

    let mut w = driver.begin_write(&existing).unwrap();
    w.write(b"replacement").unwrap();
    drop(w);

    // A commit that fails (a directory took the object's place) cleans up too.
    let mut w = driver
        .begin_write(&Key::parse("a/blocked").unwrap())
        .unwrap();
    w.write(b"x").unwrap();
    fs::create_dir(dir.path().join("a/blocked")).unwrap();
    let err = w.commit().unwrap_err();
    assert_eq!(err.kind, ErrorKind::Conflict, "{err}");
    fs::remove_dir(dir.path().join("a/blocked")).unwrap();

    let files = files_below(dir.path());
    assert_eq!(files.len(), 1, "left behind: {files:?}");
    assert!(files[0].ends_with("a/kept"));
    let mut buf = [0u8; 16];
    let n = driver.read(&existing, 0, &mut buf).unwrap();
    assert_eq!(&buf[..n], b"kept");
}
