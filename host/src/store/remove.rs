//! Deleting: a signed tombstone everywhere, then the bytes.

use futures::future::join_all;
use mirra_driver_api::{Capabilities, ErrorKind, Key};

use super::attempt::{Attempt, WriteProblem};
use super::versions::AfterCommit;
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
        self.remove_with(key, condition, false).await
    }

    /// [`Store::remove_if`], failing with [`StoreError::Busy`] instead of waiting when
    /// `fail_if_busy` and another write of the key is in flight on this machine.
    ///
    /// # Errors
    /// As for [`Store::remove_if`], or `Busy`.
    pub async fn remove_with(
        &self,
        key: &Key,
        condition: &WriteCondition,
        fail_if_busy: bool,
    ) -> Result<PutReport, StoreError> {
        let identity = self.identity()?;
        self.check_write(key, "", None, &Default::default())?;
        // Same turn-taking as a put: see `Store::put_with`.
        let _lock = self.write_lock(key, fail_if_busy).await?;
        let version = self.next_version_if(key, condition).await?;
        let created = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let tombstone =
            ManifestBody::tombstone(key.as_str(), version, self.chunk_size, created).sign(identity);
        // Only providers that can write get a tombstone; the rest are read-only.
        let writable = (0..self.replicas.len())
            .map(|i| match self.replicas[i].can(Capabilities::WRITE) {
                true => Attempt::ok(i, ()),
                false => Attempt::failed(i, WriteProblem::ReadOnly),
            })
            .collect();
        let tombstoned = self.write_manifest_on(key, &tombstone, writable).await;
        let deletes = tombstoned.into_iter().map(|tombstoned| {
            tombstoned.then(move |index, ()| async move {
                let replica = &self.replicas[index];
                // The signed tombstone is what readers obey; a provider that cannot
                // delete keeps inert bytes.
                if !replica.can(Capabilities::DELETE) {
                    return Ok(());
                }
                match replica.delete(key).await {
                    Ok(()) => Ok(()),
                    Err(e) if e.kind == ErrorKind::NotFound => Ok(()),
                    Err(e) => Err(WriteProblem::BytesKept(e)),
                }
            })
        });
        let outcomes = self.settle(key, version, join_all(deletes).await)?;
        let (version, superseded_by) = match self.after_commit(key, &tombstone, identity).await? {
            AfterCommit::Newest => (version, None),
            AfterCommit::Superseded(winner) => (version, Some(winner)),
            AfterCommit::Republished(again) => (again, None),
        };
        Ok(PutReport {
            key: key.to_string(),
            version,
            size: 0,
            sha256: hex::encode(tombstone.body.sha256),
            providers: outcomes,
            superseded_by,
        })
    }
}

#[cfg(test)]
mod tests {

    use mirra_driver_api::{Capabilities, Key};

    use crate::replica::capability_tests::{named_replica, store_over};

    #[tokio::test]
    async fn tombstones_go_only_to_providers_that_can_write() {
        let state = tempfile::tempdir().unwrap();
        let caps = Capabilities::READ | Capabilities::WRITE | Capabilities::DELETE;
        let (writable, written) = named_replica("writable", caps);
        let (read_only, untouched) = named_replica("read-only", Capabilities::READ);
        let store = store_over(vec![writable, read_only], 1, state.path());
        let key = Key::parse("doc.txt").unwrap();
        store.put(&key, &b"hello"[..], "").await.unwrap();
        let report = store.remove(&key).await.unwrap();

        let outcome = |name: &str| {
            report
                .providers
                .iter()
                .find(|o| o.provider == name)
                .unwrap()
                .error
                .clone()
        };
        assert_eq!(outcome("writable"), None);
        let skipped = outcome("read-only").expect("the read-only provider is named");
        assert!(skipped.contains("read-only"), "{skipped}");
        assert!(
            written
                .calls()
                .iter()
                .any(|c| c.starts_with("put .mirra/manifests/")),
            "{:?}",
            written.calls()
        );
        // Not one write or delete reached the read-only driver.
        let calls = untouched.calls();
        assert!(
            calls
                .iter()
                .all(|c| c.starts_with("stat") || c.starts_with("read")),
            "{calls:?}"
        );
    }
}
