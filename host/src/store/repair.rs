//! `repair`: bring every provider to the newest valid version, copying verified bytes
//! from the providers that hold them, including the writes the journal says were missed.

use std::collections::BTreeSet;

use futures::future::join_all;
use mirra_driver_api::{Capabilities, ErrorKind, Key};

use super::attempt::{Attempt, WriteProblem};
use super::put::abort_all;
use super::verdict::Verdict;
use super::{Store, StoreError};
use crate::manifest::Manifest;

/// One provider's outcome for one key.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RepairAction {
    /// The key.
    pub key: String,
    /// The provider.
    pub provider: String,
    /// What was wrong there.
    pub was: Verdict,
    /// `None` when fixed, else why it could not be.
    pub error: Option<String>,
}

/// What a repair run did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RepairReport {
    /// Keys examined.
    pub keys_checked: usize,
    /// Copies written or deleted, and copies that could not be.
    pub actions: Vec<RepairAction>,
}

impl RepairReport {
    /// Whether every deficient copy was fixed.
    pub fn complete(&self) -> bool {
        self.actions.iter().all(|a| a.error.is_none())
    }
}

impl Store {
    /// Repairs every key under `prefix`, plus the journal's entries under it. Running it
    /// again right after changes nothing.
    ///
    /// # Errors
    /// `Unlisted` when no provider can be listed (nothing is repaired then, not even the
    /// journal's entries: a repair that saw no provider cannot say what is deficient),
    /// or when local state fails; per-copy failures are in the report.
    pub async fn repair(&self, prefix: &str) -> Result<RepairReport, StoreError> {
        let mut keys: BTreeSet<Key> = self.manifest_keys(prefix).await?;
        let journal = self
            .journal
            .list()
            .map_err(|e| StoreError::State(e.to_string()))?;
        keys.extend(
            journal
                .iter()
                .filter(|(_, k)| k.starts_with(prefix))
                .filter_map(|(_, k)| Key::parse(k).ok()),
        );
        let mut report = RepairReport {
            keys_checked: keys.len(),
            actions: Vec::new(),
        };
        for key in keys {
            report.actions.extend(self.repair_key(&key).await?);
        }
        Ok(report)
    }

    /// Brings every provider's copy of `key` to its newest valid version, taking the
    /// key's write lock so a repair never interleaves with a write on this machine.
    async fn repair_key(&self, key: &Key) -> Result<Vec<RepairAction>, StoreError> {
        let _lock = self.write_lock(key, false).await?;
        self.repair_key_locked(key).await
    }

    /// [`Store::repair_key`] for a caller that already holds the key's write lock.
    pub(crate) async fn repair_key_locked(
        &self,
        key: &Key,
    ) -> Result<Vec<RepairAction>, StoreError> {
        let check = self.check_key(key, true).await?;
        let Some(newest) = check.newest else {
            return Ok(self
                .replicas
                .iter()
                .zip(check.copies)
                .map(|(r, was)| RepairAction {
                    key: key.to_string(),
                    provider: r.name().to_owned(),
                    was,
                    error: Some("no valid signed version anywhere".into()),
                })
                .collect());
        };
        let deficient: Vec<usize> = check
            .copies
            .iter()
            .enumerate()
            .filter(|(_, s)| s.is_deficient())
            .map(|(i, _)| i)
            .collect();
        for (replica, state) in self.replicas.iter().zip(&check.copies) {
            if !state.is_deficient() {
                self.journal
                    .remove(replica.name(), key.as_str())
                    .map_err(|e| StoreError::State(e.to_string()))?;
            }
        }
        if deficient.is_empty() {
            return Ok(Vec::new());
        }
        let outcomes = if newest.body.deleted {
            self.copy_tombstone(key, &newest, &deficient).await
        } else {
            // Read only from copies that verified: the deficient ones would just fail.
            let sources: Vec<usize> = self
                .read_order()
                .into_iter()
                .filter(|&i| check.copies[i] == Verdict::Ok)
                .collect();
            self.copy_object(key, &newest, &deficient, sources).await
        };
        let mut actions = Vec::new();
        for attempt in outcomes {
            let replica = &self.replicas[attempt.replica];
            if attempt.result.is_ok() {
                self.journal
                    .remove(replica.name(), key.as_str())
                    .map_err(|e| StoreError::State(e.to_string()))?;
            }
            actions.push(RepairAction {
                key: key.to_string(),
                provider: replica.name().to_owned(),
                was: check.copies[attempt.replica].clone(),
                error: attempt.result.err().map(|problem| problem.to_string()),
            });
        }
        Ok(actions)
    }

    /// Streams the verified object to the `targets`, then its manifest.
    async fn copy_object(
        &self,
        key: &Key,
        manifest: &Manifest,
        targets: &[usize],
        sources: Vec<usize>,
    ) -> Vec<Attempt<()>> {
        let none_from = |reason: String| {
            targets
                .iter()
                .map(|&i| Attempt::failed(i, WriteProblem::NoSource(reason.clone())))
                .collect()
        };
        if sources.is_empty() {
            return none_from(
                "no provider holds a copy that verifies, so there is none to copy from".into(),
            );
        }
        // The verified read writes into one end of a pipe; the fan-out reads the other.
        let (mut pipe_in, pipe_out) = tokio::io::duplex(1 << 20);
        let read = async {
            let result = self
                .get_verified_from(key, manifest, sources, &mut pipe_in)
                .await;
            drop(pipe_in);
            result
        };
        let ((hashed, written), read) =
            tokio::join!(self.stream_to_replicas(targets, key, pipe_out), read);
        let source_failed = match (read, hashed) {
            (Err(e), _) => Some(format!("no verified source: {e}")),
            (Ok(_), Err(e)) => Some(e.to_string()),
            (Ok(_), Ok(hasher)) if hasher.size() != manifest.body.size => {
                Some("source ended early".into())
            }
            (Ok(_), Ok(_)) => None,
        };
        if let Some(reason) = source_failed {
            abort_all(written).await;
            return none_from(reason);
        }
        self.commit_in_turn(key, manifest, written).await
    }

    /// Deletes the bytes on the `targets`, then writes the tombstone there.
    async fn copy_tombstone(
        &self,
        key: &Key,
        tombstone: &Manifest,
        targets: &[usize],
    ) -> Vec<Attempt<()>> {
        let deletes = targets.iter().map(|&i| async move {
            let replica = &self.replicas[i];
            if !replica.can(Capabilities::DELETE) {
                return Attempt::ok(i, ());
            }
            match replica.delete(key).await {
                Ok(()) => Attempt::ok(i, ()),
                Err(e) if e.kind == ErrorKind::NotFound => Attempt::ok(i, ()),
                Err(e) => Attempt::failed(i, WriteProblem::Delete(e)),
            }
        });
        let deleted = join_all(deletes).await;
        self.write_manifest_on(key, tombstone, deleted).await
    }
}

#[cfg(test)]
mod tests {

    use mirra_driver_api::{Capabilities, Key};

    use crate::replica::capability_tests::{named_replica, store_over};
    use crate::store::Verdict;

    #[tokio::test]
    async fn copies_that_all_fail_to_verify_are_reported_as_having_no_source() {
        let state = tempfile::tempdir().unwrap();
        let caps = Capabilities::READ | Capabilities::WRITE | Capabilities::LIST;
        let (a, a_driver) = named_replica("a", caps);
        let (b, b_driver) = named_replica("b", caps);
        let store = store_over(vec![a, b], 2, state.path());
        let key = Key::parse("doc.txt").unwrap();
        store.put(&key, &b"hello"[..], "").await.unwrap();
        for driver in [&a_driver, &b_driver] {
            driver
                .objects
                .lock()
                .unwrap()
                .insert("doc.txt".into(), b"jello".to_vec());
        }
        let actions = store.repair_key_locked(&key).await.unwrap();
        assert_eq!(actions.len(), 2, "{actions:?}");
        for action in actions {
            assert!(matches!(action.was, Verdict::Corrupt(_)), "{action:?}");
            assert_eq!(
                action.error.as_deref(),
                Some("no provider holds a copy that verifies, so there is none to copy from")
            );
        }
    }
}
