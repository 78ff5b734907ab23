//! Listing: a depth-first walk of the root that yields keys in byte order.
//!
//! Siblings are visited sorted by name, with a directory sorting as `name/`: every key
//! below directory `a` starts with `a/`, so this visits keys exactly in the order of
//! their strings (`a-c` < `a/b` < `a0`), without collecting the whole tree. Subtrees that
//! cannot hold a key matching the prefix, or only hold keys up to the cursor, are skipped
//! unread. Only regular files are objects; symlinks are never followed or listed.

use std::fs;
use std::io;
use std::path::Path;

use mirra_driver_api::{DriverError, DriverResult, Key, ListEntry, ListPage};

use crate::paths::{io_error, TEMP_PREFIX};

/// Lists the objects under `root` whose keys start with `prefix` and come after
/// `cursor`, at most `limit` of them.
pub(crate) fn list(
    root: &Path,
    prefix: &str,
    cursor: Option<&str>,
    limit: u32,
) -> DriverResult<ListPage> {
    if limit == 0 {
        return Err(DriverError::invalid_input("list limit must be at least 1"));
    }
    let limit = limit as usize;
    let mut walk = Walk {
        prefix,
        cursor,
        // One more than asked, to know whether another page follows.
        want: limit + 1,
        found: Vec::new(),
    };
    walk.dir(root, "")?;
    Ok(ListPage::first_of(walk.found, limit))
}

struct Walk<'a> {
    prefix: &'a str,
    cursor: Option<&'a str>,
    want: usize,
    found: Vec<ListEntry>,
}

/// One directory entry worth visiting.
struct Child {
    /// The name, with `/` appended for a directory: the order the walk needs.
    sort_name: String,
    is_dir: bool,
}

impl Walk<'_> {
    /// Visits directory `dir`, whose keys all start with `key_prefix` (empty or ending
    /// in `/`). Returns whether enough entries were found.
    fn dir(&mut self, dir: &Path, key_prefix: &str) -> DriverResult<bool> {
        for child in read_children(dir)? {
            let candidate = format!("{key_prefix}{}", child.sort_name);
            let name = child.sort_name.trim_end_matches('/');
            if child.is_dir {
                let could_match =
                    candidate.starts_with(self.prefix) || self.prefix.starts_with(&candidate);
                // Every key below `candidate` is <= cursor: seen on an earlier page.
                let already_listed = self
                    .cursor
                    .is_some_and(|c| c > candidate.as_str() && !c.starts_with(&candidate));
                if could_match && !already_listed && self.dir(&dir.join(name), &candidate)? {
                    return Ok(true);
                }
            } else if candidate.starts_with(self.prefix)
                && self.cursor.is_none_or(|c| candidate.as_str() > c)
            {
                // Sized with the entry's own metadata, which does not follow symlinks.
                let size = match fs::symlink_metadata(dir.join(name)) {
                    Ok(meta) if meta.is_file() => meta.len(),
                    // Deleted or replaced since the directory was read: not there.
                    Ok(_) => continue,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(io_error("inspect", &dir.join(name), e)),
                };
                self.found.push(ListEntry {
                    key: candidate,
                    size,
                });
                if self.found.len() >= self.want {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }
}

/// The regular files and real directories in `dir` whose names can be key segments,
/// sorted for the walk. A directory removed meanwhile (by a delete pruning empty
/// parents) reads as empty.
fn read_children(dir: &Path) -> DriverResult<Vec<Child>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error("list", dir, e)),
    };
    let mut children = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| io_error("list", dir, e))?;
        // Names that are not UTF-8, temporary files and anything else a key could not
        // name (backslashes, control characters) were not written by this driver.
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if name.starts_with(TEMP_PREFIX) || Key::parse(&name).is_err() {
            continue;
        }
        let file_type = match entry.file_type() {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_error("list", &entry.path(), e)),
        };
        // `DirEntry::file_type` does not follow symlinks, so a symlink is neither.
        if file_type.is_dir() {
            children.push(Child {
                sort_name: format!("{name}/"),
                is_dir: true,
            });
        } else if file_type.is_file() {
            children.push(Child {
                sort_name: name,
                is_dir: false,
            });
        }
    }
    children.sort_unstable_by(|a, b| a.sort_name.cmp(&b.sort_name));
    Ok(children)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(page: &ListPage) -> Vec<&str> {
        page.entries.iter().map(|e| e.key.as_str()).collect()
    }

    #[test]
    fn lists_in_key_order_with_prefix_and_cursor() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for (path, len) in [("a/b", 1), ("a-c", 2), ("a0", 3), ("b/c/d", 4), ("a/a", 5)] {
            let path = root.join(path);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, vec![0u8; len]).unwrap();
        }
        fs::write(root.join("a/.mirra-tmp-1-2"), b"partial").unwrap();
        std::os::unix::fs::symlink(root.join("a0"), root.join("link")).unwrap();
        fs::create_dir(root.join("empty")).unwrap();

        let all = list(root, "", None, 100).unwrap();
        assert_eq!(keys(&all), ["a-c", "a/a", "a/b", "a0", "b/c/d"]);
        let sizes: Vec<u64> = all.entries.iter().map(|e| e.size).collect();
        assert_eq!(sizes, [2, 5, 1, 3, 4]);
        assert_eq!(all.next_cursor, None);

        assert_eq!(keys(&list(root, "a/", None, 100).unwrap()), ["a/a", "a/b"]);
        assert_eq!(keys(&list(root, "a", None, 100).unwrap()).len(), 4);
        assert_eq!(keys(&list(root, "b/c/", None, 100).unwrap()), ["b/c/d"]);
        assert!(list(root, "zzz", None, 100).unwrap().entries.is_empty());

        let first = list(root, "", None, 2).unwrap();
        assert_eq!(keys(&first), ["a-c", "a/a"]);
        assert_eq!(first.next_cursor.as_deref(), Some("a/a"));
        let second = list(root, "", first.next_cursor.as_deref(), 2).unwrap();
        assert_eq!(keys(&second), ["a/b", "a0"]);
        let third = list(root, "", second.next_cursor.as_deref(), 2).unwrap();
        assert_eq!(keys(&third), ["b/c/d"]);
        assert_eq!(third.next_cursor, None);
    }

    #[test]
    fn zero_limit_is_invalid() {
        let dir = tempfile::tempdir().unwrap();
        let err = list(dir.path(), "", None, 0).unwrap_err();
        assert_eq!(err.kind, mirra_driver_api::ErrorKind::InvalidInput);
    }
}
