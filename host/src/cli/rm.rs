//! `mirra rm KEY`.

use clap::Args;

use super::condition::{exit_status, ConditionFlags};
use super::context::Globals;
use super::output::{print_json, print_write_report};
use crate::user_key::parse_user_key;

/// Delete an object everywhere, leaving a signed tombstone.
#[derive(Debug, Args)]
pub struct RmCmd {
    /// The key to delete.
    key: String,
    #[command(flatten)]
    condition: ConditionFlags,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

impl RmCmd {
    /// Writes the tombstone and deletes the bytes on every provider.
    pub async fn run(self, globals: &Globals) -> anyhow::Result<u8> {
        let key = parse_user_key(&self.key)?;
        let condition = self.condition.condition()?;
        let store = globals.open_store(None)?;
        let report = store.remove_if(&key, &condition).await?;
        if self.json {
            print_json(&report)?;
        } else if !globals.quiet() {
            print_write_report("rm", &report);
        }
        Ok(exit_status(&report))
    }
}
