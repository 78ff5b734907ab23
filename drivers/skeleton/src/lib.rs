//! The skeleton mirra driver: the template for writing a driver of your own.
//!
//! It compiles, loads into the host, opens, answers `Ok` to `health` and
//! [`Unsupported`](mirra_driver_api::ErrorKind::Unsupported) to every other operation. Copy
//! this crate, rename it, and fill in [`SkeletonDriver`]'s methods one by one, declaring
//! each capability in [`SkeletonFactory::info`] as it starts to work; `README.md` in this
//! folder walks through it, from renaming to dropping the `.so` into a driver directory.
//!
//! The pieces:
//! - [`SkeletonFactory`]: what the library says about itself and how a provider opens
//!   (this file);
//! - [`SkeletonConfig`]: the `[provider.config]` table (`config.rs`);
//! - [`SkeletonDriver`]: one opened provider, one method per operation (`driver.rs`).
#![deny(missing_docs)]

mod config;
mod driver;

pub use config::SkeletonConfig;
pub use driver::SkeletonDriver;

use mirra_driver_api::{
    Capabilities, DriverError, DriverFactory, DriverInfo, DriverResult, StorageDriver,
};

/// The library's entry points, named in `export_driver!` below.
pub struct SkeletonFactory;

impl DriverFactory for SkeletonFactory {
    /// Implement: your driver's short lowercase name (the `driver = "..."` operators
    /// write; keep it equal to the `<name>` in `libmirra_driver_<name>.so`), its
    /// version, the URL schemes `open_url` accepts, and the capabilities of the
    /// operations that work. Must not fail or block. The skeleton declares nothing.
    fn info() -> DriverInfo {
        DriverInfo {
            name: "skeleton".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            url_schemes: Vec::new(),
            capabilities: Capabilities::NONE,
        }
    }

    /// Implement: parse the `[provider.config]` table and build a driver. A bad config
    /// is `InvalidInput` naming the field. Avoid network calls here, or keep them
    /// short: the host opens every provider at start-up.
    fn open(config_toml: &str) -> DriverResult<Box<dyn StorageDriver>> {
        let config = SkeletonConfig::parse(config_toml)?;
        Ok(Box::new(SkeletonDriver::new(config)))
    }

    /// Implement if your store can be read anonymously from a URL found in a zone file
    /// (`https://bucket.example/alice/`): open read-only access rooted there, list the
    /// scheme in `info().url_schemes`, and refuse writes with `PermissionDenied`.
    fn open_url(url: &str) -> DriverResult<Box<dyn StorageDriver>> {
        let _ = url;
        Err(DriverError::unsupported("open_url"))
    }
}

// The one line that makes this crate a mirra driver library: it generates the root
// module the host looks up, with every entry point guarded against panics.
mirra_driver_api::export_driver!(SkeletonFactory);

#[cfg(test)]
mod tests {
    use super::*;
    use mirra_driver_api::{ErrorKind, Key};

    const CONFIG: &str = r#"endpoint = "https://api.example.com""#;

    #[test]
    fn info_names_the_driver_and_declares_nothing() {
        let info = SkeletonFactory::info();
        assert_eq!(info.name, "skeleton");
        assert_eq!(info.version, env!("CARGO_PKG_VERSION"));
        assert_eq!(info.capabilities, Capabilities::NONE);
    }

    #[test]
    fn opens_and_answers_unsupported() {
        let driver = SkeletonFactory::open(CONFIG).unwrap();
        let key = Key::parse("a/b.txt").unwrap();
        let results = [
            ("stat", driver.stat(&key).map(|_| ())),
            ("read", driver.read(&key, 0, &mut [0u8; 4]).map(|_| ())),
            ("put", driver.put(&key, b"x")),
            ("begin_write", driver.begin_write(&key).map(|_| ())),
            ("delete", driver.delete(&key)),
            ("list", driver.list("", None, 10).map(|_| ())),
            ("public_url", driver.public_url(&key).map(|_| ())),
        ];
        for (op, result) in results {
            let err = result.expect_err(op);
            assert_eq!(err.kind, ErrorKind::Unsupported, "{op}: {err}");
            assert!(err.message.contains(op), "{op}: {}", err.message);
        }
        // Health answers Ok until implemented, so `mirra doctor` does not call a fresh
        // driver unreachable.
        driver.health().unwrap();
        let err = SkeletonFactory::open_url("https://example.com/")
            .map(|_| ())
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Unsupported);
    }

    #[test]
    fn a_bad_config_is_invalid_input() {
        let err = SkeletonFactory::open("").map(|_| ()).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidInput);
        assert!(err.message.contains("endpoint"), "{}", err.message);
    }
}
