//! Atomic writes: a temporary file next to the object, fsync, rename, fsync the directory.
//! Unsynced writes (for batches) skip both fsyncs; the driver's `flush` covers them.
//!
//! Readers open the object by name, so until the rename they see the old file and after
//! it the new one, never a mix. The temporary file lives in the object's own directory
//! so the rename never crosses a file system. Every file operation is relative to the
//! handle of that directory (`openat`, `renameat`, `unlinkat`), opened by a walk that
//! never follows a symlink (see `crate::dirs`).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use mirra_driver_api::{DriverError, DriverResult, Key, ObjectWriter};
use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use crate::dirs::{obstacle, DirHandle, ObjectDir, RootDir};
use crate::paths::{io_error, symlink_refused, Access, TEMP_PREFIX};

/// How often to retry creating the temporary file when a concurrent `delete` removed
/// its (still empty) parent directory between the walk and the create.
const CREATE_ATTEMPTS: usize = 8;

/// A streamed write of one key, from [`crate::DiskDriver`]'s `begin_write`.
///
/// Dropping it without `commit` removes the temporary file, like `abort`.
pub(crate) struct DiskWriter {
    root: Arc<RootDir>,
    key: Key,
    /// The directory holding the temporary file: the object's, when `begin` ran.
    dir: Arc<DirHandle>,
    temp_name: String,
    /// The temporary file's path, for messages.
    temp_path: PathBuf,
    /// `None` once committed or aborted.
    file: Option<BufWriter<File>>,
    /// Whether `begin` created directories, whose entries must then reach the disk too.
    created_dirs: bool,
    /// Whether commit syncs; when not, the next `flush` makes the write durable.
    durability: Durability,
}

/// When a write reaches the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Durability {
    /// On commit: the file and every directory entry it needs are synced.
    OnCommit,
    /// At the driver's next `flush` (one `syncfs` for the whole batch).
    AtFlush,
}

impl DiskWriter {
    /// Creates the object's missing parent directories and a temporary file beside it.
    pub(crate) fn begin(
        root: &Arc<RootDir>,
        key: &Key,
        durability: Durability,
    ) -> DriverResult<Self> {
        let mut last_error = None;
        for _ in 0..CREATE_ATTEMPTS {
            let place = root.locate(key, Access::Write)?;
            check_target(root, key, &place)?;
            let temp_name = temp_name();
            let temp_path = root.display_path(place.rel).join(&temp_name);
            let flags =
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            match rustix::fs::openat(place.dir(), &temp_name, flags, Mode::from_raw_mode(0o666)) {
                Ok(fd) => {
                    return Ok(Self {
                        root: root.clone(),
                        key: key.clone(),
                        dir: place.dir().clone(),
                        temp_name,
                        temp_path,
                        file: Some(BufWriter::with_capacity(64 * 1024, File::from(fd))),
                        created_dirs: place.created,
                        durability,
                    })
                }
                // A delete pruned the (empty) directory after the walk checked it: its
                // handle is of an unlinked directory now. Forget it and walk again.
                Err(Errno::NOENT) => {
                    root.forget_under(place.rel);
                    last_error = Some(io_error("create", &temp_path, Errno::NOENT.into()));
                }
                // Vanishingly unlikely: the temporary name is taken. Another one.
                Err(Errno::EXIST) => {
                    last_error = Some(io_error("create", &temp_path, Errno::EXIST.into()));
                }
                Err(e) => return Err(io_error("create", &temp_path, e.into())),
            }
        }
        Err(last_error.unwrap_or_else(|| DriverError::other("cannot create a temporary file")))
    }

    /// Writes out, syncs and renames the temporary file onto the object, then syncs the
    /// directory entries the write changed; `Durability::AtFlush` skips both syncs.
    fn finish(&mut self) -> DriverResult<()> {
        let file = self
            .file
            .take()
            .ok_or_else(|| DriverError::other(format!("{}: write already finished", self.key)))?;
        let file = file
            .into_inner()
            .map_err(|e| io_error("write", &self.temp_path, e.into_error()))?;
        let synced = self.durability == Durability::OnCommit;
        if synced {
            file.sync_all()
                .map_err(|e| io_error("sync", &self.temp_path, e))?;
        }
        drop(file);
        // Walk again: the directory may have been moved away, or a symlink swapped in on
        // the way, since `begin`. The walk refuses a symlink; a directory that is no
        // longer where the key leads is not renamed into (the object would be lost to
        // its key): the rename moves the file across to the directory the key leads to
        // now. (A symlink that took the object's own name is replaced, never followed.)
        let place = self.root.locate(&self.key, Access::Write)?;
        let target = place.dir();
        rustix::fs::renameat(&*self.dir, &self.temp_name, &**target, place.name)
            .map_err(|e| io_error("rename onto", &self.root.object_path(&place), e.into()))?;
        if !synced {
            return Ok(());
        }
        sync_dirs(&self.root, &place, self.created_dirs)
    }

    /// Removes the temporary file. Also what dropping an unfinished writer does.
    fn discard(&mut self) -> DriverResult<()> {
        self.file = None;
        match rustix::fs::unlinkat(&*self.dir, &self.temp_name, AtFlags::empty()) {
            Ok(()) | Err(Errno::NOENT) => Ok(()),
            Err(e) => Err(io_error("remove", &self.temp_path, e.into())),
        }
    }
}

impl ObjectWriter for DiskWriter {
    fn write(&mut self, data: &[u8]) -> DriverResult<()> {
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| DriverError::other(format!("{}: write already finished", self.key)))?;
        file.write_all(data)
            .map_err(|e| io_error("write", &self.temp_path, e))
    }

    fn commit(mut self: Box<Self>) -> DriverResult<()> {
        let result = self.finish();
        if result.is_err() {
            // Whatever failed, leave no temporary file behind; the first error matters.
            let _ = self.discard();
        }
        result
    }

    fn abort(mut self: Box<Self>) -> DriverResult<()> {
        self.discard()
    }
}

impl Drop for DiskWriter {
    fn drop(&mut self) {
        if self.file.is_some() {
            // Dropped without commit or abort: behave like abort; nobody to tell.
            let _ = self.discard();
        }
    }
}

/// Refuses to write where a symlink or anything but a regular file has the object's name.
fn check_target(root: &RootDir, key: &Key, place: &ObjectDir<'_>) -> DriverResult<()> {
    let path = || root.object_path(place);
    match rustix::fs::statat(&**place.dir(), place.name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(stat) => match FileType::from_raw_mode(stat.st_mode) {
            FileType::RegularFile => Ok(()),
            FileType::Symlink => Err(symlink_refused(&path())),
            _ => Err(obstacle(
                key,
                Access::Write,
                &path(),
                "is not a regular file",
            )),
        },
        Err(Errno::NOENT) => Ok(()),
        Err(e) => Err(io_error("inspect", &path(), e.into())),
    }
}

/// Syncs the object's directory, so the rename survives a crash, and, when directories
/// were created on the way, every directory above it up to the root: a new directory
/// exists durably only once the directory holding it is synced.
fn sync_dirs(root: &RootDir, place: &ObjectDir<'_>, created_dirs: bool) -> DriverResult<()> {
    rustix::fs::fsync(&**place.dir())
        .map_err(|e| io_error("sync directory", &root.display_path(place.rel), e.into()))?;
    if created_dirs || place.created {
        let above = &place.chain[..place.chain.len() - 1];
        for (depth, dir) in above.iter().enumerate().rev() {
            rustix::fs::fsync(&**dir).map_err(|e| {
                let rel: Vec<&str> = place.rel.split('/').take(depth).collect();
                io_error(
                    "sync directory",
                    &root.display_path(&rel.join("/")),
                    e.into(),
                )
            })?;
        }
    }
    Ok(())
}

/// A name no other writer, in this process or another, is using right now.
fn temp_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!(
        "{TEMP_PREFIX}{}-{}-{nanos:x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}
