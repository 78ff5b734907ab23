//! `mirra verify [PREFIX] [--fast]`.

use crate::printable::escape_controls;
use std::collections::BTreeMap;

use clap::Args;

use super::context::Globals;
use super::output::print_json;
use crate::store::Verdict;

/// Check every copy of every key: ok, missing, stale, corrupt, bad signature, deleted.
#[derive(Debug, Args)]
pub struct VerifyCmd {
    /// Only keys starting with this.
    #[arg(default_value = "")]
    prefix: String,
    /// Compare manifests and sizes only; do not read and hash the bytes.
    #[arg(long)]
    fast: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

impl VerifyCmd {
    /// Prints each deficient copy and a per-provider summary; exits 1 if any copy is
    /// deficient.
    pub async fn run(self, globals: &Globals) -> anyhow::Result<u8> {
        let store = globals.open_store(None)?;
        let rows = store.verify(&self.prefix, self.fast).await?;
        let deficient = rows.iter().filter(|r| r.state.is_deficient()).count();
        if self.json {
            print_json(&rows)?;
        } else {
            for row in rows.iter().filter(|r| r.state.is_deficient()) {
                println!(
                    "{}  {}  {}",
                    row.key,
                    row.provider,
                    escape_controls(&describe(&row.state))
                );
            }
            let mut summary: BTreeMap<&str, BTreeMap<&'static str, usize>> = BTreeMap::new();
            for row in &rows {
                *summary
                    .entry(&row.provider)
                    .or_default()
                    .entry(row.state.label())
                    .or_default() += 1;
            }
            println!(
                "{:<16} {:>6} {:>8} {:>8} {:>6} {:>8} {:>8} {:>12}",
                "provider",
                "ok",
                "deleted",
                "missing",
                "stale",
                "corrupt",
                "bad sig",
                "unreachable"
            );
            for (provider, counts) in &summary {
                let n = |label: &str| counts.get(label).copied().unwrap_or(0);
                println!(
                    "{provider:<16} {:>6} {:>8} {:>8} {:>6} {:>8} {:>8} {:>12}",
                    n("ok"),
                    n("deleted"),
                    n("missing"),
                    n("stale"),
                    n("corrupt"),
                    n("bad_signature"),
                    n("unreachable")
                );
            }
            let keys: std::collections::BTreeSet<&str> =
                rows.iter().map(|r| r.key.as_str()).collect();
            println!(
                "{} keys, {} copies checked, {deficient} deficient",
                keys.len(),
                rows.len()
            );
        }
        Ok(if deficient == 0 {
            super::EXIT_OK
        } else {
            super::EXIT_FAILED
        })
    }
}

/// `corrupt: chunk 3 does not match its hash`.
pub fn describe(state: &Verdict) -> String {
    state.to_string()
}
