//! `verify`: what every provider holds for every key, checked against the newest valid
//! signed manifest, down to every chunk's hash unless asked to be fast.

use futures::stream::{self, StreamExt};
use mirra_driver_api::{ErrorKind, Key};

use super::manifests::ManifestProblem;
use super::{Store, StoreError, Verdict};
use crate::manifest::Manifest;

/// Keys checked (or listed) at once.
pub(crate) const KEYS_IN_FLIGHT: usize = 8;

/// One row of a verify report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CopyReport {
    /// The key.
    pub key: String,
    /// The provider.
    pub provider: String,
    /// The newest valid version of the key anywhere.
    pub newest_version: Option<u64>,
    /// The verdict.
    #[serde(flatten)]
    pub state: Verdict,
}

/// The newest valid manifest of a key and every provider's state against it.
pub(crate) struct KeyCheck {
    pub(crate) newest: Option<Manifest>,
    pub(crate) copies: Vec<Verdict>,
}

impl Store {
    /// Checks every key under `prefix` on every provider. `fast` compares manifests and
    /// sizes only; otherwise every chunk is read and hashed.
    ///
    /// # Errors
    /// When no provider can be listed, or local state fails.
    pub async fn verify(&self, prefix: &str, fast: bool) -> Result<Vec<CopyReport>, StoreError> {
        let keys = self.manifest_keys(prefix).await?;
        let checks: Vec<(Key, Result<KeyCheck, StoreError>)> = stream::iter(keys)
            .map(|key| async move {
                let check = self.check_key(&key, !fast).await;
                (key, check)
            })
            .buffered(KEYS_IN_FLIGHT)
            .collect()
            .await;
        let mut rows = Vec::new();
        for (key, check) in checks {
            let check = check?;
            let newest_version = check.newest.as_ref().map(|m| m.body.version);
            for (replica, state) in self.replicas.iter().zip(check.copies) {
                rows.push(CopyReport {
                    key: key.to_string(),
                    provider: replica.name().to_owned(),
                    newest_version,
                    state,
                });
            }
        }
        Ok(rows)
    }

    /// Every provider's state for `key`, against the newest valid manifest no older than
    /// the newest version seen here.
    pub(crate) async fn check_key(&self, key: &Key, full: bool) -> Result<KeyCheck, StoreError> {
        let seen = self.versions_seen(key)?;
        let fetched = self.fetch_all_manifests(key).await;
        let newest = fetched
            .iter()
            .filter_map(|m| m.as_ref().ok())
            .filter(|m| seen.is_none_or(|s| m.body.version >= s))
            .max_by_key(|m| m.order_key())
            .cloned();
        if let Some(m) = &newest {
            self.record_seen(key, m.body.version)?;
        }
        let mut copies = Vec::with_capacity(self.replicas.len());
        for (index, manifest) in fetched.into_iter().enumerate() {
            copies.push(
                self.judge_copy(index, key, manifest, newest.as_ref(), full)
                    .await,
            );
        }
        Ok(KeyCheck { newest, copies })
    }

    /// What provider `index` holds for `key` (`held`), judged against `newest`.
    pub(crate) async fn judge_copy(
        &self,
        index: usize,
        key: &Key,
        held: Result<Manifest, ManifestProblem>,
        newest: Option<&Manifest>,
        full: bool,
    ) -> Verdict {
        let held = match held {
            Ok(m) => m,
            Err(problem) => return Verdict::from(problem),
        };
        let Some(newest) = newest else {
            return Verdict::Stale(format!(
                "version {} is older than a version already seen",
                held.body.version
            ));
        };
        if held.body.version < newest.body.version {
            return Verdict::Stale(format!(
                "version {} of {}",
                held.body.version, newest.body.version
            ));
        }
        // Same version, other content: two writers picked the same number and this copy
        // holds the one that lost the tie-break.
        if newest.outranks(&held) {
            return Verdict::Stale(format!(
                "version {} lost the tie-break to another version {}",
                held.body.version, newest.body.version
            ));
        }
        if held.body.deleted {
            return Verdict::Deleted;
        }
        let replica = &self.replicas[index];
        if !full {
            return match replica.stat(key).await {
                Ok(size) if size == held.body.size => Verdict::Ok,
                Ok(size) => Verdict::Corrupt(format!(
                    "{size} bytes stored, manifest says {}",
                    held.body.size
                )),
                Err(e) if e.kind == ErrorKind::NotFound => Verdict::Corrupt("bytes missing".into()),
                Err(e) => Verdict::Unreachable(e.to_string()),
            };
        }
        let mut buf = Vec::new();
        for chunk in 0..held.body.chunks.len() {
            let Some((offset, len)) = held.chunk_range(chunk) else {
                break;
            };
            match replica.read_range(key, offset, len as usize, buf).await {
                Ok(data) if held.verify_chunk(chunk, &data) => buf = data,
                Ok(data) if (data.len() as u64) < len => {
                    return Verdict::Corrupt(format!(
                        "chunk {chunk} short: {} of {len} bytes",
                        data.len()
                    ))
                }
                Ok(_) => return Verdict::Corrupt(format!("chunk {chunk} does not match its hash")),
                Err(e) if e.kind == ErrorKind::NotFound => {
                    return Verdict::Corrupt("bytes missing".into())
                }
                Err(e) => return Verdict::Unreachable(e.to_string()),
            }
        }
        // Extra bytes past the signed size would reach a plain HTTP reader.
        match replica.stat(key).await {
            Ok(size) if size != held.body.size => Verdict::Corrupt(format!(
                "{size} bytes stored, manifest says {}",
                held.body.size
            )),
            _ => Verdict::Ok,
        }
    }
}
