//! Trust boundaries, end to end against the built binary (issue 14, items 2, 3, 4, 6): a
//! write readers would refuse is never signed or stored; the gateway's answers and
//! metrics leak nothing and stay small; chunk memory stays within one budget; a provider
//! that answers junk is skipped; unwritable local state does not stop reads.

#[path = "common/s3_server.rs"]
mod s3_server;

use std::path::Path;
use std::time::{Duration, Instant};

use mirra_tests::cli::{MirraEnv, ProviderSpec};
use mirra_tests::serve::{raw_request, Served};
use reqwest::{header, StatusCode};
use s3_server::S3Server;

/// One test at a time: several start servers, and one measures peak memory.
async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    SERIAL.lock().await
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// Deterministic test bytes.
fn bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64 ^ seed;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// Every regular file under `dir`, as paths relative to it.
fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(at) = stack.pop() {
        let Ok(listing) = std::fs::read_dir(&at) else {
            continue;
        };
        for item in listing.flatten() {
            let path = item.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out
}

/// A peak figure from `/proc/<pid>/status` (`VmHWM`, `VmRSS`), in bytes.
fn proc_status_bytes(pid: u32, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("reading /proc/{pid}/status: {e}"));
    let line = text
        .lines()
        .find(|l| l.starts_with(field))
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"));
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

// A plain test with its own runtime: the S3 server owns a runtime, which may not be
// dropped inside another one.
#[test]
fn writes_readers_would_refuse_are_refused_at_put_and_gateway_put_with_nothing_stored() {
    let s3 = S3Server::start();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(refused_writes_store_nothing(&s3));
}

async fn refused_writes_store_nothing(s3: &S3Server) {
    let _serial = serial().await;
    let env = MirraEnv::initialized();
    let mut providers = env.default_disks();
    providers.push(ProviderSpec {
        name: "s3".into(),
        priority: 20,
        driver: "s3".into(),
        config: s3.config(""),
        chaos: None,
    });
    env.write_config("", &providers);
    let input = env.file("input.txt", b"hello");
    let input = input.to_str().unwrap();
    let long_type = format!("text/{}", "x".repeat(300));
    let control_types = ["text/plain\tx", "text/plain\u{7}", "text/plain\nX-Evil: 1"];

    for content_type in control_types.iter().copied().chain([long_type.as_str()]) {
        let run = env.run(&["put", "--content-type", content_type, input, "k"]);
        assert_eq!(run.code, 2, "{content_type:?} accepted: {}", run.stderr);
        assert!(run.stderr.contains("content_type"), "{}", run.stderr);
    }
    let run = env.run(&["put", input, "a\tb"]);
    assert_eq!(run.code, 2, "a tab in a key accepted: {}", run.stderr);
    assert!(run.stderr.contains("control"), "{}", run.stderr);

    let server = Served::start(&env, &["--writable"]);
    let token = env
        .run(&["token", "--scope", "", "--ttl", "10m"])
        .ok()
        .stdout_text();
    let http = client();
    // A header value may hold a tab, but not a newline or a bell: those go raw.
    for content_type in ["text/plain\tx", long_type.as_str()] {
        let response = http
            .put(server.url("k"))
            .bearer_auth(token.trim())
            .header(header::CONTENT_TYPE, content_type)
            .body("hello")
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::BAD_REQUEST,
            "{content_type:?}"
        );
        let body = response.text().await.unwrap();
        assert!(body.contains("content_type"), "{body}");
    }
    let raw = format!(
        "PUT /k HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: text/plain\x07\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
        token.trim()
    );
    let status = send_raw(&server.addr(), raw.as_bytes());
    assert_eq!(status, 400, "a bell in Content-Type");
    let response = http
        .put(server.url("a%09b"))
        .bearer_auth(token.trim())
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST, "a tab in a key");

    for name in ["disk-a", "disk-b", "disk-c"] {
        let stored = files_under(&env.provider_root(name));
        assert!(stored.is_empty(), "{name} holds {stored:?}");
    }
    let stored = files_under(&s3.root().join(s3_server::BUCKET));
    assert!(stored.is_empty(), "s3 holds {stored:?}");
    // And a valid write still goes through, so the refusals above were about the input.
    let response = http
        .put(server.url("k"))
        .bearer_auth(token.trim())
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{}", server.stderr());
}

/// Writes `request` on a new connection; the response status.
fn send_raw(addr: &str, request: &[u8]) -> u16 {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request).unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response);
    text.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_invented_methods_leave_metrics_small() {
    let _serial = serial().await;
    let env = MirraEnv::initialized();
    let server = Served::start(&env, &[]);
    let addr = server.addr();
    let before = raw_request(&addr, "GET", "/_metrics").1.len();
    let workers: Vec<_> = (0..4u64)
        .map(|worker| {
            let addr = addr.clone();
            std::thread::spawn(move || {
                let mut answered = 0;
                let mut seed = 0x5851_f42d_4c95_7f2du64 ^ worker;
                for _ in 0..2500 {
                    seed = seed
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    let method = format!("M{seed:016X}");
                    let (status, _) = raw_request(&addr, &method, "/some/key");
                    answered += u32::from(status == 405);
                }
                answered
            })
        })
        .collect();
    let answered: u32 = workers.into_iter().map(|w| w.join().unwrap()).sum();
    assert_eq!(answered, 10_000, "every invented method is answered 405");
    let (status, metrics) = raw_request(&addr, "GET", "/_metrics");
    assert_eq!(status, 200);
    println!(
        "/_metrics: {before} bytes before, {} bytes after 10,000 invented methods",
        metrics.len()
    );
    assert!(metrics.len() < 4096, "{} bytes:\n{metrics}", metrics.len());
    assert!(
        metrics.contains("mirra_http_requests_total{method=\"other\",status=\"405\"} 10000"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_slow_range_readers_of_64_mib_chunks_stay_within_the_memory_budget() {
    let _serial = serial().await;
    const CHUNK: usize = 64 << 20;
    const BUDGET: u64 = 256 << 20;
    const READERS: usize = 200;
    let env = MirraEnv::initialized();
    let disks: Vec<ProviderSpec> = env.default_disks().into_iter().take(2).collect();
    env.write_config("chunk_size = \"64MiB\"", &disks);
    let data = bytes(CHUNK + 4096, 11);
    let file = env.file("big.bin", &data);
    env.run(&["put", file.to_str().unwrap(), "big.bin"]).ok();
    std::fs::remove_file(&file).unwrap();

    let server = Served::start(&env, &["--memory-budget", "256MiB", "--memory-wait", "1s"]);
    let baseline = proc_status_bytes(server.pid(), "VmHWM");
    let http = client();
    let started = Instant::now();
    let readers: Vec<_> = (0..READERS)
        .map(|i| {
            let http = http.clone();
            let url = server.url("big.bin");
            // Spread over both chunks; every range needs a whole chunk verified.
            let start = (i as u64 * 334_021) % (data.len() as u64 - 10);
            let expected = data[start as usize..start as usize + 10].to_vec();
            tokio::spawn(async move {
                let deadline = Instant::now() + Duration::from_secs(600);
                let mut busy = 0u32;
                loop {
                    let response = http
                        .get(&url)
                        .header(header::RANGE, format!("bytes={start}-{}", start + 9))
                        .send()
                        .await
                        .expect("request");
                    match response.status() {
                        StatusCode::PARTIAL_CONTENT => {
                            // A slow reader: the body is taken only after a pause.
                            tokio::time::sleep(Duration::from_millis(200)).await;
                            let body = response.bytes().await.expect("body");
                            assert_eq!(&body[..], &expected[..], "range at {start}");
                            return busy;
                        }
                        StatusCode::SERVICE_UNAVAILABLE => {
                            assert!(response.headers().contains_key(header::RETRY_AFTER));
                            busy += 1;
                            assert!(Instant::now() < deadline, "never served");
                            tokio::time::sleep(Duration::from_millis(500)).await;
                        }
                        other => panic!("range at {start}: status {other}"),
                    }
                }
            })
        })
        .collect();
    let mut turned_away = 0;
    for reader in readers {
        turned_away += reader.await.unwrap();
    }
    let peak = proc_status_bytes(server.pid(), "VmHWM");
    let mib = |b: u64| b as f64 / f64::from(1 << 20);
    println!(
        "{READERS} range readers of 64 MiB chunks in {:.1}s: VmHWM {:.0} MiB (baseline {:.0} MiB, \
         growth {:.0} MiB, budget {:.0} MiB); 503 answers {turned_away}",
        started.elapsed().as_secs_f64(),
        mib(peak),
        mib(baseline),
        mib(peak - baseline),
        mib(BUDGET)
    );
    assert!(
        peak - baseline <= BUDGET,
        "peak RSS grew {:.0} MiB over the {:.0} MiB budget",
        mib(peak - baseline),
        mib(BUDGET)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_serving_junk_manifests_is_skipped_and_health_says_so() {
    let _serial = serial().await;
    let env = MirraEnv::initialized();
    let disks: Vec<ProviderSpec> = env
        .default_disks()
        .into_iter()
        .map(|p| {
            let first = p.name == "disk-a";
            if first {
                p.with_priority(1)
            } else {
                p
            }
        })
        .collect();
    // No hedging: under load the 16 MiB junk can take longer than a hedge delay, and a
    // manifest fetch that lost to a hedge is dropped before it is judged.
    env.write_config("breaker_cooldown = \"10m\"\nhedge_after = \"60s\"", &disks);
    let data = bytes(300_000, 5);
    let file = env.file("obj.bin", &data);
    env.run(&["put", file.to_str().unwrap(), "obj.bin"]).ok();
    let manifest = env
        .provider_root("disk-a")
        .join(".mirra/manifests/obj.bin.json");
    assert!(manifest.exists(), "no manifest at {}", manifest.display());
    std::fs::write(&manifest, bytes(16 << 20, 6)).unwrap();

    let server = Served::start(&env, &[]);
    let http = client();
    for _ in 0..6 {
        let response = http.get(server.url("obj.bin")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.bytes().await.unwrap(),
            data,
            "served by the others"
        );
    }
    let health: serde_json::Value = http
        .get(server.url("_health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    println!("/_health after junk manifests: {health}");
    let breaker = |name: &str| {
        health["providers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .map(|p| p["breaker"].clone())
            .unwrap()
    };
    assert_eq!(breaker("disk-a"), "open", "{health}");
    let disk_a = &health["providers"][0];
    assert_eq!(disk_a["name"], "disk-a");
    assert_eq!(disk_a["failing"], "corrupt", "{health}");
    assert_eq!(breaker("disk-b"), "closed", "{health}");
    assert_eq!(health["status"], "ok");
    let metrics = http
        .get(server.url("_metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("mirra_provider_breaker_state{provider=\"disk-a\",state=\"open\"} 1"),
        "{metrics}"
    );
}

#[test]
fn an_unwritable_state_dir_still_serves_verified_reads() {
    let env = MirraEnv::initialized();
    let data = bytes(200_000, 8);
    let file = env.file("obj.bin", &data);
    env.run(&["put", file.to_str().unwrap(), "obj.bin"]).ok();
    let state = env.home().join("state/mirra");
    std::fs::create_dir_all(&state).unwrap();

    // A directory nobody can write under, whoever runs the test (root included): the
    // state directory's place is taken by a file.
    let aside = env.home().join("state/mirra.aside");
    std::fs::rename(&state, &aside).unwrap();
    std::fs::write(&state, "not a directory").unwrap();
    let out = env.home().join("out.bin");
    let run = env.run(&["get", "obj.bin", "-o", out.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(std::fs::read(&out).unwrap(), data);
    assert!(
        run.stderr
            .contains("rollback protection is not being recorded"),
        "{}",
        run.stderr
    );
    std::fs::remove_file(&state).unwrap();
    std::fs::rename(&aside, &state).unwrap();

    // A read-only state directory (meaningful when not running as root, who may write
    // anyway): reads still work.
    use std::os::unix::fs::PermissionsExt;
    let read_only = |mode: u32| {
        for dir in [state.clone(), state.join("versions"), state.join("repair")] {
            if dir.exists() {
                std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode)).unwrap();
            }
        }
    };
    read_only(0o555);
    let run = env.run(&["get", "obj.bin", "-o", out.to_str().unwrap()]);
    read_only(0o755);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(std::fs::read(&out).unwrap(), data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_gateway_runs_without_the_secret_key() {
    let _serial = serial().await;
    let env = MirraEnv::initialized();
    let data = bytes(50_000, 9);
    let file = env.file("obj.bin", &data);
    env.run(&["put", file.to_str().unwrap(), "obj.bin"]).ok();
    let pubkey = env.run(&["keys", "show"]).ok().stdout_text();
    let pubkey = pubkey.split_whitespace().next().unwrap().to_owned();
    // The key file is gone: only --pubkey says whose data this is.
    std::fs::rename(
        env.home().join("data/mirra/key"),
        env.home().join("key.away"),
    )
    .unwrap();
    let server = Served::start(&env, &["--pubkey", &pubkey]);
    let response = client().get(server.url("obj.bin")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{}", server.stderr());
    assert_eq!(response.bytes().await.unwrap(), data);
    let writable = env.run(&["serve", "--listen", "127.0.0.1:0", "--writable"]);
    assert_ne!(writable.code, 0, "a writable gateway needs the key");
}

#[test]
fn repair_skips_an_unparsable_journal_entry_and_repairs_the_rest() {
    let env = MirraEnv::initialized();
    let data = bytes(100_000, 10);
    let file = env.file("obj.bin", &data);
    env.run(&["put", file.to_str().unwrap(), "obj.bin"]).ok();
    let journal = env.home().join("state/mirra/repair");
    std::fs::create_dir_all(&journal).unwrap();
    std::fs::write(
        journal.join("0bad.json"),
        "{\"provider\": \"disk-b\", \"key\":",
    )
    .unwrap();
    let missing = env.provider_root("disk-b").join("obj.bin");
    std::fs::remove_file(&missing).unwrap();
    let run = env.run(&["repair"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout_text(), run.stderr);
    assert!(run.stderr.contains("0bad.json"), "{}", run.stderr);
    assert_eq!(
        std::fs::read(&missing).unwrap(),
        data,
        "the rest was repaired"
    );
}
