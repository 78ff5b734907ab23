//! `mirra serve` over HTTP with a real client: status codes, ranges, conditionals, a
//! corrupt provider mid-object, write tokens, path traversal, graceful shutdown, and a
//! bounded load test on loopback during which the first provider's directory is deleted.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, ChildStdout, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mirra::gateway::token::{self, Claims};
use mirra::identity::Identity;
use mirra_tests::cli::{MirraEnv, ProviderSpec};
use reqwest::header;
use reqwest::StatusCode;

/// The tests in this file run one at a time: each starts a server, and the load test
/// measures nothing useful while other servers compete for the same two cores.
async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    SERIAL.lock().await
}

/// Deterministic, non-repeating test bytes.
fn bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1du64 ^ seed;
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

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A running `mirra serve`, stopped (SIGKILL) when dropped unless already stopped.
struct Served {
    child: Child,
    base: String,
    stderr: Arc<Mutex<String>>,
    _stdout: BufReader<ChildStdout>,
}

impl Served {
    /// Starts `mirra serve --listen 127.0.0.1:0 EXTRA...` and waits for `/_health`.
    fn start(env: &MirraEnv, extra: &[&str]) -> Served {
        let mut args = vec!["serve", "--listen", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        let mut child = serve_command(env, &args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot start mirra serve");
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().unwrap();
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let Some(base) = line.split_whitespace().find(|w| w.starts_with("http://")) else {
            let _ = child.wait();
            panic!(
                "mirra serve printed no address: {line:?}\n{}",
                stderr.lock().unwrap()
            );
        };
        let served = Served {
            base: base.to_owned(),
            child,
            stderr,
            _stdout: stdout,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while raw_get(&served.addr(), "/_health").0 != 200 {
            assert!(
                Instant::now() < deadline,
                "/_health never answered 200\n{}",
                served.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        served
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{}", self.base, path.trim_start_matches('/'))
    }

    fn addr(&self) -> String {
        self.base.trim_start_matches("http://").to_owned()
    }

    /// What the server logged so far, without terminal colour codes.
    fn stderr(&self) -> String {
        let text = self.stderr.lock().unwrap().clone();
        let mut plain = String::with_capacity(text.len());
        let mut rest = text.as_str();
        while let Some(at) = rest.find('\u{1b}') {
            plain.push_str(&rest[..at]);
            rest = &rest[at..];
            rest = rest.find('m').map_or("", |end| &rest[end + 1..]);
        }
        plain.push_str(rest);
        plain
    }

    /// Sends SIGTERM to this process (by its id).
    fn terminate(&self) {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits up to `limit` for the process to exit; its exit code.
    fn wait(&mut self, limit: Duration) -> Option<i32> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status.code().unwrap_or(-1));
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `mirra ARGS` in `env`; with `MIRRA_GATEWAY_BIN` set, that binary (and the driver
/// libraries beside it) instead, e.g. to run the load test against a release build.
fn serve_command(env: &MirraEnv, args: &[&str]) -> std::process::Command {
    let command = env.command(args);
    let Some(bin) = std::env::var_os("MIRRA_GATEWAY_BIN") else {
        return command;
    };
    let mut other = std::process::Command::new(&bin);
    other
        .args(command.get_args())
        .env_clear()
        .stdin(Stdio::null());
    for (name, value) in command.get_envs() {
        if let Some(value) = value {
            other.env(name, value);
        }
    }
    if let Some(dir) = std::path::Path::new(&bin)
        .parent()
        .filter(|d| d.join("libmirra_driver_disk.so").exists())
    {
        other.env("MIRRA_DRIVER_PATH", dir);
    }
    other
}

/// A request written by hand, so the path reaches the server exactly as typed (HTTP
/// clients normalize `..` away). Returns the status and the body.
fn raw_get(addr: &str, path: &str) -> (u16, String) {
    let Ok(mut stream) = TcpStream::connect(addr) else {
        return (0, String::new());
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// A home with the default disks at a 64 KiB chunk size (so small objects have many
/// chunks), `disk-a` read first.
fn env_with_small_chunks() -> MirraEnv {
    let env = MirraEnv::initialized();
    let disks: Vec<ProviderSpec> = env
        .default_disks()
        .into_iter()
        .map(|p| {
            if p.name == "disk-a" {
                p.with_priority(5)
            } else {
                p
            }
        })
        .collect();
    env.write_config("chunk_size = \"64KiB\"", &disks);
    env
}

fn put(env: &MirraEnv, key: &str, data: &[u8]) {
    let file = env.file("input", data);
    env.run(&["put", file.to_str().unwrap(), key]).ok();
}

/// `/_metrics` once `ready` holds for it (reads are counted just after their last byte
/// is sent, so a client can be a moment ahead), or after two seconds regardless.
async fn metrics_when(
    http: &reqwest::Client,
    server: &Served,
    ready: impl Fn(&str) -> bool,
) -> String {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let text = http
            .get(server.url("_metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if ready(&text) || Instant::now() > deadline {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn metric(text: &str, line_prefix: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(line_prefix) && l[line_prefix.len()..].starts_with(' '))
        .and_then(|l| l.rsplit_once(' ')?.1.parse().ok())
        .unwrap_or_else(|| panic!("no metric {line_prefix} in\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_answer_every_status_with_ranges_and_etags() {
    let _serial = serial().await;
    let env = env_with_small_chunks();
    let data = bytes(300_000, 1);
    put(&env, "site/big.bin", &data);
    put(&env, "site/hello.txt", b"hello, gateway\n");
    put(&env, "gone.txt", b"soon deleted");
    env.run(&["rm", "gone.txt"]).ok();
    let server = Served::start(&env, &[]);
    let http = client();
    let etag = format!("\"{}\"", sha256_hex(&data));

    let full = http.get(server.url("site/big.bin")).send().await.unwrap();
    assert_eq!(full.status(), StatusCode::OK);
    assert_eq!(full.headers()[header::ETAG], etag.as_str());
    assert_eq!(full.headers()[header::CONTENT_LENGTH], "300000");
    assert_eq!(full.headers()[header::ACCEPT_RANGES], "bytes");
    assert_eq!(
        full.headers()[header::CONTENT_TYPE],
        "application/octet-stream"
    );
    assert!(full.bytes().await.unwrap() == data, "full body differs");

    let text = http.get(server.url("site/hello.txt")).send().await.unwrap();
    assert_eq!(text.headers()[header::CONTENT_TYPE], "text/plain");
    assert_eq!(text.text().await.unwrap(), "hello, gateway\n");

    let head = http.head(server.url("site/big.bin")).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(head.headers()[header::CONTENT_LENGTH], "300000");
    assert_eq!(head.headers()[header::ETAG], etag.as_str());
    assert!(head.bytes().await.unwrap().is_empty());

    // Range edges: first byte, last byte, a chunk boundary, suffixes, open ends.
    let last = data.len() - 1;
    let cases: [(&str, usize, usize); 7] = [
        ("bytes=0-0", 0, 1),
        ("bytes=299999-299999", last, last + 1),
        ("bytes=-1", last, last + 1),
        ("bytes=-400000", 0, data.len()),
        ("bytes=65530-65545", 65530, 65546),
        ("bytes=131072-", 131072, data.len()),
        ("bytes=299990-999999", 299990, data.len()),
    ];
    for (range, start, end) in cases {
        let response = http
            .get(server.url("site/big.bin"))
            .header(header::RANGE, range)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT, "{range}");
        let expected_range = format!("bytes {start}-{}/300000", end - 1);
        assert_eq!(
            response.headers()[header::CONTENT_RANGE],
            expected_range.as_str(),
            "{range}"
        );
        assert_eq!(
            response.headers()[header::CONTENT_LENGTH],
            (end - start).to_string().as_str()
        );
        assert!(
            response.bytes().await.unwrap() == data[start..end],
            "{range}: wrong bytes"
        );
    }
    for range in ["bytes=300000-", "bytes=300000-300010", "bytes=-0"] {
        let response = http
            .get(server.url("site/big.bin"))
            .header(header::RANGE, range)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::RANGE_NOT_SATISFIABLE,
            "{range}"
        );
        assert_eq!(response.headers()[header::CONTENT_RANGE], "bytes */300000");
    }
    // Several ranges are not served as multipart: the whole object comes back.
    let multi = http
        .get(server.url("site/big.bin"))
        .header(header::RANGE, "bytes=0-1,5-6")
        .send()
        .await
        .unwrap();
    assert_eq!(multi.status(), StatusCode::OK);
    // If-Range with another validator: the whole object, not the range.
    let stale = http
        .get(server.url("site/big.bin"))
        .header(header::RANGE, "bytes=0-9")
        .header(header::IF_RANGE, "\"0000\"")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), StatusCode::OK);

    let cached = http
        .get(server.url("site/big.bin"))
        .header(header::IF_NONE_MATCH, etag.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(cached.headers()[header::ETAG], etag.as_str());
    assert!(cached.bytes().await.unwrap().is_empty());
    let changed = http
        .get(server.url("site/big.bin"))
        .header(header::IF_NONE_MATCH, "\"other\"")
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), StatusCode::OK);

    for missing in ["nope", "gone.txt"] {
        let response = http.get(server.url(missing)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{missing}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["key"], missing);
    }
    let refused = http
        .put(server.url("site/new"))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(
        refused.status(),
        StatusCode::METHOD_NOT_ALLOWED,
        "writes are off by default"
    );
    assert_eq!(refused.headers()[header::ALLOW], "GET, HEAD");

    let zone = http
        .get(server.url(".well-known/mirra/zonefile"))
        .send()
        .await
        .unwrap();
    assert_eq!(zone.status(), StatusCode::OK);
    let expected = env.run(&["zonefile"]).ok().stdout_text();
    assert_eq!(zone.text().await.unwrap(), expected);

    let health: serde_json::Value = http
        .get(server.url("_health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["providers"].as_array().unwrap().len(), 3);

    let metrics = metrics_when(&http, &server, |m| {
        metric(m, "mirra_http_response_bytes_total") >= 900_000.0
    })
    .await;
    assert_eq!(
        metric(
            &metrics,
            "mirra_http_requests_total{method=\"GET\",status=\"206\"}"
        ),
        7.0
    );
    assert_eq!(
        metric(
            &metrics,
            "mirra_http_requests_total{method=\"GET\",status=\"416\"}"
        ),
        3.0
    );
    assert_eq!(
        metric(
            &metrics,
            "mirra_http_requests_total{method=\"GET\",status=\"304\"}"
        ),
        1.0
    );
    assert_eq!(
        metric(
            &metrics,
            "mirra_http_requests_total{method=\"GET\",status=\"404\"}"
        ),
        2.0
    );
    assert!(metric(&metrics, "mirra_http_response_bytes_total") >= 3.0 * 300_000.0);
    assert_eq!(
        metric(
            &metrics,
            "mirra_provider_breaker_state{provider=\"disk-a\",state=\"closed\"}"
        ),
        1.0
    );
    assert!(
        server.stderr().contains("status=206"),
        "no access log line:\n{}",
        server.stderr()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_provider_mid_object_never_yields_wrong_bytes() {
    let _serial = serial().await;
    let env = env_with_small_chunks();
    let data = bytes(400_000, 2);
    put(&env, "obj.bin", &data);
    // disk-a, read first, has a flipped byte in chunk 3 of 7.
    let path = env.provider_root("disk-a").join("obj.bin");
    let mut copy = std::fs::read(&path).unwrap();
    copy[3 * 65536 + 100] ^= 0x40;
    std::fs::write(&path, &copy).unwrap();
    let server = Served::start(&env, &[]);
    let http = client();
    for range in [None, Some("bytes=190000-200000")] {
        let mut request = http.get(server.url("obj.bin"));
        if let Some(range) = range {
            request = request.header(header::RANGE, range);
        }
        let body = request.send().await.unwrap().bytes().await.unwrap();
        let expected = if range.is_some() {
            &data[190000..200001]
        } else {
            &data[..]
        };
        assert!(body == expected, "wrong bytes for {range:?}");
    }
    let metrics = metrics_when(&http, &server, |m| {
        metric(m, "mirra_read_failovers_total") >= 2.0
    })
    .await;
    assert!(
        metric(&metrics, "mirra_read_failovers_total") >= 2.0,
        "{metrics}"
    );
    assert!(metric(&metrics, "mirra_provider_errors_total{provider=\"disk-a\"}") >= 2.0);
    assert_eq!(
        metric(&metrics, "mirra_provider_errors_total{provider=\"disk-b\"}"),
        0.0
    );

    // Now chunk 3 is corrupt everywhere: the response starts (chunks 0-2 verify), then
    // the connection is cut. The client gets a verified prefix and an error, never a
    // complete body.
    for provider in ["disk-b", "disk-c"] {
        std::fs::write(env.provider_root(provider).join("obj.bin"), &copy).unwrap();
    }
    let mut response = http.get(server.url("obj.bin")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut received = Vec::new();
    let outcome = loop {
        match response.chunk().await {
            Ok(Some(piece)) => received.extend_from_slice(&piece),
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    assert!(
        outcome.is_err(),
        "the body completed ({} bytes) although chunk 3 is corrupt everywhere",
        received.len()
    );
    assert!(
        received.len() <= 3 * 65536,
        "bytes of the corrupt chunk were sent: {}",
        received.len()
    );
    assert!(
        received == data[..received.len()],
        "the prefix sent is not the object's"
    );
    let metrics = metrics_when(&http, &server, |m| {
        metric(m, "mirra_http_responses_aborted_total") >= 1.0
    })
    .await;
    assert_eq!(metric(&metrics, "mirra_http_responses_aborted_total"), 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_valid_copy_anywhere_is_a_502_naming_each_provider() {
    let _serial = serial().await;
    let env = env_with_small_chunks();
    let data = bytes(100_000, 3);
    put(&env, "obj.bin", &data);
    for provider in ["disk-a", "disk-b", "disk-c"] {
        let path = env.provider_root(provider).join("obj.bin");
        let mut copy = std::fs::read(&path).unwrap();
        copy[10] ^= 0x01;
        std::fs::write(&path, &copy).unwrap();
    }
    let server = Served::start(&env, &[]);
    let response = client().get(server.url("obj.bin")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    let body: serde_json::Value = response.json().await.unwrap();
    let failures = body["failures"].as_array().unwrap();
    let mut named: Vec<&str> = failures
        .iter()
        .map(|f| f["provider"].as_str().unwrap())
        .collect();
    named.sort_unstable();
    assert_eq!(named, ["disk-a", "disk-b", "disk-c"]);
    assert!(failures.iter().all(|f| f["reason"] == "corrupt"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_need_a_valid_unexpired_in_scope_token() {
    let _serial = serial().await;
    let env = env_with_small_chunks();
    let server = Served::start(&env, &["--writable", "--max-body", "64KiB"]);
    let http = client();
    let minted = env
        .run(&["token", "--scope", "uploads/", "--ttl", "10m"])
        .ok()
        .stdout_text();
    let good = minted.trim();
    assert_eq!(good.split('.').count(), 3, "not a JWS: {good}");
    let owner = Identity::load(&env.home().join("data/mirra/key")).unwrap();
    let signed = |identity: &Identity, iat: u64, exp: u64, scope: &str| {
        token::sign(
            identity,
            &Claims {
                iat,
                exp,
                scope: scope.into(),
                jti: "test".into(),
            },
        )
    };
    let expired = signed(&owner, now() - 7200, now() - 3600, "uploads/");
    let future = signed(&owner, now() + 3600, now() + 7200, "uploads/");
    let forged = signed(&Identity::generate(), now(), now() + 600, "uploads/");
    let put = |key: &str, token: Option<&str>, body: Vec<u8>| {
        let mut request = http.put(server.url(key)).body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    let data = bytes(50_000, 4);

    for (token, why) in [
        (None, "no token"),
        (Some(expired.as_str()), "expired"),
        (Some(future.as_str()), "issued in the future"),
        (Some(forged.as_str()), "forged"),
        (Some("not.a.token"), "garbage"),
    ] {
        let response = put("uploads/a.bin", token, data.clone()).await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{why}");
        assert!(response.headers()[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .starts_with("Bearer"));
    }
    let outside = put("private/a.bin", Some(good), data.clone())
        .await
        .unwrap();
    assert_eq!(outside.status(), StatusCode::FORBIDDEN);
    for key in ["uploads/a.bin", "private/a.bin"] {
        let response = http.get(server.url(key)).send().await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::NOT_FOUND,
            "{key} was written by a refused request"
        );
    }

    let written = put("uploads/a.bin", Some(good), data.clone())
        .await
        .unwrap();
    assert_eq!(written.status(), StatusCode::OK);
    assert_eq!(
        written.headers()[header::ETAG],
        format!("\"{}\"", sha256_hex(&data)).as_str()
    );
    let read = http
        .get(server.url("uploads/a.bin"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(read == data, "read back differs");
    assert!(
        env.run(&["get", "uploads/a.bin"]).ok().stdout == data,
        "mirra get differs"
    );

    // Over the body limit: refused whether the length is declared or streamed.
    let large = bytes(100_000, 5);
    let declared = put("uploads/large.bin", Some(good), large.clone())
        .await
        .unwrap();
    assert_eq!(declared.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let pieces: Vec<Result<Vec<u8>, std::io::Error>> =
        large.chunks(8192).map(|c| Ok(c.to_vec())).collect();
    let streamed = http
        .put(server.url("uploads/large.bin"))
        .bearer_auth(good)
        .body(reqwest::Body::wrap_stream(futures::stream::iter(pieces)))
        .send()
        .await;
    if let Ok(response) = streamed {
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }
    let absent = http
        .get(server.url("uploads/large.bin"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        absent.status(),
        StatusCode::NOT_FOUND,
        "a body over the limit was stored"
    );

    let denied = http
        .delete(server.url("uploads/a.bin"))
        .bearer_auth(&forged)
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), StatusCode::UNAUTHORIZED);
    let deleted = http
        .delete(server.url("uploads/a.bin"))
        .bearer_auth(good)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::OK);
    let gone = http.get(server.url("uploads/a.bin")).send().await.unwrap();
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);

    let log = server.stderr();
    assert!(
        !log.contains(good) && !log.contains(&forged),
        "a token reached the log"
    );
    assert!(
        log.contains("write refused"),
        "refusals are not logged:\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_traversal_and_reserved_keys_are_refused() {
    let _serial = serial().await;
    let env = env_with_small_chunks();
    put(&env, "ok.txt", b"fine");
    std::fs::write(env.home().join("secret.txt"), "do not serve").unwrap();
    let server = Served::start(&env, &[]);
    let addr = server.addr();
    assert_eq!(raw_get(&addr, "/ok.txt"), (200, "fine".to_owned()));
    for path in [
        "/../secret.txt",
        "/../../../../secret.txt",
        "/%2e%2e/%2e%2e/%2e%2e/%2e%2e/secret.txt",
        "/ok.txt/..%2f..%2f..%2f..%2fsecret.txt",
        "/a/./ok.txt",
        "/a//ok.txt",
        "/.mirra/manifests/ok.txt.json",
        "/%2emirra/manifests/ok.txt.json",
        "/a%00b",
        "/a%5c..%5csecret.txt",
        "/%ff%fe",
    ] {
        let (status, body) = raw_get(&addr, path);
        assert_eq!(status, 400, "{path}: {body}");
        assert!(!body.contains("do not serve"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_a_request_in_flight_finish_then_exits() {
    let _serial = serial().await;
    let env = MirraEnv::initialized();
    let data = bytes(8 * 65536, 6);
    env.write_config("chunk_size = \"64KiB\"", &env.default_disks());
    put(&env, "slow.bin", &data);
    // Every read now takes 150 ms: the 8-chunk download takes over a second.
    let slow: Vec<ProviderSpec> = env
        .default_disks()
        .into_iter()
        .map(|p| p.with_chaos("latency = \"150ms\""))
        .collect();
    env.write_config("chunk_size = \"64KiB\"\nhedge_after = \"10s\"", &slow);
    let mut server = Served::start(&env, &[]);
    let http = client();
    let download = tokio::spawn({
        let request = http.get(server.url("slow.bin"));
        async move { request.send().await?.bytes().await }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.terminate();
    let body = download
        .await
        .unwrap()
        .expect("the download in flight failed");
    assert!(body == data, "the download in flight was cut or changed");
    let code = tokio::task::spawn_blocking(move || {
        let code = server.wait(Duration::from_secs(15));
        (code, server)
    })
    .await
    .unwrap();
    assert_eq!(
        code.0,
        Some(0),
        "mirra serve did not exit cleanly\n{}",
        code.1.stderr()
    );
    assert_eq!(
        raw_get(&code.1.addr(), "/_health").0,
        0,
        "still accepting after shutdown"
    );
}

/// What one load-test client saw.
#[derive(Default)]
struct Tally {
    latencies_before: Vec<Duration>,
    latencies_during: Vec<Duration>,
    failed: Vec<String>,
    wrong: u64,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_test_with_the_first_provider_deleted_mid_run() {
    let _serial = serial().await;
    const CLIENTS: usize = 64;
    const BEFORE: Duration = Duration::from_secs(8);
    const TOTAL: Duration = Duration::from_secs(20);
    let env = env_with_small_chunks();
    // 64 clients and a debug build share two cores here: time spent queueing for the CPU
    // must not count as a provider stall, or it opens breakers the outage did not. The
    // deadlines are raised for that; hedging stays automatic.
    let disks: Vec<ProviderSpec> = env
        .default_disks()
        .into_iter()
        .map(|p| {
            if p.name == "disk-a" {
                p.with_priority(5)
            } else {
                p
            }
        })
        .collect();
    env.write_config(
        "chunk_size = \"64KiB\"\ntimeout = \"60s\"\nstall_timeout = \"60s\"",
        &disks,
    );
    let objects: Arc<Vec<(String, Vec<u8>)>> = Arc::new(
        (0..12u64)
            .map(|i| {
                (
                    format!("load/{i}.bin"),
                    bytes(4096 + (i as usize) * 23_000, 100 + i),
                )
            })
            .collect(),
    );
    for (key, data) in objects.iter() {
        put(&env, key, data);
    }
    let server = Served::start(&env, &[]);
    let http = client();
    let started = Instant::now();
    let outage_at = started + BEFORE;
    let stop_at = started + TOTAL;
    let mut clients = Vec::new();
    for id in 0..CLIENTS {
        let (http, objects, url) = (http.clone(), objects.clone(), server.url(""));
        clients.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            let mut dice = 0x9e37_79b9_7f4a_7c15u64 ^ (id as u64 + 1);
            let mut roll = move |n: u64| {
                dice ^= dice << 13;
                dice ^= dice >> 7;
                dice ^= dice << 17;
                dice % n
            };
            while Instant::now() < stop_at {
                let (key, data) = &objects[roll(objects.len() as u64) as usize];
                // Half the requests ask for a range inside the object.
                let (range, expected) = if roll(2) == 0 {
                    let start = roll(data.len() as u64) as usize;
                    let end = start + roll((data.len() - start) as u64) as usize;
                    (Some(format!("bytes={start}-{end}")), &data[start..=end])
                } else {
                    (None, &data[..])
                };
                let sent = Instant::now();
                let mut request = http
                    .get(format!("{url}{key}"))
                    .timeout(Duration::from_secs(60));
                if let Some(range) = &range {
                    request = request.header(header::RANGE, range);
                }
                let result = async {
                    let response = request.send().await?;
                    let status = response.status();
                    Ok::<_, reqwest::Error>((status, response.bytes().await?))
                }
                .await;
                let elapsed = sent.elapsed();
                match result {
                    Ok((status, body))
                        if status == StatusCode::OK || status == StatusCode::PARTIAL_CONTENT =>
                    {
                        if body != expected {
                            tally.wrong += 1;
                        }
                    }
                    Ok((status, _)) => tally
                        .failed
                        .push(format!("{key} {range:?}: status {status}")),
                    Err(e) => tally.failed.push(format!("{key} {range:?}: {e}")),
                }
                if sent < outage_at {
                    tally.latencies_before.push(elapsed);
                } else {
                    tally.latencies_during.push(elapsed);
                }
            }
            tally
        }));
    }
    tokio::time::sleep_until(outage_at.into()).await;
    // The first provider goes away for good: its whole directory, data and manifests.
    std::fs::remove_dir_all(env.provider_root("disk-a")).unwrap();
    let mut total = Tally::default();
    for client in clients {
        let tally = client.await.unwrap();
        total.latencies_before.extend(tally.latencies_before);
        total.latencies_during.extend(tally.latencies_during);
        total.failed.extend(tally.failed);
        total.wrong += tally.wrong;
    }
    let elapsed_after = TOTAL - BEFORE;
    for (phase, latencies, span) in [
        ("before the outage", &mut total.latencies_before, BEFORE),
        (
            "disk-a deleted   ",
            &mut total.latencies_during,
            elapsed_after,
        ),
    ] {
        latencies.sort_unstable();
        println!(
            "{phase}: {} requests, {:.0} req/s, p50 {:.1} ms, p99 {:.1} ms ({CLIENTS} clients)",
            latencies.len(),
            latencies.len() as f64 / span.as_secs_f64(),
            percentile(latencies, 0.50).as_secs_f64() * 1000.0,
            percentile(latencies, 0.99).as_secs_f64() * 1000.0,
        );
    }
    let metrics = http
        .get(server.url("_metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    println!(
        "failovers {}, disk-a errors {}, hedges {}",
        metric(&metrics, "mirra_read_failovers_total"),
        metric(&metrics, "mirra_provider_errors_total{provider=\"disk-a\"}"),
        metric(&metrics, "mirra_read_hedges_total")
    );
    assert!(
        total.failed.is_empty(),
        "{} failed requests, e.g. {:?}",
        total.failed.len(),
        &total.failed[..total.failed.len().min(5)]
    );
    assert_eq!(total.wrong, 0, "wrong bytes were served");
    assert!(
        total.latencies_before.len() >= CLIENTS && total.latencies_during.len() >= CLIENTS,
        "too few requests to mean anything"
    );
    assert!(
        metric(&metrics, "mirra_read_failovers_total") > 0.0,
        "the outage was never met:\n{metrics}"
    );
    assert!(
        started.elapsed() < TOTAL + Duration::from_secs(70),
        "the load test overran its bound"
    );
}
