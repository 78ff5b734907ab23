//! Deleting: a signed tombstone everywhere, then the bytes.

use futures::future::join_all;
use mirra_driver_api::{Capabilities, ErrorKind, Key};

use super::{PutReport, Store, StoreError, WriteCondition};
use crate::manifest::ManifestBody;

impl Store {
    /// Replaces `key` with a signed tombstone as its next version and deletes its bytes.
    /// The tombstone is what stops a provider that missed the delete from resurrecting
    /// the old version: readers see a newer, validly signed "deleted".
    ///
    /// # Errors
    /// As for [`Store::put`]: the tombstone needs the write quorum.
    pub async fn remove(&self, key: &Key) -> Result<PutReport, StoreError> {
        self.remove_if(key, &WriteCondition::Always).await
    }

    /// [`Store::remove`] when `condition` holds of the key's newest version.
    ///
    /// # Errors
    /// `PreconditionFailed` when it does not; otherwise as for [`Store::remove`].
    pub async fn remove_if(
        &self,
        key: &Key,
        condition: &WriteCondition,
    ) -> Result<PutReport, StoreError> {
        let identity = self.identity()?;
        let version = self.next_version_if(key, condition).await?;
        let created = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let tombstone =
            ManifestBody::tombstone(key.as_str(), version, self.chunk_size, created).sign(identity);
        let all: Vec<usize> = (0..self.replicas.len()).collect();
        // Only providers that can write get a tombstone; the rest are read-only.
        let writable = self
            .replicas
            .iter()
            .map(|r| match r.can(Capabilities::WRITE) {
                true => Ok(()),
                false => Err("read-only provider: its driver does not declare write".into()),
            })
            .collect();
        let errors = self
            .write_manifest_on(key, &tombstone, &all, writable)
            .await;
        let mut outcomes = self.outcomes(errors);
        let tombstoned: Vec<bool> = outcomes.iter().map(|o| o.error.is_none()).collect();
        let deletes =
            self.replicas
                .iter()
                .zip(tombstoned)
                .map(|(replica, tombstoned)| async move {
                    // The signed tombstone is what readers obey; a provider that cannot
                    // delete keeps inert bytes.
                    if !tombstoned || !replica.can(Capabilities::DELETE) {
                        return None;
                    }
                    match replica.delete(key).await {
                        Ok(()) => None,
                        Err(e) if e.kind == ErrorKind::NotFound => None,
                        Err(e) => Some(format!("tombstone written, bytes not deleted: {e}")),
                    }
                });
        for (outcome, delete_error) in outcomes.iter_mut().zip(join_all(deletes).await) {
            if outcome.error.is_none() {
                outcome.error = delete_error;
            }
        }
        self.settle(key, version, &outcomes)?;
        Ok(PutReport {
            key: key.to_string(),
            version,
            size: 0,
            sha256: hex::encode(tombstone.body.sha256),
            providers: outcomes,
            superseded_by: None,
        })
    }
}
