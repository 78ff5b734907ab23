//! Mapping keys to files under the root, without ever leaving it.
//!
//! A [`Key`] is already free of `..`, `.`, empty segments, NUL, backslashes and edge
//! slashes, but this driver re-checks every segment anyway (both sides of the ABI
//! re-check) and also refuses to pass through a symlink: a symlink inside the root may
//! point anywhere, so following one would let a key read or overwrite files outside it.
//! The walk that refuses them is in `crate::dirs`: one directory entry at a time,
//! relative to handles of directories opened with `O_NOFOLLOW`, so it holds even
//! against symlinks swapped in while a call runs.

use std::io;
use std::path::{Component, Path, PathBuf};

use mirra_driver_api::{DriverError, DriverResult, ErrorKind, Key};

/// File names starting with this are temporary files of writes in progress. `list`
/// skips them, and keys with a segment starting with it are refused, so a temporary
/// file can never be mistaken for an object or clobber one.
pub(crate) const TEMP_PREFIX: &str = ".mirra-tmp-";

/// What a walk to an object is for; decides what an obstacle on the way means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// `stat`, `read`, `delete`: a file where a directory should be means "no object".
    Read,
    /// `put`, `begin_write`: a file where a directory should be (or a directory where
    /// the object should be) is a `Conflict`.
    Write,
}

/// Whether `segment` is one plain file name that is safe to join onto a directory.
pub(crate) fn is_plain_segment(segment: &str) -> bool {
    let mut components = Path::new(segment).components();
    matches!(components.next(), Some(Component::Normal(_)))
        && components.next().is_none()
        && !segment.contains(['/', '\\', '\0'])
        && !segment.starts_with(TEMP_PREFIX)
}

/// Re-checks every segment of `key`: the key crossed an ABI boundary to get here.
///
/// # Errors
/// `InvalidInput` for a segment that is not one plain file name, or that uses the
/// reserved temporary-file prefix.
fn check_segments(key: &Key) -> DriverResult<()> {
    // Re-parse rather than trust.
    let key = Key::parse(key.as_str())?;
    for segment in key.segments() {
        if !is_plain_segment(segment) {
            return Err(DriverError::invalid_input(format!(
                "{key}: segment {segment:?} cannot be stored on disk \
                 (names starting with {TEMP_PREFIX:?} are reserved)"
            )));
        }
    }
    Ok(())
}

/// The path `key` maps to under `root`, after re-checking every segment. Touches no file.
///
/// # Errors
/// The errors of [`check_segments`].
pub(crate) fn key_path(root: &Path, key: &Key) -> DriverResult<PathBuf> {
    check_segments(key)?;
    let path = root.join(key.as_str());
    // Cannot fail after the checks above; kept as the last line of defence.
    if !path.starts_with(root) || path.components().count() <= root.components().count() {
        return Err(DriverError::invalid_input(format!(
            "{key}: maps outside the root"
        )));
    }
    Ok(path)
}

/// `key`'s directory relative to the root (empty for the root itself) and its file name,
/// after re-checking every segment. Touches no file: `crate::dirs` walks the directory
/// one entry at a time, refusing symlinks.
///
/// # Errors
/// The errors of [`check_segments`].
pub(crate) fn split_key(key: &Key) -> DriverResult<(&str, &str)> {
    check_segments(key)?;
    Ok(key.as_str().rsplit_once('/').unwrap_or(("", key.as_str())))
}

/// The error for a symlink met on the way to an object.
pub(crate) fn symlink_refused(path: &Path) -> DriverError {
    DriverError::new(
        ErrorKind::PermissionDenied,
        format!(
            "{}: is a symlink; the disk driver never follows symlinks",
            path.display()
        ),
    )
}

/// Maps an I/O error on `path` during `action` to a driver error of the kind the host
/// acts on. The message names the path, so "no space left" says where.
pub(crate) fn io_error(action: &str, path: &Path, err: io::Error) -> DriverError {
    use io::ErrorKind as Io;
    let message = format!("cannot {action} {}: {err}", path.display());
    // O_NOFOLLOW on a symlink fails with ELOOP, which std has no stable kind for.
    if err.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) {
        return symlink_refused(path);
    }
    let kind = match err.kind() {
        Io::NotFound => ErrorKind::NotFound,
        Io::PermissionDenied | Io::ReadOnlyFilesystem => ErrorKind::PermissionDenied,
        Io::InvalidFilename => ErrorKind::InvalidInput,
        Io::IsADirectory | Io::NotADirectory | Io::DirectoryNotEmpty => ErrorKind::Conflict,
        // Disk full, quota, too large, I/O errors: nothing the host can fix by retrying
        // this provider right away; the message carries the path.
        _ => ErrorKind::Other,
    };
    DriverError::new(kind, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_rechecked() {
        assert!(is_plain_segment("a b.txt"));
        assert!(is_plain_segment(".mirra"));
        assert!(is_plain_segment("a..b"));
        for bad in ["", ".", "..", "a/b", "/", "a\\b", "a\0b", ".mirra-tmp-1"] {
            assert!(!is_plain_segment(bad), "{bad:?}");
        }
    }

    #[test]
    fn keys_map_below_the_root() {
        let root = Path::new("/srv/root");
        let key = Key::parse("a/b/c.txt").unwrap();
        assert_eq!(key_path(root, &key).unwrap(), root.join("a/b/c.txt"));
        let reserved = Key::parse("x/.mirra-tmp-123").unwrap();
        let err = key_path(root, &reserved).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidInput);
        assert_eq!(split_key(&key).unwrap(), ("a/b", "c.txt"));
        assert_eq!(split_key(&Key::parse("top").unwrap()).unwrap(), ("", "top"));
        assert!(split_key(&reserved).is_err());
    }

    #[test]
    fn io_errors_keep_their_kind_and_path() {
        let path = Path::new("/srv/root/a");
        let cases = [
            (io::ErrorKind::NotFound, ErrorKind::NotFound),
            (io::ErrorKind::PermissionDenied, ErrorKind::PermissionDenied),
            (io::ErrorKind::StorageFull, ErrorKind::Other),
        ];
        for (io_kind, kind) in cases {
            let err = io_error("write", path, io::Error::from(io_kind));
            assert_eq!(err.kind, kind);
            assert!(err.message.contains("/srv/root/a"), "{}", err.message);
        }
        let enospc = io_error("write", path, io::Error::from(rustix::io::Errno::NOSPC));
        assert_eq!(enospc.kind, ErrorKind::Other);
        assert!(enospc.message.contains("/srv/root/a"), "{}", enospc.message);
        let eloop = io_error("open", path, io::Error::from(rustix::io::Errno::LOOP));
        assert_eq!(eloop.kind, ErrorKind::PermissionDenied);
    }
}
