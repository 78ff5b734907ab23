//! What a tree transfer did, in total and per provider.

use std::collections::BTreeMap;

use super::walk::SkippedEntry;
use crate::store::{Failures, StoreError};

/// One file that could not be transferred.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FileFailure {
    /// The key (or, before a key exists, the path).
    pub key: String,
    /// Why.
    pub error: String,
}

/// One provider's share of a tree transfer.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ProviderTally {
    /// The provider's name.
    pub provider: String,
    /// Objects (or tombstones) it committed, or for downloads served verified.
    pub ok: usize,
    /// Objects it missed: journaled for `mirra repair` when the write still succeeded.
    pub failed: usize,
    /// The first reason it failed, as an example.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
}

/// The outcome of `put -r`, `sync` or `get -r`.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct TreeSummary {
    /// Files considered (local files for uploads, keys for downloads).
    pub files: usize,
    /// Files sent (or received).
    pub sent: usize,
    /// Bytes sent (or received).
    pub sent_bytes: u64,
    /// Files skipped because the newest manifest (or the local copy) already matched.
    pub unchanged: usize,
    /// Keys tombstoned (`sync --delete`).
    pub deleted: usize,
    /// Set when `--delete` deleted nothing because some local entries were unreadable.
    pub deletes_withheld: bool,
    /// Files that failed, including keys `get -r` refused to write outside its directory.
    pub failed: Vec<FileFailure>,
    /// Entries skipped on purpose: invalid names, special files, unfollowed links.
    pub skipped: Vec<SkippedEntry>,
    /// Entries that could not be read.
    pub unreadable: Vec<SkippedEntry>,
    /// Per provider, in the store's order.
    pub providers: Vec<ProviderTally>,
    /// Wall time, seconds.
    pub seconds: f64,
}

impl TreeSummary {
    /// Whether every file that was attempted succeeded and nothing was unreadable.
    pub fn complete(&self) -> bool {
        self.failed.is_empty() && self.unreadable.is_empty()
    }

    /// Files per second over the whole run.
    pub fn files_per_second(&self) -> f64 {
        if self.seconds > 0.0 {
            self.sent as f64 / self.seconds
        } else {
            0.0
        }
    }
}

/// Accumulates per-provider outcomes as files finish.
#[derive(Debug, Default)]
pub(crate) struct Tallies {
    order: Vec<String>,
    by_name: BTreeMap<String, ProviderTally>,
}

impl Tallies {
    pub(crate) fn new(providers: impl IntoIterator<Item = String>) -> Self {
        let order: Vec<String> = providers.into_iter().collect();
        let by_name = order
            .iter()
            .map(|p| {
                (
                    p.clone(),
                    ProviderTally {
                        provider: p.clone(),
                        ..ProviderTally::default()
                    },
                )
            })
            .collect();
        Self { order, by_name }
    }

    pub(crate) fn ok(&mut self, provider: &str) {
        if let Some(tally) = self.by_name.get_mut(provider) {
            tally.ok += 1;
        }
    }

    pub(crate) fn failed(&mut self, provider: &str, reason: &str) {
        if let Some(tally) = self.by_name.get_mut(provider) {
            tally.failed += 1;
            tally.first_error.get_or_insert_with(|| reason.to_owned());
        }
    }

    /// Counts a write that failed as a whole: providers it names failed, the others
    /// committed (quorum errors list only the failures).
    pub(crate) fn failed_write(&mut self, error: &StoreError) {
        let failures: Option<&Failures> = match error {
            StoreError::QuorumNotMet { failures, .. }
            | StoreError::RequiredFailed { failures, .. } => Some(failures),
            _ => None,
        };
        let Some(failures) = failures else { return };
        for name in self.order.clone() {
            match failures.0.iter().find(|f| f.provider == name) {
                Some(f) => self.failed(&name, f.reason()),
                None if matches!(error, StoreError::QuorumNotMet { .. }) => self.ok(&name),
                None => {}
            }
        }
    }

    pub(crate) fn into_vec(mut self) -> Vec<ProviderTally> {
        self.order
            .iter()
            .filter_map(|p| self.by_name.remove(p))
            .collect()
    }
}
