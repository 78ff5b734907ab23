//! `ls` and `stat`: what each provider holds, as its manifests say.

use std::collections::BTreeSet;

use futures::future::join_all;
use futures::stream::{self, StreamExt};
use mirra_driver_api::{Capabilities, ErrorKind, Key};

use super::verify::KEYS_IN_FLIGHT;
use super::{Store, StoreError, Verdict};
use crate::manifest::{key_of_manifest_key, MANIFEST_PREFIX};

/// One key in a listing.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KeySummary {
    /// The key.
    pub key: String,
    /// The newest valid version on any provider.
    pub version: u64,
    /// Its size.
    pub size: u64,
    /// How many providers hold that newest version.
    pub replicas: usize,
    /// How many providers are configured.
    pub providers: usize,
}

/// One provider's row in `stat`.
#[derive(Debug, Clone)]
pub struct ProviderStatus {
    /// The provider's name.
    pub provider: String,
    /// Its manifest's version, when it has a valid one.
    pub version: Option<u64>,
    /// Size by its manifest.
    pub size: Option<u64>,
    /// The verdict.
    pub state: Verdict,
}

/// `stat --json` has always named two verdicts its own way (`bad_bytes` for corrupt,
/// `bad_manifest` for a bad signature); scripts read those names, so they stay.
impl serde::Serialize for ProviderStatus {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(serde::Serialize)]
        struct Row<'a> {
            provider: &'a str,
            version: Option<u64>,
            size: Option<u64>,
            state: &'static str,
            #[serde(skip_serializing_if = "Option::is_none")]
            detail: Option<&'a str>,
        }
        let state = match self.state {
            Verdict::Corrupt(_) => "bad_bytes",
            Verdict::BadSignature(_) => "bad_manifest",
            ref other => other.label(),
        };
        Row {
            provider: &self.provider,
            version: self.version,
            size: self.size,
            state,
            detail: self.state.detail(),
        }
        .serialize(serializer)
    }
}

impl Store {
    /// Keys under `prefix` on any provider, with how many providers hold the newest
    /// version. Deleted keys are left out.
    ///
    /// # Errors
    /// `Unlisted` when no provider could be listed at all.
    pub async fn list(&self, prefix: &str) -> Result<Vec<KeySummary>, StoreError> {
        let keys = self.manifest_keys(prefix).await?;
        let summaries = stream::iter(keys)
            .map(|key| async move {
                let manifests: Vec<_> = self
                    .fetch_all_manifests(&key)
                    .await
                    .into_iter()
                    .filter_map(Result::ok)
                    .collect();
                let newest = manifests.iter().max_by_key(|m| m.order_key())?;
                (!newest.body.deleted).then(|| KeySummary {
                    key: key.to_string(),
                    version: newest.body.version,
                    size: newest.body.size,
                    replicas: manifests
                        .iter()
                        .filter(|m| m.order_key() == newest.order_key())
                        .count(),
                    providers: self.replicas.len(),
                })
            })
            .buffered(KEYS_IN_FLIGHT)
            .filter_map(std::future::ready)
            .collect()
            .await;
        Ok(summaries)
    }

    /// Every key with a manifest (live or tombstone) under `prefix` on any provider.
    ///
    /// # Errors
    /// `Unlisted` when no provider could be listed at all.
    pub(crate) async fn manifest_keys(&self, prefix: &str) -> Result<BTreeSet<Key>, StoreError> {
        let listing_prefix = format!("{MANIFEST_PREFIX}{prefix}");
        let listable: Vec<_> = self
            .replicas
            .iter()
            .filter(|r| r.can(Capabilities::LIST))
            .collect();
        let pages = join_all(listable.iter().map(|r| r.list_all(&listing_prefix))).await;
        let mut keys = BTreeSet::new();
        let mut failures = super::Failures::default();
        // Named, so "nothing could be listed" says why for each provider.
        for replica in self.replicas.iter().filter(|r| !r.can(Capabilities::LIST)) {
            failures.add(
                replica.name(),
                Verdict::Unreachable("its driver does not declare list".into()),
            );
        }
        let mut answered = 0;
        for (replica, page) in listable.iter().zip(pages) {
            match page {
                Ok(entries) => {
                    answered += 1;
                    keys.extend(
                        entries
                            .iter()
                            .filter_map(|(k, _)| key_of_manifest_key(k))
                            .filter_map(|k| Key::parse(k).ok()),
                    );
                }
                Err(e) => failures.add(replica.name(), Verdict::Unreachable(e.to_string())),
            }
        }
        if answered == 0 {
            return Err(StoreError::Unlisted {
                prefix: prefix.to_owned(),
                failures,
            });
        }
        Ok(keys)
    }

    /// What every provider holds for `key`.
    ///
    /// # Errors
    /// Only for bad local state; provider problems are reported per row.
    pub async fn stat(&self, key: &Key) -> Result<Vec<ProviderStatus>, StoreError> {
        let manifests = self.fetch_all_manifests(key).await;
        let newest = manifests
            .iter()
            .filter_map(|m| m.as_ref().ok())
            .max_by_key(|m| m.order_key())
            .cloned();
        let newest = newest.as_ref();
        let rows = self
            .replicas
            .iter()
            .zip(manifests)
            .map(|(replica, fetched)| async move {
                let name = replica.name().to_owned();
                let manifest = match fetched {
                    Ok(m) => m,
                    Err(problem) => {
                        return ProviderStatus {
                            provider: name,
                            version: None,
                            size: None,
                            state: Verdict::from(problem),
                        };
                    }
                };
                let state = if manifest.body.deleted {
                    Verdict::Deleted
                } else if let Some(newest) = newest.filter(|n| manifest.order_key() < n.order_key())
                {
                    Verdict::Stale(if manifest.body.version < newest.body.version {
                        format!(
                            "version {} of {}",
                            manifest.body.version, newest.body.version
                        )
                    } else {
                        format!(
                            "version {} lost the tie-break to another version {}",
                            manifest.body.version, newest.body.version
                        )
                    })
                } else {
                    match replica.stat(key).await {
                        Ok(size) if size == manifest.body.size => Verdict::Ok,
                        Ok(size) => Verdict::Corrupt(format!(
                            "{size} bytes stored, manifest says {}",
                            manifest.body.size
                        )),
                        Err(e) if e.kind == ErrorKind::NotFound => {
                            Verdict::Corrupt("bytes missing".into())
                        }
                        Err(e) => Verdict::Unreachable(e.to_string()),
                    }
                };
                ProviderStatus {
                    provider: name,
                    version: Some(manifest.body.version),
                    size: Some(manifest.body.size),
                    state,
                }
            });
        let rows = join_all(rows).await;
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {

    use mirra_driver_api::Capabilities;

    use crate::replica::capability_tests::{named_replica, store_over};
    use crate::store::StoreError;

    #[tokio::test]
    async fn a_listing_no_provider_can_answer_says_so_and_why() {
        let state = tempfile::tempdir().unwrap();
        let (unlistable, _) = named_replica("http-mirror", Capabilities::READ);
        let store = store_over(vec![unlistable], 1, state.path());
        for err in [
            store.list("photos/").await.unwrap_err(),
            store.verify("photos/", true).await.unwrap_err(),
            // Repair used to swallow this and report nothing to do.
            store.repair("photos/").await.unwrap_err(),
        ] {
            assert!(matches!(err, StoreError::Unlisted { .. }), "{err:?}");
            assert_eq!(
                err.to_string(),
                "\"photos/\": no provider could be listed: http-mirror: its driver does not declare list"
            );
        }
    }
}
