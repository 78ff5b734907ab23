//! The S3 server for B7: s3s over a directory (s3s-fs) on 127.0.0.1, in this process.
//!
//! Why s3s-fs rather than MinIO or moto: it is what mirra's own tests already run (so
//! no download, and nothing that is not in the Cargo lock), it speaks the SigV4 and
//! multipart subset both mirra's object_store client and rclone use, and it stores each
//! object as a plain file, so both clients hit the same disk the same way. MinIO is not
//! packaged for Debian and moto's Python server would be the bottleneck of both.
//! The server itself is `mirra-test-servers`, the one the tests and examples run.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::runtime::Runtime;

/// The bucket both clients write to.
pub const BUCKET: &str = "bench";
/// The access key the server accepts.
pub const ACCESS_KEY: &str = "AKIAMIRRABENCH";
/// The secret key the server accepts.
pub const SECRET_KEY: &str = "mirra-bench-secret-key-0123456789";

/// A running server; dropping it stops it.
pub struct S3Server {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    root: PathBuf,
    runtime: Option<Runtime>,
}

impl S3Server {
    /// Serves `root` (created if missing, with the bucket) on a free loopback port.
    pub fn start(root: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(root.join(BUCKET))?;
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        // Two workers, like the driver's own runtime: the server shares the two cores
        // with whichever client is being measured, the same for both clients.
        let runtime = mirra_test_servers::serve_s3(root, listener, ACCESS_KEY, SECRET_KEY);
        Ok(Self {
            endpoint,
            root: root.to_path_buf(),
            runtime: Some(runtime),
        })
    }

    /// Empties the bucket (between runs, so every put starts from the same state).
    pub fn clear(&self) -> std::io::Result<()> {
        let bucket = self.root.join(BUCKET);
        std::fs::remove_dir_all(&bucket)?;
        std::fs::create_dir(&bucket)
    }

    /// mirra's `[provider.config]` for this server.
    pub fn mirra_config(&self) -> String {
        format!(
            "endpoint = \"{}\"\nregion = \"us-east-1\"\nbucket = \"{BUCKET}\"\npath_style = true\n\
             access_key_id = \"{ACCESS_KEY}\"\nsecret_access_key = \"{SECRET_KEY}\"\n",
            self.endpoint
        )
    }

    /// rclone's remote section for this server.
    pub fn rclone_config(&self, name: &str) -> String {
        format!(
            "[{name}]\ntype = s3\nprovider = Other\naccess_key_id = {ACCESS_KEY}\n\
             secret_access_key = {SECRET_KEY}\nendpoint = {}\nregion = us-east-1\n\
             force_path_style = true\nno_check_bucket = true\n",
            self.endpoint
        )
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(2));
        }
    }
}
