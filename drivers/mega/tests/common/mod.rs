//! A loopback HTTP server that answers every request to MEGA's API path with one fixed
//! body or status, the way MEGA reports errors (`-9`, `[-16]`, a 503). It lets the
//! real mega client run its login against 127.0.0.1, so the driver's error paths are
//! exercised through the crate without reaching MEGA.
// Each test file uses a different part.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;

/// What the server answers.
#[derive(Clone, Copy)]
pub enum Answer {
    /// `200 OK` with this JSON body.
    Json(&'static str),
    /// This status with an empty body.
    Status(u16),
}

/// A running server; it stops with the test process.
pub struct ApiServer {
    pub addr: SocketAddr,
    /// Every request seen: request line and body.
    pub seen: Arc<Mutex<Vec<String>>>,
}

impl ApiServer {
    pub fn start(answer: Answer) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let log = Arc::clone(&log);
                thread::spawn(move || serve(stream, answer, &log));
            }
        });
        Self { addr, seen }
    }

    /// The config's `api_url` for this server.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    pub fn requests(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

fn serve(stream: TcpStream, answer: Answer, log: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut stream = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut length = 0usize;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            if header == "\r\n" {
                break;
            }
            let lower = header.to_ascii_lowercase();
            if let Some(value) = lower.strip_prefix("content-length:") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0u8; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        log.lock().unwrap().push(format!(
            "{} {}",
            request_line.trim(),
            String::from_utf8_lossy(&body)
        ));
        let (status, body) = match answer {
            Answer::Json(body) => (200, body),
            Answer::Status(status) => (status, ""),
        };
        let response = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        if stream.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

/// A port on 127.0.0.1 where nothing listens.
pub fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A provider config for `api_url`, quick to give up.
pub fn config(api_url: &str) -> String {
    format!(
        "email = \"alice@example.com\"\npassword = \"correct horse battery\"\n\
         api_url = \"{api_url}\"\ntimeout = \"3s\"\nmax_retries = 2"
    )
}

pub const PASSWORD: &str = "correct horse battery";
