//! The remote side: the newest signed manifest of every key under a prefix.

use std::collections::BTreeMap;

use futures::stream::{self, StreamExt};
use mirra_driver_api::Key;

use super::{TreeError, TreePrefix};
use crate::manifest::Manifest;
use crate::store::Store;

/// What the providers hold for one key under the prefix.
#[derive(Debug, Clone)]
pub struct RemoteEntry {
    /// The key.
    pub key: Key,
    /// The newest validly signed manifest on any provider (possibly a tombstone), unless
    /// it is older than a version this host already saw (then it cannot be trusted to
    /// describe the key, and the key is treated as absent).
    pub newest: Option<Manifest>,
    /// How many providers hold that newest version.
    pub holders: usize,
}

impl RemoteEntry {
    /// The newest manifest if it describes a live object.
    pub fn live(&self) -> Option<&Manifest> {
        self.newest.as_ref().filter(|m| !m.body.deleted)
    }
}

/// Every key with a manifest under `prefix`, by path relative to the prefix, with its
/// newest manifest; `concurrency` keys are looked up at once.
///
/// # Errors
/// When no provider can be listed, or local state cannot be read.
pub async fn remote_index(
    store: &Store,
    prefix: &TreePrefix,
    concurrency: usize,
) -> Result<BTreeMap<String, RemoteEntry>, TreeError> {
    let keys = store.manifest_keys(&prefix.listing()).await?;
    let lookups = keys.into_iter().filter_map(|key| {
        let rel = prefix.rel_of(key.as_str())?.to_owned();
        Some(async move {
            let seen = store.versions_seen(&key)?;
            let valid: Vec<Manifest> = store
                .fetch_all_manifests(&key)
                .await
                .into_iter()
                .filter_map(Result::ok)
                .collect();
            // The store's one total order: version, then signed digest.
            let newest = valid.iter().map(Manifest::order_key).max();
            let holders = valid
                .iter()
                .filter(|m| Some(m.order_key()) == newest)
                .count();
            let newest = valid
                .into_iter()
                .find(|m| Some(m.order_key()) == newest)
                .filter(|m| seen.is_none_or(|s| m.body.version >= s));
            Ok::<_, TreeError>((
                rel,
                RemoteEntry {
                    key,
                    newest,
                    holders,
                },
            ))
        })
    });
    let mut index = BTreeMap::new();
    let mut results = stream::iter(lookups).buffer_unordered(concurrency.max(1));
    while let Some(result) = results.next().await {
        let (rel, entry) = result?;
        index.insert(rel, entry);
    }
    Ok(index)
}
