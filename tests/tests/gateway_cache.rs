//! The gateway's cache of verified reads (`mirra serve --cache-fresh/--cache-size`), with
//! the real binary over the default three disk providers: a cached object outlives its
//! providers' files within the freshness bound; a version written by another process
//! shows once the bound passes; a write through the gateway shows at once; a provider
//! that lies after caching (rollback, forged manifest) is caught at the refetch; cached
//! answers are the uncached ones; and the memory bounds hold.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use mirra_tests::cli::MirraEnv;
use mirra_tests::serve::Served;
use reqwest::header::{self, HeaderMap};
use reqwest::StatusCode;

/// How long polls wait for the freshness bound to pass: far beyond it, for loaded hosts.
const POLL_LIMIT: Duration = Duration::from_secs(90);

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

fn put(env: &MirraEnv, key: &str, data: &[u8]) {
    let file = env.file(&format!("input-{}", key.replace('/', "_")), data);
    env.run(&["put", file.to_str().unwrap(), key]).ok();
}

/// The object and manifest files of `key` on every default provider.
fn files_of(env: &MirraEnv, key: &str) -> Vec<PathBuf> {
    ["disk-a", "disk-b", "disk-c"]
        .into_iter()
        .flat_map(|p| {
            let root = env.provider_root(p);
            [
                root.join(key),
                root.join(format!(".mirra/manifests/{key}.json")),
            ]
        })
        .collect()
}

async fn get(http: &reqwest::Client, server: &Served, key: &str) -> (StatusCode, Vec<u8>) {
    let response = http.get(server.url(key)).send().await.unwrap();
    let status = response.status();
    (status, response.bytes().await.unwrap().to_vec())
}

async fn metric(http: &reqwest::Client, server: &Served, name: &str) -> f64 {
    let text = http
        .get(server.url("_metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no metric {name} in\n{text}"))
}

/// GETs `key` until `done` holds of the answer; every answer before must pass `allowed`.
async fn poll_until(
    http: &reqwest::Client,
    server: &Served,
    key: &str,
    allowed: impl Fn(StatusCode, &[u8]) -> bool,
    done: impl Fn(StatusCode, &[u8]) -> bool,
) {
    let deadline = Instant::now() + POLL_LIMIT;
    loop {
        let (status, body) = get(http, server, key).await;
        if done(status, &body) {
            return;
        }
        assert!(
            allowed(status, &body),
            "unexpected answer {status}: {:?}",
            String::from_utf8_lossy(&body)
        );
        assert!(
            Instant::now() < deadline,
            "still {status} after {POLL_LIMIT:?}\n{}",
            server.stderr()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_object_is_served_after_its_files_are_gone_within_the_bound() {
    let env = MirraEnv::initialized();
    put(&env, "hot.txt", b"version one");
    let server = Served::start(&env, &["--cache-fresh", "3600"]);
    let http = client();
    assert_eq!(
        get(&http, &server, "hot.txt").await,
        (StatusCode::OK, b"version one".to_vec())
    );
    for file in files_of(&env, "hot.txt") {
        std::fs::remove_file(&file).unwrap();
    }
    // Every provider has lost the object and its manifest: only the cache can answer.
    assert_eq!(
        get(&http, &server, "hot.txt").await,
        (StatusCode::OK, b"version one".to_vec())
    );
    let ranged = http
        .get(server.url("hot.txt"))
        .header(header::RANGE, "bytes=8-")
        .send()
        .await
        .unwrap();
    assert_eq!(ranged.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(ranged.bytes().await.unwrap().as_ref(), b"one");
    assert!(metric(&http, &server, "mirra_cache_hits_total").await >= 2.0);
    assert_eq!(metric(&http, &server, "mirra_cache_entries").await, 1.0);
    // An uncached gateway over the same providers finds nothing.
    let uncached = Served::start(&env, &["--cache-fresh", "0"]);
    assert_eq!(
        get(&http, &uncached, "hot.txt").await.0,
        StatusCode::NOT_FOUND
    );
    let text = http
        .get(uncached.url("_metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!text.contains("mirra_cache_"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_written_by_another_process_shows_once_the_bound_passes() {
    let env = MirraEnv::initialized();
    put(&env, "profile.json", b"{\"v\":1}");
    let server = Served::start(&env, &["--cache-fresh", "1"]);
    let http = client();
    assert_eq!(
        get(&http, &server, "profile.json").await,
        (StatusCode::OK, b"{\"v\":1}".to_vec())
    );
    put(&env, "profile.json", b"{\"v\":2}");
    poll_until(
        &http,
        &server,
        "profile.json",
        |status, body| status == StatusCode::OK && body == b"{\"v\":1}",
        |status, body| status == StatusCode::OK && body == b"{\"v\":2}",
    )
    .await;
    // Once seen, never the older version again.
    for _ in 0..20 {
        assert_eq!(
            get(&http, &server, "profile.json").await,
            (StatusCode::OK, b"{\"v\":2}".to_vec())
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_through_the_gateway_is_seen_at_once() {
    let env = MirraEnv::initialized();
    put(&env, "notes/today.txt", b"before");
    let server = Served::start(&env, &["--writable", "--cache-fresh", "3600"]);
    let http = client();
    let token = env
        .run(&["token", "--scope", "notes/", "--ttl", "10m"])
        .ok()
        .stdout_text();
    let token = token.trim();
    for _ in 0..2 {
        assert_eq!(
            get(&http, &server, "notes/today.txt").await,
            (StatusCode::OK, b"before".to_vec())
        );
    }
    let written = http
        .put(server.url("notes/today.txt"))
        .bearer_auth(token)
        .body("after")
        .send()
        .await
        .unwrap();
    assert_eq!(written.status(), StatusCode::OK);
    assert_eq!(
        get(&http, &server, "notes/today.txt").await,
        (StatusCode::OK, b"after".to_vec())
    );
    let deleted = http
        .delete(server.url("notes/today.txt"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::OK);
    assert_eq!(
        get(&http, &server, "notes/today.txt").await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn providers_lying_after_caching_are_caught_at_the_refetch() {
    let env = MirraEnv::initialized();
    // Rollback: every provider goes back to version 1 after version 2 was cached.
    put(&env, "rolled.txt", b"old and superseded");
    let old: Vec<(PathBuf, Vec<u8>)> = files_of(&env, "rolled.txt")
        .into_iter()
        .map(|f| {
            let bytes = std::fs::read(&f).unwrap();
            (f, bytes)
        })
        .collect();
    put(&env, "rolled.txt", b"new");
    // Forgery: after caching, the bytes change and the manifest claims them unsigned.
    put(&env, "forged.txt", b"genuine");
    let server = Served::start(&env, &["--cache-fresh", "1"]);
    let http = client();
    assert_eq!(
        get(&http, &server, "rolled.txt").await,
        (StatusCode::OK, b"new".to_vec())
    );
    assert_eq!(
        get(&http, &server, "forged.txt").await,
        (StatusCode::OK, b"genuine".to_vec())
    );
    for (file, bytes) in &old {
        std::fs::write(file, bytes).unwrap();
    }
    for file in files_of(&env, "forged.txt") {
        let text = std::fs::read_to_string(&file).unwrap();
        let lie = match file.extension().is_some_and(|e| e == "json") {
            // Same signature, another hash: the signature no longer covers it.
            true => text.replacen("\"size\": 7,", "\"size\": 5,", 1),
            false => "false".to_owned(),
        };
        assert_ne!(lie, text, "{}", file.display());
        std::fs::write(&file, lie).unwrap();
    }
    // Until the bound passes, the cached verified versions; then no lie is served.
    poll_until(
        &http,
        &server,
        "rolled.txt",
        |status, body| status == StatusCode::OK && body == b"new",
        |status, _| status == StatusCode::BAD_GATEWAY,
    )
    .await;
    poll_until(
        &http,
        &server,
        "forged.txt",
        |status, body| status == StatusCode::OK && body == b"genuine",
        |status, _| status == StatusCode::BAD_GATEWAY,
    )
    .await;
    let (_, body) = get(&http, &server, "rolled.txt").await;
    let text = String::from_utf8_lossy(&body);
    assert!(text.contains("stale"), "{text}");
    assert_eq!(metric(&http, &server, "mirra_cache_entries").await, 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_answers_are_the_uncached_ones() {
    let env = MirraEnv::initialized();
    let data: Vec<u8> = (0..3000u32).map(|i| (i * 7 % 251) as u8).collect();
    put(&env, "page.html", &data);
    let cached = Served::start(&env, &["--cache-fresh", "3600"]);
    let uncached = Served::start(&env, &["--cache-fresh", "0"]);
    let http = client();
    let etag = http
        .head(uncached.url("page.html"))
        .send()
        .await
        .unwrap()
        .headers()[header::ETAG]
        .to_str()
        .unwrap()
        .to_owned();
    let requests: Vec<(&str, Vec<(header::HeaderName, String)>)> = vec![
        ("GET", vec![]),
        ("HEAD", vec![]),
        ("GET", vec![(header::RANGE, "bytes=100-199".into())]),
        ("GET", vec![(header::RANGE, "bytes=-10".into())]),
        ("GET", vec![(header::RANGE, "bytes=2990-5000".into())]),
        ("GET", vec![(header::RANGE, "bytes=5000-".into())]),
        ("HEAD", vec![(header::RANGE, "bytes=0-0".into())]),
        ("GET", vec![(header::IF_NONE_MATCH, etag.clone())]),
        ("GET", vec![(header::IF_NONE_MATCH, "\"other\"".into())]),
        (
            "GET",
            vec![
                (header::RANGE, "bytes=0-9".into()),
                (header::IF_RANGE, "\"other\"".into()),
            ],
        ),
        (
            "GET",
            vec![
                (header::RANGE, "bytes=0-9".into()),
                (header::IF_RANGE, etag.clone()),
            ],
        ),
    ];
    let compared = [
        header::ETAG,
        header::CONTENT_TYPE,
        header::CONTENT_LENGTH,
        header::CONTENT_RANGE,
        header::ACCEPT_RANGES,
    ];
    let fingerprint = |status: StatusCode, headers: &HeaderMap, body: &[u8]| {
        let mut picked: Vec<String> = compared
            .iter()
            .map(|name| format!("{name}: {:?}", headers.get(name)))
            .collect();
        picked.push(format!(
            "x-mirra-version: {:?}",
            headers.get("x-mirra-version")
        ));
        (status, picked, body.to_vec())
    };
    // Twice on the cached gateway: the first fills the cache, the second is a hit.
    for round in 0..2 {
        for (method, extra) in &requests {
            let mut answers = Vec::new();
            for server in [&uncached, &cached] {
                let mut request = http.request(method.parse().unwrap(), server.url("page.html"));
                for (name, value) in extra {
                    request = request.header(name, value);
                }
                let response = request.send().await.unwrap();
                let status = response.status();
                let headers = response.headers().clone();
                let body = response.bytes().await.unwrap();
                answers.push(fingerprint(status, &headers, &body));
            }
            assert_eq!(answers[0], answers[1], "round {round}: {method} {extra:?}");
        }
    }
    assert!(metric(&http, &cached, "mirra_cache_hits_total").await >= requests.len() as f64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_stays_within_its_entry_count_and_byte_budget() {
    let env = MirraEnv::initialized();
    let keys: Vec<String> = (0..8).map(|i| format!("small/{i}.bin")).collect();
    for (i, key) in keys.iter().enumerate() {
        put(&env, key, &vec![i as u8; 3000]);
    }
    let few = Served::start(&env, &["--cache-fresh", "3600", "--cache-entries", "3"]);
    let tight = Served::start(&env, &["--cache-fresh", "3600", "--cache-size", "8KiB"]);
    let http = client();
    for server in [&few, &tight] {
        for (i, key) in keys.iter().enumerate() {
            assert_eq!(
                get(&http, server, key).await,
                (StatusCode::OK, vec![i as u8; 3000])
            );
            assert!(metric(&http, server, "mirra_cache_entries").await >= 1.0);
        }
    }
    assert_eq!(metric(&http, &few, "mirra_cache_entries").await, 3.0);
    let bytes = metric(&http, &tight, "mirra_cache_bytes").await;
    assert!(bytes > 3000.0 && bytes <= 8192.0, "{bytes}");
    // The most recent reads are the ones kept.
    let hits = metric(&http, &few, "mirra_cache_hits_total").await;
    assert_eq!(get(&http, &few, &keys[7]).await.0, StatusCode::OK);
    assert_eq!(
        metric(&http, &few, "mirra_cache_hits_total").await,
        hits + 1.0
    );
}
