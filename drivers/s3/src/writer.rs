//! Streamed writes: multipart upload, or one PUT when the object fits in one part.
//!
//! Bytes are buffered up to `part_size`; the multipart upload starts only when the
//! first full part is ready, so small objects cost one request and an abort before
//! that point needs none. At most [`MAX_PARTS_IN_FLIGHT`] parts upload at once, which
//! bounds memory to a few parts per writer.

use std::collections::VecDeque;
use std::mem;
use std::sync::Arc;

use mirra_driver_api::{DriverError, DriverResult, ObjectWriter};
use object_store::path::Path;
use object_store::{MultipartUpload, ObjectStoreExt, PutPayload};
use tokio::task::JoinHandle;

use crate::driver::Backend;
use crate::errors::map_error;

/// Parts uploading concurrently per writer.
const MAX_PARTS_IN_FLIGHT: usize = 2;

type PartTask = JoinHandle<object_store::Result<()>>;

/// A streamed write of one key; dropping it uncommitted aborts the upload.
pub(crate) struct S3Writer {
    backend: Arc<Backend>,
    path: Path,
    /// The mirra key, for error messages.
    key: String,
    buffer: Vec<u8>,
    upload: Option<Box<dyn MultipartUpload>>,
    in_flight: VecDeque<PartTask>,
    /// Committed or aborted: nothing left to clean up.
    done: bool,
}

impl S3Writer {
    pub fn new(backend: Arc<Backend>, path: Path, key: String) -> Self {
        Self {
            backend,
            path,
            key,
            buffer: Vec::new(),
            upload: None,
            in_flight: VecDeque::new(),
            done: false,
        }
    }

    fn err(&self, op: &str, e: object_store::Error) -> DriverError {
        map_error(e, op, &self.key)
    }

    /// Starts uploading `part`, waiting first if too many parts are in flight.
    fn send_part(&mut self, part: Vec<u8>) -> DriverResult<()> {
        if self.upload.is_none() {
            let started = self
                .backend
                .runtime
                .block_on(self.backend.store.put_multipart(&self.path))
                .map_err(|e| self.err("create multipart upload", e))?;
            self.upload = Some(started);
        }
        while self.in_flight.len() >= MAX_PARTS_IN_FLIGHT {
            self.wait_oldest()?;
        }
        let upload = self.upload.as_mut().expect("started above");
        let task = self
            .backend
            .runtime
            .spawn(upload.put_part(PutPayload::from(part)));
        self.in_flight.push_back(task);
        Ok(())
    }

    fn wait_oldest(&mut self) -> DriverResult<()> {
        let Some(task) = self.in_flight.pop_front() else {
            return Ok(());
        };
        match self.backend.runtime.block_on(task) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(self.err("upload part", e)),
            Err(join) => Err(DriverError::other(format!(
                "s3 upload part {}: task failed: {join}",
                self.key
            ))),
        }
    }

    /// Waits for parts still uploading, then aborts the multipart upload (S3 may keep
    /// a part that finishes after the abort, so the parts are drained first).
    fn abort_upload(&mut self) -> DriverResult<()> {
        self.done = true;
        self.buffer = Vec::new();
        for task in mem::take(&mut self.in_flight) {
            let _ = self.backend.runtime.block_on(task);
        }
        let Some(mut upload) = self.upload.take() else {
            return Ok(());
        };
        self.backend
            .runtime
            .block_on(upload.abort())
            .map_err(|e| self.err("abort multipart upload", e))
    }

    fn finish(&mut self) -> DriverResult<()> {
        if self.upload.is_none() {
            let data = mem::take(&mut self.buffer);
            return self
                .backend
                .runtime
                .block_on(self.backend.store.put(&self.path, PutPayload::from(data)))
                .map(drop)
                .map_err(|e| self.err("put", e));
        }
        if !self.buffer.is_empty() {
            let last = mem::take(&mut self.buffer);
            self.send_part(last)?;
        }
        while !self.in_flight.is_empty() {
            self.wait_oldest()?;
        }
        let mut upload = self.upload.take().expect("checked above");
        let completed = self.backend.runtime.block_on(upload.complete());
        match completed {
            Ok(_) => Ok(()),
            Err(e) => {
                // Put it back so the failure path below aborts it.
                self.upload = Some(upload);
                Err(self.err("complete multipart upload", e))
            }
        }
    }
}

impl ObjectWriter for S3Writer {
    fn write(&mut self, mut data: &[u8]) -> DriverResult<()> {
        if self.done {
            return Err(DriverError::other(format!(
                "s3 write {}: an earlier error already aborted this upload",
                self.key
            )));
        }
        let part_size = self.backend.part_size;
        while !data.is_empty() {
            let room = part_size - self.buffer.len();
            let (now, later) = data.split_at(room.min(data.len()));
            self.buffer.extend_from_slice(now);
            data = later;
            if self.buffer.len() == part_size {
                let part = mem::replace(&mut self.buffer, Vec::with_capacity(part_size));
                if let Err(e) = self.send_part(part) {
                    let _ = self.abort_upload();
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    fn commit(mut self: Box<Self>) -> DriverResult<()> {
        let result = self.finish();
        // Streams of the old version would serve stale bytes.
        self.backend.reads.forget(&self.path);
        if result.is_err() {
            let _ = self.abort_upload();
        }
        self.done = true;
        result
    }

    fn abort(mut self: Box<Self>) -> DriverResult<()> {
        self.abort_upload()
    }
}

impl Drop for S3Writer {
    fn drop(&mut self) {
        if !self.done {
            if let Err(e) = self.abort_upload() {
                log::warn!("dropping an unfinished s3 write left an upload behind: {e}");
            }
        }
    }
}
