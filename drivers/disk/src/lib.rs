//! mirra's disk driver: a provider that is a local directory.
//!
//! Each object is a file under the provider's root at the path its key names, so any
//! file manager, `rsync` or plain web server can use the copies without mirra. Writes
//! are atomic (temporary file, fsync, rename, fsync of the directory), reads are
//! positioned so range reads cost nothing extra, and no key can reach a file outside
//! the root: every segment is re-checked and symlinks below the root are never followed.
//!
//! Configuration (`[provider.config]`):
//! ```toml
//! root = "~/.local/share/mirra/providers/laptop"   # created if missing
//! ```
//! `open_url("file:///srv/mirror")` opens an existing directory read-only.
#![deny(missing_docs)]

#[cfg(not(unix))]
compile_error!("the disk driver relies on Unix file APIs (positioned reads, O_NOFOLLOW)");

mod config;
mod dirs;
mod driver;
mod fileurl;
mod flush;
mod list;
mod paths;
mod writer;

pub use config::DiskConfig;
pub use driver::DiskDriver;

use mirra_driver_api::{Capabilities, DriverFactory, DriverInfo, DriverResult, StorageDriver};

/// The disk driver's entry points, exported as the library's root module.
pub struct DiskFactory;

impl DriverFactory for DiskFactory {
    fn info() -> DriverInfo {
        DriverInfo {
            name: "disk".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            url_schemes: vec!["file".into()],
            capabilities: Capabilities::READ
                | Capabilities::RANGE_READ
                | Capabilities::WRITE
                | Capabilities::STREAMING_WRITE
                | Capabilities::LIST
                | Capabilities::DELETE
                | Capabilities::PUBLIC_URL
                | Capabilities::ATOMIC_WRITE
                | Capabilities::FLUSH,
        }
    }

    /// Opens the `root` named in the config, creating it if missing.
    fn open(config_toml: &str) -> DriverResult<Box<dyn StorageDriver>> {
        let config = DiskConfig::parse(config_toml)?;
        Ok(Box::new(DiskDriver::open(&config.root_path()?)?))
    }

    /// Opens the existing directory a `file:///abs/dir` URL names, read-only.
    fn open_url(url: &str) -> DriverResult<Box<dyn StorageDriver>> {
        Ok(Box::new(DiskDriver::open_read_only(&fileurl::to_path(
            url,
        )?)?))
    }
}

mirra_driver_api::export_driver!(DiskFactory);
