//! Many writers, one agreed newest version, no silent loss (issue 15): `mirra put`
//! processes racing on a few keys over disk, S3 and WebDAV with one provider restarted
//! mid-run; two gateways over the same providers; a fresh reader whose fastest provider
//! withholds the newest version; conditional writes through the CLI and the gateway.

#[path = "common/dav_server.rs"]
mod dav_server;
#[path = "common/s3_server.rs"]
mod s3_server;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dav_server::DavServer;
use mirra::identity::Identity;
use mirra::write_lock::WriteLocks;
use mirra_tests::cli::{MirraEnv, ProviderSpec, Run};
use mirra_tests::serve::Served;
use reqwest::{header, StatusCode};
use s3_server::S3Server;

const EXIT_SUPERSEDED: i32 = 3;
const EXIT_PRECONDITION: i32 = 4;

/// Deterministic, non-repeating test bytes.
fn bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64 ^ seed.wrapping_mul(0x2545_f491_4f6c_dd1d);
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

fn sha256_hex(data: &[u8]) -> String {
    hex(&mirra::manifest::sha256(data))
}

fn hex(data: &[u8]) -> String {
    data.iter().map(|b| format!("{b:02x}")).collect()
}

fn json(run: &Run) -> serde_json::Value {
    serde_json::from_slice(&run.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}), exit {}:\n{}\n{}",
            run.code,
            run.stdout_text(),
            run.stderr
        )
    })
}

/// One `mirra put` as the race test saw it.
#[derive(Debug, Clone)]
struct Write {
    key: String,
    sha256: String,
    code: i32,
    version: Option<u64>,
    superseded_by: Option<u64>,
    /// Providers that missed the write (the restarted one, while it was down).
    missed: usize,
}

#[test]
fn eight_processes_racing_on_five_keys_lose_nothing() {
    const PROCESSES: usize = 8;
    const WRITES: usize = 50;
    const KEYS: usize = 5;
    let env = MirraEnv::initialized();
    let mut s3 = S3Server::start();
    let dav = DavServer::start();
    let net = "connect_timeout = \"1s\"\ntimeout = \"4s\"\n";
    env.write_config(
        "chunk_size = \"4KiB\"\ntimeout = \"4s\"\nretries = 0\nhedge_after = \"200ms\"\n",
        &[
            ProviderSpec::disk(&env, "disk-a").with_priority(1),
            ProviderSpec {
                name: "s3".into(),
                priority: 2,
                driver: "s3".into(),
                config: s3.config(&format!("prefix = \"race/\"\n{net}")),
                chaos: None,
            },
            ProviderSpec {
                name: "dav".into(),
                priority: 3,
                driver: "http".into(),
                config: dav.config(net),
                chaos: None,
            },
        ],
    );
    let started = Instant::now();
    let writes = Arc::new(Mutex::new(Vec::<Write>::new()));
    let done = Arc::new(AtomicUsize::new(0));
    let env = Arc::new(env);
    let workers: Vec<_> = (0..PROCESSES)
        .map(|p| {
            let (env, writes, done) = (env.clone(), writes.clone(), done.clone());
            std::thread::spawn(move || {
                for w in 0..WRITES {
                    let seed = (p * WRITES + w) as u64;
                    let key = format!("race/k{}", (seed * 7 + p as u64) % KEYS as u64);
                    // Sizes from empty to a few chunks: small enough for a loaded 2-core
                    // machine, varied enough that two writes' bytes differ in length.
                    let size = (bytes(2, seed)[0] as usize * 97 + seed as usize) % 12_000;
                    let data = bytes(size, seed);
                    let file = env.file(&format!("in-{p}-{w}"), &data);
                    let run = env.run(&["put", "--json", file.to_str().unwrap(), &key]);
                    let report = (run.code == 0 || run.code == EXIT_SUPERSEDED).then(|| json(&run));
                    writes.lock().unwrap().push(Write {
                        key,
                        sha256: sha256_hex(&data),
                        code: run.code,
                        version: report.as_ref().and_then(|r| r["version"].as_u64()),
                        superseded_by: report.as_ref().and_then(|r| r["superseded_by"].as_u64()),
                        missed: report.as_ref().map_or(0, |r| {
                            r["providers"]
                                .as_array()
                                .map_or(0, |p| p.iter().filter(|o| !o["error"].is_null()).count())
                        }),
                    });
                    done.fetch_add(1, Ordering::SeqCst);
                    let _ = std::fs::remove_file(file);
                }
            })
        })
        .collect();
    // One provider goes away and comes back while the writers run.
    while done.load(Ordering::SeqCst) < PROCESSES * WRITES / 3 {
        std::thread::sleep(Duration::from_millis(20));
    }
    s3.stop();
    let stopped_at = done.load(Ordering::SeqCst);
    while done.load(Ordering::SeqCst) < stopped_at + 40 {
        std::thread::sleep(Duration::from_millis(20));
    }
    s3.restart();
    for worker in workers {
        worker.join().expect("writer thread");
    }
    let race_time = started.elapsed();
    let writes = writes.lock().unwrap().clone();
    assert_eq!(writes.len(), PROCESSES * WRITES);

    let succeeded: Vec<&Write> = writes.iter().filter(|w| w.code == 0).collect();
    let superseded: Vec<&Write> = writes
        .iter()
        .filter(|w| w.code == EXIT_SUPERSEDED)
        .collect();
    let failed = writes.len() - succeeded.len() - superseded.len();
    let missed: usize = writes.iter().map(|w| w.missed).sum();
    let copies = env.repair_then_verify_all_ok();
    println!(
        "{} writes by {PROCESSES} processes on {KEYS} keys in {race_time:?}: {} succeeded, \
         {} superseded, {failed} failed, {missed} provider copies missed (journaled); \
         {copies} copies verify after one repair",
        writes.len(),
        succeeded.len(),
        superseded.len()
    );
    assert!(
        succeeded.len() >= writes.len() / 2,
        "too few writes succeeded: {writes:?}"
    );
    for w in &superseded {
        let winner = w
            .superseded_by
            .expect("a superseded report names the winner");
        assert!(
            writes
                .iter()
                .any(|o| o.key == w.key && o.version == Some(winner)),
            "superseded by version {winner} of {}, which no writer wrote",
            w.key
        );
    }
    let mut by_key: BTreeMap<&str, Vec<&Write>> = BTreeMap::new();
    for w in &succeeded {
        by_key.entry(&w.key).or_default().push(w);
    }
    for (key, mut acked) in by_key {
        acked.sort_by_key(|w| w.version);
        let versions: Vec<u64> = acked.iter().filter_map(|w| w.version).collect();
        let mut distinct = versions.clone();
        distinct.dedup();
        assert_eq!(
            distinct, versions,
            "{key}: two successful writes got one version"
        );
        // Every success is the final version or was followed by a later success.
        let last = acked.last().unwrap();
        let read = env.run(&["get", key]).ok();
        assert_eq!(
            sha256_hex(&read.stdout),
            last.sha256,
            "{key}: the newest successful write (version {:?}) is not what a reader gets",
            last.version
        );
    }
    assert!(
        race_time < Duration::from_secs(240),
        "the race took {race_time:?}"
    );
}

/// Two gateways with their own state dirs over the same three disks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_never_serve_older_than_the_last_acknowledged_write() {
    let one = MirraEnv::initialized();
    one.write_config("chunk_size = \"4KiB\"\n", &one.default_disks());
    // A second "machine": its own home and state, the same config, key and providers.
    let two = one.another_machine();
    let token = one
        .run(&["token", "--scope", "", "--ttl", "10m"])
        .ok()
        .stdout_text()
        .trim()
        .to_owned();
    let gateways = [
        Served::start(&one, &["--writable"]),
        Served::start(&two, &["--writable"]),
    ];
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut acked = 0u64;
    for round in 0..12u64 {
        let writer = &gateways[(round % 2) as usize];
        let data = bytes(1000 + round as usize * 700, round);
        let response = http
            .put(writer.url("shared/doc.bin"))
            .bearer_auth(&token)
            .body(data.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "round {round}");
        let report: serde_json::Value = response.json().await.unwrap();
        let version = report["version"].as_u64().unwrap();
        assert!(version > acked, "version {version} after {acked}");
        acked = version;
        for (i, reader) in gateways.iter().enumerate() {
            let got = http.get(reader.url("shared/doc.bin")).send().await.unwrap();
            assert_eq!(got.status(), StatusCode::OK);
            let served: u64 = got.headers()["x-mirra-version"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert_eq!(
                (served, got.bytes().await.unwrap().to_vec() == data),
                (acked, true),
                "gateway {i} served version {served} after version {acked} was acknowledged"
            );
        }
    }
    // A conditional write made against one gateway's answer holds through the other.
    let etag = http
        .get(gateways[0].url("shared/doc.bin"))
        .send()
        .await
        .unwrap()
        .headers()[header::ETAG]
        .clone();
    let first = http
        .put(gateways[1].url("shared/doc.bin"))
        .bearer_auth(&token)
        .header(header::IF_MATCH, etag.clone())
        .body("one")
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    let second = http
        .put(gateways[0].url("shared/doc.bin"))
        .bearer_auth(&token)
        .header(header::IF_MATCH, etag)
        .body("two")
        .send()
        .await
        .unwrap();
    assert_eq!(second.status(), StatusCode::PRECONDITION_FAILED);
    for gateway in &gateways {
        let body = http
            .get(gateway.url("shared/doc.bin"))
            .send()
            .await
            .unwrap();
        assert_eq!(body.text().await.unwrap(), "one");
    }
}

#[test]
fn a_fresh_reader_gets_the_newest_version_that_a_fast_provider_withholds() {
    let env = MirraEnv::initialized();
    let slow = "latency = \"400ms\"\n";
    let both = |slow_chaos: Option<&str>| {
        let mut top = ProviderSpec::disk(&env, "disk-a").with_priority(1);
        if let Some(chaos) = slow_chaos {
            top = top.with_chaos(chaos);
        }
        vec![top, ProviderSpec::disk(&env, "disk-b").with_priority(2)]
    };
    env.write_config("hedge_after = \"50ms\"\n", &both(None));
    let old = bytes(3000, 1);
    let new = bytes(3000, 2);
    env.run(&["put", env.file("old", &old).to_str().unwrap(), "doc"])
        .ok();
    // Version 2 reaches only the top-priority provider; disk-b keeps version 1.
    env.write_config(
        "hedge_after = \"50ms\"\n",
        &[ProviderSpec::disk(&env, "disk-a").with_priority(1)],
    );
    env.run(&["put", env.file("new", &new).to_str().unwrap(), "doc"])
        .ok();
    // The top provider is slow, so the fast one answers first, with the older version.
    env.write_config("hedge_after = \"50ms\"\n", &both(Some(slow)));
    let state = env.home().join("state");
    std::fs::remove_dir_all(&state).unwrap();
    let started = Instant::now();
    let read = env.run(&["get", "doc"]).ok();
    println!("fresh read took {:?}", started.elapsed());
    assert!(
        read.stdout == new,
        "a fresh reader was rolled back to the version the fast provider withholds at"
    );
    // Now with a record: the fast path refuses the older version too.
    let again = env.run(&["get", "doc"]).ok();
    assert!(again.stdout == new);
    // And a fresh reader given only the withholding provider still reads (version 1),
    // showing the test's premise: disk-b really holds the older version.
    std::fs::remove_dir_all(&state).unwrap();
    env.write_config(
        "hedge_after = \"50ms\"\n",
        &[ProviderSpec::disk(&env, "disk-b").with_priority(2)],
    );
    assert!(env.run(&["get", "doc"]).ok().stdout == old);
}

#[test]
fn cli_conditions_refuse_stale_writes_and_write_nothing() {
    let env = MirraEnv::initialized();
    let first = bytes(5000, 3);
    let put = |data: &[u8], extra: &[&str]| {
        let file = env.file("input", data);
        let mut args = vec!["put", "--json"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&[file.to_str().unwrap(), "doc"]);
        env.run(&args)
    };
    let created = put(&first, &["--if-none-match", "*"]).ok();
    assert_eq!(json(&created)["version"], 1);
    let again = put(b"other", &["--if-none-match", "*"]);
    assert_eq!(again.code, EXIT_PRECONDITION, "{}", again.stderr);
    assert!(
        again.stderr.contains("precondition failed"),
        "{}",
        again.stderr
    );

    let stale = sha256_hex(b"not what the key holds");
    let refused = put(b"other", &["--if-match", &stale]);
    assert_eq!(refused.code, EXIT_PRECONDITION, "{}", refused.stderr);
    let refused = put(b"other", &["--if-match", "7"]);
    assert_eq!(refused.code, EXIT_PRECONDITION, "{}", refused.stderr);
    assert!(
        env.run(&["get", "doc"]).ok().stdout == first,
        "a refused put wrote"
    );

    let by_hash = put(b"second", &["--if-match", &sha256_hex(&first)]).ok();
    assert_eq!(json(&by_hash)["version"], 2);
    let by_version = put(b"third", &["--if-match", "2"]).ok();
    assert_eq!(json(&by_version)["version"], 3);
    assert_eq!(json(&by_version)["superseded_by"], serde_json::Value::Null);

    let bad = put(b"x", &["--if-match", "not-a-hash"]);
    assert_eq!(bad.code, 1, "{}", bad.stderr);
    assert!(bad.stderr.contains("--if-match takes"), "{}", bad.stderr);
    let bad = put(b"x", &["--if-none-match", "\"abc\""]);
    assert!(
        bad.stderr.contains("--if-none-match takes only"),
        "{}",
        bad.stderr
    );
    assert!(env.run(&["get", "doc"]).ok().stdout == b"third");

    let rm = env.run(&["rm", "--if-match", "2", "doc"]);
    assert_eq!(rm.code, EXIT_PRECONDITION, "{}", rm.stderr);
    assert!(env.run(&["get", "doc"]).ok().stdout == b"third");
    env.run(&["rm", "--if-match", &sha256_hex(b"third"), "doc"])
        .ok();
    assert_ne!(env.run(&["get", "doc"]).code, 0);
    // Deleted counts as absent.
    put(b"back", &["--if-none-match", "*"]).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_preconditions_answer_412_and_a_busy_key_409() {
    let env = MirraEnv::initialized();
    let token = env
        .run(&["token", "--scope", "", "--ttl", "10m"])
        .ok()
        .stdout_text()
        .trim()
        .to_owned();
    let served = Served::start(&env, &["--writable"]);
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let url = served.url("site/page.html");
    let put = |body: &'static str, condition: Option<(header::HeaderName, String)>| {
        let mut request = http.put(&url).bearer_auth(&token).body(body);
        if let Some((name, value)) = condition {
            request = request.header(name, value);
        }
        request.send()
    };
    let created = put("v1", Some((header::IF_NONE_MATCH, "*".into())))
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::OK);
    let etag = created.headers()[header::ETAG].to_str().unwrap().to_owned();
    assert_eq!(etag, format!("\"{}\"", sha256_hex(b"v1")));

    let exists = put("v2", Some((header::IF_NONE_MATCH, "*".into())))
        .await
        .unwrap();
    assert_eq!(exists.status(), StatusCode::PRECONDITION_FAILED);
    let stale = format!("\"{}\"", sha256_hex(b"v0"));
    let refused = put("v2", Some((header::IF_MATCH, stale.clone())))
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::PRECONDITION_FAILED);
    let refused = put("v2", Some((header::IF_MATCH, format!("W/{etag}"))))
        .await
        .unwrap();
    assert_eq!(
        refused.status(),
        StatusCode::PRECONDITION_FAILED,
        "weak tags never match"
    );
    let read = http.get(&url).send().await.unwrap();
    assert_eq!(read.headers()["x-mirra-version"], "1");
    assert_eq!(read.text().await.unwrap(), "v1", "a refused PUT wrote");

    let updated = put("v2", Some((header::IF_MATCH, etag.clone())))
        .await
        .unwrap();
    assert_eq!(updated.status(), StatusCode::OK);
    let any = put("v3", Some((header::IF_MATCH, "*".into())))
        .await
        .unwrap();
    assert_eq!(any.status(), StatusCode::OK);
    let bad = put("v4", Some((header::IF_NONE_MATCH, etag.clone())))
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);

    let delete = |condition: String| {
        http.delete(&url)
            .bearer_auth(&token)
            .header(header::IF_MATCH, condition)
            .send()
    };
    assert_eq!(
        delete(etag).await.unwrap().status(),
        StatusCode::PRECONDITION_FAILED
    );
    assert_eq!(
        http.get(&url).send().await.unwrap().text().await.unwrap(),
        "v3"
    );

    // Another write of the key in flight on this machine: hold its lock as that writer.
    let identity = Identity::load(&env.home().join("data/mirra/key")).unwrap();
    let locks = WriteLocks::new(&env.home().join("state/mirra"));
    assert!(
        locks.file().exists(),
        "the gateway's lock file is not where the test looks"
    );
    let held = locks
        .lock(&identity.public_key(), "site/page.html", true)
        .await
        .unwrap();
    let busy = put("v5", None).await.unwrap();
    assert_eq!(busy.status(), StatusCode::CONFLICT);
    let busy_delete = http.delete(&url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(busy_delete.status(), StatusCode::CONFLICT);
    let other_key = http
        .put(served.url("site/other"))
        .bearer_auth(&token)
        .body("fine")
        .send()
        .await
        .unwrap();
    assert_eq!(
        other_key.status(),
        StatusCode::OK,
        "other keys are not held up"
    );
    drop(held);
    assert_eq!(
        http.get(&url).send().await.unwrap().text().await.unwrap(),
        "v3"
    );
    let now = format!("\"{}\"", sha256_hex(b"v3"));
    assert_eq!(delete(now).await.unwrap().status(), StatusCode::OK);
    assert_eq!(
        http.get(&url).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    let recreated = put("v6", Some((header::IF_NONE_MATCH, "*".into())))
        .await
        .unwrap();
    assert_eq!(recreated.status(), StatusCode::OK, "{}", served.stderr());
}

/// Two machines that picked the same version for different content: exactly one wins
/// everywhere, `verify` names the other as stale and one `repair` converges.
#[test]
fn same_version_twins_have_one_winner_everywhere_after_one_repair() {
    let a = MirraEnv::initialized();
    let disks = || {
        vec![
            ProviderSpec::disk(&a, "disk-a").with_priority(1),
            ProviderSpec::disk(&a, "disk-b").with_priority(2),
        ]
    };
    a.write_config("", &disks());
    a.run(&["put", a.file("base", b"base").to_str().unwrap(), "doc"])
        .ok();
    // Each machine reaches only one provider while it writes version 2.
    a.write_config("", &disks()[1..]);
    let b = a.another_machine();
    a.write_config("", &disks()[..1]);
    let from_a = json(
        &a.run(&[
            "put",
            "--json",
            a.file("x", b"from a").to_str().unwrap(),
            "doc",
        ])
        .ok(),
    );
    let from_b = json(
        &b.run(&[
            "put",
            "--json",
            a.file("y", b"from b").to_str().unwrap(),
            "doc",
        ])
        .ok(),
    );
    assert_eq!(
        (from_a["version"].as_u64(), from_b["version"].as_u64()),
        (Some(2), Some(2))
    );

    a.write_config("", &disks());
    std::fs::copy(a.config_path(), b.config_path()).unwrap();
    let verify = a.run(&["verify", "--json"]);
    let rows = json(&verify);
    let stale: Vec<_> = rows
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["state"] == "stale")
        .collect();
    assert_eq!(stale.len(), 1, "exactly one twin loses: {rows}");
    assert!(
        stale[0]["detail"].as_str().unwrap().contains("tie-break"),
        "{rows}"
    );
    a.repair_then_verify_all_ok();
    let seen_by_a = a.run(&["get", "doc"]).ok().stdout;
    let seen_by_b = b.run(&["get", "doc"]).ok().stdout;
    std::fs::remove_dir_all(b.home().join("state")).unwrap();
    let seen_fresh = b.run(&["get", "doc"]).ok().stdout;
    assert_eq!(seen_by_a, seen_by_b);
    assert_eq!(seen_by_a, seen_fresh);
    assert!(seen_by_a == b"from a" || seen_by_a == b"from b");
}
