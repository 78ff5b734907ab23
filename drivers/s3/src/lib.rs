//! The mirra driver for any S3-compatible service: AWS S3, MinIO, R2, B2, Wasabi,
//! Storj, Sia's S3 gateway.
//!
//! The driver speaks S3 through the `object_store` crate (request signing, retries and
//! XML are its job, not ours) and stays blocking at the ABI: each opened provider owns
//! a small tokio runtime and blocks on it per call, so no runtime crosses the boundary.
//!
//! Objects are stored unchanged under `prefix + key`, so `aws s3 cp` or any HTTP client
//! can still fetch them without mirra. Streamed writes use multipart upload (a single
//! PUT when the object fits in one part) and abort the upload on `abort` or drop.
//!
//! The crate exports one entry point, [`S3Factory`], through
//! [`mirra_driver_api::export_driver!`]; see `README.md` for the config fields.
#![deny(missing_docs)]

mod address_guard;
mod config;
mod credentials;
mod driver;
mod errors;
mod location;
mod sequential;
mod writer;

use mirra_driver_api::{
    AddressPolicy, Capabilities, DriverFactory, DriverInfo, DriverResult, StorageDriver,
};

use crate::driver::S3Driver;

/// Describes and opens S3 providers; the type the library exports.
pub struct S3Factory;

impl DriverFactory for S3Factory {
    fn info() -> DriverInfo {
        DriverInfo {
            name: "s3".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            url_schemes: vec!["s3".into(), "https".into()],
            capabilities: Capabilities::READ
                | Capabilities::RANGE_READ
                | Capabilities::WRITE
                | Capabilities::STREAMING_WRITE
                | Capabilities::LIST
                | Capabilities::DELETE
                | Capabilities::PUBLIC_URL
                // A PUT or a completed multipart upload replaces the object at once.
                | Capabilities::ATOMIC_WRITE,
        }
    }

    fn open(config_toml: &str) -> DriverResult<Box<dyn StorageDriver>> {
        let settings = config::Settings::from_toml(config_toml)?;
        Ok(Box::new(S3Driver::open(settings)?))
    }

    /// Accepts `s3://BUCKET/PREFIX`, `https://BUCKET.s3[.REGION].amazonaws.com/PREFIX`
    /// and `https://s3[.REGION].amazonaws.com/BUCKET/PREFIX`; the provider is anonymous
    /// and read-only (writes answer `PermissionDenied`).
    fn open_url(url: &str) -> DriverResult<Box<dyn StorageDriver>> {
        let settings = location::settings_from_url(url)?;
        Ok(Box::new(S3Driver::open(settings)?))
    }

    /// As `open_url`, with every connection held to `policy` after DNS, no redirects
    /// and no proxy.
    fn open_url_within(url: &str, policy: &AddressPolicy) -> DriverResult<Box<dyn StorageDriver>> {
        let mut settings = location::settings_from_url(url)?;
        settings.policy = Some(policy.clone());
        Ok(Box::new(S3Driver::open(settings)?))
    }
}

mirra_driver_api::export_driver!(S3Factory);
