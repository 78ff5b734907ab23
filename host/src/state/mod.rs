//! Local state under the state dir: the newest version seen per key, and the repair journal.
//!
//! Both live in one SQLite database, `<state_dir>/state.sqlite` (mode 0600 when mirra
//! creates it), shared by every mirra process that uses the state dir:
//!
//! - `versions_seen`: the newest manifest version seen per (signer, key). A record is an
//!   upsert that keeps the larger version, so it only goes up, whatever the interleaving.
//! - `repair_journal`: one row per (provider, key) that missed a write.
//!
//! **Durability.** The database runs in WAL mode with `synchronous = NORMAL`: it stays
//! consistent through any crash, and a crashed process loses nothing it committed, but a
//! power loss (or OS crash) may lose the last few records. That only weakens rollback
//! detection for those keys (as if this host had not read them yet), and a full
//! `mirra repair` still finds whatever a lost journal entry was about. In exchange a
//! record costs no fsync.
//!
//! **Concurrency.** Clones share one connection. Writes run in `BEGIN IMMEDIATE`
//! transactions, and every connection waits up to [`BUSY_TIMEOUT`] for another's lock,
//! so mirra processes sharing a state dir queue instead of failing.
//!
//! **A cache, not a record of truth.** The database only holds rollback marks and repair
//! hints, so a damaged one can be moved aside: mirra starts a new one, and the rollback
//! marks are learnt again on the next reads.
//!
//! Older mirra kept one small file per entry under `versions/` and `repair/`; the first
//! open of such a state dir imports them and removes them (see `legacy.rs`).

mod db;
mod legacy;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use secp256k1::PublicKey;

use self::db::StateDb;

/// How long a write waits for another connection's lock on the database before failing.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Why local state could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// A file system operation failed.
    #[error("state {}: {source}", .path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A state file does not hold what mirra writes there.
    #[error("state file {} is corrupt: {reason}", .path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong, and what to do about it.
        reason: String,
    },
    /// The state directory cannot take writes: it could not be created, or it is
    /// read-only or full.
    #[error("state {} cannot be written: {reason}", .path.display())]
    Unwritable {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The state database was written by a newer mirra, with a schema this one does not
    /// know.
    #[error(
        "state database {} has schema version {found}, newer than the {known} this mirra knows: \
         run the newer mirra, or move the file aside to start a new one (it only holds \
         rollback marks and repair hints)",
        .path.display()
    )]
    NewerSchema {
        /// The database file.
        path: PathBuf,
        /// Its schema version.
        found: i64,
        /// The newest schema version this mirra knows.
        known: i64,
    },
    /// The state database failed in some other way.
    #[error("state database {}: {source}", .path.display())]
    Database {
        /// The database file.
        path: PathBuf,
        /// The underlying error.
        source: rusqlite::Error,
    },
}

/// The newest manifest version seen per (signer, key): what makes rollbacks detectable.
///
/// A state directory that cannot be written (read-only, full, not ours) degrades the
/// record instead of failing reads: what is already recorded is still enforced when it
/// can be read, new versions are not recorded, and a warning says rollback protection
/// is not being kept.
#[derive(Debug, Clone)]
pub struct VersionsSeen {
    db: StateDb,
    warned: Arc<AtomicBool>,
}

impl VersionsSeen {
    /// The record in `<state_dir>/state.sqlite`, created if missing (when it cannot be
    /// created, reads still work, unrecorded: see the type's documentation).
    ///
    /// # Errors
    /// The database is corrupt, has a newer schema, or fails otherwise (but not for
    /// want of a writable state dir).
    pub fn open(state_dir: &Path) -> Result<VersionsSeen, StateError> {
        let record = VersionsSeen {
            db: StateDb::open(state_dir)?,
            warned: Arc::new(AtomicBool::new(false)),
        };
        if let Some(error) = record.db.unwritable() {
            record.degrade(&error);
        }
        Ok(record)
    }

    /// Warns, once per record, that versions seen are not being recorded.
    fn degrade(&self, error: &StateError) {
        if !self.warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "rollback protection is not being recorded ({error}); reads still verify every byte, but a provider rolled back to an older signed version would not be noticed"
            );
        }
    }

    /// The newest version recorded for `key` signed by `signer`, if any; none (with the
    /// warning) when the record cannot be read at all.
    pub fn get(&self, signer: &PublicKey, key: &str) -> Result<Option<u64>, StateError> {
        match self.db.newest_version(signer, key) {
            Err(error @ StateError::Unwritable { .. }) => {
                self.degrade(&error);
                Ok(None)
            }
            other => other,
        }
    }

    /// Records that `version` of `key` by `signer` was seen; a lower version than the
    /// one recorded changes nothing. When the state directory cannot be written, warns
    /// (once) and carries on: a read must not fail for want of local disk.
    pub fn record(&self, signer: &PublicKey, key: &str, version: u64) -> Result<(), StateError> {
        // Most reads see the version already recorded: no write transaction for those.
        if self
            .get(signer, key)?
            .is_some_and(|newest| newest >= version)
        {
            return Ok(());
        }
        self.record_all(signer, &[(key, version)])
    }

    /// As [`record`](Self::record) for many keys at once (the versions a batch of puts
    /// wrote), in one transaction.
    pub fn record_all(
        &self,
        signer: &PublicKey,
        versions: &[(&str, u64)],
    ) -> Result<(), StateError> {
        if versions.is_empty() {
            return Ok(());
        }
        match self.db.record_versions(signer, versions) {
            Err(error @ StateError::Unwritable { .. }) => {
                self.degrade(&error);
                Ok(())
            }
            other => other,
        }
    }

    /// The state dir this record lives in.
    pub fn state_dir(&self) -> &Path {
        self.db.state_dir()
    }
}

/// Where one provider stands on one key after a write.
#[derive(Debug, Clone, Copy)]
pub struct JournalEntry<'a> {
    /// The provider's name.
    pub provider: &'a str,
    /// The key written.
    pub key: &'a str,
    /// `true`: the provider missed the write (journal it); `false`: it has the write
    /// (forget any entry).
    pub missed: bool,
}

/// (provider, key) pairs that missed a write and wait for `mirra repair`.
#[derive(Debug, Clone)]
pub struct RepairJournal {
    db: StateDb,
}

impl RepairJournal {
    /// The journal in `<state_dir>/state.sqlite`, created if missing. A state dir that
    /// cannot be written is not an error here: reads never touch the journal, and a
    /// write that needs it reports the failure then.
    ///
    /// # Errors
    /// The database is corrupt, has a newer schema, or fails otherwise.
    pub fn open(state_dir: &Path) -> Result<RepairJournal, StateError> {
        let db = StateDb::open(state_dir)?;
        if let Some(error) = db.unwritable() {
            tracing::debug!("repair journal: {error}");
        }
        Ok(RepairJournal { db })
    }

    /// Notes that `provider` missed the latest write of `key` (idempotent).
    pub fn add(&self, provider: &str, key: &str) -> Result<(), StateError> {
        self.update(&[JournalEntry {
            provider,
            key,
            missed: true,
        }])
    }

    /// Forgets the entry for (`provider`, `key`); absent entries are fine.
    pub fn remove(&self, provider: &str, key: &str) -> Result<(), StateError> {
        self.update(&[JournalEntry {
            provider,
            key,
            missed: false,
        }])
    }

    /// Adds and forgets many entries in one transaction: every provider's standing
    /// after a write, or after a batch of them.
    pub fn update(&self, entries: &[JournalEntry<'_>]) -> Result<(), StateError> {
        // Where nothing can be written, only a change that must be kept fails: an entry
        // to add, or one to forget that is there. Forgetting what is absent is no change.
        let no_change = |entries: &[JournalEntry<'_>]| -> Result<bool, StateError> {
            for entry in entries {
                if entry.missed || self.contains(entry.provider, entry.key)? {
                    return Ok(false);
                }
            }
            Ok(true)
        };
        if entries.is_empty() || (self.db.unwritable().is_some() && no_change(entries)?) {
            return Ok(());
        }
        self.db.journal_update(entries)
    }

    /// Whether (`provider`, `key`) is in the journal.
    pub fn contains(&self, provider: &str, key: &str) -> Result<bool, StateError> {
        self.db.journal_contains(provider, key)
    }

    /// Every entry as `(provider, key)`, sorted.
    pub fn list(&self) -> Result<Vec<(String, String)>, StateError> {
        self.db.journal_list()
    }
}

#[cfg(test)]
mod tests;
