//! The gateway rows (issue 18): B8, 4 KiB GETs with 64 connections (`wrk`) through
//! `mirra serve` over three disk providers against nginx serving the same file from one
//! of those directories; B9, 1,000 × 1 KiB PUTs from 16 clients through
//! `mirra serve --writable`, with the small HTTP/1.1 client below.
//!
//! Each row runs the gateway twice, with its cache on (`--cache-fresh 1`) and off (the
//! default: every request asks the providers, as before the cache), paired and
//! interleaved with the reference, so one run gives the before and after.

use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

use crate::measure::{median, percentile};
use crate::report::{Detail, Row};
use crate::{generate, Bench};

/// The gateway variants each row measures: (label, extra `mirra serve` arguments).
const VARIANTS: [(&str, &[&str]); 2] = [
    ("mirra serve --cache-fresh 1", &["--cache-fresh", "1"]),
    ("mirra serve --cache-fresh 0", &["--cache-fresh", "0"]),
];

/// A child server, killed (by its own pid) when dropped.
struct Server {
    child: Child,
    /// `127.0.0.1:PORT`.
    addr: String,
    _stdout: Option<BufReader<ChildStdout>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        // SIGTERM, not SIGKILL: nginx's master stops its workers only when asked.
        if let Ok(pid) = libc::pid_t::try_from(self.child.id()) {
            // SAFETY: the pid is our own child, not yet reaped.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `mirra --config CONFIG serve --listen 127.0.0.1:0 EXTRA...`, once it printed its address.
fn start_mirra(b: &Bench, config: &Path, extra: &[&str]) -> io::Result<Server> {
    let home = b.work.join("home");
    let mut child = Command::new(&b.mirra)
        .env("HOME", &home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_DATA_HOME", home.join(".local/share"))
        .env("XDG_STATE_HOME", home.join(".local/state"))
        .env("XDG_CACHE_HOME", home.join(".cache"))
        .env("MIRRA_DRIVER_PATH", &b.drivers)
        .env_remove("RUST_LOG")
        .arg("--config")
        .arg(config)
        .arg("-q")
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
    let mut line = String::new();
    stdout.read_line(&mut line)?;
    let Some(addr) = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("http://"))
        .map(str::to_owned)
    else {
        let _ = child.kill();
        return Err(io::Error::other(format!(
            "mirra serve printed no address: {line:?}"
        )));
    };
    Ok(Server {
        child,
        addr,
        _stdout: Some(stdout),
    })
}

/// nginx as user `nobody` on a free loopback port, serving `root`, with its own config,
/// pid file, logs and temp directories under `dir`.
fn start_nginx(root: &Path, dir: &Path) -> io::Result<Server> {
    std::fs::create_dir_all(dir)?;
    // Written by the unprivileged nginx: logs, pid, temp files.
    std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o777))?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let d = dir.display();
    let conf = format!(
        "worker_processes auto;\ndaemon off;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
         events {{ worker_connections 1024; }}\n\
         http {{\n  access_log off;\n  sendfile on;\n  tcp_nopush on;\n  keepalive_requests 100000000;\n\
           client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n\
           uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
           default_type application/octet-stream;\n\
           server {{ listen 127.0.0.1:{port}; root {}; }}\n}}\n",
        root.display()
    );
    let conf_path = dir.join("nginx.conf");
    std::fs::write(&conf_path, conf)?;
    let mut cmd = Command::new("setpriv");
    cmd.args([
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "nginx",
        "-p",
    ]);
    // SAFETY: geteuid(2) takes no arguments and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        cmd = Command::new("nginx");
        cmd.arg("-p");
    }
    let child = cmd
        .arg(dir)
        .arg("-c")
        .arg(&conf_path)
        .arg("-e")
        .arg(dir.join("error.log"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let addr = format!("127.0.0.1:{port}");
    let server = Server {
        child,
        addr,
        _stdout: None,
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(&server.addr).is_err() {
        if Instant::now() > deadline {
            let log = std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
            return Err(io::Error::other(format!("nginx did not start: {log}")));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(server)
}

/// One wrk run: requests per second and p99 latency in milliseconds.
#[derive(Debug, Clone, Copy)]
struct WrkResult {
    rps: f64,
    p99_ms: f64,
}

fn wrk(url: &str, seconds: u64) -> io::Result<WrkResult> {
    let out = Command::new("wrk")
        .args(["-t2", "-c64", &format!("-d{seconds}s"), "--latency", url])
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(io::Error::other(format!("wrk failed: {text}")));
    }
    parse_wrk(&text).ok_or_else(|| io::Error::other(format!("unreadable wrk output:\n{text}")))
}

/// Requests/sec and the 99% latency of wrk's `--latency` output; `None` if wrk saw
/// errors or non-2xx answers (a benchmark of failures is not one).
fn parse_wrk(text: &str) -> Option<WrkResult> {
    if text.contains("Non-2xx") || text.contains("Socket errors") {
        return None;
    }
    let rps = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))?
        .trim()
        .parse()
        .ok()?;
    let p99 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("99%"))?
        .trim();
    let split = p99.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = p99.split_at(split);
    let number: f64 = number.parse().ok()?;
    let p99_ms = match unit {
        "us" => number / 1000.0,
        "ms" => number,
        "s" => number * 1000.0,
        "m" => number * 60_000.0,
        _ => return None,
    };
    Some(WrkResult { rps, p99_ms })
}

fn fresh_roots(b: &Bench) -> io::Result<Vec<PathBuf>> {
    (0..3)
        .map(|i| b.fresh_dir(&format!("providers/p{i}")))
        .collect()
}

/// B8: 4 KiB GETs, 64 connections, mirra serve (both variants) against nginx.
pub fn b8(b: &mut Bench) -> io::Result<()> {
    let seconds = if b.quick { 3 } else { 10 };
    let roots = fresh_roots(b)?;
    let config = b.disk_config("gateway3", &roots)?;
    let input = b.work.join("in/obj4k");
    std::fs::create_dir_all(b.work.join("in"))?;
    generate(&input, 4096)?;
    b.run(b.mirra_cmd(&config).arg("put").arg(&input).arg("obj4k"))?;
    let nginx = start_nginx(&roots[0], &b.work.join("nginx"))?;
    let mut servers = vec![nginx];
    for (_, extra) in VARIANTS {
        servers.push(start_mirra(b, &config, extra)?);
    }
    let urls: Vec<String> = servers
        .iter()
        .map(|s| format!("http://{}/obj4k", s.addr))
        .collect();
    // Same bytes from both, and a warm-up (page cache, connections, the cache's fill).
    for url in &urls {
        wrk(url, 1)?;
    }
    let mut results: Vec<Vec<WrkResult>> = vec![Vec::new(); urls.len()];
    for r in 0..b.runs {
        for k in 0..urls.len() {
            let i = (r + k) % urls.len();
            results[i].push(wrk(&urls[i], seconds)?);
        }
    }
    drop(servers);
    let names = ["nginx", VARIANTS[0].0, VARIANTS[1].0];
    for (i, runs) in results.iter().enumerate() {
        let rps: Vec<String> = runs.iter().map(|w| format!("{:.0}", w.rps)).collect();
        let p99: Vec<String> = runs.iter().map(|w| format!("{:.2}", w.p99_ms)).collect();
        let command = match i {
            0 => format!("wrk -t2 -c64 -d{seconds}s --latency http://nginx/obj4k (nginx as nobody, root = provider p0)"),
            _ => format!(
                "mirra serve {}; wrk -t2 -c64 -d{seconds}s --latency http://gateway/obj4k",
                VARIANTS[i - 1].1.join(" ")
            ),
        };
        b.details.push(Detail {
            id: "B8".into(),
            contender: names[i].into(),
            command,
            figures: format!(
                "median {:.0} req/s (runs: {}), p99 {:.2} ms (runs: {})",
                median(&runs.iter().map(|w| w.rps).collect::<Vec<_>>()),
                rps.join(", "),
                median(&runs.iter().map(|w| w.p99_ms).collect::<Vec<_>>()),
                p99.join(", ")
            ),
        });
    }
    let nginx = &results[0];
    for (v, (label, _)) in VARIANTS.iter().enumerate() {
        let ours = &results[v + 1];
        // Ratios of each paired run, then their median.
        let rps_ratio = median(
            &ours
                .iter()
                .zip(nginx)
                .map(|(m, n)| m.rps / n.rps)
                .collect::<Vec<_>>(),
        );
        let p99_ratio = median(
            &ours
                .iter()
                .zip(nginx)
                .map(|(m, n)| m.p99_ms / n.p99_ms)
                .collect::<Vec<_>>(),
        );
        let med = |runs: &[WrkResult], f: fn(&WrkResult) -> f64| {
            median(&runs.iter().map(f).collect::<Vec<_>>())
        };
        b.rows.push(Row {
            id: "B8".into(),
            workload: format!("4 KiB GET, 64 connections, 3 disk providers: {label}"),
            mirra: format!(
                "{:.0} req/s, p99 {:.2} ms",
                med(ours, |w| w.rps),
                med(ours, |w| w.p99_ms)
            ),
            reference: format!(
                "nginx {:.0} req/s, p99 {:.2} ms",
                med(nginx, |w| w.rps),
                med(nginx, |w| w.p99_ms)
            ),
            measured: format!("{rps_ratio:.2} × req/s, p99 {p99_ratio:.2} ×"),
            target: "≥ 0.5 × req/s, p99 ≤ 2 ×".into(),
            pass: rps_ratio >= 0.5 && p99_ratio <= 2.0,
        });
    }
    Ok(())
}

/// B9: 1,000 × 1 KiB PUTs from 16 clients through `mirra serve --writable`.
pub fn b9(b: &mut Bench) -> io::Result<()> {
    const FILES: usize = 1000;
    const CLIENTS: usize = 16;
    let roots = fresh_roots(b)?;
    let config = b.disk_config("gateway3", &roots)?;
    let token = {
        let out = b
            .mirra_cmd(&config)
            .args(["token", "--scope", "b9/", "--ttl", "2h"])
            .stderr(Stdio::null())
            .output()?;
        if !out.status.success() {
            return Err(io::Error::other("mirra token failed"));
        }
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let mut servers = Vec::new();
    for (_, extra) in VARIANTS {
        let mut args = vec!["--writable"];
        args.extend_from_slice(extra);
        servers.push(start_mirra(b, &config, &args)?);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let body = vec![0x5au8; 1024];
    // Warm-up: directories, connections, page cache.
    for (v, server) in servers.iter().enumerate() {
        runtime.block_on(put_burst(
            &server.addr,
            &token,
            &format!("b9/warm{v}"),
            64,
            CLIENTS,
            &body,
        ))?;
    }
    let mut results: Vec<Vec<PutBurst>> = vec![Vec::new(); servers.len()];
    for r in 0..b.runs {
        for k in 0..servers.len() {
            let i = (r + k) % servers.len();
            crate::measure::settle_disk();
            let prefix = format!("b9/r{r}v{i}");
            results[i].push(runtime.block_on(put_burst(
                &servers[i].addr,
                &token,
                &prefix,
                FILES,
                CLIENTS,
                &body,
            ))?);
        }
    }
    drop(servers);
    for (v, (label, extra)) in VARIANTS.iter().enumerate() {
        let runs = &results[v];
        let files_s = median(&runs.iter().map(|r| r.files_per_sec).collect::<Vec<_>>());
        let p50 = median(&runs.iter().map(|r| r.p50_ms).collect::<Vec<_>>());
        let p99 = median(&runs.iter().map(|r| r.p99_ms).collect::<Vec<_>>());
        b.details.push(Detail {
            id: "B9".into(),
            contender: (*label).into(),
            command: format!(
                "mirra serve --writable {}; 16 keep-alive clients PUT 1,000 × 1 KiB (bench/src/gateway.rs)",
                extra.join(" ")
            ),
            figures: format!(
                "median {files_s:.0} files/s (runs: {}), p50 {p50:.1} ms, p99 {p99:.1} ms",
                runs.iter()
                    .map(|r| format!("{:.0}", r.files_per_sec))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
        b.rows.push(Row {
            id: "B9".into(),
            workload: format!("1,000 × 1 KiB PUT, 16 clients, 3 disk providers: {label}"),
            mirra: format!("{files_s:.0} files/s, p50 {p50:.1} ms, p99 {p99:.1} ms"),
            reference: "the issue's target".into(),
            measured: format!("{files_s:.0} files/s, p50 {p50:.1} ms"),
            target: "≥ 1,000 files/s, p50 ≤ 10 ms".into(),
            pass: files_s >= 1000.0 && p50 <= 10.0,
        });
    }
    Ok(())
}

/// One burst of PUTs.
#[derive(Debug, Clone, Copy)]
struct PutBurst {
    files_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// PUTs `count` objects `PREFIX/N` of `body` over `clients` keep-alive connections.
async fn put_burst(
    addr: &str,
    token: &str,
    prefix: &str,
    count: usize,
    clients: usize,
    body: &[u8],
) -> io::Result<PutBurst> {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let (addr, token, prefix, body, next) = (
            addr.to_owned(),
            token.to_owned(),
            prefix.to_owned(),
            body.to_vec(),
            next.clone(),
        );
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            let mut conn = Connection::open(&addr).await?;
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= count {
                    return Ok::<_, io::Error>(latencies);
                }
                let t = Instant::now();
                let status = conn
                    .put(&addr, &format!("{prefix}/{n}"), &token, &body)
                    .await?;
                if status != 200 {
                    return Err(io::Error::other(format!(
                        "PUT {prefix}/{n}: status {status}"
                    )));
                }
                latencies.push(t.elapsed().as_secs_f64() * 1000.0);
            }
        });
    }
    let mut latencies = Vec::with_capacity(count);
    while let Some(joined) = tasks.join_next().await {
        latencies.extend(joined.map_err(io::Error::other)??);
    }
    let secs = started.elapsed().as_secs_f64();
    Ok(PutBurst {
        files_per_sec: count as f64 / secs,
        p50_ms: percentile(&latencies, 50.0),
        p99_ms: percentile(&latencies, 99.0),
    })
}

/// A keep-alive HTTP/1.1 connection that sends PUTs and reads their answers.
struct Connection {
    stream: tokio::io::BufReader<tokio::net::TcpStream>,
}

impl Connection {
    async fn open(addr: &str) -> io::Result<Self> {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream: tokio::io::BufReader::new(stream),
        })
    }

    /// PUTs `body` at `key`; the status, once the whole answer was read.
    async fn put(&mut self, addr: &str, key: &str, token: &str, body: &[u8]) -> io::Result<u16> {
        let head = format!(
            "PUT /{key} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let mut request = head.into_bytes();
        request.extend_from_slice(body);
        self.stream.get_mut().write_all(&request).await?;
        let mut status = 0;
        let mut length = 0usize;
        let mut line = String::new();
        loop {
            line.clear();
            if self.stream.read_line(&mut line).await? == 0 {
                return Err(io::Error::other("the gateway closed the connection"));
            }
            let text = line.trim_end();
            if text.is_empty() {
                break;
            }
            if status == 0 {
                status = text
                    .split_whitespace()
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
            } else if let Some((name, value)) = text.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut answer = vec![0u8; length];
        self.stream.read_exact(&mut answer).await?;
        Ok(status)
    }
}

#[cfg(test)]
mod tests {
    use super::parse_wrk;

    #[test]
    fn wrk_output_is_read_or_refused() {
        let text = "Running 10s test @ http://127.0.0.1:1/obj4k\n  2 threads and 64 connections\n\
            Thread Stats   Avg      Stdev     Max   +/- Stdev\n    Latency   710.11us  1.2ms  20ms   90%\n\
            Latency Distribution\n     50%  500.00us\n     75%  700.00us\n     90%    1.10ms\n     99%    4.10ms\n\
            880000 requests in 10.00s, 3.6GB read\nRequests/sec:  88000.12\nTransfer/sec:    360MB\n";
        let result = parse_wrk(text).unwrap();
        assert_eq!(result.rps, 88000.12);
        assert_eq!(result.p99_ms, 4.1);
        let micro = text.replace("4.10ms", "950.00us");
        assert_eq!(parse_wrk(&micro).unwrap().p99_ms, 0.95);
        let failing = format!("{text}  Non-2xx or 3xx responses: 12\n");
        assert!(parse_wrk(&failing).is_none());
    }
}
