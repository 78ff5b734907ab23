//! `mirra lookup ZONEFILE KEY [-o FILE|-] [--pubkey HEX] [--json]`: read through an
//! owner's zone file with no config, verified against the zone file's key.

use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use super::context::Globals;
use super::zone_store::open_zone;
use crate::printable::escape_controls;
use crate::providers::{mark_outcomes, RecordReport};
use crate::store::{Failures, GetOptions, GetReport, StoreError};
use crate::user_key::parse_user_key;

/// Read an object through an owner's zone file, with no config: try each URI record
/// in RFC 7553 order and verify against the zone file's public key.
#[derive(Debug, Args)]
pub struct LookupCmd {
    /// The zone file: a path, `-` for stdin, or an http(s) URL.
    zonefile: String,
    /// The key to read.
    key: String,
    /// Where to write it: a file (written whole, then renamed into place) or `-` for
    /// stdout [default: stdout].
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Verify against this public key (hex) instead of the zone file's.
    #[arg(long, value_name = "HEX")]
    pubkey: Option<String>,
    /// Print a JSON report of each URI record tried and why it failed (on stdout with
    /// `-o FILE`, else on stderr, since stdout holds the object).
    #[arg(long)]
    json: bool,
    /// Let a zone file from stdin or a URL name `file://` targets and targets on
    /// addresses closer to this machine than the one it was fetched from (loopback,
    /// link-local, private). Without it such records are skipped.
    #[arg(long)]
    allow_local_targets: bool,
}

#[derive(Debug, Serialize)]
struct LookupReport {
    zonefile: String,
    /// Where the zone file came from: `local file`, `stdin` or `ADDRESS (CLASS)`.
    origin: String,
    key: String,
    signer: String,
    sources: Vec<RecordReport>,
    result: Option<GetReport>,
    error: Option<String>,
}

impl LookupCmd {
    /// Reads the zone file, opens its providers and writes only verified bytes.
    pub async fn run(self, _globals: &Globals) -> anyhow::Result<u8> {
        let key = parse_user_key(&self.key)?;
        let zone = open_zone(
            &self.zonefile,
            self.pubkey.as_deref(),
            self.allow_local_targets,
        )
        .await?;
        let mut report = LookupReport {
            zonefile: self.zonefile.clone(),
            origin: zone.origin.describe(),
            key: key.to_string(),
            signer: hex::encode(zone.signer.serialize()),
            sources: zone.records.clone(),
            result: None,
            error: None,
        };
        let store = match zone.into_store() {
            Ok(store) => store,
            Err(err) => {
                report.error = Some(format!("{err:#}"));
                self.print_report(&report)?;
                return Err(err);
            }
        };
        let options = GetOptions::default();
        let outcome = match self.output.as_deref() {
            Some(path) if path.as_os_str() != "-" => {
                let hidden = indicatif::ProgressBar::hidden();
                super::get::get_to_file(&store, &key, options, path, &hidden).await
            }
            _ => {
                let mut stdout = tokio::io::stdout();
                store
                    .get(&key, options, &mut stdout)
                    .await
                    .map_err(anyhow::Error::from)
            }
        };
        match outcome {
            Ok(result) => {
                mark_outcomes(&mut report.sources, &result.skipped, true);
                if !result.skipped.0.is_empty() && !self.json {
                    tracing::warn!(
                        "verified copy read; skipped {}",
                        escape_controls(&result.skipped.to_string())
                    );
                }
                report.result = Some(result);
                self.print_report(&report)?;
                Ok(super::EXIT_OK)
            }
            Err(err) => {
                let failures = match err.downcast_ref::<StoreError>() {
                    Some(StoreError::NoValidCopy { failures, .. }) => failures.clone(),
                    _ => Failures::default(),
                };
                mark_outcomes(&mut report.sources, &failures, false);
                report.error = Some(format!("{err:#}"));
                self.print_report(&report)?;
                Err(err)
            }
        }
    }

    fn print_report(&self, report: &LookupReport) -> anyhow::Result<()> {
        if !self.json {
            return Ok(());
        }
        let text = serde_json::to_string_pretty(report)?;
        match self.output.as_deref() {
            Some(path) if path.as_os_str() != "-" => println!("{text}"),
            _ => eprintln!("{text}"),
        }
        Ok(())
    }
}
