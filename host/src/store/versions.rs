//! Which version a write gets, whether its condition holds, and whether it stayed newest.
//!
//! On one machine the key's write lock (see [`crate::write_lock`]) makes these checks
//! atomic with the write. Writers on other machines cannot be locked out on dumb
//! providers, so a write re-checks right before it commits and re-reads after: if a
//! concurrent write ranks higher in the total order, the write is reported superseded.

use mirra_driver_api::Key;

use super::{Store, StoreError, WriteCondition};
use crate::manifest::Manifest;

impl Store {
    /// The highest valid manifest of `key` on the reachable providers, in the total order.
    pub(crate) async fn newest_on_providers(&self, key: &Key) -> Option<Manifest> {
        self.fetch_all_manifests(key)
            .await
            .into_iter()
            .filter_map(Result::ok)
            .max_by_key(Manifest::order_key)
    }

    /// One more than the newest version known here or on any reachable provider, once
    /// `condition` holds of the newest valid manifest there.
    pub(crate) async fn next_version_if(
        &self,
        key: &Key,
        condition: &WriteCondition,
    ) -> Result<u64, StoreError> {
        let newest = self.newest_on_providers(key).await;
        check_condition(key, condition, newest.as_ref())?;
        let on_providers = newest.map(|m| m.body.version);
        let known = on_providers.max(self.versions_seen(key)?).unwrap_or(0);
        Ok(known + 1)
    }

    /// After `ours` committed: the version of a higher-ranked manifest on the providers
    /// (a concurrent writer elsewhere won), if any. The newest is recorded as seen.
    pub(crate) async fn superseded_by(
        &self,
        key: &Key,
        ours: &Manifest,
    ) -> Result<Option<u64>, StoreError> {
        let Some(newest) = self.newest_on_providers(key).await else {
            return Ok(None);
        };
        if !newest.outranks(ours) {
            return Ok(None);
        }
        self.record_seen(key, newest.body.version)?;
        tracing::warn!(key = %key, ours = ours.body.version, winner = newest.body.version,
            "a concurrent write won the order over this one");
        // Our commit may have landed over the winner's bytes or manifest on some
        // providers; bring them back to the winner from the copies that still verify.
        if let Err(e) = self.repair_key_locked(key).await {
            tracing::warn!(key = %key, error = %e, "could not repair after losing the order");
        }
        Ok(Some(newest.body.version))
    }
}

/// `Ok` when `condition` holds of `newest` (the key's newest manifest, live or not).
pub(crate) fn check_condition(
    key: &Key,
    condition: &WriteCondition,
    newest: Option<&Manifest>,
) -> Result<(), StoreError> {
    let live = newest.filter(|m| !m.body.deleted);
    let failed = |reason: String| {
        Err(StoreError::PreconditionFailed {
            key: key.to_string(),
            reason,
        })
    };
    match condition {
        WriteCondition::Always => Ok(()),
        WriteCondition::IfAbsent => match live {
            Some(m) => failed(format!("version {} exists", m.body.version)),
            None => Ok(()),
        },
        WriteCondition::IfSha256(expected) => match live {
            Some(m) if hex::encode(m.body.sha256) == *expected => Ok(()),
            Some(m) => failed(format!(
                "version {} has sha256 {}, not {expected}",
                m.body.version,
                hex::encode(m.body.sha256)
            )),
            None => failed("no live version".into()),
        },
        WriteCondition::IfVersion(expected) => match newest {
            Some(m) if m.body.version == *expected => Ok(()),
            Some(m) => failed(format!(
                "newest version is {}, not {expected}",
                m.body.version
            )),
            None => failed("no version".into()),
        },
    }
}

#[cfg(test)]
#[path = "versions_tests.rs"]
mod tests;
