//! One opened OpenDAL provider: an `Operator` and the small runtime that drives it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use mirra_driver_api::runtime::DriverRuntime;
use mirra_driver_api::{
    DriverError, DriverResult, Key, ListPage, ObjectMeta, ObjectWriter, StorageDriver,
};
use opendal::Operator;

use crate::config::OpendalConfig;
use crate::errors::ErrorMapper;
use crate::list;
use crate::writer::OpendalWriter;

/// Where uncommitted writes go on services that can rename: under the reserved `.mirra/`
/// prefix, which no user key can start with, and left out of listings.
pub(crate) const STAGING_DIR: &str = ".mirra/staging/";

/// Part size for services that upload in parts (Azure blocks, GCS resumable uploads):
/// bounds the memory a streamed write holds, and is above every service's minimum part.
const WRITE_CHUNK: usize = 8 << 20;

/// A provider backed by one OpenDAL service.
///
/// Every call blocks on the driver's own tokio runtime; the host calls drivers from
/// blocking threads, never from inside this runtime.
pub struct OpendalDriver {
    pub(crate) shared: Arc<Shared>,
}

/// What the driver and its writers share.
pub(crate) struct Shared {
    pub(crate) op: Operator,
    pub(crate) runtime: DriverRuntime,
    pub(crate) errors: ErrorMapper,
    /// Writes go to a staging path and are renamed into place on commit: for services
    /// that write in place (fs, sftp), so that an aborted overwrite keeps the old object.
    pub(crate) stage_writes: bool,
    /// The service lists a flat, sorted namespace and honours `start_after`.
    pub(crate) sorted_start_after: bool,
    next_staging_id: AtomicU64,
}

impl OpendalDriver {
    /// Opens the service `config` names.
    ///
    /// # Errors
    /// `InvalidInput` when OpenDAL refuses the options (with the option named in its
    /// message); `Other` when no runtime can be started.
    pub fn open(config: &OpendalConfig) -> DriverResult<Self> {
        // Registers the compiled-in services and the HTTP transport, once per process.
        opendal::install_default();
        let runtime = DriverRuntime::new("opendal", 2)?;
        let errors = ErrorMapper::new(config.secret_values());
        let op = {
            let _entered = runtime.enter();
            Operator::via_iter(&config.scheme, config.options.clone()).map_err(|e| {
                let mut err = errors.map(&format!("open {} service", config.scheme), e);
                if err.kind == mirra_driver_api::ErrorKind::Other {
                    err = DriverError::invalid_input(err.message);
                }
                err
            })?
        };
        let cap = op.info().capability();
        Ok(Self {
            shared: Arc::new(Shared {
                stage_writes: cap.rename && cap.write,
                sorted_start_after: cap.list_with_start_after && cap.list_with_recursive,
                op,
                runtime,
                errors,
                next_staging_id: AtomicU64::new(0),
            }),
        })
    }
}

impl Shared {
    pub(crate) fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// A fresh staging path no other writer of this process uses.
    pub(crate) fn staging_path(&self) -> String {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let id = self.next_staging_id.fetch_add(1, Ordering::Relaxed);
        format!("{STAGING_DIR}{}-{nanos}-{id}", std::process::id())
    }

    /// `stat`, with directories reported as missing objects.
    pub(crate) async fn stat_object(&self, key: &Key) -> DriverResult<ObjectMeta> {
        let meta = self
            .op
            .stat(key.as_str())
            .await
            .map_err(|e| self.errors.map(&format!("stat {key}"), e))?;
        if meta.is_dir() {
            return Err(DriverError::not_found(key));
        }
        Ok(ObjectMeta {
            size: meta.content_length(),
        })
    }
}

impl StorageDriver for OpendalDriver {
    fn stat(&self, key: &Key) -> DriverResult<ObjectMeta> {
        self.shared.block_on(self.shared.stat_object(key))
    }

    /// Looks the size up first: OpenDAL expects a range inside the object and fails (or
    /// returns nothing, depending on the service) for one that runs past its end.
    fn read(&self, key: &Key, offset: u64, buf: &mut [u8]) -> DriverResult<usize> {
        let s = &self.shared;
        s.block_on(async {
            let size = s.stat_object(key).await?.size;
            if buf.is_empty() || offset >= size {
                return Ok(0);
            }
            let end = offset.saturating_add(buf.len() as u64).min(size);
            let data =
                s.op.read_with(key.as_str())
                    .range(offset..end)
                    .await
                    .map_err(|e| s.errors.map(&format!("read {key} at {offset}"), e))?;
            let bytes = data.to_bytes();
            let n = bytes.len().min(buf.len());
            buf[..n].copy_from_slice(&bytes[..n]);
            Ok(n)
        })
    }

    fn begin_write(&self, key: &Key) -> DriverResult<Box<dyn ObjectWriter>> {
        Ok(Box::new(OpendalWriter::begin(
            self.shared.clone(),
            key.clone(),
            WRITE_CHUNK,
        )?))
    }

    /// Deleting a missing key is `NotFound`: most services treat delete as idempotent,
    /// so the key is looked up first.
    fn delete(&self, key: &Key) -> DriverResult<()> {
        let s = &self.shared;
        s.block_on(async {
            s.stat_object(key).await?;
            s.op.delete(key.as_str())
                .await
                .map_err(|e| s.errors.map(&format!("delete {key}"), e))
        })
    }

    fn list(&self, prefix: &str, cursor: Option<&str>, limit: u32) -> DriverResult<ListPage> {
        let s = &self.shared;
        s.block_on(list::page(s, prefix, cursor, limit))
    }

    fn health(&self) -> DriverResult<()> {
        let s = &self.shared;
        s.block_on(s.op.check())
            .map_err(|e| s.errors.map("health check", e))
    }
}
