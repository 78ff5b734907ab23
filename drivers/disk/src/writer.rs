//! Atomic writes: a temporary file next to the object, fsync, rename, fsync the directory.
//! Unsynced writes (for batches) skip both fsyncs; the driver's `flush` covers them.
//!
//! Readers open the object by name, so until the rename they see the old file and after
//! it the new one, never a mix. The temporary file lives in the object's own directory
//! so the rename never crosses a file system.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use mirra_driver_api::{DriverError, DriverResult, Key, ObjectWriter};

use crate::paths::{io_error, resolve, Access, TEMP_PREFIX};

/// How often to retry creating the temporary file when a concurrent `delete` removed
/// its freshly created (still empty) parent directory.
const CREATE_ATTEMPTS: usize = 8;

/// A streamed write of one key, from [`crate::DiskDriver`]'s `begin_write`.
///
/// Dropping it without `commit` removes the temporary file, like `abort`.
pub(crate) struct DiskWriter {
    root: PathBuf,
    key: Key,
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
    /// Creates the object's parent directories and a temporary file beside it.
    pub(crate) fn begin(root: &Path, key: &Key, durability: Durability) -> DriverResult<Self> {
        let mut last_error = None;
        for _ in 0..CREATE_ATTEMPTS {
            let target = resolve(root, key, Access::Write)?;
            let parent = target.parent().unwrap_or(root);
            let created_dirs = create_parents(root, key)?;
            // The parents were created by us or already existed; check that none of them
            // is a symlink that appeared meanwhile.
            resolve(root, key, Access::Write)?;
            let temp_path = parent.join(temp_name());
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(&temp_path)
            {
                Ok(file) => {
                    return Ok(Self {
                        root: root.to_path_buf(),
                        key: key.clone(),
                        temp_path,
                        file: Some(BufWriter::with_capacity(64 * 1024, file)),
                        created_dirs,
                        durability,
                    })
                }
                // A delete pruned the empty parent between create_parents and here, or
                // (vanishingly unlikely) the temporary name is taken: try again.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::NotFound | io::ErrorKind::AlreadyExists
                    ) =>
                {
                    last_error = Some(io_error("create", &temp_path, e));
                }
                Err(e) => return Err(io_error("create", &temp_path, e)),
            }
        }
        Err(last_error.unwrap_or_else(|| DriverError::other("cannot create a temporary file")))
    }

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
        // Re-check: a symlink or directory may have appeared on the way since `begin`.
        let target = resolve(&self.root, &self.key, Access::Write)?;
        fs::rename(&self.temp_path, &target).map_err(|e| io_error("rename onto", &target, e))?;
        if !synced {
            return Ok(());
        }
        let parent = target.parent().unwrap_or(&self.root);
        sync_dir(parent)?;
        if self.created_dirs {
            // New directories exist durably only once their own parents are synced.
            for dir in parent.ancestors().skip(1) {
                sync_dir(dir)?;
                if dir == self.root {
                    break;
                }
            }
        }
        Ok(())
    }

    /// Removes the temporary file. Also what dropping an unfinished writer does.
    fn discard(&mut self) -> DriverResult<()> {
        self.file = None;
        match fs::remove_file(&self.temp_path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                Err(io_error("remove", &self.temp_path, e))
            }
            _ => Ok(()),
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

/// Creates the missing directories between `root` and `key`'s file, one at a time so
/// each is a real directory (never through a symlink, which `resolve` refused earlier).
/// Returns whether any was created.
fn create_parents(root: &Path, key: &Key) -> DriverResult<bool> {
    let segments: Vec<&str> = key.segments().collect();
    let mut dir = root.to_path_buf();
    let mut created = false;
    for segment in &segments[..segments.len() - 1] {
        dir.push(segment);
        match fs::create_dir(&dir) {
            Ok(()) => created = true,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io_error("create directory", &dir, e)),
        }
    }
    Ok(created)
}

fn sync_dir(dir: &Path) -> DriverResult<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error("sync directory", dir, e))
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
