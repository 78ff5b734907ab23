//! `mirra serve --s3`: an S3-compatible endpoint in front of the store, so aws-cli,
//! boto3, rclone and every other S3 client write to and read from all of the owner's
//! providers, verified. The protocol (SigV4, XML, error bodies, path- and
//! virtual-host-style addressing) is the `s3s` crate's; this module only translates S3
//! operations into store calls. docs/s3.md describes the mapping and what differs from
//! AWS.

mod access;
mod body;
mod buckets;
mod errors;
mod etag;
mod listing;
mod multipart;
mod naming;
mod objects;
mod service;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use s3s::host::{S3Host, SingleDomain, VirtualHost};
use s3s::service::S3ServiceBuilder;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::config::S3Config;
use crate::store::Store;

/// The region reported when the config names none.
pub const DEFAULT_REGION: &str = "us-east-1";

/// Why the S3 endpoint cannot start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum S3GatewayError {
    /// `[s3] domain` is not a usable domain name.
    #[error("[s3] domain {domain:?} is not usable for virtual-host-style requests: {reason}")]
    BadDomain {
        /// The configured domain.
        domain: String,
        /// Why s3s refused it.
        reason: String,
    },
}

/// An S3 endpoint over one store.
pub struct S3Gateway {
    service: s3s::service::S3Service,
}

impl S3Gateway {
    /// Builds the endpoint: credentials, public buckets, region and virtual-host domain
    /// from `config`.
    ///
    /// # Errors
    /// When `config.domain` is not a valid domain.
    pub fn new(store: Store, config: &S3Config) -> Result<Self, S3GatewayError> {
        let rules = access::Rules::new(config);
        let s3 = service::MirraS3 {
            store: Arc::new(store),
            rules: rules.clone(),
            region: config
                .region
                .clone()
                .unwrap_or_else(|| DEFAULT_REGION.to_owned()),
        };
        let mut builder = S3ServiceBuilder::new(s3);
        builder.set_auth(rules.clone());
        builder.set_access(rules);
        if let Some(domain) = &config.domain {
            let host = SingleDomain::new(domain).map_err(|e| S3GatewayError::BadDomain {
                domain: domain.clone(),
                reason: e.to_string(),
            })?;
            builder.set_host(PortlessHost(host));
        }
        Ok(Self {
            service: builder.build(),
        })
    }

    /// Accepts connections on `listener` until `shutdown` completes, then lets requests
    /// in flight finish for up to `grace`.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send,
        grace: Duration,
    ) {
        let mut connections = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            let (stream, _) = tokio::select! {
                () = &mut shutdown => break,
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        tracing::warn!("accepting a connection: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            while connections.try_join_next().is_some() {}
            let service = self.service.clone();
            connections.spawn(async move {
                if let Err(e) = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await
                {
                    tracing::debug!("S3 connection: {e}");
                }
            });
        }
        drop(listener);
        let drained = tokio::time::timeout(grace, async {
            while connections.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!("{} S3 connection(s) cut at shutdown", connections.len());
            connections.abort_all();
        }
    }
}

/// Virtual-host parsing that ignores the port in the `Host` header, so `[s3] domain` is
/// the bare domain whatever port the gateway listens on (s3s compares the whole header).
struct PortlessHost(SingleDomain);

impl S3Host for PortlessHost {
    fn parse_host_header<'a>(&'a self, host: &'a str) -> s3s::S3Result<VirtualHost<'a>> {
        let bare = host
            .rsplit_once(':')
            .filter(|(_, port)| port.parse::<u16>().is_ok())
            .map_or(host, |(name, _)| name);
        self.0.parse_host_header(bare)
    }
}
