//! One opened MEGA provider: the root folder of one account.

use std::fmt;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use futures_util::io::AllowStdIo;
use mega::Node;
use mirra_driver_api::{
    DriverError, DriverResult, Key, ListPage, ObjectMeta, ObjectWriter, StorageDriver,
};

use crate::account::Account;
use crate::config::MegaConfig;
use crate::keylock::KeyLocks;
use crate::listing::{self, Found};
use crate::lookup;
use crate::paths::Location;
use crate::runtime::DriverRuntime;
use crate::spool::{Download, Spool};
use crate::writer::MegaWriter;

/// What the driver and its writers share.
pub(crate) struct Backend {
    pub account: Account,
    pub spool: Spool,
    /// Writes and deletes of one key queue here.
    pub keys: KeyLocks,
    // Last, so it is dropped after everything that may hold a connection task.
    pub runtime: DriverRuntime,
}

impl Backend {
    /// Where `key` lives in the account.
    pub fn locate(&self, key: &Key) -> DriverResult<Location> {
        self.account.config().root_folder.locate(key)
    }

    /// The node `key` reads as (the newest twin), in a fresh view of the account.
    async fn find(&self, key: &Key) -> DriverResult<(Arc<mega::Nodes>, String)> {
        let at = self.locate(key)?;
        let nodes = self.account.nodes().await?;
        let folders = lookup::folders(&nodes, &at.folders);
        let files = lookup::files(&nodes, &folders, &at.name);
        let handle = lookup::newest(&files)
            .map(|node| node.handle().to_owned())
            .ok_or_else(|| DriverError::not_found(key))?;
        Ok((nodes, handle))
    }

    /// A local copy of `node`, downloading it unless one is kept.
    async fn local_copy(&self, key: &Key, node: &Node) -> DriverResult<Download> {
        if let Some(copy) = self.spool.cached(node.handle()) {
            return Ok(copy);
        }
        let file = self.spool.temp_file().map_err(|e| {
            DriverError::other(format!("mega: cannot create a spool file for {key}: {e}"))
        })?;
        let client = self.account.client().await?;
        let result = client.download_node(node, AllowStdIo::new(&file)).await;
        self.account.check(result, "download", key.as_str()).await?;
        let written = file
            .metadata()
            .map_err(|e| DriverError::other(format!("mega: spool file of {key}: {e}")))?
            .len();
        if written != node.size() {
            return Err(DriverError::unavailable(format!(
                "mega download {key}: got {written} of {} bytes",
                node.size()
            )));
        }
        let copy = Download {
            handle: node.handle().to_owned(),
            file: Arc::new(file),
            size: written,
        };
        self.spool.keep(copy.clone());
        Ok(copy)
    }
}

/// An opened MEGA provider.
pub(crate) struct MegaDriver {
    backend: Arc<Backend>,
}

impl fmt::Debug for MegaDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MegaDriver")
            .field("config", self.backend.account.config())
            .finish_non_exhaustive()
    }
}

impl MegaDriver {
    /// Starts the runtime; makes no request (MEGA may be unreachable when opened, and
    /// the host opens every provider at start-up).
    pub fn open(config: MegaConfig) -> DriverResult<Self> {
        let runtime = DriverRuntime::new()?;
        log::debug!("opened mega provider {config:?}");
        let spool = Spool::new(config.spool_dir.clone());
        Ok(Self {
            backend: Arc::new(Backend {
                account: Account::new(config),
                spool,
                keys: KeyLocks::default(),
                runtime,
            }),
        })
    }

    fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.backend.runtime.block_on(future)
    }
}

impl StorageDriver for MegaDriver {
    fn stat(&self, key: &Key) -> DriverResult<ObjectMeta> {
        let backend = &self.backend;
        self.block_on(async {
            let (nodes, handle) = backend.find(key).await?;
            let node = nodes
                .get_node_by_handle(&handle)
                .expect("found in this view");
            Ok(ObjectMeta { size: node.size() })
        })
    }

    fn read(&self, key: &Key, offset: u64, buf: &mut [u8]) -> DriverResult<usize> {
        let backend = &self.backend;
        let copy = self.block_on(async {
            let (nodes, handle) = backend.find(key).await?;
            let node = nodes
                .get_node_by_handle(&handle)
                .expect("found in this view");
            if buf.is_empty() || offset >= node.size() {
                return Ok(None);
            }
            backend.local_copy(key, node).await.map(Some)
        })?;
        let Some(copy) = copy else {
            return Ok(0);
        };
        let want = buf.len().min((copy.size - offset) as usize);
        copy.file
            .read_at(&mut buf[..want], offset)
            .map_err(|e| DriverError::other(format!("mega: reading the copy of {key}: {e}")))
    }

    fn put(&self, key: &Key, data: &[u8]) -> DriverResult<()> {
        let mut writer = self.begin_write(key)?;
        writer.write(data)?;
        writer.commit()
    }

    fn begin_write(&self, key: &Key) -> DriverResult<Box<dyn ObjectWriter>> {
        // Refuse a key that cannot be stored before any byte is spooled.
        self.backend.locate(key)?;
        Ok(Box::new(MegaWriter::new(
            Arc::clone(&self.backend),
            key.clone(),
        )?))
    }

    fn delete(&self, key: &Key) -> DriverResult<()> {
        self.backend.delete(key)
    }

    fn list(&self, prefix: &str, cursor: Option<&str>, limit: u32) -> DriverResult<ListPage> {
        let backend = &self.backend;
        self.block_on(async {
            let nodes = backend.account.nodes().await?;
            let root = lookup::folders(&nodes, backend.account.config().root_folder.segments());
            let found = lookup::walk(&nodes, &root)
                .into_iter()
                .map(|(names, node)| Found {
                    names,
                    size: node.size(),
                    order: (node.created_at(), node.handle()),
                });
            Ok(listing::page(found, prefix, cursor, limit))
        })
    }

    fn health(&self) -> DriverResult<()> {
        // Logs in if needed and follows the event stream: one small request.
        self.block_on(self.backend.account.nodes()).map(drop)
    }
}
