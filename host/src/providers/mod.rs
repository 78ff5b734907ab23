//! Opening providers: every configured one (load its driver, open it, wrap it in chaos
//! if asked) or every URI record of a zone file ([`open_zone_replicas`]), and handing
//! the store a [`Replica`] for each. Above this module nothing loads or opens a driver.

mod zone;
mod zone_targets;

use std::sync::Arc;

use mirra_driver_api::{
    DriverError, DriverResult, HostContext, Key, ListPage, ObjectMeta, ObjectWriter, StorageDriver,
};

use crate::chaos::ChaosDriver;
use crate::config::{Config, Policy, ProviderConfig};
use crate::health::BreakerPolicy;
use crate::loader::{Loader, LoaderError, SearchPath};
use crate::replica::{Replica, ReplicaSettings};

pub use zone::{
    mark_outcomes, open_zone_replicas, record_names, RecordReport, RecordStatus, ZoneReplicas,
};

/// Driver calls one provider may have in flight at once.
const PER_PROVIDER_CONCURRENCY: usize = 16;

/// Opens every provider in `config`.
///
/// A driver library that cannot be found or loaded is an error: the config is wrong. A
/// provider whose driver loads but refuses to open becomes a replica that fails every
/// call with the reason, so one broken provider never stops reads from the others.
///
/// # Errors
/// The first [`LoaderError`] for a library that cannot be loaded.
pub fn open_replicas(config: &Config, loader: &Loader) -> Result<Vec<Replica>, LoaderError> {
    let search = SearchPath::standard(&config.driver_dirs);
    config
        .providers
        .iter()
        .map(|provider| open_replica(config, provider, loader, &search))
        .collect()
}

fn open_replica(
    config: &Config,
    provider: &ProviderConfig,
    loader: &Loader,
    search: &SearchPath,
) -> Result<Replica, LoaderError> {
    let library = loader.load(&search.resolve(&provider.driver)?)?;
    let mut driver: Arc<dyn StorageDriver> =
        match library.open(HostContext::default(), &provider.driver_config_toml()) {
            Ok(driver) => Arc::new(driver),
            Err(source) => {
                let err = LoaderError::Open {
                    path: library.path().to_path_buf(),
                    driver: library.info().name.clone(),
                    source,
                };
                tracing::warn!("provider {}: {err}", provider.name);
                Arc::new(Unopened(err.to_string()))
            }
        };
    if let Some(chaos) = &provider.chaos {
        driver = Arc::new(ChaosDriver::new(driver, chaos.clone()));
    }
    Ok(Replica::new(
        settings(config, provider),
        library.info().clone(),
        driver,
    ))
}

/// The replica settings for `provider` under `config`'s policy.
pub fn settings(config: &Config, provider: &ProviderConfig) -> ReplicaSettings {
    let mut settings = policy_settings(&config.policy, &provider.name, provider.priority);
    settings.weight = provider.weight;
    settings.required = provider.required;
    settings
}

/// Settings for a provider named `name` at `priority` under `policy`: deadlines, retries
/// and breaker from the policy, weight 1, not required.
pub fn policy_settings(policy: &Policy, name: &str, priority: u16) -> ReplicaSettings {
    ReplicaSettings {
        name: name.to_owned(),
        priority,
        weight: 1,
        required: false,
        timeout: policy.timeout,
        stall_timeout: policy.stall_timeout.min(policy.timeout),
        retries: policy.retries,
        breaker: BreakerPolicy {
            failures: policy.breaker_failures,
            cooldown: policy.breaker_cooldown,
        },
        concurrency: PER_PROVIDER_CONCURRENCY,
    }
}

/// A provider whose driver refused to open: every call reports why.
struct Unopened(String);

impl Unopened {
    fn error(&self) -> DriverError {
        DriverError::unavailable(self.0.clone()).with_retryable(false)
    }
}

impl StorageDriver for Unopened {
    fn stat(&self, _: &Key) -> DriverResult<ObjectMeta> {
        Err(self.error())
    }
    fn read(&self, _: &Key, _: u64, _: &mut [u8]) -> DriverResult<usize> {
        Err(self.error())
    }
    fn put(&self, _: &Key, _: &[u8]) -> DriverResult<()> {
        Err(self.error())
    }
    fn begin_write(&self, _: &Key) -> DriverResult<Box<dyn ObjectWriter>> {
        Err(self.error())
    }
    fn delete(&self, _: &Key) -> DriverResult<()> {
        Err(self.error())
    }
    fn list(&self, _: &str, _: Option<&str>, _: u32) -> DriverResult<ListPage> {
        Err(self.error())
    }
    fn flush(&self) -> DriverResult<()> {
        Err(self.error())
    }
    fn health(&self) -> DriverResult<()> {
        Err(self.error())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::Path;

    use mirra_driver_api::{Capabilities, DriverInfo};

    use super::*;
    use crate::store::Store;

    /// Replicas for every provider of `config_text`, as `open_replicas` would set them,
    /// over drivers that need no library.
    fn replicas(config_text: &str) -> Vec<Replica> {
        let config = Config::parse(config_text, Path::new("test.toml")).unwrap();
        config
            .providers
            .iter()
            .map(|provider| {
                let info = DriverInfo {
                    name: "none".into(),
                    version: "0".into(),
                    url_schemes: Vec::new(),
                    capabilities: Capabilities::default(),
                };
                let driver = Arc::new(Unopened("not opened in this test".into()));
                Replica::new(settings(&config, provider), info, driver)
            })
            .collect()
    }

    fn signer() -> secp256k1::PublicKey {
        let secret = secp256k1::SecretKey::from_secret_bytes([7; 32]).unwrap();
        secp256k1::PublicKey::from_secret_key(&secret)
    }

    #[test]
    fn config_weights_share_reads_among_equal_priorities() {
        let config = r#"
[identity]
key_file = "/nonexistent/key"

[[provider]]
name = "light"
driver = "disk"
priority = 10
weight = 1

[[provider]]
name = "heavy"
driver = "disk"
priority = 10
weight = 99

[[provider]]
name = "fallback"
driver = "disk"
priority = 10
weight = 0

[[provider]]
name = "first"
driver = "disk"
priority = 5
weight = 1
"#;
        let state = tempfile::tempdir().unwrap();
        let store = Store::read_only(replicas(config), signer(), state.path()).unwrap();
        let name = |i: usize| store.replicas()[i].name().to_owned();
        let mut second = HashMap::<String, usize>::new();
        for _ in 0..2000 {
            let order = store.read_order();
            assert_eq!(
                name(order[0]),
                "first",
                "a lower priority always comes first"
            );
            assert_eq!(
                name(order[3]),
                "fallback",
                "weight 0 only when nothing else"
            );
            *second.entry(name(order[1])).or_default() += 1;
        }
        // Weight 99 against 1: about 1980 of 2000 (sd 4.5); ignoring weights would give
        // about 1000, or none to the one listed second.
        let heavy = second.get("heavy").copied().unwrap_or(0);
        assert!(heavy >= 1900, "{second:?}");
    }
}
