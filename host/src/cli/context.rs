//! What every subcommand shares: global flags, logging, and opening the store.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use secp256k1::PublicKey;

use crate::config::{default_config_path, default_state_dir, Config};
use crate::identity::{parse_public_key, Identity};
use crate::loader::Loader;
use crate::providers::open_replicas;
use crate::state::{RepairJournal, VersionsSeen};
use crate::store::{Store, StoreParts};

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
            .with_writer(|| crate::printable::EscapingWriter(std::io::stderr()))
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
        self.store_from(config, signer, identity)
    }

    /// A store that cannot sign: with `pubkey` the key file is never opened; without it
    /// only the public key is taken from it and the secret is dropped before anything
    /// is served, so a read-only server never holds the owner's secret.
    pub fn open_read_only_store(&self, pubkey: Option<&str>) -> anyhow::Result<Store> {
        let config = self.load_config()?;
        let signer = match pubkey {
            Some(text) => parse_public_key(text)?,
            None => Identity::load(&config.identity.key_file)
                .context("reading the owner's public key (pass --pubkey to not read the key file)")?
                .public_key(),
        };
        self.store_from(config, signer, None)
    }

    fn store_from(
        &self,
        config: Config,
        signer: PublicKey,
        identity: Option<Arc<Identity>>,
    ) -> anyhow::Result<Store> {
        let replicas = open_replicas(&config, &Loader::default())?;
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
            hedge_after: config.policy.hedge_after,
        }))
    }
}
