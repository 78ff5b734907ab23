//! Streamed writes: the bytes go to a local spool file, and `commit` uploads it.
//!
//! MEGA's upload needs the size up front and encrypts as it sends, so the object is
//! spooled to disk (not memory) until `commit`. Nothing reaches MEGA before that, so
//! `abort` and `Drop` only close the unnamed spool file.

use std::fs::File;
use std::io::Write;
use std::sync::Arc;

use mirra_driver_api::{DriverError, DriverResult, Key, ObjectWriter};

use crate::driver::Backend;

/// A streamed write in progress.
pub(crate) struct MegaWriter {
    backend: Arc<Backend>,
    key: Key,
    file: File,
    size: u64,
}

impl MegaWriter {
    /// Starts spooling a write of `key`.
    pub fn new(backend: Arc<Backend>, key: Key) -> DriverResult<Self> {
        let file = backend.spool.temp_file().map_err(|e| {
            DriverError::other(format!("mega: cannot create a spool file for {key}: {e}"))
        })?;
        Ok(Self {
            backend,
            key,
            file,
            size: 0,
        })
    }
}

impl ObjectWriter for MegaWriter {
    fn write(&mut self, data: &[u8]) -> DriverResult<()> {
        self.file
            .write_all(data)
            .map_err(|e| DriverError::other(format!("mega: spooling {} failed: {e}", self.key)))?;
        self.size += data.len() as u64;
        Ok(())
    }

    fn commit(self: Box<Self>) -> DriverResult<()> {
        let Self {
            backend,
            key,
            file,
            size,
        } = *self;
        backend.upload(&key, file, size)
    }

    fn abort(self: Box<Self>) -> DriverResult<()> {
        // Dropping the unnamed spool file is all there is to undo.
        Ok(())
    }
}
