//! Comparing the local tree with the newest manifests: what to send, what to delete.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;

use futures::stream::{self, StreamExt};
use mirra_driver_api::Key;

use super::remote::RemoteEntry;
use super::walk::{LocalFile, LocalTree, SkippedEntry};
use super::{remote_index, walk, TreeError, TreePrefix};
use crate::store::Store;

/// How a local file is judged unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compare {
    /// Same size and the modification time recorded in the manifest (as rclone does);
    /// a manifest without a recorded time falls back to the SHA-256.
    #[default]
    SizeAndTime,
    /// Same size and SHA-256: every file of equal size is read and hashed.
    Checksum,
}

/// What `put -r` and `sync` should do.
#[derive(Debug, Clone)]
pub struct UploadOptions {
    /// Files in flight at once.
    pub transfers: usize,
    /// Follow symbolic links while walking.
    pub follow_links: bool,
    /// How unchanged files are recognised.
    pub compare: Compare,
    /// Tombstone keys under the prefix with no local file.
    pub delete: bool,
    /// Content type for every file, instead of guessing from each name.
    pub content_type: Option<String>,
}

/// Why a file is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UploadReason {
    /// No live manifest for the key.
    New,
    /// The size, time or hash differs from the newest manifest.
    Changed,
    /// The newest version reached fewer providers than the write quorum (e.g. a run was
    /// killed while committing it): sent again as a new version.
    BelowQuorum,
}

/// One file to send.
#[derive(Debug, Clone)]
pub struct PlannedUpload {
    /// The file.
    pub file: LocalFile,
    /// Its key.
    pub key: Key,
    /// Why.
    pub reason: UploadReason,
}

/// The whole plan of a `put -r` or `sync`.
#[derive(Debug, Clone, Default)]
pub struct UploadPlan {
    /// Files to send, in path order.
    pub uploads: Vec<PlannedUpload>,
    /// Files whose newest manifest already matches.
    pub unchanged: usize,
    /// Keys to tombstone (only with `delete`).
    pub deletes: Vec<Key>,
    /// Set when `delete` was asked but local entries could not be read, so nothing is
    /// deleted this run.
    pub deletes_withheld: bool,
    /// Entries skipped on purpose (invalid names, special files, links).
    pub skipped: Vec<SkippedEntry>,
    /// Entries that could not be read, and files that could not be hashed.
    pub unreadable: Vec<SkippedEntry>,
    /// Local regular files considered.
    pub files_seen: usize,
}

impl UploadPlan {
    /// Bytes the uploads will read.
    pub fn upload_bytes(&self) -> u64 {
        self.uploads.iter().map(|u| u.file.size).sum()
    }
}

/// Walks `dir`, indexes the manifests under `prefix` and decides, file by file, what to
/// send and (with `delete`) what to tombstone.
///
/// # Errors
/// When `dir` is not a readable directory or the providers cannot be listed.
pub async fn plan_upload(
    store: &Store,
    dir: &Path,
    prefix: &TreePrefix,
    options: &UploadOptions,
) -> Result<UploadPlan, TreeError> {
    let walked = {
        let (root, prefix, follow) = (dir.to_path_buf(), prefix.clone(), options.follow_links);
        tokio::task::spawn_blocking(move || walk(&root, &prefix, follow))
            .await
            .map_err(|e| TreeError::Io {
                path: dir.to_path_buf(),
                source: std::io::Error::other(e),
            })??
    };
    let remote = remote_index(store, prefix, options.transfers).await?;
    Ok(compare_trees(walked, &remote, prefix, options, store.quorum_needed()).await)
}

/// The decision for every walked file against `remote`.
async fn compare_trees(
    walked: LocalTree,
    remote: &BTreeMap<String, RemoteEntry>,
    prefix: &TreePrefix,
    options: &UploadOptions,
    quorum: usize,
) -> UploadPlan {
    let mut plan = UploadPlan {
        skipped: walked.skipped,
        unreadable: walked.unreadable,
        files_seen: walked.files.len(),
        ..UploadPlan::default()
    };
    let local_rels: BTreeSet<String> = walked.files.iter().map(|f| f.rel.clone()).collect();
    // Each file's verdict: Some(reason) to send, None if unchanged; hashing (the only
    // slow part) runs `transfers` files at once on the blocking pool.
    let verdicts = stream::iter(walked.files.into_iter().map(|file| {
        let entry = remote.get(&file.rel);
        async move {
            let verdict = judge(&file, entry, options.compare, quorum).await;
            (file, verdict)
        }
    }))
    .buffered(options.transfers.max(1))
    .collect::<Vec<_>>()
    .await;
    for (file, verdict) in verdicts {
        match verdict {
            Ok(None) => plan.unchanged += 1,
            Ok(Some(reason)) => {
                let key = prefix
                    .key_for(&file.rel)
                    .expect("the walk keeps only valid keys");
                plan.uploads.push(PlannedUpload { file, key, reason });
            }
            Err(reason) => plan.unreadable.push(SkippedEntry {
                path: file.path.display().to_string(),
                reason,
            }),
        }
    }
    if options.delete {
        if plan.unreadable.is_empty() {
            plan.deletes = remote
                .iter()
                .filter(|(rel, entry)| entry.live().is_some() && !local_rels.contains(*rel))
                .map(|(_, entry)| entry.key.clone())
                .collect();
        } else {
            plan.deletes_withheld = true;
        }
    }
    plan
}

/// Whether `file` must be sent given what the providers hold; `Err` if it could not be
/// hashed.
async fn judge(
    file: &LocalFile,
    entry: Option<&RemoteEntry>,
    compare: Compare,
    quorum: usize,
) -> Result<Option<UploadReason>, String> {
    let Some((manifest, holders)) = entry.and_then(|e| e.live().map(|m| (m, e.holders))) else {
        return Ok(Some(UploadReason::New));
    };
    if holders < quorum {
        return Ok(Some(UploadReason::BelowQuorum));
    }
    let body = &manifest.body;
    if body.size != file.size {
        return Ok(Some(UploadReason::Changed));
    }
    let times_decide =
        compare == Compare::SizeAndTime && body.mtime_ns.is_some() && file.mtime_ns.is_some();
    let same = if times_decide {
        body.mtime_ns == file.mtime_ns
    } else {
        hash_file(&file.path).await? == body.sha256
    };
    Ok((!same).then_some(UploadReason::Changed))
}

async fn hash_file(path: &Path) -> Result<[u8; 32], String> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        use sha2::Digest as _;
        let mut file = std::fs::File::open(&path).map_err(|e| e.to_string())?;
        let mut hasher = sha2::Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = file.read(&mut buf).map_err(|e| e.to_string())?;
            if n == 0 {
                return Ok(hasher.finalize().into());
            }
            hasher.update(&buf[..n]);
        }
    })
    .await
    .map_err(|e| e.to_string())?
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;
    use crate::manifest::{ChunkHasher, ManifestBody};

    fn manifest(
        key: &str,
        bytes: &[u8],
        mtime_ns: Option<u64>,
        deleted: bool,
    ) -> crate::manifest::Manifest {
        let mut hasher = ChunkHasher::new(4);
        hasher.update(bytes);
        let (sha256, chunks, size) = hasher.finish();
        let mut body = ManifestBody {
            key: key.into(),
            version: 1,
            size,
            sha256,
            chunk_size: 4,
            chunks,
            content_type: String::new(),
            created: 1,
            mtime_ns,
            etag: None,
            metadata: Default::default(),
            deleted: false,
        };
        if deleted {
            body = ManifestBody::tombstone(key, 2, 4, 1);
        }
        body.sign(&Identity::generate())
    }

    fn entry(key: &str, bytes: &[u8], mtime_ns: Option<u64>, holders: usize) -> RemoteEntry {
        RemoteEntry {
            key: Key::parse(key).unwrap(),
            newest: Some(manifest(key, bytes, mtime_ns, false)),
            holders,
        }
    }

    #[tokio::test]
    async fn unchanged_changed_new_and_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, data: &[u8]| {
            let path = dir.path().join(name);
            std::fs::write(&path, data).unwrap();
            let mtime = std::fs::metadata(&path)
                .unwrap()
                .modified()
                .ok()
                .and_then(super::super::unix_nanos);
            LocalFile {
                path,
                rel: name.into(),
                size: data.len() as u64,
                mtime_ns: mtime,
            }
        };
        let same = write("same", b"hello");
        let touched = write("touched", b"hello");
        let no_time = write("no_time", b"hello");
        let edited = write("edited", b"hellO");
        let fresh = write("fresh", b"new");
        let thin = write("thin", b"hello");
        let mut remote = BTreeMap::new();
        remote.insert(
            "same".to_string(),
            entry("same", b"hello", same.mtime_ns, 3),
        );
        remote.insert(
            "touched".to_string(),
            entry("touched", b"hello", Some(1), 3),
        );
        remote.insert("no_time".to_string(), entry("no_time", b"hello", None, 3));
        remote.insert("edited".to_string(), entry("edited", b"hello", None, 3));
        remote.insert(
            "thin".to_string(),
            entry("thin", b"hello", thin.mtime_ns, 1),
        );
        remote.insert("gone".to_string(), entry("gone", b"x", None, 3));
        remote.insert(
            "dead".to_string(),
            RemoteEntry {
                key: Key::parse("dead").unwrap(),
                newest: Some(manifest("dead", b"", None, true)),
                holders: 3,
            },
        );
        let files = vec![same, touched, no_time, edited, fresh, thin];
        let walked = LocalTree {
            files,
            ..LocalTree::default()
        };
        let options = UploadOptions {
            transfers: 4,
            follow_links: false,
            compare: Compare::SizeAndTime,
            delete: true,
            content_type: None,
        };
        let prefix = TreePrefix::parse("").unwrap();
        let plan = compare_trees(walked.clone(), &remote, &prefix, &options, 2).await;
        let sent: Vec<(&str, UploadReason)> = plan
            .uploads
            .iter()
            .map(|u| (u.file.rel.as_str(), u.reason))
            .collect();
        assert_eq!(
            sent,
            [
                ("touched", UploadReason::Changed),
                ("edited", UploadReason::Changed),
                ("fresh", UploadReason::New),
                ("thin", UploadReason::BelowQuorum)
            ]
        );
        assert_eq!(plan.unchanged, 2, "same (by time) and no_time (by hash)");
        let deletes: Vec<&str> = plan.deletes.iter().map(Key::as_str).collect();
        assert_eq!(deletes, ["gone"], "tombstoned keys are not deleted again");

        let checksum = UploadOptions {
            compare: Compare::Checksum,
            ..options.clone()
        };
        let plan = compare_trees(walked.clone(), &remote, &prefix, &checksum, 2).await;
        let sent: Vec<&str> = plan.uploads.iter().map(|u| u.file.rel.as_str()).collect();
        assert_eq!(
            sent,
            ["edited", "fresh", "thin"],
            "same bytes, other time: unchanged by checksum"
        );

        let mut unreadable = walked;
        unreadable.unreadable.push(SkippedEntry {
            path: "x".into(),
            reason: "denied".into(),
        });
        let plan = compare_trees(unreadable, &remote, &prefix, &options, 2).await;
        assert!(plan.deletes.is_empty() && plan.deletes_withheld);
    }
}
