//! One writer per key per machine: an exclusive `flock` on a lock file under the state dir.
//!
//! Every `mirra put`/`sync`/`rm` and every gateway write of a key takes the key's lock
//! before it reads the newest version and holds it until its manifest is on every
//! provider, so writers sharing a state dir get distinct, increasing versions and never
//! interleave bytes and manifests. The kernel drops an `flock` when its file is closed,
//! also when the process crashes, so a dead writer never leaves a key locked. Lock files
//! are left in place: removing one would let a waiter lock an unlinked file while a new
//! writer locks a fresh one.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use rustix::fs::{flock, FlockOperation};
use secp256k1::PublicKey;

use crate::manifest::sha256;

/// Why a key's write lock could not be taken.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteLockError {
    /// Another writer holds the lock and the caller asked not to wait.
    #[error("another write of this key is in flight")]
    Busy,
    /// The lock file could not be created or locked.
    #[error("write lock {}: {source}", .path.display())]
    Io {
        /// The lock file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
}

/// Where the per-key lock files live: `<state_dir>/locks/`.
#[derive(Debug, Clone)]
pub struct WriteLocks {
    dir: PathBuf,
}

/// A held write lock; dropping it releases the key.
#[derive(Debug)]
pub struct WriteLock {
    // Closing the file releases the flock.
    _file: File,
}

impl WriteLocks {
    /// Locks under `<state_dir>/locks` (created on first use).
    pub fn new(state_dir: &Path) -> Self {
        Self {
            dir: state_dir.join("locks"),
        }
    }

    /// The lock file of `key` signed by `signer`: named by a hash, so any key maps to a
    /// short, safe file name.
    pub fn path(&self, signer: &PublicKey, key: &str) -> PathBuf {
        let mut id = signer.serialize().to_vec();
        id.extend_from_slice(key.as_bytes());
        self.dir.join(format!("{}.lock", hex::encode(sha256(&id))))
    }

    /// Takes the lock of `key`, waiting for the writer holding it unless `fail_if_busy`.
    ///
    /// # Errors
    /// `Busy` when `fail_if_busy` and the key is locked; `Io` when the lock file cannot
    /// be created or locked.
    pub async fn lock(
        &self,
        signer: &PublicKey,
        key: &str,
        fail_if_busy: bool,
    ) -> Result<WriteLock, WriteLockError> {
        let path = self.path(signer, key);
        let dir = self.dir.clone();
        // flock blocks the thread, so the wait happens on the blocking pool. If the
        // caller gives up meanwhile, the lock taken later is dropped with the result.
        tokio::task::spawn_blocking(move || lock_file(&dir, &path, fail_if_busy))
            .await
            .map_err(|e| WriteLockError::Io {
                path: PathBuf::new(),
                source: io::Error::other(e.to_string()),
            })?
    }
}

fn lock_file(dir: &Path, path: &Path, fail_if_busy: bool) -> Result<WriteLock, WriteLockError> {
    let io_error = |source: io::Error| WriteLockError::Io {
        path: path.to_path_buf(),
        source,
    };
    fs::create_dir_all(dir).map_err(io_error)?;
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(io_error)?;
    let operation = match fail_if_busy {
        true => FlockOperation::NonBlockingLockExclusive,
        false => FlockOperation::LockExclusive,
    };
    loop {
        match flock(&file, operation) {
            Ok(()) => return Ok(WriteLock { _file: file }),
            Err(rustix::io::Errno::INTR) => continue,
            Err(rustix::io::Errno::WOULDBLOCK) if fail_if_busy => return Err(WriteLockError::Busy),
            Err(e) => return Err(io_error(e.into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> PublicKey {
        crate::identity::Identity::generate().public_key()
    }

    #[tokio::test]
    async fn a_held_key_is_busy_and_other_keys_are_not() {
        let state = tempfile::tempdir().unwrap();
        let locks = WriteLocks::new(state.path());
        let signer = signer();
        let held = locks.lock(&signer, "a", false).await.unwrap();
        assert!(matches!(
            locks.lock(&signer, "a", true).await,
            Err(WriteLockError::Busy)
        ));
        locks.lock(&signer, "b", true).await.unwrap();
        drop(held);
        locks.lock(&signer, "a", true).await.unwrap();
    }

    #[tokio::test]
    async fn a_waiter_gets_the_lock_when_it_is_released() {
        let state = tempfile::tempdir().unwrap();
        let locks = WriteLocks::new(state.path());
        let signer = signer();
        let held = locks.lock(&signer, "k", false).await.unwrap();
        let waiter = {
            let locks = locks.clone();
            tokio::spawn(async move { locks.lock(&signer, "k", false).await.map(|_| ()) })
        };
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!waiter.is_finished(), "the waiter did not wait");
        drop(held);
        waiter.await.unwrap().unwrap();
    }
}
