//! The local side: every regular file under a directory, as relative `/`-separated paths.

use std::path::{Path, PathBuf};

use walkdir::WalkDir;

use super::{unix_nanos, TreeError, TreePrefix};

/// One regular file to transfer.
#[derive(Debug, Clone)]
pub struct LocalFile {
    /// Where it is.
    pub path: PathBuf,
    /// Its path under the walked directory, `/`-separated.
    pub rel: String,
    /// Its size when walked.
    pub size: u64,
    /// Its modification time when walked, unix nanoseconds.
    pub mtime_ns: Option<u64>,
}

/// Something under the directory that is not transferred, and why.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SkippedEntry {
    /// The path, lossily decoded if it is not UTF-8.
    pub path: String,
    /// Why it was skipped.
    pub reason: String,
}

/// What a walk found.
#[derive(Debug, Clone, Default)]
pub struct LocalTree {
    /// Regular files with valid key names, sorted by relative path.
    pub files: Vec<LocalFile>,
    /// Entries skipped on purpose: invalid names, special files, unfollowed links.
    pub skipped: Vec<SkippedEntry>,
    /// Entries that could not be read; while there are any, `--delete` deletes nothing,
    /// since a file we failed to see is not a file that is gone.
    pub unreadable: Vec<SkippedEntry>,
}

/// Walks `dir`, following symbolic links only with `follow_links`. Names that would not
/// make valid keys under `prefix` are reported in `skipped`, never renamed: a renamed
/// key would not round-trip to the same file. Blocking: run it off the async threads.
///
/// # Errors
/// [`TreeError::NotADirectory`] when `dir` is not a directory.
pub fn walk(dir: &Path, prefix: &TreePrefix, follow_links: bool) -> Result<LocalTree, TreeError> {
    let meta = std::fs::metadata(dir).map_err(|source| TreeError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    if !meta.is_dir() {
        return Err(TreeError::NotADirectory(dir.to_path_buf()));
    }
    let mut tree = LocalTree::default();
    let mut entries = WalkDir::new(dir)
        .follow_links(follow_links)
        .sort_by_file_name()
        .min_depth(1)
        .into_iter();
    while let Some(entry) = entries.next() {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                let path = e.path().unwrap_or(dir).display().to_string();
                tree.unreadable.push(SkippedEntry {
                    path,
                    reason: e.to_string(),
                });
                continue;
            }
        };
        let shown = entry.path().display().to_string();
        let skip = |tree: &mut LocalTree, reason: String| {
            tree.skipped.push(SkippedEntry {
                path: shown.clone(),
                reason,
            })
        };
        let file_type = entry.file_type();
        let Some(rel) = relative_key_path(dir, entry.path()) else {
            skip(&mut tree, "name is not valid UTF-8".into());
            if file_type.is_dir() {
                entries.skip_current_dir();
            }
            continue;
        };
        if file_type.is_dir() {
            // A directory whose name cannot be part of a key: report it once instead of
            // once per file inside it.
            if let Err(e) = prefix.key_for(&format!("{rel}/x")) {
                skip(&mut tree, format!("directory name is not a valid key: {e}"));
                entries.skip_current_dir();
            }
            continue;
        }
        if file_type.is_symlink() {
            // Only reached without --follow-links (walkdir resolves links otherwise).
            skip(
                &mut tree,
                "symbolic link (not followed without --follow-links)".into(),
            );
            continue;
        }
        if !file_type.is_file() {
            skip(
                &mut tree,
                format!("special file ({})", special_kind(&file_type)),
            );
            continue;
        }
        if let Err(e) = prefix.key_for(&rel) {
            skip(&mut tree, format!("not a valid key: {e}"));
            continue;
        }
        match entry.metadata() {
            Ok(meta) => tree.files.push(LocalFile {
                path: entry.path().to_path_buf(),
                rel,
                size: meta.len(),
                mtime_ns: meta.modified().ok().and_then(unix_nanos),
            }),
            Err(e) => tree.unreadable.push(SkippedEntry {
                path: shown,
                reason: e.to_string(),
            }),
        }
    }
    Ok(tree)
}

/// `a/b/c.txt` for `dir/a/b/c.txt`, or `None` when a component is not UTF-8.
fn relative_key_path(dir: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(dir).ok()?;
    let parts: Option<Vec<&str>> = rel.components().map(|c| c.as_os_str().to_str()).collect();
    Some(parts?.join("/"))
}

fn special_kind(file_type: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return "named pipe";
        }
        if file_type.is_socket() {
            return "socket";
        }
        if file_type.is_block_device() || file_type.is_char_device() {
            return "device";
        }
    }
    let _ = file_type;
    "not a regular file"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_files_and_reports_what_it_skips() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::write(root.join("a/b/c.txt"), b"abc").unwrap();
        std::fs::write(root.join("ünï.txt"), b"").unwrap();
        std::fs::write(root.join("back\\slash"), b"x").unwrap();
        std::fs::create_dir(root.join("bad\ndir")).unwrap();
        std::fs::write(root.join("bad\ndir/inside"), b"x").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(root.join("a/b/c.txt"), root.join("link")).unwrap();

        let prefix = TreePrefix::parse("p").unwrap();
        let tree = walk(root, &prefix, false).unwrap();
        let rels: Vec<&str> = tree.files.iter().map(|f| f.rel.as_str()).collect();
        assert_eq!(rels, ["a/b/c.txt", "ünï.txt"]);
        assert_eq!(tree.files[0].size, 3);
        assert!(tree.files[0].mtime_ns.is_some());
        let reasons: Vec<String> = tree
            .skipped
            .iter()
            .map(|s| format!("{}: {}", s.path, s.reason))
            .collect();
        assert_eq!(tree.skipped.len(), 3, "{reasons:?}");
        assert!(
            reasons
                .iter()
                .any(|r| r.contains("back\\slash") && r.contains("not a valid key")),
            "{reasons:?}"
        );
        assert!(
            reasons.iter().any(|r| r.contains("directory name")),
            "{reasons:?}"
        );
        assert!(
            reasons.iter().any(|r| r.contains("symbolic link")),
            "{reasons:?}"
        );

        let followed = walk(root, &prefix, true).unwrap();
        assert!(followed.files.iter().any(|f| f.rel == "link"));
    }

    #[test]
    fn a_file_is_not_a_tree() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, b"x").unwrap();
        let err = walk(&file, &TreePrefix::parse("").unwrap(), false).unwrap_err();
        assert!(matches!(err, TreeError::NotADirectory(_)), "{err}");
    }
}
