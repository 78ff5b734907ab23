//! A running `mirra serve` for end-to-end tests: started on a free loopback port, its
//! address read from stdout, its log collected, killed when dropped.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, ChildStdout, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::cli::MirraEnv;

/// A running `mirra serve`, stopped (SIGKILL) when dropped.
pub struct Served {
    child: Child,
    base: String,
    stderr: Arc<Mutex<String>>,
    _stdout: BufReader<ChildStdout>,
}

impl Served {
    /// Starts `mirra serve --listen 127.0.0.1:0 EXTRA...` in `env` and waits until
    /// `/_health` answers 200; panics with the server's log if it does not.
    pub fn start(env: &MirraEnv, extra: &[&str]) -> Served {
        let mut args = vec!["serve", "--listen", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        let mut child = env
            .command(&args)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot start mirra serve");
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().expect("piped stderr");
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
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("reading serve's stdout");
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
        while raw_request(&served.addr(), "GET", "/_health").0 != 200 {
            assert!(
                Instant::now() < deadline,
                "/_health never answered 200\n{}",
                served.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        served
    }

    /// The URL of `path` on this server.
    pub fn url(&self, path: &str) -> String {
        format!("{}/{}", self.base, path.trim_start_matches('/'))
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        self.base.trim_start_matches("http://").to_owned()
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the server logged so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
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

/// One request written by hand (any method, the path exactly as given), on its own
/// connection. Returns the status (0 when the connection failed) and the body.
pub fn raw_request(addr: &str, method: &str, path: &str) -> (u16, String) {
    let Ok(mut stream) = TcpStream::connect(addr) else {
        return (0, String::new());
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("set a read timeout");
    if write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .is_err()
    {
        return (0, String::new());
    }
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
