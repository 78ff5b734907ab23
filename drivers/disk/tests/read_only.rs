//! `open_url`: a `file://` directory opened read-only.

use mirra_driver_api::{DriverFactory, ErrorKind, Key};
use mirra_driver_disk::DiskFactory;

#[test]
fn open_url_reads_and_lists_but_never_writes() {
    let dir = tempfile::tempdir().unwrap();
    let writer = DiskFactory::open(&format!("root = {:?}", dir.path())).unwrap();
    let key = Key::parse("site/index.html").unwrap();
    writer.put(&key, b"<h1>hi</h1>").unwrap();

    let url = format!("file://{}", dir.path().display());
    let reader = DiskFactory::open_url(&url).unwrap();
    assert_eq!(reader.stat(&key).unwrap().size, 11);
    let mut buf = [0u8; 64];
    let n = reader.read(&key, 4, &mut buf).unwrap();
    assert_eq!(&buf[..n], b"hi</h1>");
    let page = reader.list("", None, 10).unwrap();
    assert_eq!(page.entries.len(), 1);
    assert_eq!(page.entries[0].key, "site/index.html");

    let other = Key::parse("site/new.html").unwrap();
    let refused = [
        ("put", reader.put(&key, b"overwritten").unwrap_err()),
        ("put new", reader.put(&other, b"new").unwrap_err()),
        (
            "begin_write",
            reader.begin_write(&other).map(|_| ()).unwrap_err(),
        ),
        ("delete", reader.delete(&key).unwrap_err()),
    ];
    for (op, err) in refused {
        assert_eq!(err.kind, ErrorKind::PermissionDenied, "{op}: {err}");
    }
    assert_eq!(
        std::fs::read(dir.path().join("site/index.html")).unwrap(),
        b"<h1>hi</h1>"
    );
    assert!(!dir.path().join("site/new.html").exists());
}

#[test]
fn open_url_needs_an_existing_local_directory() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    let err = DiskFactory::open_url(&format!("file://{}", missing.display()))
        .map(|_| ())
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound, "{err}");
    assert!(!missing.exists(), "open_url must not create the directory");
    for url in ["https://example.com/x", "file://host/dir", "file:relative"] {
        let err = DiskFactory::open_url(url).map(|_| ()).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidInput, "{url}: {err}");
    }
}
