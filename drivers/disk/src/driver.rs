//! One opened disk provider: a root directory, writable or read-only.

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

use mirra_driver_api::{
    DriverError, DriverResult, ErrorKind, Key, ListPage, ObjectMeta, ObjectWriter, StorageDriver,
};
use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use crate::dirs::{ObjectDir, RootDir};
use crate::flush::SharedFlush;
use crate::paths::{io_error, key_path, symlink_refused, Access};
use crate::writer::{DiskWriter, Durability};
use crate::{fileurl, list};

/// A provider that stores each object as a file under a root directory, at the path
/// its key names.
#[derive(Debug)]
pub struct DiskDriver {
    /// The root, held open since `open`, canonicalized so every path below it is
    /// checked from a fixed base.
    root: Arc<RootDir>,
    /// False for drivers from `open_url`: everything that changes data is refused.
    writable: bool,
    /// The flush of the root's file system, shared with the other roots on it.
    flushes: Arc<SharedFlush>,
}

impl DiskDriver {
    /// Opens the directory `root` for reading and writing, creating it if missing.
    ///
    /// # Errors
    /// When the directory cannot be created or is not a directory.
    pub fn open(root: &Path) -> DriverResult<Self> {
        fs::create_dir_all(root).map_err(|e| io_error("create root directory", root, e))?;
        Self::existing(root, true)
    }

    /// Opens the existing directory `root` read-only: writes and deletes answer
    /// `PermissionDenied`.
    ///
    /// # Errors
    /// `NotFound` when `root` does not exist; `InvalidInput` when it is not a directory.
    pub fn open_read_only(root: &Path) -> DriverResult<Self> {
        Self::existing(root, false)
    }

    fn existing(root: &Path, writable: bool) -> DriverResult<Self> {
        // The operator chose the root, so a symlink *to* it is fine; resolve it once
        // here, and refuse symlinks only below it.
        let root = root
            .canonicalize()
            .map_err(|e| io_error("open root directory", root, e))?;
        if !root.is_dir() {
            return Err(DriverError::invalid_input(format!(
                "{}: is not a directory",
                root.display()
            )));
        }
        let root =
            RootDir::open(root.clone()).map_err(|e| io_error("open root directory", &root, e))?;
        Ok(Self {
            flushes: SharedFlush::of_device(root.handle().device()),
            root: Arc::new(root),
            writable,
        })
    }

    /// The root directory, canonicalized.
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    fn check_writable(&self, operation: &str) -> DriverResult<()> {
        if self.writable {
            Ok(())
        } else {
            Err(DriverError::new(
                ErrorKind::PermissionDenied,
                format!(
                    "{operation}: {} was opened read-only from a file:// URL",
                    self.root().display()
                ),
            ))
        }
    }

    /// Opens `key`'s file for reading without following a symlink in its place, and
    /// checks it is a regular file.
    fn open_object(&self, key: &Key) -> DriverResult<(File, u64)> {
        let place = self.root.locate(key, Access::Read)?;
        // O_NONBLOCK: a FIFO in the object's place must not hang the call; it changes
        // nothing for regular files.
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let file = rustix::fs::openat(&**place.dir(), place.name, flags, Mode::empty())
            .map(File::from)
            .map_err(|e| not_found_or(key, "open", &self.root.object_path(&place), e))?;
        let meta = file
            .metadata()
            .map_err(|e| io_error("inspect", &self.root.object_path(&place), e))?;
        if !meta.is_file() {
            return Err(DriverError::not_found(key));
        }
        Ok((file, meta.len()))
    }

    /// A write of `key` for `operation`, refused on a read-only driver.
    fn writer(
        &self,
        operation: &str,
        key: &Key,
        durability: Durability,
    ) -> DriverResult<Box<DiskWriter>> {
        self.check_writable(operation)?;
        Ok(Box::new(DiskWriter::begin(&self.root, key, durability)?))
    }

    /// `key`'s regular file, checked without following a symlink in its place.
    fn object_stat(&self, key: &Key, place: &ObjectDir<'_>) -> DriverResult<ObjectMeta> {
        let stat = rustix::fs::statat(&**place.dir(), place.name, AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| not_found_or(key, "stat", &self.root.object_path(place), e))?;
        match FileType::from_raw_mode(stat.st_mode) {
            FileType::RegularFile => Ok(ObjectMeta {
                size: stat.st_size as u64,
            }),
            FileType::Symlink => Err(symlink_refused(&self.root.object_path(place))),
            _ => Err(DriverError::not_found(key)),
        }
    }
}

/// `NotFound` naming the key for a missing file; any other error as it is.
fn not_found_or(key: &Key, action: &str, path: &Path, err: Errno) -> DriverError {
    match err {
        Errno::NOENT | Errno::NOTDIR => DriverError::not_found(key),
        _ => io_error(action, path, io::Error::from(err)),
    }
}

impl StorageDriver for DiskDriver {
    fn stat(&self, key: &Key) -> DriverResult<ObjectMeta> {
        let place = self.root.locate(key, Access::Read)?;
        self.object_stat(key, &place)
    }

    /// Fills `buf` from one open file, so one call returns bytes of one version of the
    /// object even while a writer replaces it.
    fn read(&self, key: &Key, offset: u64, buf: &mut [u8]) -> DriverResult<usize> {
        let (file, size) = self.open_object(key)?;
        if offset >= size {
            return Ok(0);
        }
        let mut filled = 0;
        while filled < buf.len() {
            match file.read_at(&mut buf[filled..], offset + filled as u64) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_error("read", &key_path(self.root(), key)?, e)),
            }
        }
        Ok(filled)
    }

    fn begin_write(&self, key: &Key) -> DriverResult<Box<dyn ObjectWriter>> {
        Ok(self.writer("begin_write", key, Durability::OnCommit)?)
    }

    fn begin_unsynced_write(&self, key: &Key) -> DriverResult<Box<dyn ObjectWriter>> {
        Ok(self.writer("begin_unsynced_write", key, Durability::AtFlush)?)
    }

    /// One `syncfs` of the root's file system: every unsynced write's data, its rename
    /// and the directories it created reach the disk together. Shared with the other
    /// roots on that file system (see `crate::flush`).
    fn flush(&self) -> DriverResult<()> {
        self.check_writable("flush")?;
        self.flushes
            .flush(|| rustix::fs::syncfs(&**self.root.handle()).map_err(Into::into))
            .map_err(|e| io_error("sync the file system of", self.root(), e))
    }

    fn put(&self, key: &Key, data: &[u8]) -> DriverResult<()> {
        let mut writer = self.writer("put", key, Durability::OnCommit)?;
        writer.write(data)?;
        writer.commit()
    }

    fn delete(&self, key: &Key) -> DriverResult<()> {
        self.check_writable("delete")?;
        let place = self.root.locate(key, Access::Read)?;
        self.object_stat(key, &place)?;
        rustix::fs::unlinkat(&**place.dir(), place.name, AtFlags::empty())
            .map_err(|e| not_found_or(key, "delete", &self.root.object_path(&place), e))?;
        // Prune directories the delete left empty, up to (not including) the root; stop
        // at the first one that still holds something. Each is removed by name from the
        // handle of the directory above it, and forgotten by the cache. A writer that
        // races us retries creating its directory (see `DiskWriter::begin`).
        let mut rel = place.rel;
        for above in place.chain.iter().rev().skip(1) {
            let (parent_rel, name) = rel.rsplit_once('/').unwrap_or(("", rel));
            if rustix::fs::unlinkat(&**above, name, AtFlags::REMOVEDIR).is_err() {
                break;
            }
            self.root.forget_under(rel);
            rel = parent_rel;
        }
        Ok(())
    }

    fn list(&self, prefix: &str, cursor: Option<&str>, limit: u32) -> DriverResult<ListPage> {
        list::list(self.root(), prefix, cursor, limit)
    }

    /// A `file://` URL of the object's path; the key need not exist.
    fn public_url(&self, key: &Key) -> DriverResult<String> {
        Ok(fileurl::from_path(&key_path(self.root(), key)?))
    }

    fn health(&self) -> DriverResult<()> {
        match fs::symlink_metadata(self.root()) {
            Ok(meta) if meta.is_dir() => Ok(()),
            Ok(_) => Err(DriverError::unavailable(format!(
                "{}: is no longer a directory",
                self.root().display()
            ))),
            Err(e) => Err(DriverError::unavailable(format!(
                "{}: {e}",
                self.root().display()
            ))),
        }
    }
}
