//! The http driver, loaded as a `.so`, against a real WebDAV server (dav-server's
//! LocalFs on 127.0.0.1): the conformance kit, an independent look at the stored
//! files, read-only URLs, outages, black holes and error mapping.

#[path = "common/dav_server.rs"]
mod dav_server;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use dav_server::{DavServer, PASSWORD};
use mirra_driver_api::{
    testkit, DriverLibrary, ErrorKind, HostContext, Key, LoadedDriver, StorageDriver,
};

fn library() -> DriverLibrary {
    DriverLibrary::load(&mirra_tests::cdylib("mirra_driver_http")).expect("load the http driver")
}

fn open_loaded(config: &str) -> LoadedDriver {
    library()
        .open(HostContext::default(), config)
        .expect("open the http driver")
}

fn key(s: &str) -> Key {
    Key::parse(s).unwrap()
}

#[test]
fn conformance_kit_passes_as_loaded_library_over_webdav() {
    let server = DavServer::start();
    let lib = library();
    assert_eq!(lib.info().name, "http");
    let driver = lib
        .open(
            HostContext::default(),
            &server.config("timeout = \"60s\"\n"),
        )
        .unwrap();
    let summary = testkit::run_all(&driver, lib.info().capabilities);
    // WebDAV PUTs are not atomic and durable when they return; every other
    // capability's checks run.
    assert_eq!(
        summary.skipped,
        ["unsynced_batch_then_flush", "atomic_write_visibility"]
    );
    assert!(summary.passed.contains(&"list_prefix_and_paging"));
}

#[test]
fn files_match_an_independent_reader_both_ways() {
    let server = DavServer::start();
    let driver = open_loaded(&server.config(""));

    // Written through the driver, parents created with MKCOL, read from disk.
    let data = testkit::pattern(51, 0, 300_000);
    driver
        .put(&key("deep/er/still/ünï cødé.bin"), &data)
        .unwrap();
    assert_eq!(
        std::fs::read(server.file("deep/er/still/ünï cødé.bin")).unwrap(),
        data
    );
    let streamed = testkit::pattern(52, 0, 3 << 20);
    let mut writer = driver.begin_write(&key("deep/streamed.bin")).unwrap();
    for piece in streamed.chunks(1 << 20) {
        writer.write(piece).unwrap();
    }
    writer.commit().unwrap();
    assert_eq!(
        std::fs::read(server.file("deep/streamed.bin")).unwrap(),
        streamed
    );

    // Placed on the server's disk by someone else, read through the driver.
    let placed = testkit::pattern(53, 0, 9_999);
    std::fs::create_dir_all(server.file("outside/a b")).unwrap();
    std::fs::write(server.file("outside/a b/c+d%20.bin"), &placed).unwrap();
    let k = key("outside/a b/c+d%20.bin");
    assert_eq!(driver.stat(&k).unwrap().size, placed.len() as u64);
    assert_eq!(testkit::read_all(&driver, &k).unwrap(), placed);
    let mut middle = [0u8; 100];
    assert_eq!(driver.read(&k, 5_000, &mut middle).unwrap(), 100);
    assert_eq!(&middle[..], &placed[5_000..5_100]);
    let page = driver.list("outside/", None, 10).unwrap();
    let listed: Vec<_> = page
        .entries
        .iter()
        .map(|e| (e.key.as_str(), e.size))
        .collect();
    assert_eq!(listed, [("outside/a b/c+d%20.bin", 9_999)]);
    // A plain string prefix, not only whole segments.
    let page = driver.list("deep/str", None, 10).unwrap();
    assert_eq!(page.entries.len(), 1);
    assert_eq!(page.entries[0].key, "deep/streamed.bin");
}

#[test]
fn open_url_reads_anonymously_and_refuses_writes() {
    let server = DavServer::start_public();
    std::fs::create_dir_all(server.file("pub")).unwrap();
    let data = testkit::pattern(54, 0, 50_000);
    std::fs::write(server.file("pub/file.bin"), &data).unwrap();
    let lib = library();
    assert!(lib.info().url_schemes.iter().any(|s| s == "https"));
    let driver = lib
        .open_url(HostContext::default(), &format!("{}pub", server.base_url))
        .unwrap();
    let k = key("file.bin");
    assert_eq!(driver.stat(&k).unwrap().size, 50_000);
    let mut buf = vec![0u8; 1000];
    assert_eq!(driver.read(&k, 49_500, &mut buf).unwrap(), 500);
    assert_eq!(&buf[..500], &data[49_500..]);
    assert_eq!(driver.read(&k, 50_000, &mut buf).unwrap(), 0);
    assert_eq!(
        driver.public_url(&key("a b.txt")).unwrap(),
        format!("{}pub/a%20b.txt", server.base_url)
    );
    for err in [
        driver.put(&k, b"x").unwrap_err(),
        driver.begin_write(&k).map(drop).unwrap_err(),
        driver.delete(&k).unwrap_err(),
    ] {
        assert_eq!(err.kind, ErrorKind::PermissionDenied, "{err}");
    }
    assert_eq!(std::fs::read(server.file("pub/file.bin")).unwrap(), data);
}

#[test]
fn without_webdav_writes_are_unsupported() {
    let server = DavServer::start();
    let driver = open_loaded(&server.config("").replace("webdav = true", "webdav = false"));
    let k = key("x");
    for err in [
        driver.put(&k, b"x").unwrap_err(),
        driver.delete(&k).unwrap_err(),
        driver.list("", None, 5).unwrap_err(),
    ] {
        assert_eq!(err.kind, ErrorKind::Unsupported, "{err}");
    }
    assert!(!server.file("x").exists());
}

#[test]
fn outage_fails_fast_with_unavailable() {
    let mut server = DavServer::start();
    let driver = open_loaded(&server.config("connect_timeout = \"2s\"\ntimeout = \"5s\"\n"));
    let k = key("outage/x");
    driver.put(&k, b"before").unwrap();
    driver.health().unwrap();
    server.stop();

    let started = Instant::now();
    let errors = [
        driver.stat(&k).unwrap_err(),
        driver.read(&k, 0, &mut [0u8; 8]).unwrap_err(),
        driver.put(&k, b"after").unwrap_err(),
        driver.list("", None, 10).unwrap_err(),
        driver.health().unwrap_err(),
    ];
    let elapsed = started.elapsed();
    for e in &errors {
        assert_eq!(e.kind, ErrorKind::Unavailable, "{e}");
        assert!(e.retryable, "{e}");
    }
    assert!(
        elapsed < Duration::from_secs(10),
        "five calls to a stopped server took {elapsed:?}"
    );
}

#[test]
fn black_holed_server_times_out_with_unavailable() {
    // Build and load the library first: the holder below only lives for 30 s.
    let lib = library();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base_url = format!("http://{}/", listener.local_addr().unwrap());
    listener.set_nonblocking(true).unwrap();
    let _holder = std::thread::spawn(move || {
        let mut held = Vec::new();
        let until = Instant::now() + Duration::from_secs(30);
        while Instant::now() < until {
            match listener.accept() {
                Ok((stream, _)) => held.push(stream),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    });
    let driver = lib
        .open(
            HostContext::default(),
            &format!("base_url = \"{base_url}\"\nconnect_timeout = \"1s\"\ntimeout = \"2s\"\n"),
        )
        .unwrap();
    let started = Instant::now();
    let err = driver.stat(&key("anything")).unwrap_err();
    let elapsed = started.elapsed();
    assert_eq!(err.kind, ErrorKind::Unavailable, "{err}");
    assert!(
        elapsed >= Duration::from_millis(1900),
        "gave up after {elapsed:?}, before the 2 s timeout"
    );
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
}

#[test]
fn wrong_or_missing_credentials_are_permission_denied() {
    let server = DavServer::start();
    let wrong = "not-the-password-4242";
    let configs = [
        server.config("").replace(PASSWORD, wrong),
        format!("base_url = \"{}\"\nwebdav = true\n", server.base_url),
    ];
    for config in configs {
        let driver = open_loaded(&config);
        for err in [
            driver.stat(&key("k")).unwrap_err(),
            driver.read(&key("k"), 0, &mut [0u8; 4]).unwrap_err(),
            driver.put(&key("k"), b"x").unwrap_err(),
            driver.list("", None, 5).unwrap_err(),
        ] {
            assert_eq!(err.kind, ErrorKind::PermissionDenied, "{err}");
            assert!(!err.message.contains(wrong), "secret in {err}");
            assert!(!err.message.contains(PASSWORD), "secret in {err}");
        }
    }
}

#[test]
fn missing_keys_are_not_found() {
    let server = DavServer::start();
    let driver = open_loaded(&server.config(""));
    let k = key("never/written.txt");
    assert_eq!(driver.stat(&k).unwrap_err().kind, ErrorKind::NotFound);
    assert_eq!(
        driver.read(&k, 0, &mut [0u8; 4]).unwrap_err().kind,
        ErrorKind::NotFound
    );
    assert_eq!(driver.delete(&k).unwrap_err().kind, ErrorKind::NotFound);
    assert!(driver.list("never/", None, 10).unwrap().entries.is_empty());
}

#[test]
fn bad_config_fields_are_invalid_input_naming_the_field() {
    let server = DavServer::start();
    let lib = library();
    let cases = [
        ("webdaw = true\n", "webdaw"),
        ("timeout = \"forever\"\n", "timeout"),
        ("bearer_token = \"t\"\n", "bearer_token"),
    ];
    for (extra, field) in cases {
        let err = lib
            .open(HostContext::default(), &server.config(extra))
            .map(drop)
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidInput, "{extra}: {err}");
        assert!(err.message.contains(field), "{extra}: {err}");
        assert!(!err.message.contains(PASSWORD), "{extra}: {err}");
    }
    let err = lib
        .open(HostContext::default(), "base_url = \"ftp://example\"\n")
        .map(drop)
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidInput);
    assert!(err.message.contains("base_url"), "{err}");
}

#[test]
fn public_urls_default_to_the_base_url() {
    let server = DavServer::start();
    let driver = open_loaded(&server.config(""));
    assert_eq!(
        driver.public_url(&key("dir/a b+c.txt")).unwrap(),
        format!("{}dir/a%20b%2Bc.txt", server.base_url)
    );
    let driver = open_loaded(&server.config("public_url = \"https://cdn.example/files\"\n"));
    assert_eq!(
        driver.public_url(&key("x y")).unwrap(),
        "https://cdn.example/files/x%20y"
    );
}
