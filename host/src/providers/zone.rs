//! Opening the providers a zone file lists, as [`super::open_replicas`] opens a
//! config's: each URI record in RFC 7553 order, with the driver that claims its scheme,
//! under the address policy of where the zone file came from. Records that cannot be
//! used are reported with why, never silently dropped.

use std::collections::HashMap;
use std::sync::Arc;

use mirra_driver_api::{AddressPolicy, StorageDriver};
use serde::Serialize;

use super::policy_settings;
use super::zone_targets::{open_target, NotOpened, REFUSAL_MARK};
use crate::config::Policy;
use crate::loader::SchemeDrivers;
use crate::printable::escape_controls;
use crate::replica::Replica;
use crate::store::Failures;
use crate::zonefile::{order_uri_records, relative_name, UriRecord, ZoneEntry, ZoneFile};

/// What became of one URI record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum RecordStatus {
    /// Never tried: an empty target, no driver for the scheme, or refused by the
    /// address policy of the zone file's origin.
    #[serde(rename = "skipped")]
    Skipped,
    /// Could not be opened or read.
    #[serde(rename = "failed")]
    Failed,
    /// The read was served from here.
    #[serde(rename = "used")]
    Used,
    /// Opened, but the read finished before it was needed.
    #[serde(rename = "not needed")]
    NotNeeded,
}

/// One URI record, and what became of it.
#[derive(Debug, Clone, Serialize)]
pub struct RecordReport {
    /// The owner name relative to the zone's origin, `#2`... for repeated names; the
    /// name of its replica.
    pub name: String,
    /// The record's URI.
    pub target: String,
    /// The record's priority.
    pub priority: u16,
    /// The record's weight.
    pub weight: u16,
    /// The driver that claimed the scheme.
    pub driver: Option<String>,
    /// What became of it.
    pub status: RecordStatus,
    /// Why it was skipped or failed.
    pub reason: Option<String>,
}

/// The replicas a zone file's records opened, and a report per record in the order
/// they are tried.
#[derive(Debug)]
pub struct ZoneReplicas {
    /// With priorities 0, 1, 2... in the order drawn, so every read keeps it.
    pub replicas: Vec<Replica>,
    /// Every URI record, opened or not.
    pub records: Vec<RecordReport>,
}

/// Opens `zone`'s URI records in RFC 7553 order (drawn with `random`, which returns a
/// number in `0..n`), each with the driver of `drivers` that claims its scheme, as
/// `policy` allows. Every replica gets the default policy's deadlines, retries and
/// breaker: there is no config.
pub fn open_zone_replicas(
    zone: &ZoneFile,
    policy: &AddressPolicy,
    drivers: &SchemeDrivers,
    random: impl FnMut(u64) -> u64,
) -> ZoneReplicas {
    let records: Vec<(&str, &UriRecord)> = zone.uri_records().collect();
    let refs: Vec<&UriRecord> = records.iter().map(|(_, r)| *r).collect();
    let names = record_names(zone, &records);
    let defaults = Policy::default();
    let mut opened = ZoneReplicas {
        replicas: Vec::new(),
        records: Vec::new(),
    };
    for index in order_uri_records(&refs, random) {
        let record = records[index].1;
        let mut report = RecordReport {
            name: names[index].clone(),
            target: record.target.clone(),
            priority: record.priority,
            weight: record.weight,
            driver: None,
            status: RecordStatus::NotNeeded,
            reason: None,
        };
        match open_record(record, policy, drivers, &mut report) {
            Ok((info, driver)) => {
                // Ranks, not the records' priorities: the order drawn above stands.
                let rank = u16::try_from(opened.replicas.len()).unwrap_or(u16::MAX);
                let settings = policy_settings(&defaults, &report.name, rank);
                opened.replicas.push(Replica::new(settings, info, driver));
            }
            Err((status, reason)) => {
                tracing::warn!(
                    "skipping URI record {} ({:?}): {}",
                    escape_controls(&report.name),
                    report.target,
                    escape_controls(&reason)
                );
                report.status = status;
                report.reason = Some(reason);
            }
        }
        opened.records.push(report);
    }
    opened
}

type Opened = (mirra_driver_api::DriverInfo, Arc<dyn StorageDriver>);

fn open_record(
    record: &UriRecord,
    policy: &AddressPolicy,
    drivers: &SchemeDrivers,
    report: &mut RecordReport,
) -> Result<Opened, (RecordStatus, String)> {
    if record.target.is_empty() {
        return Err((RecordStatus::Skipped, "empty target".into()));
    }
    let library = drivers
        .for_target(&record.target)
        .map_err(|e| (RecordStatus::Skipped, e.to_string()))?;
    report.driver = Some(library.info().name.clone());
    match open_target(library, &record.target, policy) {
        Ok(driver) => Ok((library.info().clone(), Arc::new(driver))),
        Err(NotOpened::Refused(why)) => Err((RecordStatus::Skipped, why)),
        Err(NotOpened::Failed(why)) => Err((RecordStatus::Failed, why)),
    }
}

/// One name per record, in file order, relative to the zone's origin: several records
/// may share an owner name, so the second `_file` record is `_file#2`.
pub fn record_names(zone: &ZoneFile, records: &[(&str, &UriRecord)]) -> Vec<String> {
    let origin = zone.entries.iter().find_map(|e| match e {
        ZoneEntry::Origin(o) => Some(o.as_str()),
        _ => None,
    });
    let mut seen: HashMap<String, usize> = HashMap::new();
    records
        .iter()
        .map(|(owner, _)| {
            let short = relative_name(owner, origin).to_owned();
            let count = seen.entry(short.clone()).or_default();
            *count += 1;
            if *count == 1 {
                short
            } else {
                format!("{short}#{count}")
            }
        })
        .collect()
}

/// Records what a read did with each opened record: the failures by name; on success
/// the first record that did not fail is the one read from (replicas are tried in rank
/// order).
pub fn mark_outcomes(records: &mut [RecordReport], failures: &Failures, succeeded: bool) {
    let mut used = false;
    for record in records
        .iter_mut()
        .filter(|r| r.status == RecordStatus::NotNeeded)
    {
        if let Some(failure) = failures.0.iter().find(|f| f.provider == record.name) {
            // Refused at connect time (after DNS or a redirect): never reached.
            record.status = if failure.reason().contains(REFUSAL_MARK) {
                RecordStatus::Skipped
            } else {
                RecordStatus::Failed
            };
            record.reason = Some(failure.reason().to_owned());
        } else if succeeded && !used {
            record.status = RecordStatus::Used;
            used = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Verdict;

    fn zone(text: &str) -> ZoneFile {
        ZoneFile::parse(text.as_bytes()).unwrap()
    }

    #[test]
    fn outcomes_mark_failures_refusals_and_the_record_used() {
        let record = |name: &str, status| RecordReport {
            name: name.into(),
            target: format!("file:///{name}"),
            priority: 10,
            weight: 1,
            driver: Some("disk".into()),
            status,
            reason: None,
        };
        let mut records = vec![
            record("a", RecordStatus::Skipped),
            record("b", RecordStatus::NotNeeded),
            record("c", RecordStatus::NotNeeded),
            record("d", RecordStatus::NotNeeded),
            record("e", RecordStatus::NotNeeded),
        ];
        let mut failures = Failures::default();
        failures.add("b", Verdict::Missing);
        failures.add(
            "c",
            Verdict::Unreachable(format!("connect: {REFUSAL_MARK}: loopback")),
        );
        mark_outcomes(&mut records, &failures, true);
        let statuses: Vec<_> = records.iter().map(|r| r.status).collect();
        use RecordStatus::*;
        assert_eq!(statuses, [Skipped, Failed, Skipped, Used, NotNeeded]);
        assert_eq!(records[1].reason.as_deref(), Some("not found"));
        let json = serde_json::to_value(&records[4]).unwrap();
        assert_eq!(json["status"], "not needed");
    }

    #[test]
    fn records_without_a_target_or_a_driver_are_skipped_with_reasons() {
        let zone = zone(
            "$ORIGIN alice.id.\n\
             _http._tcp URI 10 1 \"\"\n\
             _http._tcp URI 20 1 \"gopher://example.com/\"\n\
             _file URI 30 1 \"not a url\"\n",
        );
        let opened = open_zone_replicas(
            &zone,
            &AddressPolicy::public_only(),
            &SchemeDrivers::default(),
            |_| 0,
        );
        assert!(opened.replicas.is_empty());
        let summary: Vec<_> = opened
            .records
            .iter()
            .map(|r| (r.name.as_str(), r.status, r.reason.clone().unwrap()))
            .collect();
        assert_eq!(
            summary,
            [
                ("_http._tcp", RecordStatus::Skipped, "empty target".into()),
                (
                    "_http._tcp#2",
                    RecordStatus::Skipped,
                    "no driver claims the scheme \"gopher\"".into()
                ),
                (
                    "_file",
                    RecordStatus::Skipped,
                    "the target is not a URL".into()
                ),
            ]
        );
    }
}
