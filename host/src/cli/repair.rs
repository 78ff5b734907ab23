//! `mirra repair [PREFIX]`.

use crate::printable::escape_controls;
use clap::Args;

use super::context::Globals;
use super::output::print_json;
use super::verify::describe;

/// Copy verified data onto every provider that is missing, stale or corrupt.
#[derive(Debug, Args)]
pub struct RepairCmd {
    /// Only keys starting with this.
    #[arg(default_value = "")]
    prefix: String,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

impl RepairCmd {
    /// Repairs, prints what was copied and what could not be; exits 1 if anything could
    /// not be repaired.
    pub async fn run(self, globals: &Globals) -> anyhow::Result<u8> {
        let store = globals.open_store(None)?;
        let report = store.repair(&self.prefix).await?;
        if self.json {
            print_json(&report)?;
        } else if !globals.quiet() {
            for action in &report.actions {
                match &action.error {
                    None => println!(
                        "repaired {}  {}  (was {})",
                        action.key,
                        action.provider,
                        escape_controls(&describe(&action.was))
                    ),
                    Some(why) => println!(
                        "FAILED   {}  {}  (was {}): {}",
                        action.key,
                        action.provider,
                        escape_controls(&describe(&action.was)),
                        escape_controls(why)
                    ),
                }
            }
            let fixed = report.actions.iter().filter(|a| a.error.is_none()).count();
            println!(
                "{} keys checked, {fixed} copies repaired, {} could not be",
                report.keys_checked,
                report.actions.len() - fixed
            );
        }
        Ok(if report.complete() {
            super::EXIT_OK
        } else {
            super::EXIT_FAILED
        })
    }
}
