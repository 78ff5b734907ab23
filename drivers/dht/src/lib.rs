//! mirra's DHT driver: small objects on the BitTorrent mainline DHT.
//!
//! Zone files, profiles and mirra's own manifests are small; the DHT keeps them
//! reachable with no account and no server of the owner's. Each object is a BEP 44
//! mutable item signed with the provider's ed25519 seed, its salt derived from the key
//! (see [`salt_for`]). mirra's own secp256k1 signature inside each manifest is still
//! what readers verify; the BEP 44 signature only lets DHT nodes accept the item.
//!
//! Limits that follow from BEP 44: a value holds at most [`MAX_VALUE_LEN`] bytes
//! (bigger ones are refused with `InvalidInput`), there is no listing (`list` is
//! `Unsupported`), a delete publishes an empty tombstone, and items expire from the
//! DHT after about two hours unless republished, which `mirra repair` does.
//!
//! Configuration (`[provider.config]`):
//! ```toml
//! seed = "<64 hex digits>"        # ed25519 seed; keep it secret
//! bootstrap = ["10.0.0.5:6881"]   # required (or MIRRA_DHT_BOOTSTRAP); ["mainline"] = public DHT
//! port = 6881                     # optional
//! bind_address = "0.0.0.0"        # optional
//! request_timeout_ms = 2000       # optional
//! ```
//! `open_url("dht+udp://<hex public key>")` opens the same items read-only, joining the
//! DHT through `MIRRA_DHT_BOOTSTRAP`.
#![deny(missing_docs)]

mod config;
mod driver;
mod salt;
mod url;
mod writer;

pub use config::{resolve_bootstrap, Bootstrap, DhtConfig, BOOTSTRAP_ENV, PUBLIC_BOOTSTRAP};
pub use driver::{DhtDriver, MAX_VALUE_LEN, URL_SCHEME};
pub use salt::{salt_for, MAX_SALT_LEN};
pub use url::public_key_from_url;

use driver::NodeOptions;
use mirra_driver_api::{Capabilities, DriverFactory, DriverInfo, DriverResult, StorageDriver};

/// The DHT driver's entry points, exported as the library's root module.
pub struct DhtFactory;

impl DriverFactory for DhtFactory {
    fn info() -> DriverInfo {
        DriverInfo {
            name: "dht".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            url_schemes: vec![URL_SCHEME.into()],
            // Not STREAMING_WRITE: a write is held in memory (at most 1000 bytes).
            // Not LIST: BEP 44 items can only be fetched by name.
            capabilities: Capabilities::READ
                | Capabilities::RANGE_READ
                | Capabilities::WRITE
                | Capabilities::DELETE
                | Capabilities::PUBLIC_URL
                | Capabilities::ATOMIC_WRITE,
        }
    }

    /// Starts a DHT node that signs with the config's `seed`.
    fn open(config_toml: &str) -> DriverResult<Box<dyn StorageDriver>> {
        let config = DhtConfig::parse(config_toml)?;
        let seed = config.seed_bytes()?;
        let node = NodeOptions {
            bootstrap: config.bootstrap_nodes()?,
            port: config.port,
            bind_address: config.bind_address,
            request_timeout: config
                .request_timeout_ms
                .map(std::time::Duration::from_millis),
        };
        Ok(Box::new(DhtDriver::open(seed, node)?))
    }

    /// Reads the items of the public key a `dht+udp://` URL names, joining the DHT
    /// through `MIRRA_DHT_BOOTSTRAP` (required: a URL carries no bootstrap nodes).
    fn open_url(url: &str) -> DriverResult<Box<dyn StorageDriver>> {
        let public_key = public_key_from_url(url)?;
        let node = NodeOptions {
            bootstrap: resolve_bootstrap(None)?,
            port: None,
            bind_address: None,
            request_timeout: None,
        };
        Ok(Box::new(DhtDriver::open_read_only(public_key, node)?))
    }
}

mirra_driver_api::export_driver!(DhtFactory);
