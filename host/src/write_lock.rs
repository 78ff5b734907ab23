//! One writer per key per machine: an exclusive lock on one byte of a shared lock file
//! under the state dir.
//!
//! Every `mirra put`/`sync`/`rm` and every gateway write of a key takes the key's lock
//! before it reads the newest version and holds it until its manifest is on every
//! provider, so writers sharing a state dir get distinct, increasing versions and never
//! interleave bytes and manifests.
//!
//! The lock is an open-file-description (OFD) record lock, `fcntl(F_OFD_SETLK)`, on the
//! byte at a 63-bit hash of signer and key in `locks/keys.lock`: one file for every key,
//! where a file per key cost a file creation per new key (as much as writing a small
//! object's bytes). OFD locks belong to the open file, not the process, so two writers
//! in one process exclude each other as two processes do; the kernel drops them when the
//! file is closed, also when the process crashes, so a dead writer never leaves a key
//! locked. Two keys whose hashes collide share a lock (one waits for the other); at 63
//! bits that is as rare as a SHA-256 collision is irrelevant.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

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

/// Where the write locks live: `<state_dir>/locks/keys.lock`.
#[derive(Debug, Clone)]
pub struct WriteLocks {
    file: PathBuf,
}

/// A held write lock; dropping it releases the key.
#[derive(Debug)]
pub struct WriteLock {
    // Closing the file releases the lock.
    _file: File,
}

impl WriteLocks {
    /// Locks in `<state_dir>/locks/keys.lock` (created on first use).
    pub fn new(state_dir: &Path) -> Self {
        Self {
            file: state_dir.join("locks").join("keys.lock"),
        }
    }

    /// The lock file every key's lock is a byte of.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// Takes the lock of `key` signed by `signer`, waiting for the writer holding it
    /// unless `fail_if_busy`.
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
        let io_error = |source: io::Error| WriteLockError::Io {
            path: self.file.clone(),
            source,
        };
        let byte = lock_byte(signer, key);
        let file = self.open().map_err(io_error)?;
        // Uncontended, as nearly always: no thread hand-off.
        match set_lock(&file, byte, false) {
            Ok(()) => return Ok(WriteLock { _file: file }),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if fail_if_busy {
                    return Err(WriteLockError::Busy);
                }
            }
            Err(e) => return Err(io_error(e)),
        }
        // The wait blocks its thread, so it happens on the blocking pool. If the caller
        // gives up meanwhile, the lock taken later is dropped with the result.
        tokio::task::spawn_blocking(move || set_lock(&file, byte, true).map(|()| file))
            .await
            .map_err(|e| io_error(io::Error::other(e.to_string())))?
            .map(|file| WriteLock { _file: file })
            .map_err(io_error)
    }

    /// A new open file description of the lock file (each lock needs its own).
    fn open(&self) -> io::Result<File> {
        let open = || {
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .open(&self.file)
        };
        match open() {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if let Some(dir) = self.file.parent() {
                    fs::create_dir_all(dir)?;
                }
                open()
            }
            other => other,
        }
    }
}

/// The byte of the lock file that stands for `key` signed by `signer`: the first 63 bits
/// of SHA-256(compressed public key ‖ key), so any key maps to a valid file offset.
fn lock_byte(signer: &PublicKey, key: &str) -> i64 {
    let mut id = signer.serialize().to_vec();
    id.extend_from_slice(key.as_bytes());
    let digest = sha256(&id);
    let first: [u8; 8] = digest[..8].try_into().expect("8 of 32 bytes");
    (u64::from_be_bytes(first) >> 1) as i64
}

/// Takes an exclusive OFD lock on byte `byte` of `file`, waiting when `wait`; a busy lock
/// without waiting is `WouldBlock`.
fn set_lock(file: &File, byte: i64, wait: bool) -> io::Result<()> {
    let request = libc::flock {
        l_type: libc::F_WRLCK as libc::c_short,
        l_whence: libc::SEEK_SET as libc::c_short,
        l_start: byte,
        l_len: 1,
        // Must be 0 for OFD locks.
        l_pid: 0,
    };
    let command = if wait {
        libc::F_OFD_SETLKW
    } else {
        libc::F_OFD_SETLK
    };
    loop {
        // SAFETY: a valid descriptor and a fully initialised `flock` that outlives the
        // call; F_OFD_SETLK(W) only reads it.
        let result = unsafe { libc::fcntl(file.as_raw_fd(), command, &request) };
        if result == 0 {
            return Ok(());
        }
        let error = io::Error::last_os_error();
        match error.raw_os_error() {
            Some(libc::EINTR) => continue,
            // POSIX allows either for a held lock.
            Some(libc::EAGAIN) | Some(libc::EACCES) => {
                return Err(io::Error::from(io::ErrorKind::WouldBlock))
            }
            _ => return Err(error),
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

    #[test]
    fn every_key_locks_one_byte_of_one_file_with_distinct_offsets() {
        let signer = signer();
        let bytes: std::collections::HashSet<i64> = (0..10_000)
            .map(|i| lock_byte(&signer, &format!("k/{i}")))
            .collect();
        assert_eq!(bytes.len(), 10_000);
        assert!(bytes.iter().all(|&b| b >= 0));
        assert_ne!(lock_byte(&signer, "k"), lock_byte(&self::signer(), "k"));
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
