//! A `mirra serve` child process for tests: started on a free loopback port, waited for
//! until `/_health` answers, killed when dropped.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStdout, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::cli::MirraEnv;

/// A running `mirra serve`.
pub struct Served {
    child: Child,
    base: String,
    stderr: Arc<Mutex<String>>,
    _stdout: BufReader<ChildStdout>,
}

impl Served {
    /// Starts `mirra serve --listen 127.0.0.1:0 EXTRA...` in `env` and waits until it
    /// answers `/_health`; panics with its log if it does not within 20 s.
    pub fn start(env: &MirraEnv, extra: &[&str]) -> Served {
        let mut args = vec!["serve", "--listen", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        let mut child = env
            .command(&args)
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
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                sink.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push_str(&text);
            }
        });
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut line = String::new();
        let _ = stdout.read_line(&mut line);
        let Some(base) = line.split_whitespace().find(|w| w.starts_with("http://")) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "mirra serve printed no address: {line:?}\n{}",
                stderr.lock().unwrap_or_else(|e| e.into_inner())
            );
        };
        let served = Served {
            base: base.trim_end_matches('/').to_owned(),
            child,
            stderr,
            _stdout: stdout,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !served.healthy() {
            assert!(
                Instant::now() < deadline,
                "/_health never answered\n{}",
                served.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        served
    }

    fn healthy(&self) -> bool {
        use std::io::Write;
        let addr = self.base.trim_start_matches("http://");
        let Ok(mut stream) = std::net::TcpStream::connect(addr) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let request = format!("GET /_health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        if stream.write_all(request.as_bytes()).is_err() {
            return false;
        }
        let mut response = String::new();
        let _ = stream.read_to_string(&mut response);
        response.starts_with("HTTP/1.1 200")
    }

    /// The URL of `path` on this server.
    pub fn url(&self, path: &str) -> String {
        format!("{}/{}", self.base, path.trim_start_matches('/'))
    }

    /// What the server logged so far.
    pub fn stderr(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
