//! `mirra stat KEY`.

use crate::printable::escape_controls;
use clap::Args;

use super::context::Globals;
use super::output::print_json;
use crate::store::Verdict;
use crate::user_key::parse_user_key;

/// Show what each provider holds for a key.
#[derive(Debug, Args)]
pub struct StatCmd {
    /// The key.
    key: String,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

impl StatCmd {
    /// One line per provider: version, size, state.
    pub async fn run(self, globals: &Globals) -> anyhow::Result<u8> {
        let key = parse_user_key(&self.key)?;
        let store = globals.open_store(None)?;
        let rows = store.stat(&key).await?;
        if self.json {
            print_json(&rows)?;
        } else {
            let width = rows.iter().map(|r| r.provider.len()).max().unwrap_or(0);
            for row in &rows {
                let version = row
                    .version
                    .map(|v| format!("v{v}"))
                    .unwrap_or_else(|| "-".into());
                let size = row
                    .size
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "-".into());
                let state = row.state.to_string();
                println!(
                    "{:width$}  {version:>5}  {size:>12}  {}",
                    row.provider,
                    escape_controls(&state)
                );
            }
        }
        let all_ok = rows.iter().all(|r| r.state == Verdict::Ok);
        Ok(if all_ok {
            super::EXIT_OK
        } else {
            super::EXIT_FAILED
        })
    }
}
