//! The root directory, held open, and the directories below it, reached one entry at a
//! time without ever following a symlink.
//!
//! Every directory on the way to an object is opened relative to the handle of the one
//! above it with `O_NOFOLLOW | O_DIRECTORY`, starting from the root's handle, opened once
//! when the driver opens. A symlink anywhere below the root fails that open instead of
//! being followed, and since each step starts from a handle rather than from a path, a
//! directory swapped for a symlink while a call runs cannot redirect the call: it keeps
//! working in the directories it opened. Object files are then opened, created, renamed
//! and removed relative to their directory's handle (`openat`, `renameat`, `unlinkat`).
//!
//! # The directory cache
//! A batch of writes into the same directories would open each of them again and again,
//! so [`RootDir`] keeps the handles of recently walked directories (at most
//! [`CACHED_DIRS`]), by their path relative to the root. A handle names a directory, not
//! a path, so a cached one can go stale: `delete` may have pruned it (it is unlinked and
//! nothing can be created in it), or someone may have renamed it away or replaced it with
//! a symlink. A write into it would then be lost to its key, or land where the key no
//! longer leads. So a cached handle is never used blindly: each step of each walk checks
//! it with one `fstatat` of its name, relative to the (already checked) handle of the
//! directory above and without following a symlink, and uses it only if that name is
//! still a directory with the handle's device and inode number. Anything else drops the
//! entry and everything cached below it, and opens the name afresh, which refuses a
//! symlink as usual. The check costs one `fstatat` per directory level instead of an
//! `openat` and a `close`, and it cannot be fooled by a recycled inode number: the cache
//! holds the old directory open, so its number stays taken. `delete` also drops what it
//! prunes right away, so the cache holds no handles of removed directories for long.
//! What remains is the instant between a check and the call that uses the handle: a
//! directory moved in that instant is no different from one moved just after the call.
//! Only pruning needs care, since nothing can be created in a removed directory: a
//! writer whose directory was pruned under it gets `ENOENT` and walks again.

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use mirra_driver_api::{DriverError, DriverResult, ErrorKind, Key};
use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use crate::paths::{io_error, split_key, symlink_refused, Access};

/// How many directory handles one driver keeps open. Small enough that a host with a
/// few disk providers stays far below the usual limit of 1,024 open files, large enough
/// for a batch spread over a hundred directories.
pub(crate) const CACHED_DIRS: usize = 128;

/// How often a write walks again when a concurrent `delete` pruned a directory on the way
/// (it was empty) before the write could create or open what goes in it.
const WALK_ATTEMPTS: usize = 8;

/// How every directory below the root is opened: never through a symlink, and readable,
/// so the handle can also be synced.
const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

/// An open directory and its identity, to recognise it again by name.
#[derive(Debug)]
pub(crate) struct DirHandle {
    fd: OwnedFd,
    dev: u64,
    ino: u64,
}

impl DirHandle {
    fn new(fd: OwnedFd) -> io::Result<Arc<Self>> {
        let stat = rustix::fs::fstat(&fd)?;
        Ok(Arc::new(Self {
            fd,
            dev: stat.st_dev,
            ino: stat.st_ino,
        }))
    }
}

impl DirHandle {
    /// The device number of the file system the directory is on.
    pub(crate) fn device(&self) -> u64 {
        self.dev
    }
}

impl AsFd for DirHandle {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Where a key's file lives: the directories from the root down to its own, all opened.
pub(crate) struct ObjectDir<'k> {
    /// The root first, the object's own directory last.
    pub(crate) chain: Vec<Arc<DirHandle>>,
    /// The object's directory relative to the root; empty for the root itself.
    pub(crate) rel: &'k str,
    /// The object's file name in that directory.
    pub(crate) name: &'k str,
    /// Whether this walk created a directory, whose entry must then reach the disk too.
    pub(crate) created: bool,
}

impl ObjectDir<'_> {
    /// The object's own directory.
    pub(crate) fn dir(&self) -> &Arc<DirHandle> {
        self.chain.last().expect("the chain starts at the root")
    }
}

/// A provider's root directory, held open, with handles of directories below it.
#[derive(Debug)]
pub(crate) struct RootDir {
    /// Canonical path of the root: for messages and URLs only, never for opening.
    path: PathBuf,
    handle: Arc<DirHandle>,
    /// Handles of directories below the root, by their path relative to it.
    cache: Mutex<HashMap<String, Arc<DirHandle>>>,
}

impl RootDir {
    /// Opens the directory `path` (a symlink *to* the root is followed: the operator
    /// chose it).
    pub(crate) fn open(path: PathBuf) -> io::Result<Self> {
        let fd = rustix::fs::open(
            &path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Self {
            path,
            handle: DirHandle::new(fd)?,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The root's path, as opened.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The root's own handle.
    pub(crate) fn handle(&self) -> &Arc<DirHandle> {
        &self.handle
    }

    /// The path of `rel` below the root, for messages.
    pub(crate) fn display_path(&self, rel: &str) -> PathBuf {
        if rel.is_empty() {
            self.path.clone()
        } else {
            self.path.join(rel)
        }
    }

    /// The path of the object `place` names, for messages.
    pub(crate) fn object_path(&self, place: &ObjectDir<'_>) -> PathBuf {
        self.display_path(place.rel).join(place.name)
    }

    /// Walks to `key`'s directory. A write creates the directories that are missing.
    ///
    /// # Errors
    /// `PermissionDenied` for a symlink on the way; `NotFound` (reads) or `Conflict`
    /// (writes) for a file where a directory must be; `NotFound` for a read whose
    /// directory is missing; the errors of [`split_key`].
    pub(crate) fn locate<'k>(&self, key: &'k Key, access: Access) -> DriverResult<ObjectDir<'k>> {
        let (rel, name) = split_key(key)?;
        let mut created = false;
        for _ in 0..WALK_ATTEMPTS {
            if let Some(chain) = self.walk(key, rel, access, &mut created)? {
                return Ok(ObjectDir {
                    chain,
                    rel,
                    name,
                    created,
                });
            }
        }
        Err(DriverError::other(format!(
            "cannot create directory {}: concurrent deletes keep removing it",
            self.display_path(rel).display()
        )))
    }

    /// One walk from the root to directory `rel`: the handles on the way, or `None` when
    /// a directory this write just created or opened was pruned by a concurrent delete
    /// before the walk could go on (it was empty), so the walk must start over.
    fn walk(
        &self,
        key: &Key,
        rel: &str,
        access: Access,
        created: &mut bool,
    ) -> DriverResult<Option<Vec<Arc<DirHandle>>>> {
        let mut chain = vec![self.handle.clone()];
        if rel.is_empty() {
            return Ok(Some(chain));
        }
        let mut start = 0;
        for end in rel.match_indices('/').map(|(i, _)| i).chain([rel.len()]) {
            let (prefix, segment) = (&rel[..end], &rel[start..end]);
            let above = chain.last().expect("the chain starts at the root");
            let next = match self.cached(prefix) {
                Some(dir) if is_still(above, segment, &dir) => dir,
                stale => {
                    if stale.is_some() {
                        self.forget_under(prefix);
                    }
                    let Some(dir) = self.open_dir(above, segment, prefix, key, access, created)?
                    else {
                        self.forget_under(&rel[..start.saturating_sub(1)]);
                        return Ok(None);
                    };
                    self.remember(prefix, &dir);
                    dir
                }
            };
            chain.push(next);
            start = end + 1;
        }
        Ok(Some(chain))
    }

    /// Drops the cached handles of `rel` and of every directory below it.
    pub(crate) fn forget_under(&self, rel: &str) {
        self.lock().retain(|cached, _| {
            !(cached.starts_with(rel)
                && (cached.len() == rel.len() || cached.as_bytes()[rel.len()] == b'/'))
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<DirHandle>>> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn cached(&self, rel: &str) -> Option<Arc<DirHandle>> {
        self.lock().get(rel).cloned()
    }

    fn remember(&self, rel: &str, dir: &Arc<DirHandle>) {
        let mut cache = self.lock();
        if cache.len() >= CACHED_DIRS && !cache.contains_key(rel) {
            // Evict any one entry: a walk that needs it again just reopens it.
            if let Some(victim) = cache.keys().next().cloned() {
                cache.remove(&victim);
            }
        }
        cache.insert(rel.to_owned(), dir.clone());
    }

    /// Opens directory `segment` in `above` (whose path below the root makes `prefix`
    /// with it), creating it first for a write when it is missing, and noting that in
    /// `created`. `None` when `above` or the new directory vanished meanwhile.
    fn open_dir(
        &self,
        above: &DirHandle,
        segment: &str,
        prefix: &str,
        key: &Key,
        access: Access,
        created: &mut bool,
    ) -> DriverResult<Option<Arc<DirHandle>>> {
        let open = || rustix::fs::openat(above, segment, DIR_FLAGS, Mode::empty());
        let fd = match open() {
            Ok(fd) => fd,
            Err(Errno::NOENT) if access == Access::Write => {
                match rustix::fs::mkdirat(above, segment, Mode::from_raw_mode(0o777)) {
                    Ok(()) => *created = true,
                    // Another writer was quicker: just as good.
                    Err(Errno::EXIST) => {}
                    // `above` itself was pruned: it is unlinked, nothing can be made in it.
                    Err(Errno::NOENT) => return Ok(None),
                    Err(e) => {
                        let path = self.display_path(prefix);
                        return Err(io_error("create directory", &path, e.into()));
                    }
                }
                match open() {
                    Ok(fd) => fd,
                    // Pruned again (it was empty) before we could open it.
                    Err(Errno::NOENT) => return Ok(None),
                    Err(e) => return Err(self.open_error(above, segment, prefix, key, access, e)),
                }
            }
            Err(e) => return Err(self.open_error(above, segment, prefix, key, access, e)),
        };
        DirHandle::new(fd)
            .map(Some)
            .map_err(|e| io_error("inspect directory", &self.display_path(prefix), e))
    }

    /// What failing to open directory `segment` in `above` means for `key`.
    fn open_error(
        &self,
        above: &DirHandle,
        segment: &str,
        prefix: &str,
        key: &Key,
        access: Access,
        err: Errno,
    ) -> DriverError {
        let path = self.display_path(prefix);
        match err {
            Errno::NOENT => DriverError::not_found(key),
            // O_NOFOLLOW with O_DIRECTORY reports a symlink as "not a directory", like a
            // file; look at the entry itself to tell which.
            Errno::NOTDIR | Errno::LOOP => {
                let is_symlink = rustix::fs::statat(above, segment, AtFlags::SYMLINK_NOFOLLOW)
                    .is_ok_and(|stat| FileType::from_raw_mode(stat.st_mode) == FileType::Symlink);
                if is_symlink || err == Errno::LOOP {
                    symlink_refused(&path)
                } else {
                    obstacle(key, access, &path, "is a file, not a directory")
                }
            }
            _ => io_error("open directory", &path, err.into()),
        }
    }
}

/// Whether `name` in `above` is still the directory `dir`, not following a symlink.
fn is_still(above: &DirHandle, name: &str, dir: &DirHandle) -> bool {
    rustix::fs::statat(above, name, AtFlags::SYMLINK_NOFOLLOW).is_ok_and(|stat| {
        FileType::from_raw_mode(stat.st_mode) == FileType::Directory
            && stat.st_dev == dir.dev
            && stat.st_ino == dir.ino
    })
}

/// What something other than the expected kind of entry at `path` means: no object for a
/// read, a conflict for a write.
pub(crate) fn obstacle(key: &Key, access: Access, path: &Path, why: &str) -> DriverError {
    match access {
        Access::Read => DriverError::not_found(key),
        Access::Write => DriverError::new(
            ErrorKind::Conflict,
            format!("cannot store {key}: {} {why}", path.display()),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> Key {
        Key::parse(s).unwrap()
    }

    #[test]
    fn forgetting_a_directory_forgets_what_is_below_it_only() {
        let dir = tempfile::tempdir().unwrap();
        let root = RootDir::open(dir.path().to_path_buf()).unwrap();
        for k in ["a/b/x", "a/bc/x", "ab/x", "a/x"] {
            root.locate(&key(k), Access::Write).unwrap();
        }
        let cached = |root: &RootDir| {
            let mut keys: Vec<String> = root.lock().keys().cloned().collect();
            keys.sort();
            keys
        };
        assert_eq!(cached(&root), ["a", "a/b", "a/bc", "ab"]);
        root.forget_under("a/b");
        assert_eq!(cached(&root), ["a", "a/bc", "ab"]);
        root.forget_under("a");
        assert_eq!(cached(&root), ["ab"]);
    }

    #[test]
    fn the_cache_stays_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let root = RootDir::open(dir.path().to_path_buf()).unwrap();
        for i in 0..CACHED_DIRS + 20 {
            root.locate(&key(&format!("d{i}/x")), Access::Write)
                .unwrap();
        }
        assert_eq!(root.lock().len(), CACHED_DIRS);
    }

    #[test]
    fn a_walk_reports_where_it_created_directories() {
        let dir = tempfile::tempdir().unwrap();
        let root = RootDir::open(dir.path().to_path_buf()).unwrap();
        let k = key("a/b/c");
        let first = root.locate(&k, Access::Write).unwrap();
        assert!(first.created);
        assert_eq!((first.rel, first.name, first.chain.len()), ("a/b", "c", 3));
        assert!(dir.path().join("a/b").is_dir());
        let again = root.locate(&k, Access::Write).unwrap();
        assert!(!again.created);
        assert!(Arc::ptr_eq(first.dir(), again.dir()), "not reused");
        let err = root
            .locate(&key("x/y"), Access::Read)
            .map(|_| ())
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::NotFound);
        assert!(!dir.path().join("x").exists());
    }
}
