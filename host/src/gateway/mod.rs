//! The HTTP gateway behind `mirra serve`: plain HTTP/1.1 reads (GET/HEAD with a single
//! Range, ETag, If-None-Match) through the verified store, so browsers and curl read an
//! owner's data from whichever provider is up; optional writes (PUT/DELETE) authorized
//! by ES256K tokens signed with the owner's key; `/_health`, `/_metrics` and the owner's
//! zone file at `/.well-known/mirra/zonefile`.
//!
//! No byte leaves unverified: the response body is fed chunk by chunk from
//! [`Store::get_range`], and if a later chunk cannot be verified from any provider the
//! connection is cut, so the client sees a truncated response, never a wrong one.

pub(crate) mod body;
mod budget;
mod cache;
mod metrics;
mod preconditions;
mod range;
mod read;
pub(crate) mod responses;
mod routes;
mod server;
pub mod token;

use std::future::Future;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::store::Store;

pub use budget::default_budget_bytes;
pub use cache::{CachePolicy, CacheStats};
pub use metrics::Metrics;

/// Limits and timeouts of the server.
#[derive(Debug, Clone)]
pub struct GatewayOptions {
    /// Accept PUT and DELETE (each still needs a valid token).
    pub writable: bool,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: u64,
    /// Longest wait for a request's headers, counted from the moment the server starts
    /// waiting for them; it also closes keep-alive connections left idle that long.
    pub header_timeout: Duration,
    /// A connection on which nothing was read or written for this long is closed, even
    /// mid-request (a stalled upload or a client that stopped reading).
    pub idle_timeout: Duration,
    /// Connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// On shutdown, how long in-flight requests may take to finish.
    pub shutdown_grace: Duration,
    /// Bytes of chunks all reads together may hold in memory at once.
    pub memory_budget_bytes: u64,
    /// How long a read waits for room in the memory budget before it is answered 503.
    pub memory_wait: Duration,
    /// The cache of verified manifests and small objects, and its freshness bound.
    pub cache: CachePolicy,
}

impl Default for GatewayOptions {
    fn default() -> Self {
        Self {
            writable: false,
            max_body_bytes: 1 << 30,
            header_timeout: Duration::from_secs(30),
            // Longer than the default provider timeout, so a read that is still failing
            // over between providers is not cut as idle.
            idle_timeout: Duration::from_secs(60),
            max_connections: 1024,
            shutdown_grace: Duration::from_secs(30),
            memory_budget_bytes: default_budget_bytes(),
            memory_wait: Duration::from_secs(2),
            cache: CachePolicy::default(),
        }
    }
}

/// A gateway over one store.
pub struct Gateway {
    store: Store,
    zonefile: Option<String>,
    options: GatewayOptions,
    metrics: Metrics,
    budget: budget::MemoryBudget,
    cache: Option<cache::ObjectCache>,
    gaia: Option<std::sync::Arc<crate::gaia::Hub>>,
    tokens: token::VerifiedTokens,
}

impl Gateway {
    /// Serves `store`; `zonefile` is the text served at `/.well-known/mirra/zonefile`.
    pub fn new(store: Store, zonefile: Option<String>, options: GatewayOptions) -> Self {
        let budget = budget::MemoryBudget::new(options.memory_budget_bytes, options.memory_wait);
        let cache = cache::ObjectCache::new(options.cache);
        Self {
            store,
            zonefile,
            options,
            metrics: Metrics::default(),
            budget,
            cache,
            gaia: None,
            tokens: token::VerifiedTokens::default(),
        }
    }

    /// Also speaks the Gaia hub protocol (`/hub_info`, `/store/...`, ...) with `hub`'s
    /// settings, with CORS on every route so browser apps can read and write.
    pub fn with_gaia(mut self, hub: crate::gaia::Hub) -> Self {
        self.gaia = Some(std::sync::Arc::new(hub));
        self
    }

    /// The store this gateway serves.
    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    /// The Gaia hub, when serving one.
    pub(crate) fn gaia(&self) -> Option<&crate::gaia::Hub> {
        self.gaia.as_deref()
    }

    /// Drops what the cache holds for `key`: for every write or delete of it through
    /// this process, whatever its outcome.
    pub(crate) fn forget_cached(&self, key: &mirra_driver_api::Key) {
        if let Some(cache) = &self.cache {
            cache.forget(key);
        }
    }

    /// Something other than a gateway read verified `head` for `key` (a Gaia listing,
    /// a precondition check): the cache must not serve anything older.
    pub(crate) fn observed(&self, key: &mirra_driver_api::Key, head: &crate::store::ObjectHead) {
        if let Some(cache) = &self.cache {
            cache.observe(key, &head.manifest);
        }
    }

    /// The counters `/_metrics` shows.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Accepts connections on `listener` until `shutdown` completes, then stops
    /// accepting, lets in-flight requests finish (up to the shutdown grace) and returns.
    pub async fn serve(self, listener: TcpListener, shutdown: impl Future<Output = ()> + Send) {
        server::run(std::sync::Arc::new(self), listener, shutdown).await;
    }
}
