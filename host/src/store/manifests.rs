//! Fetching, checking and choosing manifests across providers.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use futures::future::join_all;
use futures::stream::{FuturesUnordered, StreamExt};
use mirra_driver_api::{DriverError, ErrorKind, Key};

use super::attempt::{Attempt, WriteProblem};
use super::hedge;
use super::{Failures, Store, StoreError, Verdict};
use crate::manifest::{manifest_key, Manifest, MAX_MANIFEST_BYTES};
use crate::replica::Replica;

/// How long a fresh reader (no version of the key recorded here) keeps waiting for the
/// other providers' manifests after the first valid one arrived.
pub const FRESH_READ_WINDOW: Duration = Duration::from_secs(2);

/// Why one provider's manifest for a key cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ManifestProblem {
    /// The provider has no manifest for the key.
    Missing,
    /// The provider did not answer properly; the driver's error, kind kept.
    Unreachable(DriverError),
    /// The manifest is malformed, badly signed, or signed by someone else.
    Invalid(String),
}

impl std::fmt::Display for ManifestProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Missing => f.write_str("not found"),
            Self::Unreachable(error) => write!(f, "{error}"),
            Self::Invalid(reason) => write!(f, "invalid manifest: {reason}"),
        }
    }
}

/// Why a raced manifest did not end the race.
enum Unusable {
    Problem(ManifestProblem),
    /// Older than the version seen here.
    Stale(Box<Manifest>),
}

impl Unusable {
    /// What the provider answered, for the caller's verdict.
    fn into_fetched(self) -> Result<Manifest, ManifestProblem> {
        match self {
            Self::Problem(problem) => Err(problem),
            Self::Stale(manifest) => Ok(*manifest),
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
        let read = replica.read_small(&storage_key, MAX_MANIFEST_BYTES).await;
        self.judge_manifest_read(replica, key, read)
    }

    /// What `read` (the bytes of `key`'s manifest as `replica` answered them) is worth:
    /// parsed and verified against the signer, and counted in the provider's health.
    pub(crate) fn judge_manifest_read(
        &self,
        replica: &Replica,
        key: &Key,
        read: mirra_driver_api::DriverResult<Vec<u8>>,
    ) -> Result<Manifest, ManifestProblem> {
        let bytes = read.map_err(|e| match e.kind {
            ErrorKind::NotFound => ManifestProblem::Missing,
            // Over the size limit: an answer no valid manifest can be.
            ErrorKind::InvalidInput => {
                replica.health_record().record_bad_answer(&e.to_string());
                ManifestProblem::Invalid(e.to_string())
            }
            _ => ManifestProblem::Unreachable(e),
        })?;
        let health = replica.health_record();
        match Manifest::from_json_verified(&bytes, key.as_str(), &self.signer) {
            Ok(manifest) => {
                health.record_verified();
                Ok(manifest)
            }
            Err(e) => {
                let reason = e.to_string();
                health.record_bad_answer(&format!("invalid manifest: {reason}"));
                Err(ManifestProblem::Invalid(reason))
            }
        }
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
    /// With a version of the key recorded here, the first provider (in priority order)
    /// with a valid manifest no older than it wins. Without one (a fresh reader), every
    /// provider is asked at once and the highest valid manifest to arrive within
    /// [`FRESH_READ_WINDOW`] of the first wins, so one fast provider withholding the
    /// newest version cannot roll a fresh reader back. With `latest`, every provider is
    /// asked and waited for. "Highest" is the total order of [`Manifest::order_key`].
    /// The chosen version is recorded as seen, so a provider rolled back later cannot
    /// serve an older one.
    pub(crate) async fn resolve_manifest(
        &self,
        key: &Key,
        latest: bool,
    ) -> Result<(Manifest, usize), StoreError> {
        self.resolve_manifest_reporting(key, latest)
            .await
            .map(|(manifest, index, _)| (manifest, index))
    }

    /// [`Store::resolve_manifest`], also saying which providers failed on the way to it.
    pub(crate) async fn resolve_manifest_reporting(
        &self,
        key: &Key,
        latest: bool,
    ) -> Result<(Manifest, usize, Failures), StoreError> {
        let seen = self.versions_seen(key)?;
        let mut failures = Failures::default();
        let mut best: Option<(Manifest, usize)> = None;
        let mut consider = |index: usize, fetched: Result<Manifest, ManifestProblem>| {
            let name = self.replicas[index].name();
            match fetched {
                Err(problem) => failures.add(name, problem.into()),
                Ok(m) if seen.is_some_and(|s| m.body.version < s) => failures.add(
                    name,
                    Verdict::Stale(format!(
                        "stale: version {} is older than version {} already seen (rollback refused)",
                        m.body.version,
                        seen.unwrap_or_default()
                    )),
                ),
                Ok(m) => {
                    if best.as_ref().is_none_or(|(b, _)| m.outranks(b)) {
                        best = Some((m, index));
                    }
                }
            }
        };
        if latest {
            for (index, fetched) in self.fetch_all_manifests(key).await.into_iter().enumerate() {
                consider(index, fetched);
            }
        } else if seen.is_none() {
            // A fresh reader has nothing to refuse a rollback against: ask everyone and
            // take the highest, waiting a bounded time past the first valid answer.
            let mut in_flight: FuturesUnordered<_> = self
                .read_order()
                .into_iter()
                .map(|index| {
                    let fetch = self.fetch_manifest(&self.replicas[index], key);
                    async move { (index, fetch.await) }
                })
                .collect();
            let mut deadline: Option<Instant> = None;
            while !in_flight.is_empty() {
                let window = async {
                    match deadline {
                        Some(deadline) => tokio::time::sleep_until(deadline).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    Some((index, fetched)) = in_flight.next() => {
                        if deadline.is_none() && fetched.is_ok() {
                            deadline = Some(Instant::now() + FRESH_READ_WINDOW);
                        }
                        consider(index, fetched);
                    }
                    () = window => break,
                }
            }
        } else {
            // Ask providers in read order; a slow one is hedged with the next, and the
            // first usable manifest to arrive wins. A manifest older than the version
            // seen here is not usable: the next provider is asked.
            let raced = hedge::race(
                &self.read_order(),
                |index| Some(self.hedge_delay(&self.replicas[index])),
                |index| {
                    let fetch = self.fetch_manifest(&self.replicas[index], key);
                    async move {
                        match fetch.await {
                            Ok(m) if seen.is_some_and(|s| m.body.version < s) => {
                                Err(Unusable::Stale(Box::new(m)))
                            }
                            Ok(m) => Ok(m),
                            Err(problem) => Err(Unusable::Problem(problem)),
                        }
                    }
                },
            )
            .await;
            for failed in raced.failed {
                consider(failed.replica, failed.error.into_fetched());
            }
            if let Some(won) = raced.won {
                consider(won.replica, Ok(won.value));
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
        Ok((manifest, index, failures))
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

    /// Puts `manifest`, in parallel, on each provider whose `earlier` step succeeded.
    pub(crate) async fn write_manifest_on(
        &self,
        key: &Key,
        manifest: &Manifest,
        earlier: Vec<Attempt<()>>,
    ) -> Vec<Attempt<()>> {
        let storage_key =
            Key::parse(&manifest_key(key.as_str())).expect("manifest keys of valid keys are valid");
        let json = Arc::new(manifest.to_json());
        let writes = earlier.into_iter().map(|earlier| {
            let (storage_key, json) = (&storage_key, &json);
            earlier.then(move |index, ()| async move {
                self.replicas[index]
                    .put(storage_key, json.clone())
                    .await
                    .map_err(WriteProblem::Manifest)
            })
        });
        join_all(writes).await
    }
}
