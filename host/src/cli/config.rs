//! `mirra config show` and `mirra config check`: the effective config with secrets
//! hidden, and whether the config file is valid, without touching any provider.

use clap::Subcommand;

use super::context::Globals;
use crate::config::{effective_toml, Config};

/// Config commands.
#[derive(Debug, Subcommand)]
pub enum ConfigCmd {
    /// Print the effective config as TOML: every default filled in, secrets (keys,
    /// passwords, tokens, passwords in URLs) replaced by `<redacted>`.
    Show,
    /// Check the config file and exit 0, or print `FILE:LINE:COLUMN: FIELD: problem`
    /// and exit 2. Loads no driver and reaches no provider (`mirra doctor` does).
    Check,
}

impl ConfigCmd {
    /// Loads the config and prints it or says it is valid.
    pub fn run(self, globals: &Globals) -> anyhow::Result<u8> {
        let path = globals.config_path();
        // Config::load, not Globals::load_config: a missing file is a ConfigError too,
        // so it exits 2 like any other config problem.
        let config = Config::load(&path)?;
        match self {
            ConfigCmd::Show => print!("{}", effective_toml(&config)),
            ConfigCmd::Check => println!(
                "{}: ok ({} provider{})",
                path.display(),
                config.providers.len(),
                if config.providers.len() == 1 { "" } else { "s" }
            ),
        }
        Ok(super::EXIT_OK)
    }
}
