//! Local state under the state dir: the newest version seen per key, and the repair journal.
//!
//! Both must survive crashes and tolerate two mirra processes at once, without a lock
//! server or one big shared file that concurrent writers would clobber. So every entry
//! is its own small file, named by a SHA-256 of what it is about:
//!
//! - `versions/<sha256(signer ‖ key)>/<version>`: an empty file per version recorded.
//!   The newest version is the largest name. Creating a file is atomic, and a recorder
//!   only deletes names smaller than one it has seen, so the largest is never deleted:
//!   the record can only go up, whatever the interleaving, with no lock.
//! - `repair/<sha256(provider ‖ 0 ‖ key)>.json`: one entry per (provider, key) that missed
//!   a write, written to a temporary file, synced and renamed into place.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use secp256k1::PublicKey;
use serde::{Deserialize, Serialize};

use crate::manifest::sha256;

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
        /// What is wrong.
        reason: String,
    },
}

/// Whether `error` says the state directory cannot take writes (as opposed to holding
/// something wrong), the case in which recording degrades instead of failing.
fn unwritable(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::PermissionDenied
            | io::ErrorKind::ReadOnlyFilesystem
            | io::ErrorKind::StorageFull
            | io::ErrorKind::QuotaExceeded
            | io::ErrorKind::NotFound
            | io::ErrorKind::NotADirectory
    )
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> StateError + '_ {
    move |source| StateError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The newest manifest version seen per (signer, key): what makes rollbacks detectable.
///
/// A state directory that cannot be written (read-only, full, not ours) degrades the
/// record instead of failing reads: what is already recorded is still enforced, new
/// versions are not recorded, and a warning says rollback protection is not being kept.
#[derive(Debug, Clone)]
pub struct VersionsSeen {
    dir: PathBuf,
    warned: Arc<AtomicBool>,
}

impl VersionsSeen {
    /// The record under `<state_dir>/versions`, created if missing (when it cannot be
    /// created, reads still work, unrecorded: see the type's documentation).
    pub fn open(state_dir: &Path) -> Result<VersionsSeen, StateError> {
        let dir = state_dir.join("versions");
        let record = VersionsSeen {
            dir: dir.clone(),
            warned: Arc::new(AtomicBool::new(false)),
        };
        if let Err(e) = fs::create_dir_all(&dir) {
            record.degrade(&io_error(&dir)(e));
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
        let entry = self.entry_dir(signer, key);
        match recorded_versions(&entry) {
            Ok(versions) => Ok(versions.into_iter().max()),
            Err(StateError::Io { path, source }) if unwritable(&source) => {
                self.degrade(&StateError::Io { path, source });
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Records that `version` of `key` by `signer` was seen; a lower version than the
    /// one recorded changes nothing. When the state directory cannot be written, warns
    /// (once) and carries on: a read must not fail for want of local disk.
    pub fn record(&self, signer: &PublicKey, key: &str, version: u64) -> Result<(), StateError> {
        match self.try_record(signer, key, version) {
            Err(StateError::Io { path, source }) if unwritable(&source) => {
                self.degrade(&StateError::Io { path, source });
                Ok(())
            }
            other => other,
        }
    }

    fn try_record(&self, signer: &PublicKey, key: &str, version: u64) -> Result<(), StateError> {
        let entry = self.entry_dir(signer, key);
        if self
            .get(signer, key)?
            .is_some_and(|newest| newest >= version)
        {
            return Ok(());
        }
        fs::create_dir_all(&entry).map_err(io_error(&entry))?;
        let file = entry.join(version.to_string());
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&file)
            .map_err(io_error(&file))?;
        sync_dir(&entry)?;
        // Drop the older marks; only names below one that exists are removed, so the
        // largest always survives even when several processes prune at once.
        for older in recorded_versions(&entry)?
            .into_iter()
            .filter(|v| *v < version)
        {
            let path = entry.join(older.to_string());
            match fs::remove_file(&path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(io_error(&path)(e)),
                _ => {}
            }
        }
        Ok(())
    }

    /// The state dir this record lives in (the parent of its `versions/`).
    pub fn state_dir(&self) -> &Path {
        self.dir.parent().unwrap_or(&self.dir)
    }

    fn entry_dir(&self, signer: &PublicKey, key: &str) -> PathBuf {
        let mut id = signer.serialize().to_vec();
        id.extend_from_slice(key.as_bytes());
        self.dir.join(hex::encode(sha256(&id)))
    }
}

/// The versions named by files in `entry` (none if it does not exist yet).
fn recorded_versions(entry: &Path) -> Result<Vec<u64>, StateError> {
    let listing = match fs::read_dir(entry) {
        Ok(listing) => listing,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error(entry)(e)),
    };
    let mut versions = Vec::new();
    for item in listing {
        let item = item.map_err(io_error(entry))?;
        // Anything else in the directory (editor droppings) is not a version mark.
        if let Some(version) = item
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u64>().ok())
        {
            versions.push(version);
        }
    }
    Ok(versions)
}

/// (provider, key) pairs that missed a write and wait for `mirra repair`.
#[derive(Debug, Clone)]
pub struct RepairJournal {
    dir: PathBuf,
}

/// One journal file's contents.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct JournalEntry {
    provider: String,
    key: String,
}

impl RepairJournal {
    /// The journal under `<state_dir>/repair`, created if missing. A directory that
    /// cannot be created is not an error here: reads never touch the journal, and a
    /// write that needs it reports the failure then.
    pub fn open(state_dir: &Path) -> Result<RepairJournal, StateError> {
        let dir = state_dir.join("repair");
        if let Err(e) = fs::create_dir_all(&dir) {
            tracing::debug!("repair journal {}: {e}", dir.display());
        }
        Ok(RepairJournal { dir })
    }

    /// Notes that `provider` missed the latest write of `key` (idempotent).
    pub fn add(&self, provider: &str, key: &str) -> Result<(), StateError> {
        let entry = JournalEntry {
            provider: provider.to_string(),
            key: key.to_string(),
        };
        let bytes = serde_json::to_vec(&entry).expect("two strings serialize");
        fs::create_dir_all(&self.dir).map_err(io_error(&self.dir))?;
        write_atomically(&self.entry_path(provider, key), &bytes)
    }

    /// Forgets the entry for (`provider`, `key`); absent entries are fine.
    pub fn remove(&self, provider: &str, key: &str) -> Result<(), StateError> {
        let path = self.entry_path(provider, key);
        match fs::remove_file(&path) {
            Ok(()) => sync_dir(&self.dir),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error(&path)(e)),
        }
    }

    /// Whether (`provider`, `key`) is in the journal.
    pub fn contains(&self, provider: &str, key: &str) -> Result<bool, StateError> {
        let path = self.entry_path(provider, key);
        path.try_exists().map_err(io_error(&path))
    }

    /// Every entry as `(provider, key)`, sorted. An entry that does not parse is
    /// reported (a warning naming the file) and skipped: one damaged file must not stop
    /// the repair of all the others.
    pub fn list(&self) -> Result<Vec<(String, String)>, StateError> {
        let mut entries = Vec::new();
        let listing = match fs::read_dir(&self.dir) {
            Ok(listing) => listing,
            // No journal could be kept there, so nothing was journaled.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                ) =>
            {
                return Ok(entries)
            }
            Err(e) => return Err(io_error(&self.dir)(e)),
        };
        for item in listing {
            let path = item.map_err(io_error(&self.dir))?.path();
            let is_entry = path.extension().is_some_and(|e| e == "json")
                && !path
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'));
            if !is_entry {
                continue; // temporary files of a write in progress (or crashed)
            }
            let bytes = match fs::read(&path) {
                Ok(bytes) => bytes,
                // Removed by another process since the listing.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_error(&path)(e)),
            };
            match serde_json::from_slice::<JournalEntry>(&bytes) {
                Ok(entry) => entries.push((entry.provider, entry.key)),
                Err(e) => tracing::warn!(
                    "{}; skipping it (a full `mirra repair` still finds what it was about)",
                    StateError::Corrupt {
                        path: path.clone(),
                        reason: e.to_string(),
                    }
                ),
            }
        }
        entries.sort();
        Ok(entries)
    }

    fn entry_path(&self, provider: &str, key: &str) -> PathBuf {
        let mut id = provider.as_bytes().to_vec();
        // Provider names cannot contain NUL, so the pair is unambiguous.
        id.push(0);
        id.extend_from_slice(key.as_bytes());
        self.dir.join(format!("{}.json", hex::encode(sha256(&id))))
    }
}

/// Writes `bytes` to `path` so that readers see the old file or the whole new one.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), StateError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = path.parent().expect("state files live in a directory");
    let name = path
        .file_name()
        .expect("state files have names")
        .to_string_lossy();
    let unique = COUNTER.fetch_add(1, Ordering::Relaxed);
    let temp = dir.join(format!(".{name}.tmp-{}-{unique}", std::process::id()));
    let result = (|| {
        let mut file = File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temp, path)
    })();
    if let Err(source) = result {
        let _ = fs::remove_file(&temp);
        return Err(StateError::Io {
            path: path.to_path_buf(),
            source,
        });
    }
    sync_dir(dir)
}

/// Makes a directory's entries (creations, renames, removals) durable.
fn sync_dir(dir: &Path) -> Result<(), StateError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error(dir))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;

    fn signer() -> PublicKey {
        Identity::from_secret_bytes(&[0x01; 32])
            .unwrap()
            .public_key()
    }

    #[test]
    fn versions_only_go_up() {
        let dir = tempfile::tempdir().unwrap();
        let seen = VersionsSeen::open(dir.path()).unwrap();
        let signer = signer();
        assert_eq!(seen.get(&signer, "a").unwrap(), None);
        seen.record(&signer, "a", 3).unwrap();
        assert_eq!(seen.get(&signer, "a").unwrap(), Some(3));
        seen.record(&signer, "a", 2).unwrap();
        assert_eq!(seen.get(&signer, "a").unwrap(), Some(3));
        seen.record(&signer, "a", 3).unwrap();
        seen.record(&signer, "a", 10).unwrap();
        assert_eq!(seen.get(&signer, "a").unwrap(), Some(10));
        seen.record(&signer, "a", 0).unwrap();
        assert_eq!(seen.get(&signer, "a").unwrap(), Some(10));
    }

    #[test]
    fn versions_are_per_signer_and_key_and_persist() {
        let dir = tempfile::tempdir().unwrap();
        let other = Identity::generate().public_key();
        {
            let seen = VersionsSeen::open(dir.path()).unwrap();
            seen.record(&signer(), "a", 5).unwrap();
            seen.record(&signer(), "b", 1).unwrap();
            seen.record(&other, "a", 9).unwrap();
        }
        let seen = VersionsSeen::open(dir.path()).unwrap();
        assert_eq!(seen.get(&signer(), "a").unwrap(), Some(5));
        assert_eq!(seen.get(&signer(), "b").unwrap(), Some(1));
        assert_eq!(seen.get(&other, "a").unwrap(), Some(9));
        assert_eq!(seen.get(&other, "b").unwrap(), None);
    }

    #[test]
    fn old_version_marks_are_pruned_and_strays_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let seen = VersionsSeen::open(dir.path()).unwrap();
        for version in 1..=5 {
            seen.record(&signer(), "k", version).unwrap();
        }
        let entry = seen.entry_dir(&signer(), "k");
        fs::write(entry.join("notes.txt~"), "x").unwrap();
        assert_eq!(recorded_versions(&entry).unwrap(), vec![5]);
        assert_eq!(seen.get(&signer(), "k").unwrap(), Some(5));
    }

    #[test]
    fn concurrent_recorders_never_lower_the_record() {
        let dir = tempfile::tempdir().unwrap();
        let seen = VersionsSeen::open(dir.path()).unwrap();
        let threads: Vec<_> = (0..8u64)
            .map(|t| {
                let seen = seen.clone();
                std::thread::spawn(move || {
                    for i in 0..50u64 {
                        seen.record(&signer(), "race", i * 8 + t).unwrap();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(seen.get(&signer(), "race").unwrap(), Some(49 * 8 + 7));
    }

    #[test]
    fn journal_adds_lists_and_removes() {
        let dir = tempfile::tempdir().unwrap();
        let journal = RepairJournal::open(dir.path()).unwrap();
        assert!(journal.list().unwrap().is_empty());
        journal.add("disk-b", "photos/x.jpg").unwrap();
        journal.add("disk-a", "notes\nwith newline").unwrap();
        journal.add("disk-b", "photos/x.jpg").unwrap();
        assert!(journal.contains("disk-b", "photos/x.jpg").unwrap());
        let reopened = RepairJournal::open(dir.path()).unwrap();
        assert_eq!(
            reopened.list().unwrap(),
            vec![
                ("disk-a".to_string(), "notes\nwith newline".to_string()),
                ("disk-b".to_string(), "photos/x.jpg".to_string())
            ]
        );
        reopened.remove("disk-b", "photos/x.jpg").unwrap();
        reopened.remove("disk-b", "photos/x.jpg").unwrap();
        assert!(!journal.contains("disk-b", "photos/x.jpg").unwrap());
        assert_eq!(journal.list().unwrap().len(), 1);
    }

    #[test]
    fn journal_ignores_temporaries_and_reports_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let journal = RepairJournal::open(dir.path()).unwrap();
        journal.add("a", "k").unwrap();
        let repair_dir = dir.path().join("repair");
        fs::write(repair_dir.join(".x.json.tmp-1-0"), "partial").unwrap();
        assert_eq!(
            journal.list().unwrap(),
            vec![("a".to_string(), "k".to_string())]
        );
        // One damaged entry is skipped (and reported), not fatal to the rest.
        fs::write(repair_dir.join("bad.json"), "{").unwrap();
        journal.add("b", "k2").unwrap();
        assert_eq!(
            journal.list().unwrap(),
            vec![
                ("a".to_string(), "k".to_string()),
                ("b".to_string(), "k2".to_string())
            ]
        );
    }

    #[test]
    fn a_state_dir_that_cannot_be_created_degrades_instead_of_failing() {
        let dir = tempfile::tempdir().unwrap();
        // A file where the state directory should be: nothing can be created under it,
        // whoever runs the test (root included).
        let blocked = dir.path().join("state");
        fs::write(&blocked, "not a directory").unwrap();
        let versions = VersionsSeen::open(&blocked).unwrap();
        let journal = RepairJournal::open(&blocked).unwrap();
        let who = signer();
        assert_eq!(versions.get(&who, "k").unwrap(), None);
        versions.record(&who, "k", 3).unwrap();
        assert_eq!(journal.list().unwrap(), Vec::new());
        assert!(
            journal.add("a", "k").is_err(),
            "a write that needs it fails"
        );
    }

    #[test]
    fn journal_tolerates_concurrent_writers() {
        let dir = tempfile::tempdir().unwrap();
        let journal = RepairJournal::open(dir.path()).unwrap();
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let journal = journal.clone();
                std::thread::spawn(move || {
                    for i in 0..25 {
                        journal
                            .add(&format!("p{}", i % 3), &format!("k{t}-{i}"))
                            .unwrap();
                        journal.add("shared", "same").unwrap();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(journal.list().unwrap().len(), 101);
    }
}
