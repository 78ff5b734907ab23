//! The DHT driver loaded as a `.so`, against a local mainline testnet of several nodes
//! on 127.0.0.1 (never the public DHT): the conformance kit at the sizes BEP 44's
//! 1000-byte values allow, the size limit,
//! read-only `dht+udp://` access, and `mirra put`/`get` with the DHT as the only copy
//! left.

use std::sync::OnceLock;

use mainline::Testnet;
use mirra_driver_api::{
    testkit, DriverLibrary, ErrorKind, HostContext, Key, LoadedDriver, StorageDriver,
};
use mirra_tests::cdylib;
use mirra_tests::cli::{MirraEnv, Run};

/// Every lookup waits for the slowest node it asked; on loopback 300 ms is plenty.
const FAST: &str = "request_timeout_ms = 300\n";

const SEED: &str = "8f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

/// One testnet for the whole test binary, so the process-wide `MIRRA_DHT_BOOTSTRAP`
/// (read by `open_url`) always names it.
fn testnet() -> &'static Testnet {
    static TESTNET: OnceLock<Testnet> = OnceLock::new();
    TESTNET.get_or_init(|| {
        let testnet = Testnet::builder(8)
            .build()
            .expect("start a local DHT testnet");
        assert!(
            testnet
                .bootstrap
                .iter()
                .all(|n| n.starts_with("127.0.0.1:")),
            "testnet must be loopback only: {:?}",
            testnet.bootstrap
        );
        std::env::set_var("MIRRA_DHT_BOOTSTRAP", testnet.bootstrap.join(","));
        testnet
    })
}

fn bootstrap_toml() -> String {
    let nodes: Vec<String> = testnet()
        .bootstrap
        .iter()
        .map(|n| format!("\"{n}\""))
        .collect();
    format!("[{}]", nodes.join(", "))
}

fn library() -> DriverLibrary {
    DriverLibrary::load(&cdylib("mirra_driver_dht")).expect("load the dht driver .so")
}

fn open(library: &DriverLibrary, seed: &str) -> LoadedDriver {
    let config = format!(
        "seed = \"{seed}\"\nbootstrap = {}\nbind_address = \"127.0.0.1\"\n{FAST}",
        bootstrap_toml()
    );
    library
        .open(HostContext::default(), &config)
        .unwrap_or_else(|e| panic!("open the dht driver: {e}"))
}

fn key(name: &str) -> Key {
    Key::parse(name).unwrap()
}

fn read_all(driver: &dyn StorageDriver, k: &Key) -> Vec<u8> {
    testkit::read_all(driver, k).unwrap()
}

#[test]
fn info_declares_what_bep44_allows() {
    let library = library();
    let info = library.info();
    assert_eq!(info.name, "dht");
    assert_eq!(info.url_schemes, ["dht+udp"]);
    assert_eq!(
        info.capabilities.names(),
        [
            "read",
            "range-read",
            "write",
            "delete",
            "public-url",
            "atomic-write"
        ]
    );
}

#[test]
fn the_whole_kit_passes_at_sizes_bep44_allows() {
    let library = library();
    let driver = open(&library, SEED);
    // The shared kit, scaled to 1000-byte values; an empty put must be refused plainly.
    let limits = testkit::Limits {
        max_object_size: 1000, // BEP 44: a value holds at most 1000 bytes
        empty_objects: false,
    };
    let caps = library.info().capabilities;
    let summary = testkit::run_all_with(&driver, caps, limits);
    for check in [
        "health_answers",
        "round_trip",
        "empty_object",
        "range_reads",
        "host_keys",
        "delete_then_not_found",
        "atomic_write_visibility",
        "public_url_shape",
    ] {
        assert!(summary.passed.contains(&check), "{check}: {summary:?}");
    }
}

#[test]
fn small_objects_round_trip_stat_overwrite_and_range_read() {
    let library = library();
    let driver = open(&library, SEED);
    let prefix = format!("small-{}", std::process::id());

    // Round trip at the limit, and stat of exact sizes.
    for size in [1usize, 500, 1000] {
        let k = key(&format!("{prefix}/size-{size}"));
        let data = testkit::pattern(size as u64, 0, size);
        driver.put(&k, &data).unwrap();
        assert_eq!(driver.stat(&k).unwrap().size, size as u64);
        assert_eq!(read_all(&driver, &k), data);
    }

    // A shorter second write replaces the first.
    let over = key(&format!("{prefix}/over"));
    driver.put(&over, &testkit::pattern(4, 0, 900)).unwrap();
    driver.put(&over, &testkit::pattern(5, 0, 300)).unwrap();
    assert_eq!(read_all(&driver, &over), testkit::pattern(5, 0, 300));
    assert_eq!(driver.stat(&over).unwrap().size, 300);

    // Range reads, including the last byte and past the end.
    let mut buf = [0u8; 50];
    let n = driver.read(&over, 290, &mut buf).unwrap();
    assert_eq!(&buf[..n], &testkit::pattern(5, 0, 300)[290..]);
    assert_eq!(driver.read(&over, 300, &mut buf).unwrap(), 0);
    assert_eq!(driver.read(&over, 1 << 40, &mut buf).unwrap(), 0);

    // A streamed write within the limit, and an aborted one that leaves nothing.
    let streamed = key(&format!("{prefix}/streamed"));
    let mut writer = driver.begin_write(&streamed).unwrap();
    writer.write(b"hello ").unwrap();
    writer.write(b"dht").unwrap();
    writer.commit().unwrap();
    assert_eq!(read_all(&driver, &streamed), b"hello dht");
    let aborted = key(&format!("{prefix}/aborted"));
    let mut writer = driver.begin_write(&aborted).unwrap();
    writer.write(b"never").unwrap();
    writer.abort().unwrap();
    assert_eq!(driver.stat(&aborted).unwrap_err().kind, ErrorKind::NotFound);

    // A key longer than the 64-byte salt limit is hashed and still round-trips.
    let long = key(&format!(
        "{prefix}/.mirra/manifests/{}.json",
        "n".repeat(90)
    ));
    driver.put(&long, b"long key").unwrap();
    assert_eq!(read_all(&driver, &long), b"long key");

    // Missing keys, and listing, which BEP 44 cannot do.
    let missing = key(&format!("{prefix}/missing"));
    assert_eq!(driver.stat(&missing).unwrap_err().kind, ErrorKind::NotFound);
    assert_eq!(
        driver.read(&missing, 0, &mut buf).unwrap_err().kind,
        ErrorKind::NotFound
    );
    assert_eq!(
        driver.list("", None, 10).unwrap_err().kind,
        ErrorKind::Unsupported
    );
}

#[test]
fn values_over_the_bep44_limit_are_refused() {
    let library = library();
    let driver = open(&library, SEED);
    let k = key(&format!("limit-{}/big", std::process::id()));
    let err = driver.put(&k, &[7u8; 1001]).unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidInput, "{err}");
    assert!(err.message.contains("1000"), "{}", err.message);

    let mut writer = driver.begin_write(&k).unwrap();
    writer.write(&[1u8; 600]).unwrap();
    let err = writer.write(&[1u8; 600]).unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidInput, "{err}");
    assert!(err.message.contains("1000"), "{}", err.message);
    writer.abort().unwrap();
    assert_eq!(driver.stat(&k).unwrap_err().kind, ErrorKind::NotFound);

    let err = driver.put(&k, b"").unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidInput, "{err}");
}

#[test]
fn dht_urls_read_what_the_writer_published_and_cannot_write() {
    let library = library();
    let writer = open(&library, SEED);
    let k = key(&format!("url-{}/zone file.txt", std::process::id()));
    writer.put(&k, b"$ORIGIN alice.id\n").unwrap();
    let url = writer.public_url(&k).unwrap();
    let base = url
        .strip_suffix(&format!("url-{}/zone%20file.txt", std::process::id()))
        .unwrap_or_else(|| panic!("{url} does not end in the key"));
    assert!(
        base.starts_with("dht+udp://") && base.ends_with('/'),
        "{base}"
    );
    assert_eq!(base.len(), "dht+udp://".len() + 64 + 1, "{base}");

    testnet(); // MIRRA_DHT_BOOTSTRAP names the testnet
    let reader = library
        .open_url(HostContext::default(), base)
        .unwrap_or_else(|e| panic!("open_url {base}: {e}"));
    assert_eq!(read_all(&reader, &k), b"$ORIGIN alice.id\n");
    let err = reader.put(&k, b"tampered").unwrap_err();
    assert_eq!(err.kind, ErrorKind::PermissionDenied, "{err}");

    // Another seed's items are not visible under this key.
    let other = open(&library, &"11".repeat(32));
    assert_eq!(other.stat(&k).unwrap_err().kind, ErrorKind::NotFound);

    for bad in [
        "dht+udp://fc4d9c1481a6349fe99f0e3dd7261d67b23dadc5",
        "http://x/",
    ] {
        let err = library
            .open_url(HostContext::default(), bad)
            .map(|_| ())
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidInput, "{bad}: {err}");
    }
}

#[test]
fn configs_need_a_seed_and_explicit_bootstrap_nodes() {
    let library = library();
    let open_err = |config: &str| {
        library
            .open(HostContext::default(), config)
            .map(|_| ())
            .unwrap_err()
    };
    let err = open_err(&format!("bootstrap = {}", bootstrap_toml()));
    assert_eq!(err.kind, ErrorKind::InvalidInput);
    assert!(err.message.contains("seed"), "{}", err.message);

    let err = open_err(&format!("seed = \"{SEED}\"\nbootstrap = []"));
    assert_eq!(err.kind, ErrorKind::InvalidInput);
    assert!(err.message.contains("bootstrap"), "{}", err.message);

    let err = open_err(&format!(
        "seed = \"{}\"\nbootstrap = {}",
        &SEED[..60],
        bootstrap_toml()
    ));
    assert!(
        err.message.contains("seed") && !err.message.contains(&SEED[..60]),
        "{}",
        err.message
    );
}

#[test]
fn an_unreachable_dht_is_unavailable_not_missing() {
    // A loopback port nobody listens on: queries time out without an answer.
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .unwrap()
        .port();
    let driver = library()
        .open(
            HostContext::default(),
            &format!("seed = \"{SEED}\"\nbootstrap = [\"127.0.0.1:{port}\"]\n{FAST}"),
        )
        .unwrap();
    let err = driver.stat(&key("anything")).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Unavailable, "{err}");
    assert!(err.retryable);
    assert_eq!(
        driver.put(&key("anything"), b"x").unwrap_err().kind,
        ErrorKind::Unavailable
    );
}

#[test]
fn mirra_get_returns_the_verified_profile_from_the_dht_alone() {
    let env = MirraEnv::initialized();
    let config_path = env.config_path();
    let config = std::fs::read_to_string(&config_path).unwrap();
    let head = &config[..=config.find("\n[[provider]]").expect("a provider section")];
    let disk_root = env.home().join("disk-only");
    std::fs::write(
        &config_path,
        format!(
            "{head}[[provider]]\nname = \"disk\"\ndriver = \"disk\"\n[provider.config]\n\
             root = {disk_root:?}\n\n[[provider]]\nname = \"dht\"\ndriver = \"dht\"\n\
             [provider.config]\nseed = \"{}\"\nbootstrap = {}\nbind_address = \"127.0.0.1\"\n{FAST}",
            "5a".repeat(32),
            bootstrap_toml()
        ),
    )
    .unwrap();
    let profile = br#"{"name":"alice","bio":"keeps her data alive","avatar":"https://x/a.png"}"#;
    let file = env.file("profile.json", profile);
    env.run(&["put", file.to_str().unwrap(), "profile.json"])
        .ok();
    // The bytes and the signed manifest both reached the DHT.
    let dht = open(&library(), &"5a".repeat(32));
    assert_eq!(read_all(&dht, &key("profile.json")), profile);
    let manifest = read_all(&dht, &key(".mirra/manifests/profile.json.json"));
    assert!(manifest.len() <= 1000, "{} bytes", manifest.len());

    std::fs::remove_dir_all(&disk_root).unwrap();
    let got = env.run(&["get", "profile.json"]).ok();
    assert_eq!(got.stdout, profile);

    // A reader with nothing but the owner's zone file finds the profile through its
    // `dht+udp://` record.
    let zone = env.home().join("zone.txt");
    env.run(&["zonefile", "-o", zone.to_str().unwrap()]).ok();
    let text = std::fs::read_to_string(&zone).unwrap();
    assert!(text.contains("\"dht+udp://"), "{text}");
    std::fs::remove_dir_all(&disk_root).unwrap();
    let reader = MirraEnv::new();
    let out: Run = reader
        .command(&["lookup", zone.to_str().unwrap(), "profile.json"])
        .env("MIRRA_DHT_BOOTSTRAP", testnet().bootstrap.join(","))
        .output()
        .unwrap()
        .into();
    assert_eq!(out.code, 0, "lookup failed: {}", out.stderr);
    assert_eq!(out.stdout, profile);
}
