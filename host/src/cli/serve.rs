//! `mirra serve [--listen ADDR] [--writable] [--zonefile FILE|URL] [--gaia
//! [--read-url-prefix URL]] [--s3] [--cache-fresh SECONDS] [--cache-size SIZE]`: the HTTP
//! gateway, or with `--s3` the S3 endpoint.

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use super::context::Globals;
use crate::config::{parse_duration, parse_size};
use crate::gateway::{default_budget_bytes, CachePolicy, Gateway, GatewayOptions};

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
    /// Verify against this public key (hex): with --zonefile instead of the zone file's;
    /// without it, a read-only gateway then never opens the owner's key file.
    #[arg(long, value_name = "HEX", conflicts_with_all = ["writable", "gaia"])]
    pubkey: Option<String>,
    /// Bytes of chunks all reads together may hold in memory (default: a quarter of the
    /// machine's memory). A read that finds it spent waits up to --memory-wait, then is
    /// answered 503 with Retry-After.
    #[arg(long, value_parser = parse_size, value_name = "SIZE")]
    memory_budget: Option<u64>,
    /// How long a read waits for room in the memory budget.
    #[arg(long, default_value = "2s", value_parser = parse_duration, value_name = "DURATION")]
    memory_wait: Duration,
    /// With --zonefile from a URL: let it name `file://` targets and targets closer to
    /// this machine than the address it was fetched from, as `mirra lookup` does.
    #[arg(long, requires = "zonefile")]
    allow_local_targets: bool,
    /// Also be a Gaia hub for Stacks apps (`/hub_info`, `/store/...`; see docs/gaia.md),
    /// with the `[gaia]` settings of the config.
    #[arg(long, conflicts_with = "zonefile")]
    gaia: bool,
    /// With --gaia: the read URL prefix apps are told (an http(s) URL ending in `/`),
    /// e.g. a CDN or TLS proxy in front of this gateway; overrides `[gaia]
    /// read_url_prefix`.
    #[arg(long, value_name = "URL", requires = "gaia")]
    read_url_prefix: Option<String>,
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
    /// How long a verified manifest or small object may be answered from memory before
    /// the providers are asked again: seconds ("1") or a duration ("500ms"); 0 turns
    /// the cache off, the default, so that a write acknowledged by any gateway or
    /// machine is seen by the next read here. Writes through this gateway are seen at
    /// once regardless.
    #[arg(long, default_value = "0", value_parser = parse_freshness, value_name = "SECONDS")]
    cache_fresh: Duration,
    /// Bytes of manifests and objects the cache holds at most; 0 turns it off.
    #[arg(long, default_value = "64MiB", value_parser = parse_size, value_name = "SIZE")]
    cache_size: u64,
    /// Entries the cache holds at most; 0 turns it off.
    #[arg(long, default_value_t = CachePolicy::DEFAULT_MAX_ENTRIES, value_name = "N")]
    cache_entries: usize,
    /// Objects up to this size are answered from memory; larger ones stream from the
    /// providers (only their manifest is cached).
    #[arg(long, default_value = "256KiB", value_parser = parse_size, value_name = "SIZE")]
    cache_object_max: u64,
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
                let zone = super::zone_store::open_zone(
                    source,
                    self.pubkey.as_deref(),
                    self.allow_local_targets,
                )
                .await?;
                let text = String::from_utf8_lossy(&zone.bytes).into_owned();
                (zone.into_store()?, Some(text))
            }
            // Only a gateway that writes (tokens or Gaia) loads the signing key.
            None if self.writable || self.gaia => {
                let store = globals.open_store(None)?;
                let text = super::zonefile::zone_text(&store, None, 3600).await?;
                (store, Some(text))
            }
            None => {
                let store = globals.open_read_only_store(self.pubkey.as_deref())?;
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
            memory_budget_bytes: self.memory_budget.unwrap_or_else(default_budget_bytes),
            memory_wait: self.memory_wait,
            cache: CachePolicy {
                fresh: self.cache_fresh,
                max_bytes: self.cache_size,
                max_entries: self.cache_entries,
                max_object_bytes: self.cache_object_max,
            },
        };
        let hub = match self.gaia {
            true => {
                let full = globals.load_config()?;
                let required_writes = full.required_writes();
                let mut config = full.gaia;
                if let Some(prefix) = &self.read_url_prefix {
                    crate::config::check_read_url_prefix(prefix)
                        .map_err(|e| anyhow::anyhow!("--read-url-prefix: {e}"))?;
                    config.read_url_prefix = Some(prefix.clone());
                }
                Some(crate::gaia::Hub::new(config, required_writes))
            }
            false => None,
        };
        let listener = tokio::net::TcpListener::bind(self.listen)
            .await
            .with_context(|| format!("listening on {}", self.listen))?;
        let address = listener.local_addr().context("reading the bound address")?;
        let mode = match (&self.zonefile, self.writable, self.gaia) {
            (Some(_), _, _) => "read-only, through a zone file",
            (None, true, true) => "Gaia hub, and writable with tokens",
            (None, false, true) => "Gaia hub",
            (None, true, false) => "writable with tokens",
            (None, false, false) => "read-only",
        };
        // Scripts and tests read the address from this line, so it goes to stdout.
        println!("mirra serve: listening on http://{address} ({mode})");
        std::io::stdout().flush().ok();
        tracing::info!(%address, mode, "serving");
        let mut gateway = Gateway::new(store, zonefile, options);
        if let Some(hub) = hub {
            gateway = gateway.with_gaia(hub);
        }
        gateway.serve(listener, shutdown_signal()).await;
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

/// A freshness bound: bare seconds (`0`, `1`, `2.5`) or a duration with a unit.
fn parse_freshness(text: &str) -> Result<Duration, String> {
    match text.trim().parse::<f64>() {
        Ok(secs) if secs.is_finite() && (0.0..=86_400.0).contains(&secs) => {
            Ok(Duration::from_secs_f64(secs))
        }
        Ok(_) => Err(format!(
            "invalid freshness \"{text}\": give 0 to 86400 seconds"
        )),
        Err(_) => parse_duration(text),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freshness_takes_seconds_or_a_duration() {
        assert_eq!(parse_freshness("0"), Ok(Duration::ZERO));
        assert_eq!(parse_freshness("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_freshness("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_freshness("250ms"), Ok(Duration::from_millis(250)));
        for bad in ["-1", "NaN", "inf", "1e9", "soon", ""] {
            assert!(parse_freshness(bad).is_err(), "{bad}");
        }
    }
}
