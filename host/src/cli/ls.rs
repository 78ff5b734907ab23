//! `mirra ls [PREFIX]`.

use clap::Args;

use super::context::Globals;
use super::output::{human_size, print_json};

/// List keys across providers.
#[derive(Debug, Args)]
pub struct LsCmd {
    /// Only keys starting with this.
    #[arg(default_value = "")]
    prefix: String,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

impl LsCmd {
    /// Prints each key with its newest version and how many providers hold it.
    pub async fn run(self, globals: &Globals) -> anyhow::Result<u8> {
        let store = globals.open_store(None)?;
        let keys = store.list(&self.prefix).await?;
        if self.json {
            print_json(&keys)?;
            return Ok(super::EXIT_OK);
        }
        for entry in &keys {
            println!(
                "{:>10}  v{:<4} {}/{}  {}",
                human_size(entry.size),
                entry.version,
                entry.replicas,
                entry.providers,
                entry.key
            );
        }
        Ok(super::EXIT_OK)
    }
}
