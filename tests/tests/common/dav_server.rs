//! A WebDAV server for tests: dav-server's LocalFs over a temporary directory, served
//! by hyper on its own tokio runtime at 127.0.0.1 on a free port. Unless started public,
//! requests must carry basic auth as [`USERNAME`]/[`PASSWORD`], as a real deployment's would.
//!
//! Each server owns its runtime, so `stop` closes the listener and every open
//! connection at once, as an outage would.

use std::convert::Infallible;
use std::path::PathBuf;
use std::time::Duration;

use dav_server::body::Body;
use dav_server::fakels::FakeLs;
use dav_server::localfs::LocalFs;
use dav_server::DavHandler;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Response, StatusCode};
use hyper_util::rt::TokioIo;
use tempfile::TempDir;
use tokio::runtime::Runtime;

/// The user the server accepts.
pub const USERNAME: &str = "mirra";
/// The password the server accepts.
pub const PASSWORD: &str = "dav-secret-pass";
/// `Basic base64(USERNAME:PASSWORD)`, what a correct client sends.
const EXPECTED_AUTH: &str = "Basic bWlycmE6ZGF2LXNlY3JldC1wYXNz";

/// A running WebDAV server.
pub struct DavServer {
    /// `http://127.0.0.1:PORT/`.
    pub base_url: String,
    root: TempDir,
    runtime: Option<Runtime>,
}

impl DavServer {
    /// Starts a server over a fresh, empty directory that demands basic auth.
    pub fn start() -> Self {
        Self::start_with(true)
    }

    /// Starts a server that anyone may read and write, for anonymous clients.
    pub fn start_public() -> Self {
        Self::start_with(false)
    }

    fn start_with(require_auth: bool) -> Self {
        let root = tempfile::tempdir().expect("temp dir");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("server runtime");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).expect("nonblocking");
        let base_url = format!("http://{}/", listener.local_addr().expect("addr"));
        let dav = DavHandler::builder()
            .filesystem(LocalFs::new(root.path(), false, false, false))
            .locksystem(FakeLs::new())
            .build_handler();
        runtime.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let dav = dav.clone();
                let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                    let dav = dav.clone();
                    async move {
                        let authorized = !require_auth
                            || request
                                .headers()
                                .get(hyper::header::AUTHORIZATION)
                                .is_some_and(|v| v == EXPECTED_AUTH);
                        if !authorized {
                            let mut denied = Response::new(Body::from("authentication required"));
                            *denied.status_mut() = StatusCode::UNAUTHORIZED;
                            return Ok::<_, Infallible>(denied);
                        }
                        Ok(dav.handle(request).await)
                    }
                });
                tokio::spawn(async move {
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self {
            base_url,
            root,
            runtime: Some(runtime),
        }
    }

    /// A driver config for this server with WebDAV writes, plus `extra` TOML lines.
    pub fn config(&self, extra: &str) -> String {
        format!(
            "base_url = \"{}\"\nwebdav = true\nusername = \"{USERNAME}\"\n\
             password = \"{PASSWORD}\"\n{extra}",
            self.base_url
        )
    }

    /// Where the server keeps the file at URL path `path` (relative to the base).
    pub fn file(&self, path: &str) -> PathBuf {
        self.root.path().join(path)
    }

    /// Stops serving: the listener and all connections close.
    pub fn stop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(2));
        }
    }
}

impl Drop for DavServer {
    fn drop(&mut self) {
        self.stop();
    }
}
