//! A WebDAV server for tests: dav-server's LocalFs over a temporary directory, served
//! by hyper on its own tokio runtime at 127.0.0.1 on a free port. Unless started public,
//! requests must carry basic auth as [`USERNAME`]/[`PASSWORD`], as a real deployment's would.
//!
//! Each server owns its runtime, so `stop` closes the listener and every open
//! connection at once, as an outage would.
// Each test binary that includes this module uses a different part of it.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

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
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let base_url = format!("http://{}/", listener.local_addr().expect("addr"));
        let auth = require_auth.then(|| EXPECTED_AUTH.to_owned());
        let runtime = mirra_test_servers::serve_webdav(root.path(), listener, auth);
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
