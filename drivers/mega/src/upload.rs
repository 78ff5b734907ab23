//! Changing the account: uploads that replace a key, folder creation, deletes.
//!
//! MEGA has no atomic replace (an upload under a taken name adds a twin), so a write
//! uploads the new file beside the old one and then deletes the old one. MEGA creates
//! the node only once the upload is complete, and readers take the newest twin, so a
//! reader sees the old object or the new one, whole, at every moment.

use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::time::Duration;

use futures_util::io::AllowStdIo;
use mega::{LastModified, Node, Nodes};
use mirra_driver_api::{DriverError, DriverResult, Key};

use crate::driver::Backend;
use crate::lookup;

/// How often, and how many times, to look for a change to show in the event stream.
const SETTLE_INTERVAL: Duration = Duration::from_millis(250);
const SETTLE_ATTEMPTS: usize = 40;

impl Backend {
    /// Uploads the spooled `file` of `size` bytes as `key`, replacing what is there.
    pub fn upload(&self, key: &Key, mut file: File, size: u64) -> DriverResult<()> {
        let at = self.locate(key)?;
        file.seek(SeekFrom::Start(0))
            .map_err(|e| DriverError::other(format!("mega: rewinding the spool of {key}: {e}")))?;
        self.runtime.block_on(async {
            let _writing = self.keys.lock(key.as_str()).await;
            let parent = self.ensure_folders(key, &at.folders).await?;
            let client = self.account.client().await?;
            let nodes = self.account.nodes().await?;
            let folders = lookup::folders(&nodes, &at.folders);
            let old: Vec<String> = lookup::files(&nodes, &folders, &at.name)
                .iter()
                .map(|n| n.handle().to_owned())
                .collect();
            let parent_node = nodes.get_node_by_handle(&parent).ok_or_else(|| {
                DriverError::unavailable(format!("mega upload {key}: its folder just vanished"))
            })?;
            let result = client
                .upload_node(
                    parent_node,
                    &at.name,
                    size,
                    AllowStdIo::new(file),
                    LastModified::Now,
                )
                .await;
            drop(nodes);
            self.account.check(result, "upload", key.as_str()).await?;
            // Read-your-writes: return once this provider's view shows the new node.
            let nodes = self
                .settle(key, |nodes| {
                    let folders = lookup::folders(nodes, &at.folders);
                    lookup::files(nodes, &folders, &at.name)
                        .iter()
                        .any(|n| !old.contains(&n.handle().to_owned()))
                })
                .await?;
            for handle in &old {
                if let Some(node) = nodes.get_node_by_handle(handle) {
                    self.delete_node(key, node).await?;
                }
            }
            drop(nodes);
            // Until the old file is gone from the view, a reader could still pick it.
            self.settle(key, |nodes| {
                old.iter().all(|h| nodes.get_node_by_handle(h).is_none())
            })
            .await
            .map(drop)
        })
    }

    /// Deletes every node `key` names (twins included).
    pub fn delete(&self, key: &Key) -> DriverResult<()> {
        let at = self.locate(key)?;
        self.runtime.block_on(async {
            let _writing = self.keys.lock(key.as_str()).await;
            let nodes = self.account.nodes().await?;
            let folders = lookup::folders(&nodes, &at.folders);
            let doomed: Vec<String> = lookup::files(&nodes, &folders, &at.name)
                .iter()
                .map(|n| n.handle().to_owned())
                .collect();
            if doomed.is_empty() {
                return Err(DriverError::not_found(key));
            }
            for handle in &doomed {
                let node = nodes.get_node_by_handle(handle).expect("in this view");
                self.delete_node(key, node).await?;
            }
            drop(nodes);
            self.settle(key, |nodes| {
                doomed.iter().all(|h| nodes.get_node_by_handle(h).is_none())
            })
            .await
            .map(drop)
        })
    }

    /// Deletes one node; one already gone (another writer's cleanup) is fine.
    async fn delete_node(&self, key: &Key, node: &Node) -> DriverResult<()> {
        let client = self.account.client().await?;
        match client.delete_node(node).await {
            Err(mega::Error::MegaError {
                code: mega::ErrorCode::ENOENT,
            }) => Ok(()),
            other => self.account.check(other, "delete", key.as_str()).await,
        }
    }

    /// The handle of the folder `names` (from the Cloud Drive down), creating what is
    /// missing.
    async fn ensure_folders(&self, key: &Key, names: &[String]) -> DriverResult<String> {
        if let Some(handle) = oldest_folder(&*self.account.nodes().await?, names) {
            return Ok(handle);
        }
        // One creator at a time, so this process never makes twin folders.
        let _creating = self.account.mkdir.lock().await;
        let client = self.account.client().await?;
        for depth in 1..=names.len() {
            let nodes = self.account.nodes().await?;
            if oldest_folder(&nodes, &names[..depth]).is_some() {
                continue;
            }
            let parent = oldest_folder(&nodes, &names[..depth - 1]).ok_or_else(|| {
                DriverError::unavailable(format!("mega upload {key}: a folder just vanished"))
            })?;
            let parent = nodes.get_node_by_handle(&parent).expect("in this view");
            let name = &names[depth - 1];
            let result = client.create_folder(parent, name).await;
            drop(nodes);
            self.account
                .check(result, "create folder for", key.as_str())
                .await?;
            self.settle(key, |nodes| oldest_folder(nodes, &names[..depth]).is_some())
                .await?;
        }
        let nodes = self.account.nodes().await?;
        oldest_folder(&nodes, names).ok_or_else(|| {
            DriverError::unavailable(format!("mega upload {key}: its folder just vanished"))
        })
    }

    /// Waits until this provider's view of the account shows `done`.
    async fn settle(
        &self,
        key: &Key,
        done: impl Fn(&Nodes) -> bool,
    ) -> DriverResult<std::sync::Arc<Nodes>> {
        for _ in 0..SETTLE_ATTEMPTS {
            let nodes = self.account.nodes().await?;
            if done(&nodes) {
                return Ok(nodes);
            }
            drop(nodes);
            tokio::time::sleep(SETTLE_INTERVAL).await;
        }
        Err(DriverError::unavailable(format!(
            "mega {key}: the change was accepted but does not show in the account after {:?}",
            SETTLE_INTERVAL * SETTLE_ATTEMPTS as u32
        )))
    }
}

/// The oldest of the twin folders at `names`: every writer picks the same one.
fn oldest_folder(nodes: &Nodes, names: &[String]) -> Option<String> {
    lookup::folders(nodes, names)
        .into_iter()
        .min_by(|a, b| (a.created_at(), a.handle()).cmp(&(b.created_at(), b.handle())))
        .map(|n| n.handle().to_owned())
}
