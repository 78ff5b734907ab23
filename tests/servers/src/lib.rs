//! Real servers for mirra's tests, the outage example and the benchmarks: an S3 server
//! (s3s over a directory, s3s-fs) and a WebDAV server (dav-server's LocalFs), each on
//! hyper, served from a tokio runtime of its own so that dropping or shutting down the
//! runtime closes the listener and every connection at once, as an outage would.

use std::convert::Infallible;
use std::net::TcpListener;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use dav_server::body::Body;
use dav_server::fakels::FakeLs;
use dav_server::localfs::LocalFs;
use dav_server::DavHandler;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Response, StatusCode};
use hyper_util::rt::TokioIo;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use tokio::runtime::Runtime;

mod kv;
pub use kv::serve_kv;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("server runtime")
}

/// What an S3 server was asked, counted as requests arrive, so a test can check how
/// many requests a client needed.
#[derive(Debug, Default)]
pub struct S3Requests {
    object_gets: AtomicU64,
    ranged_gets: AtomicU64,
}

impl S3Requests {
    /// GETs of an object (`/bucket/key`), ranged or not; listings are not counted.
    pub fn object_gets(&self) -> u64 {
        self.object_gets.load(Ordering::SeqCst)
    }

    /// Object GETs that carried a `Range` header.
    pub fn ranged_gets(&self) -> u64 {
        self.ranged_gets.load(Ordering::SeqCst)
    }

    fn observe<B>(&self, request: &hyper::Request<B>) {
        // Path style: `/bucket` is a listing, `/bucket/key...` an object.
        let is_object = request
            .uri()
            .path()
            .trim_start_matches('/')
            .split_once('/')
            .is_some_and(|(_, key)| !key.is_empty());
        if request.method() == hyper::Method::GET && is_object {
            self.object_gets.fetch_add(1, Ordering::SeqCst);
            if request.headers().contains_key(hyper::header::RANGE) {
                self.ranged_gets.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
}

/// Serves S3 over `root` (each subdirectory is a bucket) on `listener`, accepting one
/// key pair. Path-style addressing.
pub fn serve_s3(root: &Path, listener: TcpListener, access_key: &str, secret_key: &str) -> Runtime {
    let requests = Arc::default();
    serve_s3_counting(root, listener, access_key, secret_key, requests)
}

/// As [`serve_s3`], counting requests in `requests`.
pub fn serve_s3_counting(
    root: &Path,
    listener: TcpListener,
    access_key: &str,
    secret_key: &str,
    requests: Arc<S3Requests>,
) -> Runtime {
    let runtime = runtime();
    listener.set_nonblocking(true).expect("nonblocking");
    let fs = s3s_fs::FileSystem::new(root).expect("s3s-fs root");
    let mut builder = S3ServiceBuilder::new(fs);
    builder.set_auth(SimpleAuth::from_single(access_key, secret_key));
    let service = builder.build();
    runtime.spawn(async move {
        let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let (s3, requests) = (service.clone(), Arc::clone(&requests));
            let counted = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                requests.observe(&request);
                hyper::service::Service::call(&s3, request)
            });
            tokio::spawn(async move {
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), counted)
                    .await;
            });
        }
    });
    runtime
}

/// Serves WebDAV over `root` on `listener`. With `basic_auth` set to the expected
/// `Authorization` header value, other requests get 401.
pub fn serve_webdav(root: &Path, listener: TcpListener, basic_auth: Option<String>) -> Runtime {
    let runtime = runtime();
    listener.set_nonblocking(true).expect("nonblocking");
    let dav = DavHandler::builder()
        .filesystem(LocalFs::new(root, false, false, false))
        .locksystem(FakeLs::new())
        .build_handler();
    runtime.spawn(async move {
        let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let (dav, expected) = (dav.clone(), basic_auth.clone());
            let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                let (dav, expected) = (dav.clone(), expected.clone());
                async move {
                    let authorized = expected.as_ref().is_none_or(|expected| {
                        request
                            .headers()
                            .get(hyper::header::AUTHORIZATION)
                            .is_some_and(|v| v == expected.as_str())
                    });
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
    runtime
}

/// Command-line arguments shared by the server binaries: `--root DIR --listen ADDR`.
pub struct Args {
    /// The directory served.
    pub root: std::path::PathBuf,
    /// The address to bind, e.g. `127.0.0.1:0`.
    pub listen: String,
}

impl Args {
    /// Parses `--root DIR [--listen ADDR]` from the process arguments.
    pub fn from_env() -> Result<Self, String> {
        let mut root = None;
        let mut listen = "127.0.0.1:0".to_owned();
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--root" => root = args.next().map(Into::into),
                "--listen" => listen = args.next().ok_or("--listen needs an address")?,
                other => {
                    return Err(format!(
                        "unknown argument {other}; usage: --root DIR [--listen 127.0.0.1:PORT]"
                    ))
                }
            }
        }
        Ok(Self {
            root: root.ok_or("--root DIR is required")?,
            listen,
        })
    }

    /// Binds the listen address and prints `http://ADDR` on stdout, so a script can
    /// read where the server is.
    pub fn bind(&self) -> TcpListener {
        let listener = TcpListener::bind(&self.listen)
            .unwrap_or_else(|e| panic!("cannot bind {}: {e}", self.listen));
        println!("http://{}", listener.local_addr().expect("bound address"));
        listener
    }
}

/// Blocks until SIGINT or SIGTERM.
pub fn wait_for_shutdown(runtime: &Runtime) {
    runtime.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    });
}
