//! `mirra serve [--listen ADDR] [--writable] [--zonefile FILE|URL] [--s3]`: the HTTP
//! gateway, or with `--s3` the S3 endpoint.

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use super::context::Globals;
use crate::config::{parse_duration, parse_size};
use crate::gateway::{Gateway, GatewayOptions};

/// Serve objects over plain HTTP: GET/HEAD with Range and ETag, read from whichever
/// provider answers and verified chunk by chunk; PUT/DELETE with `--writable` and a
/// token from `mirra token`. Also `/_health`, `/_metrics` and
/// `/.well-known/mirra/zonefile`. Stops on SIGINT/SIGTERM after requests in flight end.
#[derive(Debug, Args)]
pub struct ServeCmd {
    /// Address to listen on; port 0 picks a free port (the address is printed).
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    listen: SocketAddr,
    /// Accept PUT and DELETE, each with `Authorization: Bearer <token>`.
    #[arg(long, conflicts_with = "zonefile")]
    writable: bool,
    /// Serve someone else's data read-only through their zone file (a path or an
    /// http(s) URL), with no config, as `mirra lookup` reads.
    #[arg(long, value_name = "FILE|URL")]
    zonefile: Option<String>,
    /// With --zonefile: verify against this public key (hex) instead of the zone file's.
    #[arg(long, value_name = "HEX", requires = "zonefile")]
    pubkey: Option<String>,
    /// Largest request body accepted.
    #[arg(long, default_value = "1GiB", value_parser = parse_size, value_name = "SIZE")]
    max_body: u64,
    /// Longest wait for a request's headers (also the keep-alive timeout).
    #[arg(long, default_value = "30s", value_parser = parse_duration, value_name = "DURATION")]
    header_timeout: Duration,
    /// Close a connection on which nothing moved for this long.
    #[arg(long, default_value = "60s", value_parser = parse_duration, value_name = "DURATION")]
    idle_timeout: Duration,
    /// Connections served at once; more wait to be accepted.
    #[arg(long, default_value_t = 1024, value_name = "N")]
    max_connections: usize,
    /// Speak the S3 API instead of plain HTTP: aws-cli, boto3, rclone and other S3
    /// clients read and write through the store, with the access keys of the config's
    /// `[s3]` section (see docs/s3.md).
    #[arg(long, conflicts_with_all = ["zonefile", "writable"])]
    s3: bool,
    /// On SIGINT/SIGTERM, how long requests in flight may take to finish.
    #[arg(long, default_value = "30s", value_parser = parse_duration, value_name = "DURATION")]
    shutdown_grace: Duration,
}

impl ServeCmd {
    /// Opens the store, binds, prints `listening on http://ADDR` and serves until a
    /// signal.
    pub async fn run(self, globals: &Globals) -> anyhow::Result<u8> {
        anyhow::ensure!(
            self.max_connections > 0,
            "--max-connections must be at least 1"
        );
        if self.s3 {
            return self.run_s3(globals).await;
        }
        let (store, zonefile) = match &self.zonefile {
            Some(source) => {
                let (store, bytes) =
                    super::lookup::open_zone_store(source, self.pubkey.as_deref()).await?;
                (store, Some(String::from_utf8_lossy(&bytes).into_owned()))
            }
            None => {
                let store = globals.open_store(None)?;
                let text = super::zonefile::zone_text(&store, None, 3600).await?;
                (store, Some(text))
            }
        };
        let options = GatewayOptions {
            writable: self.writable,
            max_body_bytes: self.max_body,
            header_timeout: self.header_timeout,
            idle_timeout: self.idle_timeout,
            max_connections: self.max_connections,
            shutdown_grace: self.shutdown_grace,
        };
        let listener = tokio::net::TcpListener::bind(self.listen)
            .await
            .with_context(|| format!("listening on {}", self.listen))?;
        let address = listener.local_addr().context("reading the bound address")?;
        let mode = match (&self.zonefile, self.writable) {
            (Some(_), _) => "read-only, through a zone file",
            (None, true) => "writable with tokens",
            (None, false) => "read-only",
        };
        // Scripts and tests read the address from this line, so it goes to stdout.
        println!("mirra serve: listening on http://{address} ({mode})");
        std::io::stdout().flush().ok();
        tracing::info!(%address, mode, "serving");
        Gateway::new(store, zonefile, options)
            .serve(listener, shutdown_signal())
            .await;
        tracing::info!("stopped");
        Ok(super::EXIT_OK)
    }
}

impl ServeCmd {
    /// `--s3`: the listener speaks S3.
    async fn run_s3(self, globals: &Globals) -> anyhow::Result<u8> {
        let config = globals.load_config()?;
        let store = globals.open_store(None)?;
        let gateway = crate::s3_gateway::S3Gateway::new(store, &config.s3)?;
        let listener = tokio::net::TcpListener::bind(self.listen)
            .await
            .with_context(|| format!("listening on {}", self.listen))?;
        let address = listener.local_addr().context("reading the bound address")?;
        if config.s3.credentials.is_empty() {
            tracing::warn!("no [[s3.credentials]] configured: only public buckets can be read");
        }
        // Scripts and tests read the address from this line, so it goes to stdout.
        println!("mirra serve: listening on http://{address} (S3)");
        std::io::stdout().flush().ok();
        tracing::info!(%address, "serving S3");
        gateway
            .serve(listener, shutdown_signal(), self.shutdown_grace)
            .await;
        tracing::info!("stopped");
        Ok(super::EXIT_OK)
    }
}

/// Completes on the first SIGINT or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = match signal(SignalKind::terminate()) {
        Ok(stream) => Some(stream),
        Err(e) => {
            tracing::warn!("cannot listen for SIGTERM: {e}");
            None
        }
    };
    let term = async {
        match terminate.as_mut() {
            Some(stream) => {
                stream.recv().await;
            }
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: shutting down"),
        () = term => tracing::info!("SIGTERM: shutting down"),
    }
}
