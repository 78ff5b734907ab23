//! `mirra serve --gaia` driven by the real Stacks client (`@stacks/storage` 7 from npm,
//! in tests/gaia-client) over three providers: a disk, the test S3 server and the test
//! WebDAV server. Stores with and without ETags, encrypted, plain and signed files,
//! listing and deletes; the S3 server stopped mid-run (every client call still succeeds)
//! and restarted (`repair` + `verify` clean); a flipped byte on one provider (the client
//! still reads the right data); and every refusal, with nothing written.

#[path = "common/dav_server.rs"]
mod dav_server;
#[path = "common/s3_server.rs"]
mod s3_server;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use dav_server::DavServer;
use mirra::identity::Identity;
use mirra::write_lock::WriteLocks;
use mirra_tests::cli::{MirraEnv, ProviderSpec};
use s3_server::S3Server;

/// The Node project that pins the real client.
fn client_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("gaia-client")
}

/// Panics with what to run unless Node and the pinned client are installed.
fn require_node() {
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.is_ok_and(|o| o.status.success()),
        "`node` is not installed: run .ci/run, which installs Node from Debian's packages \
         and runs `npm ci` in tests/gaia-client"
    );
    assert!(
        client_dir().join("node_modules/@stacks/storage").is_dir(),
        "tests/gaia-client/node_modules is missing: run .ci/run (or `npm ci` in \
         tests/gaia-client) to install the pinned @stacks/storage client"
    );
}

/// A secp256k1 secret key, hex, derived from `seed`.
fn app_key(seed: &str) -> String {
    mirra::manifest::sha256(seed.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A running `mirra serve --gaia`, killed when dropped.
struct Hub {
    child: Child,
    url: String,
    log: PathBuf,
}

impl Hub {
    fn start(env: &MirraEnv) -> Hub {
        Self::start_with(env, &[])
    }

    /// `mirra serve --gaia --listen 127.0.0.1:0 EXTRA...`.
    fn start_with(env: &MirraEnv, extra: &[&str]) -> Hub {
        let log = env.home().join(format!("serve-{}.log", extra.len()));
        let mut args = vec!["serve", "--gaia", "--listen", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        let mut child = env
            .command(&args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("cannot start mirra serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped"))
            .read_line(&mut line)
            .expect("read the address line");
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| {
                panic!(
                    "mirra serve printed no address: {line:?}\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                )
            })
            .to_owned();
        Hub { child, url, log }
    }

    /// Runs `node gaia.mjs COMMAND HUB ARGS...` and returns its `ok`/`FAIL` lines,
    /// panicking (with the server's log) unless it exits 0 with no `FAIL`.
    fn node(&self, args: &[&str]) -> Vec<String> {
        let started = Instant::now();
        let output = Command::new("node")
            .arg("gaia.mjs")
            .arg(args[0])
            .arg(&self.url)
            .args(&args[1..])
            .current_dir(client_dir())
            .output()
            .expect("cannot run node");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let lines: Vec<String> = stdout
            .lines()
            .filter(|l| l.starts_with("ok ") || l.starts_with("FAIL "))
            .map(str::to_owned)
            .collect();
        assert!(
            output.status.success() && !lines.iter().any(|l| l.starts_with("FAIL")),
            "node gaia.mjs {} failed after {:?}:\n{}\n{}\nserver log:\n{}",
            args[0],
            started.elapsed(),
            lines.join("\n"),
            String::from_utf8_lossy(&output.stderr),
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
        lines
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Asserts that every `step` has an `ok` line.
#[track_caller]
fn assert_steps(lines: &[String], steps: &[&str]) {
    for step in steps {
        let prefix = format!("ok {step}");
        assert!(
            lines
                .iter()
                .any(|l| l == &prefix || l.starts_with(&(prefix.clone() + " "))),
            "no `ok {step}` in:\n{}",
            lines.join("\n")
        );
    }
}

/// The bucket address `connect` printed.
fn address_in(lines: &[String]) -> String {
    lines
        .iter()
        .find_map(|l| l.strip_prefix("ok connect address="))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("a connect line")
        .to_owned()
}

fn config(env: &MirraEnv, s3: &S3Server, dav: &DavServer) {
    let timeouts = "connect_timeout = \"1s\"\ntimeout = \"5s\"\n";
    let providers = [
        // Read first, so the flipped byte below is met and failed over.
        ProviderSpec::disk(env, "disk-a").with_priority(1),
        ProviderSpec {
            name: "s3".into(),
            priority: 5,
            driver: "s3".into(),
            config: s3.config(timeouts),
            chaos: None,
        },
        ProviderSpec {
            name: "dav".into(),
            priority: 10,
            driver: "http".into(),
            config: dav.config(timeouts),
            chaos: None,
        },
    ];
    env.write_config("write_quorum = \"majority\"\n", &providers);
    let mut text = std::fs::read_to_string(env.config_path()).expect("config");
    text.push_str("\n[gaia]\nserver_name = \"mirra-test\"\nmax_file_upload_size_megabytes = 1\n");
    std::fs::write(env.config_path(), text).expect("config");
}

/// Flips one byte in the middle of `file`.
fn flip_byte(file: &Path) {
    let mut bytes = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x20;
    std::fs::write(file, bytes).expect("write the flipped copy");
}

#[test]
fn stacks_client_writes_through_mirra_to_every_provider() {
    require_node();
    let env = MirraEnv::initialized();
    let mut s3 = S3Server::start();
    let dav = DavServer::start();
    config(&env, &s3, &dav);
    let hub = Hub::start(&env);
    let key = app_key("gaia-test-app");
    let all_steps = [
        "connect",
        "upload-new",
        "upload-if-match",
        "upload-stale-etag",
        "upload-new-over-existing",
        "read-after-upload",
        "etag-same-string",
        "putFile-getFile enc.json",
        "putFile-getFile plain.txt",
        "putFile-getFile signed.txt",
        "putFile-getFile signed-enc.txt",
        "encrypted-at-rest",
        "putFile-getFile binary",
        "putFile-overwrite",
        "listFiles",
        "deleteFile",
        "deleteFile-signed",
        "delete-missing",
        "basic",
    ];

    let lines = hub.node(&["basic", &key, "one"]);
    assert_steps(&lines, &all_steps);
    let address = address_in(&lines);
    // Every provider holds the files, under `<address>/<path>`.
    let sig = format!("{address}/one/signed-enc.txt");
    assert!(env.provider_root("disk-a").join(&sig).is_file());
    assert!(s3.object_file(&sig).is_file(), "S3 lacks {sig}");
    assert!(dav.file(&sig).is_file(), "WebDAV lacks {sig}");

    // The S3 server goes away: every client call still succeeds.
    s3.stop();
    assert_steps(&hub.node(&["basic", &key, "two"]), &all_steps);
    assert_steps(&hub.node(&["read", &key, "one"]), &["read"]);
    assert!(!s3.object_file(&format!("{address}/two/bin")).exists());

    // It comes back; repair puts its copies right and verify is clean.
    s3.restart();
    let copies = env.repair_then_verify_all_ok();
    assert!(copies >= 3 * 10, "verify saw only {copies} copies");
    assert!(s3.object_file(&format!("{address}/two/bin")).is_file());

    // A flipped byte on the provider read first: the client still reads the right data.
    for name in ["one/bin", "one/enc.json", "two/signed-enc.txt"] {
        flip_byte(
            &env.provider_root("disk-a")
                .join(format!("{address}/{name}")),
        );
    }
    assert_steps(
        &hub.node(&["read", &key, "one"]),
        &["read bin", "read enc.json", "read"],
    );
    assert_steps(
        &hub.node(&["read", &key, "two"]),
        &["read signed-enc.txt", "read"],
    );
    // And repair restores the bad copy from a good one.
    env.repair_then_verify_all_ok();
}

#[test]
fn refusals_write_nothing() {
    require_node();
    let env = MirraEnv::initialized();
    let s3 = S3Server::start();
    let dav = DavServer::start();
    config(&env, &s3, &dav);
    let hub = Hub::start(&env);
    let lines = hub.node(&["refusals", &app_key("refused-app"), &app_key("other-app")]);
    assert_steps(
        &lines,
        &[
            "refuse-other-address",
            "nothing-written other-address",
            "refuse-other-address-delete",
            "nothing-deleted other-address",
            "refuse-stale-etag",
            "nothing-written stale-etag",
            "refuse-bad-path refusals/dir/",
            "refuse-bad-path refusals/a..b",
            "refuse-oversized",
            "nothing-written oversized",
            "refuse-foreign-challenge",
            "nothing-written foreign-challenge",
            "refusals",
        ],
    );
    let revoked = hub.node(&["revoke", &app_key("revoking-app")]);
    assert_steps(
        &revoked,
        &[
            "revoke-all",
            "refuse-revoked",
            "nothing-written revoked",
            "fresh-iat-accepted",
            "revoke",
        ],
    );
    // The revocation is a signed object on the providers, so another gateway process
    // over the same providers refuses the old tokens too.
    let other = Hub::start_with(&env, &["--read-url-prefix", &format!("{}/", hub.url)]);
    let lines = other.node(&["revoked", &app_key("revoking-app")]);
    assert_steps(&lines, &["refuse-revoked", "revoked"]);
    // On disk: only the files the client meant to keep.
    let listing = env.run(&["ls", "--json"]).ok().stdout_text();
    for refused in [
        "other.txt",
        "big.bin",
        "foreign.txt",
        "refusals/dir",
        "a..b",
    ] {
        assert!(
            !listing.contains(refused),
            "{refused} was written:\n{listing}"
        );
    }
    assert!(listing.contains("refusals/kept.txt"), "{listing}");
}

#[test]
fn a_path_being_written_answers_409_to_the_real_client() {
    require_node();
    let env = MirraEnv::initialized();
    let s3 = S3Server::start();
    let dav = DavServer::start();
    config(&env, &s3, &dav);
    let hub = Hub::start(&env);
    let app = app_key("busy-app");
    let address = address_in(&hub.node(&["address", &app]));
    let key = format!("{address}/busy/held.txt");
    let held_file = env.home().join("held.txt");
    std::fs::write(&held_file, "first writer").unwrap();
    env.run(&["put", held_file.to_str().unwrap(), &key]).ok();

    // Another write of the file in flight on this machine: hold its lock as that writer.
    let owner = Identity::load(&env.home().join("data/mirra/key")).unwrap();
    let locks = WriteLocks::new(&env.home().join("state/mirra"));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let held = runtime
        .block_on(locks.lock(&owner.public_key(), &key, true))
        .unwrap();
    let lines = hub.node(&["busy", &app]);
    assert_steps(
        &lines,
        &[
            "refuse-busy-store",
            "refuse-busy-delete",
            "nothing-written busy",
            "other-paths-free",
            "busy",
        ],
    );
    drop(held);
    let back = env.home().join("back.txt");
    env.run(&["get", &key, "-o", back.to_str().unwrap()]).ok();
    assert_eq!(std::fs::read_to_string(back).unwrap(), "first writer");
}

#[test]
fn hub_info_and_cors_are_what_browsers_need() {
    require_node();
    let env = MirraEnv::initialized();
    let mut text = std::fs::read_to_string(env.config_path()).expect("config");
    text.push_str("\n[gaia]\nserver_name = \"hub.example\"\n");
    std::fs::write(env.config_path(), text).expect("config");
    let prefix = "http://cdn.example/";
    let hub = Hub::start_with(&env, &["--read-url-prefix", prefix]);
    let lines = hub.node(&["cors", &app_key("browser-app"), prefix]);
    assert_steps(
        &lines,
        &[
            "hub_info",
            "preflight",
            "store-cors",
            "read-cors",
            "list-stat",
            "cors",
        ],
    );
}

#[test]
fn bad_gaia_flags_are_refused_before_serving() {
    let env = MirraEnv::initialized();
    let run = env.run(&[
        "serve",
        "--gaia",
        "--listen",
        "127.0.0.1:0",
        "--read-url-prefix",
        "ftp://cdn.example",
    ]);
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("--read-url-prefix") && run.stderr.contains("ending in `/`"),
        "{}",
        run.stderr
    );
    // The prefix only means something for a Gaia hub.
    let run = env.run(&["serve", "--read-url-prefix", "https://cdn.example/"]);
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("--gaia"), "{}", run.stderr);
    // A bad [gaia] table is a config error naming the field, and nothing starts.
    let mut text = std::fs::read_to_string(env.config_path()).expect("config");
    text.push_str("\n[gaia]\nmax_file_upload_size_megabytes = 0\n");
    std::fs::write(env.config_path(), text).expect("config");
    let run = env.run(&["serve", "--gaia", "--listen", "127.0.0.1:0"]);
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("max_file_upload_size_megabytes"),
        "{}",
        run.stderr
    );
}
