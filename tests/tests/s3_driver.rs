//! The s3 driver against a real S3 server (s3s-fs on 127.0.0.1), loaded as a `.so`
//! and linked in-process: the conformance kit, an independent reader of the stored
//! bytes, sequential reads served by one streamed GET, outages, black holes and error
//! mapping.

#[path = "common/s3_server.rs"]
mod s3_server;

use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use mirra_driver_api::{
    testkit, DriverFactory, DriverLibrary, ErrorKind, HostContext, Key, LoadedDriver, StorageDriver,
};
use mirra_driver_s3::S3Factory;
use s3_server::{S3Server, BUCKET, SECRET_KEY};

fn library() -> DriverLibrary {
    DriverLibrary::load(&mirra_tests::cdylib("mirra_driver_s3")).expect("load the s3 driver")
}

fn open_loaded(config: &str) -> LoadedDriver {
    library()
        .open(HostContext::default(), config)
        .expect("open the s3 driver")
}

fn key(s: &str) -> Key {
    Key::parse(s).unwrap()
}

/// Small parts so the conformance kit's 32 MiB write really goes multipart.
const PARTS: &str = "part_size = \"5MiB\"\nconnect_timeout = \"2s\"\ntimeout = \"20s\"\n";

#[test]
fn conformance_kit_passes_as_loaded_library() {
    let server = S3Server::start();
    let lib = library();
    assert_eq!(lib.info().name, "s3");
    let driver = lib
        .open(
            HostContext::default(),
            &server.config(&format!("prefix = \"loaded\"\n{PARTS}")),
        )
        .unwrap();
    let summary = testkit::run_all(&driver, lib.info().capabilities);
    // S3 writes are durable when they return: nothing to flush.
    assert_eq!(summary.skipped, ["unsynced_batch_then_flush"]);
    assert!(summary.passed.contains(&"streamed_write_32mib"));
}

#[test]
fn conformance_kit_passes_in_process() {
    let server = S3Server::start();
    let driver = S3Factory::open(&server.config(PARTS)).unwrap();
    let summary = testkit::run_all(&*driver, S3Factory::info().capabilities);
    // S3 writes are durable when they return: nothing to flush.
    assert_eq!(summary.skipped, ["unsynced_batch_then_flush"]);
}

#[test]
fn bytes_match_an_independent_reader_both_ways() {
    let server = S3Server::start();
    let driver = open_loaded(&server.config(&format!("prefix = \"mirror/\"\n{PARTS}")));

    // Written through the driver (one PUT, and a multipart stream), read from disk.
    let small = testkit::pattern(41, 0, 70_000);
    driver.put(&key("docs/small.bin"), &small).unwrap();
    assert_eq!(
        std::fs::read(server.object_file("mirror/docs/small.bin")).unwrap(),
        small
    );
    let big = testkit::pattern(42, 0, 11 << 20);
    let mut writer = driver.begin_write(&key("docs/big.bin")).unwrap();
    for piece in big.chunks(3 << 20) {
        writer.write(piece).unwrap();
    }
    writer.commit().unwrap();
    assert_eq!(
        std::fs::read(server.object_file("mirror/docs/big.bin")).unwrap(),
        big
    );
    // The key is stored as itself: no escaping of '%', '+' or spaces in the S3 key.
    driver.put(&key("odd/a b+c%20d.txt"), b"odd").unwrap();
    assert_eq!(
        std::fs::read(server.object_file("mirror/odd/a b+c%20d.txt")).unwrap(),
        b"odd"
    );

    // Placed on the server by someone else, read through the driver.
    let placed = testkit::pattern(43, 0, 12_345);
    let file = server.object_file("mirror/outside/placed.bin");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, &placed).unwrap();
    let k = key("outside/placed.bin");
    assert_eq!(driver.stat(&k).unwrap().size, placed.len() as u64);
    assert_eq!(testkit::read_all(&driver, &k).unwrap(), placed);
    let page = driver.list("outside/", None, 10).unwrap();
    let listed: Vec<_> = page.entries.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(listed, ["outside/placed.bin"]);
    // Outside the prefix stays invisible.
    std::fs::write(server.object_file("elsewhere.bin"), b"x").unwrap();
    assert!(driver
        .list("", None, 1000)
        .unwrap()
        .entries
        .iter()
        .all(|e| e.key != "elsewhere.bin" && !e.key.starts_with("mirror/")));
}

#[test]
fn aborted_multipart_upload_leaves_no_parts_on_the_server() {
    let server = S3Server::start();
    let driver = open_loaded(&server.config(PARTS));
    let upload_files = || {
        std::fs::read_dir(server.root())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains("upload"))
            .count()
    };
    let k = key("aborted/big.bin");
    let mut writer = driver.begin_write(&k).unwrap();
    writer.write(&testkit::pattern(44, 0, 11 << 20)).unwrap();
    assert!(
        upload_files() > 0,
        "two parts should be on the server by now"
    );
    writer.abort().unwrap();
    assert_eq!(upload_files(), 0, "abort left upload state behind");
    assert_eq!(driver.stat(&k).unwrap_err().kind, ErrorKind::NotFound);

    let mut writer = driver.begin_write(&k).unwrap();
    writer.write(&testkit::pattern(45, 0, 11 << 20)).unwrap();
    drop(writer);
    assert_eq!(upload_files(), 0, "drop left upload state behind");
}

#[test]
fn outage_fails_fast_with_unavailable() {
    let mut server = S3Server::start();
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

/// A listener that accepts connections and never answers.
fn black_hole() -> (String, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    listener.set_nonblocking(true).unwrap();
    let holder = std::thread::spawn(move || {
        let mut held = Vec::new();
        let until = Instant::now() + Duration::from_secs(30);
        while Instant::now() < until {
            match listener.accept() {
                Ok((stream, _)) => held.push(stream),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    });
    (endpoint, holder)
}

#[test]
fn black_holed_endpoint_times_out_with_unavailable() {
    // Build and load the library first: the black hole only lives for 30 s.
    let lib = library();
    let (endpoint, _holder) = black_hole();
    let config = format!(
        "endpoint = \"{endpoint}\"\nbucket = \"{BUCKET}\"\npath_style = true\n\
         access_key_id = \"a\"\nsecret_access_key = \"b\"\n\
         connect_timeout = \"1s\"\ntimeout = \"2s\"\n"
    );
    let driver = lib.open(HostContext::default(), &config).unwrap();
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
fn wrong_credentials_are_permission_denied_and_not_echoed() {
    let server = S3Server::start();
    let wrong = "wrong-secret-value-987654321";
    let config = server.config("").replace(SECRET_KEY, wrong);
    let driver = open_loaded(&config);
    for err in [
        driver.stat(&key("k")).unwrap_err(),
        driver.put(&key("k"), b"x").unwrap_err(),
        driver.list("", None, 5).unwrap_err(),
    ] {
        assert_eq!(err.kind, ErrorKind::PermissionDenied, "{err}");
        assert!(!err.message.contains(wrong), "secret in {err}");
        assert!(!err.message.contains(SECRET_KEY), "secret in {err}");
    }
}

#[test]
fn missing_keys_are_not_found() {
    let server = S3Server::start();
    let driver = open_loaded(&server.config(""));
    let k = key("never/written");
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
    let server = S3Server::start();
    let lib = library();
    let cases = [
        ("part_size = 1024\n", "part_size"),
        ("bukket = \"x\"\n", "bukket"),
        ("timeout = \"forever\"\n", "timeout"),
        ("path_style = \"yes\"\n", "path_style"),
    ];
    for (extra, field) in cases {
        let err = lib
            .open(HostContext::default(), &server.config(extra))
            .map(drop)
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidInput, "{extra}: {err}");
        assert!(err.message.contains(field), "{extra}: {err}");
        assert!(!err.message.contains(SECRET_KEY), "{extra}: {err}");
    }
    let err = lib
        .open(
            HostContext::default(),
            "endpoint = \"not a url\"\nbucket = \"b\"\naccess_key_id = \"a\"\nsecret_access_key = \"s\"\n",
        )
        .map(drop)
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidInput);
    assert!(err.message.contains("endpoint"), "{err}");
}

#[test]
fn public_urls_follow_the_config() {
    let server = S3Server::start();
    let driver = open_loaded(&server.config("prefix = \"p\"\n"));
    assert_eq!(
        driver.public_url(&key("dir/a b.txt")).unwrap(),
        format!("{}/{BUCKET}/p/dir/a%20b.txt", server.endpoint)
    );
    let driver =
        open_loaded(&server.config("prefix = \"p\"\npublic_url = \"https://cdn.example/p/\"\n"));
    assert_eq!(
        driver.public_url(&key("x")).unwrap(),
        "https://cdn.example/p/x"
    );
}

#[test]
fn open_url_is_anonymous_and_read_only() {
    let lib = library();
    assert!(lib.info().url_schemes.iter().any(|s| s == "s3"));
    for url in [
        "s3://some-bucket/some/prefix",
        "https://some-bucket.s3.amazonaws.com/some/prefix",
    ] {
        // No request is made: opening is offline and writes are refused locally.
        let driver = lib.open_url(HostContext::default(), url).unwrap();
        let k = key("a.txt");
        assert_eq!(
            driver.public_url(&k).unwrap(),
            "https://some-bucket.s3.amazonaws.com/some/prefix/a.txt"
        );
        for err in [
            driver.put(&k, b"x").unwrap_err(),
            driver.begin_write(&k).map(drop).unwrap_err(),
            driver.delete(&k).unwrap_err(),
        ] {
            assert_eq!(err.kind, ErrorKind::PermissionDenied, "{url}: {err}");
        }
    }
    let err = lib
        .open_url(HostContext::default(), "https://example.com/x")
        .map(drop)
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidInput);
}

const MIB: usize = 1 << 20;
/// The host's chunk size, and how many chunks it keeps in flight.
const CHUNK: usize = 4 * MIB;
const IN_FLIGHT: usize = 3;

/// Reads `len` bytes at `offset` as the host does: `read` until full or at the end.
fn read_chunk(driver: &LoadedDriver, k: &Key, offset: u64, len: usize) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    let mut filled = 0;
    while filled < len {
        let n = driver
            .read(k, offset + filled as u64, &mut buf[filled..])
            .unwrap_or_else(|e| panic!("read at {}: {e}", offset + filled as u64));
        if n == 0 {
            break;
        }
        filled += n;
    }
    buf.truncate(filled);
    buf
}

/// Reads chunks `first..last` of `k` with `IN_FLIGHT` reads at once, taken in order
/// by worker threads, as the host's chunk loop does; returns them by index.
fn read_chunks_in_flight(
    driver: &LoadedDriver,
    k: &Key,
    chunks: std::ops::Range<usize>,
) -> Vec<Vec<u8>> {
    let next = AtomicUsize::new(chunks.start);
    let out = Mutex::new(vec![Vec::new(); chunks.len()]);
    std::thread::scope(|s| {
        for _ in 0..IN_FLIGHT {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= chunks.end {
                    return;
                }
                let chunk = read_chunk(driver, k, (i * CHUNK) as u64, CHUNK);
                out.lock().unwrap()[i - chunks.start] = chunk;
            });
        }
    });
    out.into_inner().unwrap()
}

#[test]
fn a_sequential_read_in_flight_is_one_streamed_get_not_one_per_chunk() {
    let server = S3Server::start();
    let driver = open_loaded(&server.config(PARTS));
    let k = key("big/64mib.bin");
    let size = 64 * MIB;
    let data = testkit::pattern(51, 0, size);
    driver.put(&k, &data).unwrap();

    let before = server.requests().object_gets();
    let chunks = read_chunks_in_flight(&driver, &k, 0..size / CHUNK);
    let gets = server.requests().object_gets() - before;
    for (i, chunk) in chunks.iter().enumerate() {
        assert!(
            chunk[..] == data[i * CHUNK..(i + 1) * CHUNK],
            "chunk {i} differs"
        );
    }
    println!("{gets} GETs for {} chunks read in flight", size / CHUNK);
    // One stream. Reads racing ahead of its registration may still go ranged (and one
    // of them start a second stream where the other ended).
    assert!(
        gets <= 4,
        "{gets} GETs for {} chunks of 4 MiB",
        size / CHUNK
    );

    // Read again from the start, one read at a time: again one stream.
    let before = server.requests().object_gets();
    assert_eq!(testkit::read_all(&driver, &k).unwrap(), data);
    let gets = server.requests().object_gets() - before;
    println!("{gets} GETs for 64 reads of 1 MiB");
    // The stream, and the final read at the end (a ranged GET answering 416).
    assert!(gets <= 2, "{gets} GETs for 64 reads of 1 MiB");
}

/// Which version each chunk holds: `a`, `b`, or neither (mixed or corrupt).
fn versions_of(chunks: &[Vec<u8>], first: usize, a: &[u8], b: &[u8]) -> Vec<char> {
    chunks
        .iter()
        .enumerate()
        .map(|(i, chunk)| {
            let at = (first + i) * CHUNK..(first + i + 1) * CHUNK;
            if chunk[..] == a[at.clone()] {
                'a'
            } else if chunk[..] == b[at] {
                'b'
            } else {
                'x'
            }
        })
        .collect()
}

#[test]
fn an_object_overwritten_mid_stream_never_yields_a_mixed_chunk() {
    let mut server = S3Server::start();
    let driver = open_loaded(&server.config(PARTS));
    // Another writer: a second provider instance, so the reader is not told.
    let writer = open_loaded(&server.config(PARTS));
    let k = key("big/changing.bin");
    let size = 64 * MIB;
    let old = testkit::pattern(61, 0, size);
    let new = testkit::pattern(62, 0, size);
    writer.put(&k, &old).unwrap();

    // The stream is open and has served the first 16 MiB of the old version.
    let first = read_chunks_in_flight(&driver, &k, 0..4);
    assert_eq!(versions_of(&first, 0, &old, &new), ['a'; 4]);

    // Overwritten: the open response still sends the version it started with.
    writer.put(&k, &new).unwrap();
    let next = read_chunks_in_flight(&driver, &k, 4..6);
    let seen = versions_of(&next, 4, &old, &new);
    assert!(!seen.contains(&'x'), "mixed chunk: {seen:?}");

    // The connection breaks: resuming the stream finds another ETag, so the stream
    // ends and the rest is read with ranged GETs, each one version (here the new one,
    // which the host's verification against the old manifest would refuse).
    server.restart();
    let rest = read_chunks_in_flight(&driver, &k, 6..size / CHUNK);
    let seen = versions_of(&rest, 6, &old, &new);
    assert!(!seen.contains(&'x'), "mixed chunk: {seen:?}");
    assert!(seen.contains(&'b'), "the change was never seen: {seen:?}");
    // A fresh sequential read streams the new version whole.
    let whole = testkit::read_all(&driver, &k).unwrap();
    assert_eq!(whole.len(), new.len(), "length of a fresh read");
    let differs = whole.iter().zip(&new).position(|(a, b)| a != b);
    assert_eq!(
        differs, None,
        "a fresh read differs from the new version at this byte"
    );
}

#[test]
fn random_offset_reads_return_the_right_bytes() {
    let server = S3Server::start();
    let driver = open_loaded(&server.config(PARTS));
    let k = key("big/random.bin");
    let size = 20 * MIB;
    let data = testkit::pattern(71, 0, size);
    driver.put(&k, &data).unwrap();

    // A fixed pseudo-random walk: offsets anywhere (the start, inside an open
    // stream's window, behind it, past the end), lengths from 1 byte to 6 MiB.
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = |bound: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % bound
    };
    let mut reads = vec![(0, 100), (0, 3 * MIB), (3 * MIB, MIB), (size - 10, 100)];
    for _ in 0..40 {
        let offset = next(size as u64 + 1024) as usize;
        let len = 1 + next(6 * MIB as u64) as usize;
        reads.push((offset, len));
    }
    for (offset, len) in reads {
        let got = read_chunk(&driver, &k, offset as u64, len);
        let want = &data[offset.min(size)..(offset + len).min(size)];
        assert!(got == want, "read of {len} at {offset}: wrong bytes");
    }
}
