//! Whole trees: `put -r`, `get -r` and `sync`, many files in flight over one [`Store`].
//!
//! A tree transfer is planned before it runs: the local side is walked ([`walk`]), the
//! remote side is indexed from the newest signed manifests under the prefix
//! ([`remote_index`]), and the two are compared ([`plan_upload`]). Files whose newest
//! manifest already matches (size and modification time, or SHA-256 with `checksum`)
//! and that reached the write quorum are skipped, which is what makes an interrupted run
//! resumable: nothing is recorded locally about a run, so a killed run leaves nothing a
//! re-run could trust wrongly; the providers' signed manifests are the only record.
//!
//! Every file goes through the ordinary verified [`Store::put_with`] / read paths, so a
//! tree gets the same fan-out, quorum, commit order and verification as a single object;
//! only the scheduling (`transfers` files at once) is new here.
//!
//! [`Store`]: crate::store::Store
//! [`Store::put_with`]: crate::store::Store::put_with

mod download;
mod plan;
mod remote;
mod summary;
mod upload;
mod walk;

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use mirra_driver_api::Key;

use crate::store::StoreError;
use crate::user_key::{parse_user_key, UserKeyError};

pub use download::{download_tree, DownloadOptions};
pub use plan::{plan_upload, Compare, PlannedUpload, UploadOptions, UploadPlan, UploadReason};
pub use remote::{remote_index, RemoteEntry};
pub use summary::{FileFailure, ProviderTally, TreeSummary};
pub use upload::execute_upload;
pub use walk::{walk, LocalFile, LocalTree, SkippedEntry};

/// Why a tree transfer could not run at all (per-file problems go in the summary).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TreeError {
    /// The local side is not a directory.
    #[error("{}: not a directory", .0.display())]
    NotADirectory(PathBuf),
    /// The local directory could not be read or created.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The prefix is not a valid key prefix.
    #[error("invalid prefix {prefix:?}: {source}")]
    BadPrefix {
        /// The prefix as given.
        prefix: String,
        /// Why it is refused.
        source: UserKeyError,
    },
    /// The remote side could not be listed or read.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Receives progress as a tree transfer runs; the CLI draws it, tests ignore it.
pub trait Progress: Send + Sync {
    /// The work ahead, once known: `files` files of `bytes` bytes in all.
    fn set_total(&self, files: usize, bytes: u64) {
        let _ = (files, bytes);
    }
    /// `bytes` more were read (upload) or written (download).
    fn add_bytes(&self, bytes: u64);
    /// One file finished, successfully or not.
    fn file_done(&self, ok: bool);
}

/// A [`Progress`] that ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn add_bytes(&self, _: u64) {}
    fn file_done(&self, _: bool) {}
}

/// A key prefix as given on the command line: empty (the whole store) or a valid key,
/// to which relative paths are appended after a `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreePrefix(String);

impl TreePrefix {
    /// Parses `text`; trailing slashes are ignored (`photos/` = `photos`).
    ///
    /// # Errors
    /// [`TreeError::BadPrefix`] when the prefix is not a valid key.
    pub fn parse(text: &str) -> Result<TreePrefix, TreeError> {
        let trimmed = text.trim_end_matches('/');
        if trimmed.is_empty() {
            return Ok(TreePrefix(String::new()));
        }
        parse_user_key(trimmed).map_err(|source| TreeError::BadPrefix {
            prefix: text.to_owned(),
            source,
        })?;
        Ok(TreePrefix(trimmed.to_owned()))
    }

    /// What manifest listings filter on: `photos/` (never `photos`, which would also match
    /// `photos2/...`), or empty.
    pub fn listing(&self) -> String {
        if self.0.is_empty() {
            String::new()
        } else {
            format!("{}/", self.0)
        }
    }

    /// The key for a relative path under the prefix, checked like any user key.
    ///
    /// # Errors
    /// Why the resulting key is refused.
    pub fn key_for(&self, rel: &str) -> Result<Key, UserKeyError> {
        parse_user_key(&format!("{}{rel}", self.listing()))
    }

    /// The path relative to the prefix of `key`, if the key is under it.
    pub fn rel_of<'k>(&self, key: &'k str) -> Option<&'k str> {
        key.strip_prefix(&self.listing())
            .filter(|rel| !rel.is_empty())
    }
}

/// The default number of files in flight: enough to overlap hashing, signing and I/O
/// on small files (4 per core), capped where the per-provider driver limit would queue.
pub fn default_transfers() -> usize {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    (cores * 4).clamp(4, 16)
}

/// A modification time as unix nanoseconds; `None` before 1970 or past 2554.
pub fn unix_nanos(time: SystemTime) -> Option<u64> {
    time.duration_since(UNIX_EPOCH)
        .ok()
        .and_then(|d| u64::try_from(d.as_nanos()).ok())
}

/// The inverse of [`unix_nanos`].
pub fn system_time_of(nanos: u64) -> SystemTime {
    UNIX_EPOCH + std::time::Duration::from_nanos(nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_join_with_one_slash_and_match_whole_segments() {
        let root = TreePrefix::parse("").unwrap();
        assert_eq!(root.key_for("a/b.txt").unwrap().as_str(), "a/b.txt");
        assert_eq!(root.rel_of("a/b.txt"), Some("a/b.txt"));
        let photos = TreePrefix::parse("photos/").unwrap();
        assert_eq!(photos.listing(), "photos/");
        assert_eq!(photos.key_for("x.jpg").unwrap().as_str(), "photos/x.jpg");
        assert_eq!(photos.rel_of("photos/x.jpg"), Some("x.jpg"));
        assert_eq!(photos.rel_of("photos2/x.jpg"), None);
        assert_eq!(photos.rel_of("photos/"), None);
        assert!(TreePrefix::parse("../up").is_err());
        assert!(TreePrefix::parse(".mirra").is_err());
        assert!(root.key_for(".mirra/manifests/x").is_err());
    }

    #[test]
    fn nanosecond_times_round_trip() {
        let t = system_time_of(1_700_000_000_123_456_789);
        assert_eq!(unix_nanos(t), Some(1_700_000_000_123_456_789));
        assert_eq!(
            unix_nanos(UNIX_EPOCH - std::time::Duration::from_secs(1)),
            None
        );
    }
}
