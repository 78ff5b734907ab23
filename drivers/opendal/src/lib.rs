//! mirra's OpenDAL driver: one driver for the storage services Apache OpenDAL speaks.
//!
//! People keep copies where they already have accounts (Dropbox, Google Drive,
//! OneDrive, an SFTP box, Azure, GCS); OpenDAL already has a client for each, so this
//! driver maps the mirra driver calls onto an OpenDAL `Operator` instead of mirra
//! growing a client per service. The provider config names the service and passes its
//! options through:
//!
//! ```toml
//! scheme = "webdav"                       # fs, webdav, sftp, dropbox, gdrive, onedrive,
//!                                         # azblob, gcs, ipfs
//! endpoint = "https://dav.example.com"
//! root = "/mirra/"
//! username = "alice"
//! password = "..."                        # hidden in Debug, scrubbed from errors
//! ```
//!
//! Writes stream through OpenDAL's writer (staged and renamed into place where the
//! service can rename), reads are ranged, listings are sorted and paged. The driver
//! owns a two-thread tokio runtime and blocks on it; no runtime crosses the ABI.
#![deny(missing_docs)]

mod config;
mod driver;
mod errors;
mod list;
mod writer;

pub use config::{OpendalConfig, ENABLED_SCHEMES};
pub use driver::OpendalDriver;

use mirra_driver_api::{Capabilities, DriverFactory, DriverInfo, DriverResult, StorageDriver};

/// The OpenDAL driver's entry points, exported as the library's root module.
pub struct OpendalFactory;

impl DriverFactory for OpendalFactory {
    fn info() -> DriverInfo {
        DriverInfo {
            name: "opendal".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            url_schemes: Vec::new(),
            // What the writable services all do; a read-only one (ipfs) answers
            // `Unsupported` to writes at run time. No ATOMIC_WRITE: a WebDAV MOVE onto an
            // existing object deletes it first (RFC 4918 §9.9.3), so readers can briefly
            // find nothing.
            capabilities: Capabilities::READ
                | Capabilities::RANGE_READ
                | Capabilities::WRITE
                | Capabilities::STREAMING_WRITE
                | Capabilities::LIST
                | Capabilities::DELETE,
        }
    }

    /// Opens the service named by `scheme` with the remaining fields as its options.
    fn open(config_toml: &str) -> DriverResult<Box<dyn StorageDriver>> {
        let config = OpendalConfig::parse(config_toml)?;
        Ok(Box::new(OpendalDriver::open(&config)?))
    }
}

mirra_driver_api::export_driver!(OpendalFactory);
