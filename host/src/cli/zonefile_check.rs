//! `mirra zonefile check FILE|-`: parse a zone file and say what a reader would do with
//! it (its key, its URI records in the order they are tried, the driver each scheme
//! maps to) without fetching anything.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use serde::Serialize;
use tokio::io::AsyncReadExt;

use super::output::print_json;
use crate::loader::{scheme_of, Loader, SchemeDrivers, SearchPath};
use crate::printable::escape_controls;
use crate::providers::record_names;
use crate::zonefile::{UriRecord, ZoneEntry, ZoneFile, DEFAULT_SIZE_LIMIT};

/// Parse a zone file (a path or `-` for stdin) and list its key and URI records in the
/// order readers try them, with the driver each scheme maps to. No network.
#[derive(Debug, Args)]
pub struct ZonefileCheckCmd {
    /// The zone file: a path, or `-` for stdin.
    file: PathBuf,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct CheckReport {
    zonefile: String,
    origin: Option<String>,
    /// The `pubkey:data:<hex>` text, if the zone file has one.
    pubkey: Option<String>,
    /// URI records, by priority; equal priorities are drawn by weight for each read.
    records: Vec<RecordCheck>,
    /// Records of other types (kept, not used by readers).
    other_records: usize,
    /// Every URL scheme a driver on the search path claims, and that driver's name.
    drivers_by_scheme: BTreeMap<String, String>,
}

#[derive(Debug, Serialize)]
struct RecordCheck {
    name: String,
    priority: u16,
    weight: u16,
    /// The chance, in percent, that this record is tried first among its priority.
    first_share_percent: f64,
    target: String,
    scheme: Option<String>,
    /// The driver that claims the scheme, if one on the search path does.
    driver: Option<String>,
    /// Why a reader will skip it.
    problem: Option<String>,
}

impl ZonefileCheckCmd {
    /// Reads and parses the zone file and prints what a reader would use.
    pub async fn run(self) -> anyhow::Result<u8> {
        let shown = self.file.display().to_string();
        let bytes = read_local(&self.file).await?;
        let zone = ZoneFile::parse(&bytes).with_context(|| format!("zone file {shown}"))?;
        let drivers = Loader::default().drivers_by_scheme(&SearchPath::standard(&[]));
        let report = check(&zone, &drivers, shown);
        if self.json {
            print_json(&report)?;
        } else {
            print_text(&report);
        }
        Ok(super::EXIT_OK)
    }
}

/// The zone file at `path`, or stdin for `-`, up to the size limit (which the parser
/// then enforces).
async fn read_local(path: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    let limit = DEFAULT_SIZE_LIMIT as u64 + 1;
    let mut bytes = Vec::new();
    if path.as_os_str() == "-" {
        tokio::io::stdin()
            .take(limit)
            .read_to_end(&mut bytes)
            .await
            .context("reading the zone file from stdin")?;
    } else {
        tokio::fs::File::open(path)
            .await
            .with_context(|| format!("opening zone file {}", path.display()))?
            .take(limit)
            .read_to_end(&mut bytes)
            .await
            .with_context(|| format!("reading zone file {}", path.display()))?;
    }
    Ok(bytes)
}

fn check(zone: &ZoneFile, drivers: &SchemeDrivers, zonefile: String) -> CheckReport {
    let records: Vec<(&str, &UriRecord)> = zone.uri_records().collect();
    let names = record_names(zone, &records);
    let mut checks: Vec<RecordCheck> = records
        .iter()
        .zip(names)
        .map(|((_, record), name)| {
            let weight_sum: u64 = records
                .iter()
                .filter(|(_, r)| r.priority == record.priority)
                .map(|(_, r)| u64::from(r.weight))
                .sum();
            let first_share_percent = if weight_sum == 0 {
                0.0
            } else {
                (u64::from(record.weight) as f64 * 100.0 / weight_sum as f64 * 10.0).round() / 10.0
            };
            let (driver, problem) = if record.target.is_empty() {
                (None, Some("empty target".to_owned()))
            } else {
                match drivers.driver_name_for(&record.target) {
                    Ok(name) => (Some(name.to_owned()), None),
                    Err(e) => (None, Some(e.to_string())),
                }
            };
            RecordCheck {
                name,
                priority: record.priority,
                weight: record.weight,
                first_share_percent,
                target: record.target.clone(),
                scheme: scheme_of(&record.target),
                driver,
                problem,
            }
        })
        .collect();
    // The order readers use, with the weighted draw shown as its likeliest outcome:
    // heavier first, weight 0 last, file order among equals.
    checks.sort_by_key(|c| (c.priority, std::cmp::Reverse(c.weight)));
    CheckReport {
        zonefile,
        origin: zone.entries.iter().find_map(|e| match e {
            ZoneEntry::Origin(o) => Some(o.clone()),
            _ => None,
        }),
        pubkey: zone.public_key_text(),
        records: checks,
        other_records: zone.records().count() - records.len(),
        drivers_by_scheme: drivers.schemes().into_iter().collect(),
    }
}

fn print_text(report: &CheckReport) {
    println!("zone file {}: parses", escape_controls(&report.zonefile));
    if let Some(origin) = &report.origin {
        println!("origin: {}", escape_controls(origin));
    }
    match &report.pubkey {
        Some(key) => println!("key: {}", escape_controls(key)),
        None => println!("key: none (readers must pass --pubkey)"),
    }
    println!("URI records, in the order readers try them (equal priorities are drawn by weight):");
    for (position, record) in report.records.iter().enumerate() {
        let maps_to = match (&record.driver, &record.problem) {
            (Some(driver), _) => format!("driver {driver}"),
            (None, Some(problem)) => format!("skipped: {problem}"),
            (None, None) => "skipped".to_owned(),
        };
        println!(
            "  {}. {} priority {} weight {} ({}% first) {:?} -> {}",
            position + 1,
            escape_controls(&record.name),
            record.priority,
            record.weight,
            record.first_share_percent,
            record.target,
            escape_controls(&maps_to)
        );
    }
    if report.records.is_empty() {
        println!("  none: readers can find no copy");
    }
    if report.other_records > 0 {
        println!("other records (kept, unused): {}", report.other_records);
    }
    let schemes: Vec<String> = report
        .drivers_by_scheme
        .iter()
        .map(|(scheme, driver)| format!("{scheme} -> {driver}"))
        .collect();
    println!(
        "drivers by scheme on the search path: {}",
        schemes.join(", ")
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_listed_in_reading_order_with_shares_and_problems() {
        let zone = ZoneFile::parse(
            b"$ORIGIN alice.id.\n\
              pubkey TXT \"pubkey:data:02aa\"\n\
              _https._tcp URI 20 1 \"https://b.example/\"\n\
              _https._tcp URI 10 1 \"https://a.example/\"\n\
              _http._tcp URI 10 3 \"gopher://c.example/\"\n\
              _file URI 10 0 \"\"\n\
              www A 192.0.2.1\n",
        )
        .unwrap();
        let report = check(&zone, &SchemeDrivers::default(), "z".into());
        let order: Vec<_> = report
            .records
            .iter()
            .map(|r| (r.name.as_str(), r.first_share_percent))
            .collect();
        assert_eq!(
            order,
            [
                ("_http._tcp", 75.0),
                ("_https._tcp#2", 25.0),
                ("_file", 0.0),
                ("_https._tcp", 100.0)
            ]
        );
        assert_eq!(
            report.records[0].problem.as_deref(),
            Some("no driver claims the scheme \"gopher\"")
        );
        assert_eq!(report.records[2].problem.as_deref(), Some("empty target"));
        assert_eq!(report.pubkey.as_deref(), Some("pubkey:data:02aa"));
        assert_eq!(report.origin.as_deref(), Some("alice.id."));
        assert_eq!(report.other_records, 2, "the TXT and the A record");
    }
}
