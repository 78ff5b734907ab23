//! What every subcommand shares: global flags, logging, and opening the store.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use mirra_driver_api::{DriverError, DriverResult, Key, ObjectMeta, StorageDriver};
use secp256k1::PublicKey;

use crate::config::{default_config_path, default_state_dir, Config};
use crate::identity::{parse_public_key, Identity};
use crate::loader::{Loader, LoaderError, SearchPath};
use crate::replica::{Replica, ReplicaSettings};
use crate::state::{RepairJournal, VersionsSeen};
use crate::store::{Store, StoreParts};

/// Driver calls one provider may have in flight at once.
const PER_PROVIDER_CONCURRENCY: usize = 16;

/// The flags every subcommand accepts.
#[derive(Debug, Clone)]
pub struct Globals {
    config: Option<PathBuf>,
    verbose: u8,
    quiet: bool,
}

impl Globals {
    /// From the parsed command line.
    pub fn new(config: Option<PathBuf>, verbose: u8, quiet: bool) -> Self {
        Self {
            config,
            verbose,
            quiet,
        }
    }

    /// Whether `-q` was given.
    pub fn quiet(&self) -> bool {
        self.quiet
    }

    /// Logs to stderr: `RUST_LOG` if set, else warnings (`-q`: errors, `-v`: more).
    pub fn init_logging(&self) {
        let default = match (self.quiet, self.verbose) {
            (true, _) => "error",
            (false, 0) => "warn",
            (false, 1) => "info",
            (false, 2) => "debug",
            _ => "trace",
        };
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_target(false)
            .try_init();
    }

    /// The config file to use.
    pub fn config_path(&self) -> PathBuf {
        self.config.clone().unwrap_or_else(default_config_path)
    }

    /// Loads and checks the config.
    pub fn load_config(&self) -> anyhow::Result<Config> {
        let path = self.config_path();
        if !path.exists() {
            anyhow::bail!(
                "no config at {}; run `mirra init` first, or pass --config",
                path.display()
            );
        }
        Ok(Config::load(&path)?)
    }

    /// Opens every provider and the local state. `pubkey` overrides whose signature reads
    /// must carry; without it the owner's key file must load.
    pub fn open_store(&self, pubkey: Option<&str>) -> anyhow::Result<Store> {
        let config = self.load_config()?;
        let identity = match Identity::load(&config.identity.key_file) {
            Ok(identity) => Some(Arc::new(identity)),
            Err(e) if pubkey.is_some() => {
                tracing::debug!("no signing key ({e}); read-only with --pubkey");
                None
            }
            Err(e) => return Err(e).context("loading the owner's key"),
        };
        let signer: PublicKey = match pubkey {
            Some(text) => parse_public_key(text)?,
            None => identity
                .as_ref()
                .map(|i| i.public_key())
                .expect("identity loaded when no --pubkey"),
        };
        let replicas = open_replicas(&config)?;
        let state_dir = default_state_dir();
        Ok(Store::new(StoreParts {
            replicas,
            signer,
            identity,
            versions: VersionsSeen::open(&state_dir)
                .context("opening the local record of versions seen")?,
            journal: RepairJournal::open(&state_dir).context("opening the repair journal")?,
            quorum: config.policy.write_quorum,
            chunk_size: config.policy.chunk_size,
        }))
    }
}

/// Loads each provider's driver and opens it. A library that cannot be loaded is a
/// config error; a provider whose `open` fails is kept as one that fails every call,
/// so one broken provider never stops reads from the others.
fn open_replicas(config: &Config) -> anyhow::Result<Vec<Replica>> {
    let loader = Loader::default();
    let search = SearchPath::standard(&config.driver_dirs);
    let mut replicas = Vec::new();
    for provider in &config.providers {
        let settings = ReplicaSettings {
            name: provider.name.clone(),
            priority: provider.priority,
            weight: provider.weight,
            required: provider.required,
            timeout: config.policy.timeout,
            concurrency: PER_PROVIDER_CONCURRENCY,
        };
        let library = loader
            .load(&search.resolve(&provider.driver)?)
            .with_context(|| format!("provider {}", provider.name))?;
        let driver: Arc<dyn StorageDriver> = match library.open(
            mirra_driver_api::HostContext::default(),
            &provider.driver_config_toml(),
        ) {
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
        replicas.push(Replica::new(settings, library.info().clone(), driver));
    }
    Ok(replicas)
}

/// A provider whose driver refused to open: every call reports why.
struct Unopened(String);

impl StorageDriver for Unopened {
    fn stat(&self, _: &Key) -> DriverResult<ObjectMeta> {
        Err(DriverError::unavailable(self.0.clone()))
    }
    fn read(&self, _: &Key, _: u64, _: &mut [u8]) -> DriverResult<usize> {
        Err(DriverError::unavailable(self.0.clone()))
    }
    fn begin_write(&self, _: &Key) -> DriverResult<Box<dyn mirra_driver_api::ObjectWriter>> {
        Err(DriverError::unavailable(self.0.clone()))
    }
    fn put(&self, _: &Key, _: &[u8]) -> DriverResult<()> {
        Err(DriverError::unavailable(self.0.clone()))
    }
    fn delete(&self, _: &Key) -> DriverResult<()> {
        Err(DriverError::unavailable(self.0.clone()))
    }
    fn list(&self, _: &str, _: Option<&str>, _: u32) -> DriverResult<mirra_driver_api::ListPage> {
        Err(DriverError::unavailable(self.0.clone()))
    }
    fn health(&self) -> DriverResult<()> {
        Err(DriverError::unavailable(self.0.clone()))
    }
}
