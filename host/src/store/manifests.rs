//! Fetching, checking and choosing manifests across providers.

use futures::future::join_all;
use mirra_driver_api::{ErrorKind, Key};

use super::{Failures, Store, StoreError};
use crate::manifest::{manifest_key, Manifest, MAX_MANIFEST_BYTES};
use crate::replica::Replica;

/// Why one provider's manifest for a key cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ManifestProblem {
    /// The provider has no manifest for the key.
    Missing,
    /// The provider did not answer properly.
    Unreachable(String),
    /// The manifest is malformed, badly signed, or signed by someone else.
    Invalid(String),
}

impl std::fmt::Display for ManifestProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Missing => f.write_str("not found"),
            Self::Unreachable(reason) => f.write_str(reason),
            Self::Invalid(reason) => write!(f, "invalid manifest: {reason}"),
        }
    }
}

impl Store {
    /// The manifest `replica` holds for `key`, parsed and verified against the signer.
    pub(crate) async fn fetch_manifest(
        &self,
        replica: &Replica,
        key: &Key,
    ) -> Result<Manifest, ManifestProblem> {
        let storage_key = Key::parse(&manifest_key(key.as_str()))
            .map_err(|e| ManifestProblem::Invalid(e.to_string()))?;
        let bytes = replica
            .read_small(&storage_key, MAX_MANIFEST_BYTES)
            .await
            .map_err(|e| match e.kind {
                ErrorKind::NotFound => ManifestProblem::Missing,
                _ => ManifestProblem::Unreachable(e.to_string()),
            })?;
        Manifest::from_json_verified(&bytes, key.as_str(), &self.signer)
            .map_err(|e| ManifestProblem::Invalid(e.to_string()))
    }

    /// Every provider's manifest for `key`, in provider order.
    pub(crate) async fn fetch_all_manifests(
        &self,
        key: &Key,
    ) -> Vec<Result<Manifest, ManifestProblem>> {
        join_all(self.replicas.iter().map(|r| self.fetch_manifest(r, key))).await
    }

    /// The manifest a read should follow, and the index of the provider it came from.
    ///
    /// By default the first provider (in priority order) with a valid manifest no older
    /// than the newest version seen here wins; with `latest`, every provider is asked
    /// and the newest valid version wins. Either way the chosen version is recorded as
    /// seen, so a provider rolled back later cannot serve an older one.
    pub(crate) async fn resolve_manifest(
        &self,
        key: &Key,
        latest: bool,
    ) -> Result<(Manifest, usize), StoreError> {
        let seen = self.versions_seen(key)?;
        let mut failures = Failures::default();
        let mut best: Option<(Manifest, usize)> = None;
        let mut consider = |index: usize, fetched: Result<Manifest, ManifestProblem>| {
            let name = self.replicas[index].name();
            match fetched {
                Err(problem) => failures.add(name, problem),
                Ok(m) if seen.is_some_and(|s| m.body.version < s) => failures.add(
                    name,
                    format!(
                        "stale: version {} is older than version {} already seen (rollback refused)",
                        m.body.version,
                        seen.unwrap_or_default()
                    ),
                ),
                Ok(m) => {
                    if best.as_ref().is_none_or(|(b, _)| m.body.version > b.body.version) {
                        best = Some((m, index));
                    }
                }
            }
        };
        if latest {
            for (index, fetched) in self.fetch_all_manifests(key).await.into_iter().enumerate() {
                consider(index, fetched);
            }
        } else {
            for (index, replica) in self.replicas.iter().enumerate() {
                let fetched = self.fetch_manifest(replica, key).await;
                let valid = fetched
                    .as_ref()
                    .is_ok_and(|m| seen.is_none_or(|s| m.body.version >= s));
                consider(index, fetched);
                if valid {
                    break;
                }
            }
        }
        let Some((manifest, index)) = best else {
            return Err(StoreError::NoValidCopy {
                key: key.to_string(),
                failures,
            });
        };
        self.record_seen(key, manifest.body.version)?;
        if manifest.body.deleted {
            return Err(StoreError::Deleted {
                key: key.to_string(),
                version: manifest.body.version,
            });
        }
        Ok((manifest, index))
    }

    /// One more than the newest version known here or on any reachable provider.
    pub(crate) async fn next_version(&self, key: &Key) -> Result<u64, StoreError> {
        let on_providers = self
            .fetch_all_manifests(key)
            .await
            .into_iter()
            .filter_map(Result::ok)
            .map(|m| m.body.version)
            .max();
        let newest = on_providers.max(self.versions_seen(key)?).unwrap_or(0);
        Ok(newest + 1)
    }

    pub(crate) fn versions_seen(&self, key: &Key) -> Result<Option<u64>, StoreError> {
        self.versions
            .get(&self.signer, key.as_str())
            .map_err(|e| StoreError::State(e.to_string()))
    }

    pub(crate) fn record_seen(&self, key: &Key, version: u64) -> Result<(), StoreError> {
        self.versions
            .record(&self.signer, key.as_str(), version)
            .map_err(|e| StoreError::State(e.to_string()))
    }
}
