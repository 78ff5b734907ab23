//! `mirra lookup ZONEFILE KEY [-o FILE|-] [--pubkey HEX] [--json]`: read through an
//! owner's zone file with no config, verified against the zone file's key.

use crate::printable::escape_controls;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use mirra_driver_api::{AddressPolicy, DriverLibrary, StorageDriver};
use secp256k1::rand::Rng;
use serde::Serialize;

use super::context::Globals;
use super::zone_source::read_zonefile;
use super::zone_targets::{open_target, NotOpened, REFUSAL_MARK};
use crate::config::{default_state_dir, Policy, WriteQuorum, DEFAULT_CHUNK_SIZE};
use crate::identity::parse_public_key;
use crate::loader::{Loader, SearchPath};
use crate::providers::policy_settings;
use crate::replica::Replica;
use crate::state::{RepairJournal, VersionsSeen};
use crate::store::{Failures, GetOptions, GetReport, Store, StoreError, StoreParts};
use crate::user_key::parse_user_key;
use crate::zonefile::{order_uri_records, relative_name, UriRecord, ZoneEntry, ZoneFile};

/// File names of driver libraries found by scanning the search path.
const DRIVER_PREFIX: &str = "libmirra_driver_";

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

/// What happened to one URI record.
#[derive(Debug, Clone, Serialize)]
struct SourceReport {
    /// The owner name, relative to the zone's origin.
    name: String,
    target: String,
    priority: u16,
    weight: u16,
    /// The driver that claimed the scheme.
    driver: Option<String>,
    /// `skipped` (empty target, no driver for the scheme, or refused by the address
    /// policy of the zone file's origin), `failed` (could not be opened or read), `used` (the read started there) or `not needed`.
    status: &'static str,
    reason: Option<String>,
}

#[derive(Debug, Serialize)]
struct LookupReport {
    zonefile: String,
    /// Where the zone file came from: `local file`, `stdin` or `ADDRESS (CLASS)`.
    origin: String,
    key: String,
    signer: String,
    sources: Vec<SourceReport>,
    result: Option<GetReport>,
    error: Option<String>,
}

impl LookupCmd {
    /// Reads the zone file, opens its providers and writes only verified bytes.
    pub async fn run(self, _globals: &Globals) -> anyhow::Result<u8> {
        let key = parse_user_key(&self.key)?;
        let source = read_zonefile(&self.zonefile).await?;
        let policy = source.origin.policy(self.allow_local_targets);
        let zone = ZoneFile::parse(&source.bytes)
            .with_context(|| format!("zone file {}", self.zonefile))?;
        let key_text = match &self.pubkey {
            Some(hex) => hex.clone(),
            None => zone.public_key_text().with_context(|| {
                format!(
                    "zone file {} has no `pubkey TXT \"pubkey:data:<hex>\"` record; pass --pubkey",
                    self.zonefile
                )
            })?,
        };
        let signer = parse_public_key(&key_text)?;
        let (replicas, mut sources) = open_sources(&zone, &policy);
        let mut report = LookupReport {
            zonefile: self.zonefile.clone(),
            origin: source.origin.describe(),
            key: key.to_string(),
            signer: hex::encode(signer.serialize()),
            sources: Vec::new(),
            result: None,
            error: None,
        };
        if replicas.is_empty() {
            let why: Vec<String> = sources
                .iter()
                .map(|s| format!("{}: {}", s.name, s.reason.as_deref().unwrap_or("skipped")))
                .collect();
            let err = anyhow::anyhow!(
                "no URI record in {} can be read ({})",
                self.zonefile,
                if why.is_empty() {
                    "it has none".to_owned()
                } else {
                    why.join("; ")
                }
            );
            report.sources = sources;
            report.error = Some(err.to_string());
            self.print_report(&report)?;
            return Err(err);
        }
        let store = read_only_store(replicas, signer)?;
        let options = GetOptions::default();
        let outcome = match self.output.as_deref() {
            Some(path) if path.as_os_str() != "-" => {
                super::get::get_to_file(
                    &store,
                    &key,
                    options,
                    path,
                    &indicatif::ProgressBar::hidden(),
                )
                .await
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
                mark_outcomes(&mut sources, &result.skipped, true);
                if !result.skipped.0.is_empty() && !self.json {
                    tracing::warn!(
                        "verified copy read; skipped {}",
                        escape_controls(&result.skipped.to_string())
                    );
                }
                report.sources = sources;
                report.result = Some(result);
                self.print_report(&report)?;
                Ok(super::EXIT_OK)
            }
            Err(err) => {
                let failures = match err.downcast_ref::<StoreError>() {
                    Some(StoreError::NoValidCopy { failures, .. }) => failures.clone(),
                    _ => Failures::default(),
                };
                mark_outcomes(&mut sources, &failures, false);
                report.sources = sources;
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

/// A read-only store over `replicas` (opened from a zone file), verifying against
/// `signer`, with the default policy and this host's record of versions seen.
pub(super) fn read_only_store(
    replicas: Vec<Replica>,
    signer: secp256k1::PublicKey,
) -> anyhow::Result<Store> {
    let state_dir = default_state_dir();
    Ok(Store::new(StoreParts {
        replicas,
        signer,
        identity: None,
        versions: VersionsSeen::open(&state_dir)
            .context("opening the local record of versions seen")?,
        journal: RepairJournal::open(&state_dir).context("opening the repair journal")?,
        quorum: WriteQuorum::default(),
        chunk_size: DEFAULT_CHUNK_SIZE,
        hedge_after: Policy::default().hedge_after,
    }))
}

/// The zone file at `source` (a path or an http(s) URL) and a read-only store over its
/// URI records, verifying against `pubkey` or else the zone file's key, as `mirra
/// lookup` reads, under the same address policy (lifted by `allow_local_targets`); for
/// `mirra serve --zonefile`. Records that cannot be opened are skipped with a warning;
/// none usable is an error.
pub(super) async fn open_zone_store(
    source: &str,
    pubkey: Option<&str>,
    allow_local_targets: bool,
) -> anyhow::Result<(Store, Vec<u8>)> {
    let fetched = read_zonefile(source).await?;
    let policy = fetched.origin.policy(allow_local_targets);
    let bytes = fetched.bytes;
    let zone = ZoneFile::parse(&bytes).with_context(|| format!("zone file {source}"))?;
    let key_text = match pubkey {
        Some(hex) => hex.to_owned(),
        None => zone.public_key_text().with_context(|| {
            format!("zone file {source} has no `pubkey TXT \"pubkey:data:<hex>\"` record; pass --pubkey")
        })?,
    };
    let signer = parse_public_key(&key_text)?;
    let (replicas, _) = open_sources(&zone, &policy);
    anyhow::ensure!(
        !replicas.is_empty(),
        "no URI record in {source} can be read"
    );
    Ok((read_only_store(replicas, signer)?, bytes))
}

/// Records each opened source's outcome: the failures by name; on success the first
/// source that did not fail is the one read from (the store tries them in order).
fn mark_outcomes(sources: &mut [SourceReport], failures: &Failures, succeeded: bool) {
    let mut used = false;
    for source in sources.iter_mut().filter(|s| s.status == "not needed") {
        if let Some(failure) = failures.0.iter().find(|f| f.provider == source.name) {
            // Refused at connect time (after DNS or a redirect): never reached.
            source.status = if failure.reason.contains(REFUSAL_MARK) {
                "skipped"
            } else {
                "failed"
            };
            source.reason = Some(failure.reason.clone());
        } else if succeeded && !used {
            source.status = "used";
            used = true;
        }
    }
}

/// The zone's URI records in RFC 7553 order, each opened with the driver that claims
/// its scheme, as replicas with priorities 0, 1, 2... so the store keeps that order.
/// Records that cannot be opened, or that `policy` refuses, are reported, with a
/// warning naming them.
fn open_sources(zone: &ZoneFile, policy: &AddressPolicy) -> (Vec<Replica>, Vec<SourceReport>) {
    let origin = zone.entries.iter().find_map(|e| match e {
        ZoneEntry::Origin(o) => Some(o.as_str()),
        _ => None,
    });
    let records: Vec<(&str, &UriRecord)> = zone.uri_records().collect();
    let refs: Vec<&UriRecord> = records.iter().map(|(_, r)| *r).collect();
    let mut rng = secp256k1::rand::rng();
    let order = order_uri_records(&refs, |n| rng.random_range(0..n));
    let loader = Loader::default();
    let drivers = drivers_by_scheme(&loader);
    let mut replicas = Vec::new();
    let mut sources = Vec::new();
    // No config: every source gets the default policy's deadlines, retries and breaker.
    let defaults = Policy::default();
    // Several records may share an owner name; reports need one name per source, given
    // in file order so `_file#2` is the second `_file` record in the file.
    let mut seen_names: HashMap<String, usize> = HashMap::new();
    let names: Vec<String> = records
        .iter()
        .map(|(owner, _)| {
            let short = relative_name(owner, origin).to_owned();
            let count = seen_names.entry(short.clone()).or_default();
            *count += 1;
            if *count == 1 {
                short
            } else {
                format!("{short}#{count}")
            }
        })
        .collect();
    for index in order {
        let (_, record) = records[index];
        let name = names[index].clone();
        let mut source = SourceReport {
            name: name.clone(),
            target: record.target.clone(),
            priority: record.priority,
            weight: record.weight,
            driver: None,
            status: "not needed",
            reason: None,
        };
        let skip = |source: &mut SourceReport, status: &'static str, reason: String| {
            tracing::warn!(
                "skipping URI record {} ({:?}): {}",
                escape_controls(&source.name),
                source.target,
                escape_controls(&reason)
            );
            source.status = status;
            source.reason = Some(reason);
        };
        if record.target.is_empty() {
            skip(&mut source, "skipped", "empty target".into());
            sources.push(source);
            continue;
        }
        let scheme = scheme_of(&record.target);
        let Some(library) = scheme.as_deref().and_then(|s| drivers.get(s)) else {
            let reason = match scheme {
                Some(s) => format!("no driver claims the scheme {s:?}"),
                None => "the target is not a URL".to_owned(),
            };
            skip(&mut source, "skipped", reason);
            sources.push(source);
            continue;
        };
        source.driver = Some(library.info().name.clone());
        match open_target(library, &record.target, policy) {
            Ok(driver) => {
                let priority = u16::try_from(replicas.len()).unwrap_or(u16::MAX);
                let settings = policy_settings(&defaults, &name, priority);
                let driver: Arc<dyn StorageDriver> = Arc::new(driver);
                replicas.push(Replica::new(settings, library.info().clone(), driver));
            }
            Err(NotOpened::Refused(why)) => skip(&mut source, "skipped", why),
            Err(NotOpened::Failed(why)) => skip(&mut source, "failed", why),
        }
        sources.push(source);
    }
    (replicas, sources)
}

/// The lower-cased scheme of a URL (`https` of `https://...`), if it has one.
fn scheme_of(target: &str) -> Option<String> {
    let (scheme, _) = target.split_once(':')?;
    let valid = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    valid.then(|| scheme.to_ascii_lowercase())
}

/// Every driver library on the standard search path, by the URL schemes it claims; the
/// first directory that has a driver for a scheme wins, as for bare driver names.
fn drivers_by_scheme(loader: &Loader) -> HashMap<String, DriverLibrary> {
    let mut by_scheme = HashMap::new();
    for dir in SearchPath::standard(&[]).dirs() {
        let Ok(listing) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut files: Vec<PathBuf> = listing
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| is_driver_file(path))
            .collect();
        files.sort();
        for path in files {
            match loader.load(&path) {
                Ok(library) => {
                    for scheme in &library.info().url_schemes {
                        by_scheme
                            .entry(scheme.to_ascii_lowercase())
                            .or_insert_with(|| library.clone());
                    }
                }
                // Not every file with the name is a usable driver (an old build, another
                // ABI); the others still serve.
                Err(e) => tracing::debug!("not using {}: {e}", path.display()),
            }
        }
    }
    by_scheme
}

fn is_driver_file(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with(DRIVER_PREFIX) && n.ends_with(".so"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_are_read_from_targets() {
        assert_eq!(scheme_of("https://example.com/a"), Some("https".into()));
        assert_eq!(scheme_of("DHT+UDP://abc"), Some("dht+udp".into()));
        assert_eq!(scheme_of("file:///x"), Some("file".into()));
        assert_eq!(scheme_of("no scheme here"), None);
        assert_eq!(scheme_of("1x://y"), None);
    }

    #[test]
    fn outcomes_mark_failures_and_the_source_used() {
        let source = |name: &str, status| SourceReport {
            name: name.into(),
            target: format!("file:///{name}"),
            priority: 10,
            weight: 1,
            driver: Some("disk".into()),
            status,
            reason: None,
        };
        let mut sources = vec![
            source("a", "skipped"),
            source("b", "not needed"),
            source("c", "not needed"),
            source("d", "not needed"),
        ];
        let mut failures = Failures::default();
        failures.add("b", "manifest missing");
        mark_outcomes(&mut sources, &failures, true);
        let statuses: Vec<_> = sources.iter().map(|s| s.status).collect();
        assert_eq!(statuses, ["skipped", "failed", "used", "not needed"]);
        assert_eq!(sources[1].reason.as_deref(), Some("manifest missing"));
    }
}
