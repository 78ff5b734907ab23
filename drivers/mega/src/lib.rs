//! The mirra driver for MEGA (mega.nz) accounts, on the `mega` crate.
//!
//! Objects are stored as plain files under a root folder of the account's Cloud Drive
//! (`mirra` unless configured), one folder per key segment, so MEGA's own apps show
//! them too. MEGA encrypts them client-side; mirra stores its signed bytes and
//! manifests as with any provider and verifies everything it reads.
//!
//! The crate is async and the ABI is blocking: each opened provider owns a small tokio
//! runtime and blocks on it per call. See `README.md` for the config and for what MEGA
//! cannot do (ranged downloads, atomic replace, public links) and what the driver does
//! instead.
//!
//! The pieces:
//! - [`MegaFactory`]: what the library says about itself and how a provider opens;
//! - [`MegaConfig`]: the `[provider.config]` table (`config.rs`);
//! - `driver.rs`: one opened provider; `upload.rs`: writes, folders and deletes;
//!   `writer.rs`: streamed writes spooled to disk; `spool.rs`: local copies;
//!   `keylock.rs`: one writer per key; `account.rs`: the session and the node tree; `lookup.rs`: finding keys in it;
//!   `listing.rs`: list pages;
//!   `paths.rs`: key to folder and name; `errors.rs`: error kinds;
//!   `quiet.rs`: keeps the crate's request logs (with secrets) out of the host's log.
#![deny(missing_docs)]

mod account;
mod config;
mod driver;
mod errors;
mod keylock;
mod listing;
mod lookup;
mod paths;
mod quiet;
mod runtime;
mod spool;
mod upload;
mod writer;

pub use config::{MegaConfig, DEFAULT_API_URL, DEFAULT_ROOT_FOLDER};
pub use paths::{Location, RootFolder};

use mirra_driver_api::{Capabilities, DriverFactory, DriverInfo, DriverResult, StorageDriver};

use crate::driver::MegaDriver;

/// Describes and opens MEGA providers; the type the library exports.
pub struct MegaFactory;

impl DriverFactory for MegaFactory {
    fn info() -> DriverInfo {
        DriverInfo {
            name: "mega".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            url_schemes: Vec::new(),
            capabilities: Capabilities::READ
                | Capabilities::WRITE
                // Spooled to disk, never held in memory.
                | Capabilities::STREAMING_WRITE
                | Capabilities::LIST
                | Capabilities::DELETE
                // Upload beside, then delete the old node: readers see old or new,
                // whole (upload.rs). Not RANGE_READ: MEGA downloads are whole files.
                | Capabilities::ATOMIC_WRITE,
        }
    }

    fn open(config_toml: &str) -> DriverResult<Box<dyn StorageDriver>> {
        let config = MegaConfig::parse(config_toml)?;
        quiet::silence_crate_tracing();
        Ok(Box::new(MegaDriver::open(config)?))
    }
}

mirra_driver_api::export_driver!(MegaFactory);

#[cfg(test)]
mod tests {
    use super::*;
    use mirra_driver_api::ErrorKind;

    #[test]
    fn info_declares_what_works() {
        let info = MegaFactory::info();
        assert_eq!(info.name, "mega");
        assert!(info.url_schemes.is_empty());
        let caps = info.capabilities;
        assert!(caps.contains(Capabilities::READ | Capabilities::WRITE | Capabilities::LIST));
        assert!(!caps.contains(Capabilities::RANGE_READ));
        assert!(!caps.contains(Capabilities::PUBLIC_URL));
    }

    #[test]
    fn a_bad_config_is_invalid_input_naming_the_field() {
        let err = MegaFactory::open("email = \"a@b.c\"")
            .map(drop)
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidInput);
        assert!(err.message.contains("password"), "{}", err.message);
    }
}
