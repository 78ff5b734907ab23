//! The layout before the database, one small file per entry, imported on first open:
//!
//! - `versions/<sha256(signer ‖ key)>/<version>`: empty files, the newest version being
//!   the largest name. The signer and key cannot be recovered from the hash, so these go
//!   to `legacy_versions_seen` under it, where lookups by hash still find them.
//! - `repair/<sha256(provider ‖ 0 ‖ key)>.json`: `{"provider": ..., "key": ...}`; these
//!   import fully. One that does not parse is reported and dropped, as the old code
//!   skipped it (a full `mirra repair` still finds what it was about).
//!
//! Importing is idempotent (versions keep the larger, journal entries are a set), so two
//! processes importing at once, or a crash between the import and the removal, are fine.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use rusqlite::{params, Connection};
use serde::Deserialize;

use super::StateError;

/// One old journal file's contents.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JournalEntry {
    provider: String,
    key: String,
}

/// What an import read, to be removed once the import is committed.
#[derive(Default)]
pub(super) struct Imported {
    files: Vec<PathBuf>,
    /// Deepest first, so each is empty by the time it is removed.
    dirs: Vec<PathBuf>,
}

/// Imports the old `versions/` and `repair/` under `state_dir`, if any, through `tx`.
/// An old file that cannot be read is reported and kept (so it is imported next time).
pub(super) fn import(tx: &Connection, state_dir: &Path) -> rusqlite::Result<Imported> {
    let mut imported = Imported::default();
    let versions = state_dir.join("versions");
    for entry_dir in listing(&versions) {
        let name = entry_dir.file_name().unwrap_or_default().to_string_lossy();
        let hash = hex::decode(name.as_bytes()).ok().filter(|h| h.len() == 32);
        let (Some(hash), true) = (hash, entry_dir.is_dir()) else {
            imported.files.push(entry_dir); // not something the old code made
            continue;
        };
        let mut newest = None;
        for mark in listing(&entry_dir) {
            let name = mark.file_name().unwrap_or_default().to_string_lossy();
            if let Ok(version) = name.parse::<u64>() {
                newest = newest.max(Some(version));
            }
            imported.files.push(mark);
        }
        if let Some(version) = newest {
            tx.prepare_cached(
                "INSERT INTO legacy_versions_seen (entry, version) VALUES (?1, ?2)
                 ON CONFLICT (entry) DO UPDATE SET version = max(version, excluded.version)",
            )?
            .execute(params![hash, &version.to_be_bytes()[..]])?;
        }
        imported.dirs.push(entry_dir);
    }
    let journal = state_dir.join("repair");
    for file in listing(&journal) {
        let name = file.file_name().unwrap_or_default().to_string_lossy();
        // Temporary files of a write in progress when the old mirra stopped are dropped.
        if name.ends_with(".json") && !name.starts_with('.') {
            match read_journal_entry(&file) {
                Ok(Some(entry)) => {
                    tx.prepare_cached(
                        "INSERT INTO repair_journal (provider, key) VALUES (?1, ?2)
                         ON CONFLICT DO NOTHING",
                    )?
                    .execute([entry.provider, entry.key])?;
                }
                Ok(None) => continue, // already imported and removed by another process
                Err(e) => {
                    if matches!(e, StateError::Io { .. }) {
                        tracing::warn!("{e}; leaving it for the next time mirra starts");
                        continue;
                    }
                    tracing::warn!(
                        "{e}; dropping it (a full `mirra repair` still finds what it was about)"
                    );
                }
            }
        }
        imported.files.push(file);
    }
    imported.dirs.extend([versions, journal]);
    Ok(imported)
}

impl Imported {
    /// Removes what was imported, tolerating what another process removed first. A
    /// directory that is not empty (an old mirra still writing) is kept for next time.
    pub(super) fn remove(self) {
        let removals = self
            .files
            .iter()
            .map(|f| (f, fs::remove_file(f)))
            .chain(self.dirs.iter().map(|d| (d, fs::remove_dir(d))));
        for (path, result) in removals {
            match result {
                Ok(()) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::NotFound | io::ErrorKind::DirectoryNotEmpty
                    ) => {}
                Err(e) => tracing::warn!(
                    "could not remove {} after importing it into the state database ({e}); \
                     it will be imported again",
                    path.display()
                ),
            }
        }
    }
}

/// The entries of `dir`; none when it does not exist (the usual case) or cannot be read
/// (reported).
fn listing(dir: &Path) -> Vec<PathBuf> {
    match fs::read_dir(dir) {
        Ok(items) => items
            .filter_map(|item| item.ok())
            .map(|i| i.path())
            .collect(),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            Vec::new()
        }
        Err(e) => {
            tracing::warn!("old state {} cannot be imported: {e}", dir.display());
            Vec::new()
        }
    }
}

/// An old journal file's entry; `None` if it is gone.
fn read_journal_entry(path: &Path) -> Result<Option<JournalEntry>, StateError> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(StateError::Io {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| StateError::Corrupt {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
}
