//! The disk and skeleton drivers loaded as `.so` files, the way the host loads them:
//! the conformance kit across the ABI, read-only `file://` access, symlink refusal,
//! and the skeleton answering `Unsupported`.

use std::path::Path;

use mirra_driver_api::{
    testkit, Capabilities, DriverLibrary, ErrorKind, HostContext, Key, LoadedDriver, StorageDriver,
};
use mirra_tests::cdylib;

fn disk_library() -> DriverLibrary {
    DriverLibrary::load(&cdylib("mirra_driver_disk")).expect("load the disk driver .so")
}

fn open_disk(library: &DriverLibrary, root: &Path) -> LoadedDriver {
    library
        .open(HostContext::default(), &format!("root = {root:?}"))
        .expect("open the disk driver")
}

#[test]
fn loaded_disk_driver_passes_the_conformance_kit() {
    let library = disk_library();
    let info = library.info();
    assert_eq!(info.name, "disk");
    assert_eq!(info.url_schemes, ["file"]);
    let dir = tempfile::tempdir().unwrap();
    let driver = open_disk(&library, dir.path());
    let summary = testkit::run_all(&driver, info.capabilities);
    assert!(
        summary.skipped.is_empty(),
        "the disk driver skipped {:?}",
        summary.skipped
    );
    assert_eq!(summary.passed.len(), testkit::checks().len());
}

#[test]
fn loaded_disk_driver_reports_bad_config_as_invalid_input() {
    let err = disk_library()
        .open(HostContext::default(), "root = \"/tmp/x\"\nbucket = \"b\"")
        .map(|_| ())
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidInput, "{err}");
    assert!(err.message.contains("bucket"), "{}", err.message);
}

#[test]
fn loaded_disk_driver_opens_file_urls_read_only() {
    let library = disk_library();
    let dir = tempfile::tempdir().unwrap();
    let writer = open_disk(&library, dir.path());
    let key = Key::parse("pub/hello world.txt").unwrap();
    writer.put(&key, b"hello").unwrap();
    let url = writer.public_url(&key).unwrap();
    assert!(url.starts_with("file:///"), "{url}");
    assert!(url.ends_with("/pub/hello%20world.txt"), "{url}");

    let reader = library
        .open_url(
            HostContext::default(),
            &format!("file://{}", dir.path().display()),
        )
        .expect("open_url");
    let mut buf = [0u8; 16];
    let n = reader.read(&key, 1, &mut buf).unwrap();
    assert_eq!(&buf[..n], b"ello");
    assert_eq!(reader.list("pub/", None, 10).unwrap().entries.len(), 1);
    let other = Key::parse("pub/new").unwrap();
    let refused = [
        ("put", reader.put(&key, b"changed")),
        ("begin_write", reader.begin_write(&other).map(|_| ())),
        ("delete", reader.delete(&key)),
    ];
    for (op, result) in refused {
        let err = result.expect_err(op);
        assert_eq!(err.kind, ErrorKind::PermissionDenied, "{op}: {err}");
    }
    assert_eq!(
        std::fs::read(dir.path().join("pub/hello world.txt")).unwrap(),
        b"hello"
    );
    assert!(!dir.path().join("pub/new").exists());
}

#[test]
fn loaded_disk_driver_never_follows_a_symlink_out_of_its_root() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let outside = dir.path().join("outside");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("secret"), b"secret").unwrap();
    std::os::unix::fs::symlink(&outside, root.join("link")).unwrap();
    let driver = open_disk(&disk_library(), &root);
    for name in ["link/secret", "link/planted"] {
        let key = Key::parse(name).unwrap();
        let results = [
            ("stat", driver.stat(&key).map(|_| ())),
            ("read", driver.read(&key, 0, &mut [0u8; 16]).map(|_| ())),
            ("put", driver.put(&key, b"pwned")),
            ("delete", driver.delete(&key)),
        ];
        for (op, result) in results {
            let err = result.expect_err(op);
            assert_eq!(err.kind, ErrorKind::PermissionDenied, "{name} {op}: {err}");
        }
    }
    assert_eq!(std::fs::read(outside.join("secret")).unwrap(), b"secret");
    assert!(!outside.join("planted").exists());
}

#[test]
fn skeleton_so_loads_and_answers_unsupported() {
    let library = DriverLibrary::load(&cdylib("mirra_driver_skeleton")).expect("load skeleton");
    assert_eq!(library.info().name, "skeleton");
    assert_eq!(library.info().capabilities, Capabilities::NONE);
    let driver = library
        .open(
            HostContext::default(),
            r#"endpoint = "https://api.example.com""#,
        )
        .expect("open skeleton");
    let key = Key::parse("a").unwrap();
    let results = [
        ("stat", driver.stat(&key).map(|_| ())),
        ("read", driver.read(&key, 0, &mut [0u8; 4]).map(|_| ())),
        ("put", driver.put(&key, b"x")),
        ("begin_write", driver.begin_write(&key).map(|_| ())),
        ("delete", driver.delete(&key)),
        ("list", driver.list("", None, 10).map(|_| ())),
        ("public_url", driver.public_url(&key).map(|_| ())),
    ];
    for (op, result) in results {
        let err = result.expect_err(op);
        assert_eq!(err.kind, ErrorKind::Unsupported, "{op}: {err}");
    }
    let err = library
        .open_url(HostContext::default(), "https://example.com/")
        .map(|_| ())
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Unsupported, "{err}");
    let err = library
        .open(HostContext::default(), "")
        .map(|_| ())
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidInput, "{err}");
}
