//! Streamed writes through OpenDAL's `Writer`.
//!
//! On services that can rename, bytes go to a staging path and are renamed over the key
//! on commit, so readers see the old object or the whole new one and an abort leaves
//! the old object alone. Elsewhere (object stores, WebDAV) OpenDAL's writer already
//! publishes nothing before `close`, and `abort` cancels the upload.
//!
//! Services that upload an object in one request (WebDAV, Dropbox) accept a single
//! `write` per writer, so for them the bytes are held in memory until `commit`.

use std::future::IntoFuture;
use std::sync::Arc;

use mirra_driver_api::{DriverResult, Key, ObjectWriter};

use crate::driver::Shared;

/// A write in progress; dropping it without `commit` aborts it.
pub(crate) struct OpendalWriter {
    shared: Arc<Shared>,
    key: Key,
    /// The path being written: the key itself, or a staging path.
    path: String,
    writer: Option<opendal::Writer>,
    /// The whole object so far, for services that take one write per object.
    one_shot: Option<Vec<u8>>,
}

impl OpendalWriter {
    pub(crate) fn begin(shared: Arc<Shared>, key: Key, chunk: usize) -> DriverResult<Self> {
        let path = if shared.stage_writes {
            shared.staging_path()
        } else {
            key.as_str().to_owned()
        };
        let cap = shared.op.info().capability();
        let mut builder = shared.op.writer_with(&path);
        if cap.write_can_multi {
            builder = builder.chunk(chunk);
        }
        let one_shot = (!cap.write_can_multi).then(Vec::new);
        let writer = shared
            .block_on(builder.into_future())
            .map_err(|e| shared.errors.map(&format!("begin write {key}"), e))?;
        Ok(Self {
            shared,
            key,
            path,
            writer: Some(writer),
            one_shot,
        })
    }

    fn abort_now(&mut self) -> DriverResult<()> {
        let Some(mut writer) = self.writer.take() else {
            return Ok(());
        };
        let s = &self.shared;
        s.block_on(async {
            let aborted = writer.abort().await;
            if s.stage_writes {
                // fs and sftp write the staging file in place and cannot abort: drop
                // their writer and delete what it wrote; the key was never touched.
                drop(writer);
                s.op.delete(&self.path)
                    .await
                    .map_err(|e| s.errors.map(&format!("abort write {}", self.key), e))?;
                return Ok(());
            }
            aborted.map_err(|e| s.errors.map(&format!("abort write {}", self.key), e))
        })
    }
}

impl ObjectWriter for OpendalWriter {
    fn write(&mut self, data: &[u8]) -> DriverResult<()> {
        let Some(writer) = self.writer.as_mut() else {
            return Err(mirra_driver_api::DriverError::invalid_input(
                "write after the writer finished",
            ));
        };
        if let Some(pending) = self.one_shot.as_mut() {
            pending.extend_from_slice(data);
            return Ok(());
        }
        let s = &self.shared;
        let result = s.block_on(writer.write(data.to_vec()));
        result.map_err(|e| s.errors.map(&format!("write {}", self.key), e))
    }

    fn commit(mut self: Box<Self>) -> DriverResult<()> {
        let Some(mut writer) = self.writer.take() else {
            return Err(mirra_driver_api::DriverError::invalid_input(
                "commit after the writer finished",
            ));
        };
        let s = self.shared.clone();
        let (key, path) = (self.key.clone(), self.path.clone());
        let one_shot = self.one_shot.take().filter(|pending| !pending.is_empty());
        s.block_on(async {
            let mut result = match one_shot {
                Some(pending) => writer.write(pending).await,
                None => Ok(()),
            };
            if result.is_ok() {
                result = writer.close().await.map(|_| ());
            }
            if let Err(e) = result {
                if s.stage_writes {
                    let _ = s.op.delete(&path).await;
                }
                return Err(s.errors.map(&format!("commit {key}"), e));
            }
            if s.stage_writes {
                if let Err(e) = s.op.rename(&path, key.as_str()).await {
                    let _ = s.op.delete(&path).await;
                    return Err(s
                        .errors
                        .map(&format!("commit {key} (rename into place)"), e));
                }
            }
            Ok(())
        })
    }

    fn abort(mut self: Box<Self>) -> DriverResult<()> {
        self.abort_now()
    }
}

impl Drop for OpendalWriter {
    fn drop(&mut self) {
        let _ = self.abort_now();
    }
}
