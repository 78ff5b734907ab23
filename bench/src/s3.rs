//! The S3 server for B7: s3s over a directory (s3s-fs) on 127.0.0.1, in this process.
//!
//! Why s3s-fs rather than MinIO or moto: it is what mirra's own tests already run (so
//! no download, and nothing that is not in the Cargo lock), it speaks the SigV4 and
//! multipart subset both mirra's object_store client and rclone use, and it stores each
//! object as a plain file, so both clients hit the same disk the same way. MinIO is not
//! packaged for Debian and moto's Python server would be the bottleneck of both.
//! Copied from `tests/tests/common/s3_server.rs` (the bench must not depend on test code).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
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
        listener.set_nonblocking(true)?;
        // Two workers, like the driver's own runtime: the server shares the two cores
        // with whichever client is being measured, the same for both clients.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let fs = s3s_fs::FileSystem::new(root)
            .map_err(|e| std::io::Error::other(format!("s3s-fs: {e:?}")))?;
        let mut builder = S3ServiceBuilder::new(fs);
        builder.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        let service = builder.build();
        runtime.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let service = service.clone();
                tokio::spawn(async move {
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
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
