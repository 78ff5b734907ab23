//! The mirra driver for web servers: reads any http(s) base URL with ranged GETs and
//! HEAD, and, with `webdav = true`, writes, deletes and lists through WebDAV
//! (PUT, MKCOL, DELETE, PROPFIND).
//!
//! A provider is a base URL; key `a/b c.txt` lives at `BASE/a/b%20c.txt`, each segment
//! percent-encoded, so any browser or `curl` fetches the same bytes without mirra.
//! The driver is blocking (reqwest's blocking client, TLS through rustls) and keeps
//! credentials out of `Debug` output and error messages.
//!
//! The crate exports one entry point, [`HttpFactory`], through
//! [`mirra_driver_api::export_driver!`]; see `README.md` for the config fields.
#![deny(missing_docs)]

mod address_guard;
mod config;
mod driver;
mod errors;
mod webdav;
mod writer;

use mirra_driver_api::{
    AddressPolicy, Capabilities, DriverFactory, DriverInfo, DriverResult, StorageDriver,
};

use crate::driver::HttpDriver;

/// Describes and opens http providers; the type the library exports.
pub struct HttpFactory;

impl DriverFactory for HttpFactory {
    fn info() -> DriverInfo {
        DriverInfo {
            name: "http".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            url_schemes: vec!["http".into(), "https".into()],
            // Writes, deletes and listings need `webdav = true`; without it they answer
            // Unsupported. WebDAV PUT is not atomic on every server, so no ATOMIC_WRITE.
            capabilities: Capabilities::READ
                | Capabilities::RANGE_READ
                | Capabilities::WRITE
                | Capabilities::STREAMING_WRITE
                | Capabilities::LIST
                | Capabilities::DELETE
                | Capabilities::PUBLIC_URL,
        }
    }

    fn open(config_toml: &str) -> DriverResult<Box<dyn StorageDriver>> {
        let settings = config::Settings::from_toml(config_toml)?;
        Ok(Box::new(HttpDriver::open(settings)?))
    }

    /// Opens `url` (http or https) as an anonymous, read-only base URL.
    fn open_url(url: &str) -> DriverResult<Box<dyn StorageDriver>> {
        let settings = config::Settings::read_only_url(url)?;
        Ok(Box::new(HttpDriver::open(settings)?))
    }

    /// As `open_url`, with every connection (after DNS, and on each redirect) held to
    /// `policy`, and no proxy.
    fn open_url_within(url: &str, policy: &AddressPolicy) -> DriverResult<Box<dyn StorageDriver>> {
        let mut settings = config::Settings::read_only_url(url)?;
        settings.policy = Some(policy.clone());
        Ok(Box::new(HttpDriver::open(settings)?))
    }
}

mirra_driver_api::export_driver!(HttpFactory);
