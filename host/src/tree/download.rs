//! `get -r`: every live key under a prefix written under a directory, each verified
//! before it is renamed into place.

use std::path::{Component, Path, PathBuf};
use std::time::Instant;

use futures::stream::{self, StreamExt};
use mirra_driver_api::Key;
use tokio::io::AsyncWriteExt;

use super::summary::{FileFailure, Tallies, TreeSummary};
use super::{remote_index, system_time_of, unix_nanos, Progress, TreeError, TreePrefix};
use crate::manifest::Manifest;
use crate::store::{Store, StoreError};

/// What `get -r` should do.
#[derive(Debug, Clone)]
pub struct DownloadOptions {
    /// Files in flight at once.
    pub transfers: usize,
}

/// Writes every live key under `prefix` to `dir/<path under prefix>`, `transfers` at a
/// time. Each file is written to a temporary file beside its target, verified chunk by
/// chunk, given the modification time its manifest records, and only then renamed into
/// place. A file already there with the manifest's size and time is left alone, so an
/// interrupted run resumes. A key whose path would leave `dir` (through a symbolic link
/// inside it, or a component the platform would read otherwise) is refused.
///
/// # Errors
/// When `dir` cannot be created or the providers cannot be listed.
pub async fn download_tree(
    store: &Store,
    prefix: &TreePrefix,
    dir: &Path,
    options: &DownloadOptions,
    progress: &dyn Progress,
) -> Result<TreeSummary, TreeError> {
    let started = Instant::now();
    std::fs::create_dir_all(dir).map_err(|source| TreeError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let index = remote_index(store, prefix, options.transfers).await?;
    let mut summary = TreeSummary::default();
    let mut tallies = Tallies::new(store.replicas().iter().map(|r| r.name().to_owned()));
    let live_bytes = index
        .values()
        .filter_map(|e| e.live())
        .map(|m| m.body.size)
        .sum();
    let live: Vec<(String, Key)> = index
        .into_iter()
        .filter(|(_, e)| e.live().is_some())
        .map(|(rel, e)| (rel, e.key))
        .collect();
    summary.files = live.len();
    progress.set_total(live.len(), live_bytes);
    let fetches = live.into_iter().map(|(rel, key)| async move {
        let outcome = fetch_one(store, &key, dir, &rel).await;
        (key, rel, outcome)
    });
    let mut fetches = stream::iter(fetches).buffer_unordered(options.transfers.max(1));
    while let Some((key, rel, outcome)) = fetches.next().await {
        progress.file_done(matches!(
            outcome,
            Fetched::Written { .. } | Fetched::Unchanged { .. }
        ));
        match outcome {
            Fetched::Written {
                size,
                served_by,
                skipped,
            } => {
                progress.add_bytes(size);
                summary.sent += 1;
                summary.sent_bytes += size;
                for (provider, reason) in skipped {
                    tallies.failed(&provider, &reason);
                }
                tallies.ok(&served_by);
            }
            Fetched::Unchanged { size } => {
                progress.add_bytes(size);
                summary.unchanged += 1;
            }
            // A refusal is a failure, not a skip: the caller asked for every key and
            // this one was not written.
            Fetched::Refused(reason) => summary.failed.push(FileFailure {
                key: key.to_string(),
                error: format!("refused ({rel}): {reason}"),
            }),
            Fetched::Failed(error) => summary.failed.push(FileFailure {
                key: key.to_string(),
                error,
            }),
        }
    }
    summary.providers = tallies.into_vec();
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

enum Fetched {
    Written {
        size: u64,
        served_by: String,
        skipped: Vec<(String, String)>,
    },
    Unchanged {
        size: u64,
    },
    Refused(String),
    Failed(String),
}

async fn fetch_one(store: &Store, key: &Key, dir: &Path, rel: &str) -> Fetched {
    let target = match safe_target(dir, rel) {
        Ok(target) => target,
        Err(reason) => return Fetched::Refused(reason),
    };
    // The manifest is resolved the same way a single `get` resolves it (rollback check,
    // versions seen recorded), then followed for the bytes.
    let (mut manifest, mut served_by) = match store.head(key).await {
        Ok(head) => (head.manifest, head.provider),
        Err(e) => return Fetched::Failed(e.to_string()),
    };
    if matches_local(&target, &manifest) {
        return Fetched::Unchanged {
            size: manifest.body.size,
        };
    }
    let mut written = write_verified(store, key, &manifest, &target).await;
    if let Err(WriteFailure::Read(e)) = &written {
        // A failed read leaves nothing at the target, so a newer version can be read in
        // its place (a write replaced this version's bytes).
        if let Some(newer) = store.newer_after_failed_read(key, &manifest, e).await {
            manifest = newer.manifest;
            served_by = newer.provider;
            written = write_verified(store, key, &manifest, &target).await;
        }
    }
    match written {
        Ok(skipped) => Fetched::Written {
            size: manifest.body.size,
            served_by,
            skipped,
        },
        Err(e) => Fetched::Failed(e.to_string()),
    }
}

/// Whether `target` already holds this version: same size and the recorded time.
fn matches_local(target: &Path, manifest: &Manifest) -> bool {
    let Some(recorded) = manifest.body.mtime_ns else {
        return false;
    };
    match std::fs::symlink_metadata(target) {
        Ok(meta) => {
            meta.is_file()
                && meta.len() == manifest.body.size
                && meta.modified().ok().and_then(unix_nanos) == Some(recorded)
        }
        Err(_) => false,
    }
}

/// `dir/rel`, after checking that every component is a plain name and that no directory
/// on the way is a symbolic link (which could point anywhere); missing directories are
/// created one by one so a link cannot be slipped in between check and use unnoticed
/// by this process.
fn safe_target(dir: &Path, rel: &str) -> Result<PathBuf, String> {
    let rel_path = Path::new(rel);
    if rel.contains('\\')
        || rel_path
            .components()
            .any(|c| !matches!(c, Component::Normal(_)))
        || rel_path.components().count() != rel.split('/').count()
    {
        return Err("path is not a plain relative path".into());
    }
    let mut current = dir.to_path_buf();
    let parts: Vec<&str> = rel.split('/').collect();
    let (file_name, parents) = parts.split_last().expect("split yields at least one part");
    for part in parents {
        current.push(part);
        match std::fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(format!(
                    "{} is a symbolic link: the key would leave the directory",
                    current.display()
                ))
            }
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                return Err(format!(
                    "{} exists and is not a directory",
                    current.display()
                ))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                match std::fs::create_dir(&current) {
                    Ok(()) => {}
                    Err(e)
                        if e.kind() == std::io::ErrorKind::AlreadyExists
                            && current.is_dir()
                            && !current.is_symlink() => {}
                    Err(e) => return Err(format!("creating {}: {e}", current.display())),
                }
            }
            Err(e) => return Err(format!("{}: {e}", current.display())),
        }
    }
    current.push(file_name);
    if std::fs::symlink_metadata(&current).is_ok_and(|m| m.is_dir()) {
        return Err(format!("{} is a directory", current.display()));
    }
    Ok(current)
}

/// Streams the verified object into a temporary file beside `target`, sets its time, and
/// renames it into place; returns the providers skipped on the way.
async fn write_verified(
    store: &Store,
    key: &Key,
    manifest: &Manifest,
    target: &Path,
) -> Result<Vec<(String, String)>, WriteFailure> {
    let parent = target.parent().expect("targets are inside the directory");
    let temp = tempfile::Builder::new()
        .prefix(".mirra-get-")
        .tempfile_in(parent)
        .map_err(|e| {
            WriteFailure::Local(format!(
                "creating a temporary file in {}: {e}",
                parent.display()
            ))
        })?;
    let (file, temp_path) = temp.into_parts();
    let capacity = usize::try_from(manifest.body.size)
        .unwrap_or(usize::MAX)
        .clamp(8 << 10, 1 << 20);
    let mut out = tokio::io::BufWriter::with_capacity(capacity, tokio::fs::File::from_std(file));
    let report = store
        .get_verified(key, manifest, &mut out)
        .await
        .map_err(WriteFailure::Read)?;
    let local = WriteFailure::Local;
    out.flush().await.map_err(|e| local(e.to_string()))?;
    let file = out.into_inner().into_std().await;
    let mtime = manifest.body.mtime_ns;
    tokio::task::spawn_blocking(move || {
        if let Some(nanos) = mtime {
            file.set_modified(system_time_of(nanos))?;
        }
        file.sync_all()
    })
    .await
    .map_err(|e| local(e.to_string()))?
    .map_err(|e| local(format!("writing {}: {e}", target.display())))?;
    temp_path
        .persist(target)
        .map_err(|e| local(format!("renaming into {}: {e}", target.display())))?;
    Ok(report
        .skipped
        .0
        .into_iter()
        .map(|f| {
            let reason = f.reason().to_owned();
            (f.provider, reason)
        })
        .collect())
}

/// Why a file was not written: reading its object, or the local file system.
enum WriteFailure {
    Read(StoreError),
    Local(String),
}

impl std::fmt::Display for WriteFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Read(e) => e.fmt(f),
            Self::Local(why) => f.write_str(why),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_stay_inside_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let root = dir.path();
        assert_eq!(
            safe_target(root, "a/b/c.txt").unwrap(),
            root.join("a/b/c.txt")
        );
        assert!(root.join("a/b").is_dir());
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(outside.path(), root.join("out")).unwrap();
            let err = safe_target(root, "out/passwd").unwrap_err();
            assert!(err.contains("symbolic link"), "{err}");
        }
        std::fs::write(root.join("file"), b"x").unwrap();
        assert!(safe_target(root, "file/x")
            .unwrap_err()
            .contains("not a directory"));
        assert!(safe_target(root, "a")
            .unwrap_err()
            .contains("is a directory"));
        for bad in ["../x", "a/../../x", "/etc/passwd", "a//b", "./a"] {
            assert!(safe_target(root, bad).is_err(), "{bad}");
        }
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
    }
}
