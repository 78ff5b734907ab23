//! Streamed writes for WebDAV.
//!
//! A plain PUT needs the whole body, and WebDAV has no multipart upload, so the writer
//! spools to an anonymous temporary file and PUTs that file on commit. Memory stays
//! flat whatever the object's size; the spool file vanishes on abort or drop (it is
//! unlinked from the start), and the server sees nothing until commit.

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::sync::Arc;

use mirra_driver_api::{DriverResult, Key, ObjectWriter};
use reqwest::blocking::Body;

use crate::driver::Remote;
use crate::errors::io_error;

/// A write spooled to a temporary file until commit.
pub(crate) struct SpoolWriter {
    remote: Arc<Remote>,
    key: Key,
    spool: File,
}

impl SpoolWriter {
    pub fn new(remote: Arc<Remote>, key: Key) -> DriverResult<Self> {
        let spool = tempfile::tempfile().map_err(|e| io_error(e, "spool", key.as_str()))?;
        Ok(Self { remote, key, spool })
    }
}

impl ObjectWriter for SpoolWriter {
    fn write(&mut self, data: &[u8]) -> DriverResult<()> {
        self.spool
            .write_all(data)
            .map_err(|e| io_error(e, "spool", self.key.as_str()))
    }

    fn commit(self: Box<Self>) -> DriverResult<()> {
        let key = self.key.as_str();
        crate::webdav::ensure_parent(&self.remote, &self.key)?;
        let body = || -> DriverResult<Body> {
            // A fresh handle per attempt: the PUT may be retried after MKCOL.
            let mut file = self
                .spool
                .try_clone()
                .map_err(|e| io_error(e, "spool", key))?;
            file.seek(SeekFrom::Start(0))
                .map_err(|e| io_error(e, "spool", key))?;
            Ok(Body::from(file))
        };
        self.remote.put_with_parents(&self.key, &body)
    }

    fn abort(self: Box<Self>) -> DriverResult<()> {
        // Dropping the unlinked spool file frees it; nothing reached the server.
        Ok(())
    }
}
