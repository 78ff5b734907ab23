//! An S3 server for tests: s3s over a temporary directory (s3s-fs), served by hyper on
//! its own tokio runtime at 127.0.0.1 on a free port, with one bucket and one key pair.
//!
//! Each server owns its runtime, so `stop` closes the listener and every open
//! connection at once, as an outage would.
// Each test binary that includes this module uses a different part of it.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use mirra_test_servers::S3Requests;

use tempfile::TempDir;
use tokio::runtime::Runtime;

/// The bucket every test server holds.
pub const BUCKET: &str = "mirra-test";
/// The access key the server accepts.
pub const ACCESS_KEY: &str = "AKIAMIRRATEST";
/// The secret key the server accepts.
pub const SECRET_KEY: &str = "mirra-test-secret-key-0123456789";

/// A running s3s-fs server.
pub struct S3Server {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    root: TempDir,
    runtime: Option<Runtime>,
    requests: Arc<S3Requests>,
}

impl S3Server {
    /// Starts a server over a fresh directory holding the empty bucket [`BUCKET`].
    pub fn start() -> Self {
        let root = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(root.path().join(BUCKET)).expect("bucket dir");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
        let requests = Arc::new(S3Requests::default());
        let runtime = mirra_test_servers::serve_s3_counting(
            root.path(),
            listener,
            ACCESS_KEY,
            SECRET_KEY,
            Arc::clone(&requests),
        );
        Self {
            endpoint,
            root,
            runtime: Some(runtime),
            requests,
        }
    }

    /// Starts serving again on the same address and data, after [`S3Server::stop`]:
    /// the provider comes back from its outage with what it held.
    pub fn restart(&mut self) {
        self.stop();
        let addr = self.endpoint.trim_start_matches("http://");
        let listener = std::net::TcpListener::bind(addr).expect("rebind the same port");
        self.runtime = Some(mirra_test_servers::serve_s3_counting(
            self.root.path(),
            listener,
            ACCESS_KEY,
            SECRET_KEY,
            Arc::clone(&self.requests),
        ));
    }

    /// A driver config for this server, path style, plus `extra` TOML lines.
    pub fn config(&self, extra: &str) -> String {
        format!(
            "endpoint = \"{}\"\nregion = \"us-east-1\"\nbucket = \"{BUCKET}\"\n\
             path_style = true\naccess_key_id = \"{ACCESS_KEY}\"\n\
             secret_access_key = \"{SECRET_KEY}\"\n{extra}",
            self.endpoint
        )
    }

    /// Where s3s-fs keeps the object `s3_key` of the bucket on disk.
    pub fn object_file(&self, s3_key: &str) -> PathBuf {
        self.root.path().join(BUCKET).join(s3_key)
    }

    /// The requests the server received, across restarts.
    pub fn requests(&self) -> &S3Requests {
        &self.requests
    }

    /// The server's data directory (bucket directories and upload state).
    pub fn root(&self) -> &std::path::Path {
        self.root.path()
    }

    /// Stops serving: the listener and all connections close.
    pub fn stop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(2));
        }
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}
