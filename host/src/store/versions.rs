//! Which version a write gets, whether its condition holds, and whether it stayed newest.
//!
//! On one machine the key's write lock (see [`crate::write_lock`]) makes these checks
//! atomic with the write. Writers on other machines cannot be locked out on dumb
//! providers, so a write re-checks right before it commits and re-reads after: if a
//! concurrent write ranks higher in the total order, the write is reported superseded.

use mirra_driver_api::Key;

use super::attempt::Attempt;
use super::manifests::ManifestProblem;
use super::verdict::Verdict;
use super::{Store, StoreError, WriteCondition};
use crate::identity::Identity;
use crate::manifest::{Manifest, ManifestBody};

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
        self.next_version_and_commit_order(key, condition)
            .await
            .map(|(version, _)| version)
    }

    /// [`Store::next_version_if`], and the order in which to commit the new version: the
    /// providers holding the current newest version last. Overwriting their bytes is
    /// what makes that version unreadable there until the new manifest lands, so while
    /// they are overwritten one after another, either one of them still holds it intact
    /// or an earlier provider already holds the new version complete, wherever a crash
    /// stops the write.
    pub(crate) async fn next_version_and_commit_order(
        &self,
        key: &Key,
        condition: &WriteCondition,
    ) -> Result<(u64, Vec<usize>), StoreError> {
        let fetched = self.fetch_all_manifests(key).await;
        self.version_and_commit_order(key, condition, &fetched)
    }

    /// [`Store::next_version_and_commit_order`] from `fetched`, every provider's manifest
    /// of `key` in provider order.
    pub(crate) fn version_and_commit_order(
        &self,
        key: &Key,
        condition: &WriteCondition,
        fetched: &[Result<Manifest, ManifestProblem>],
    ) -> Result<(u64, Vec<usize>), StoreError> {
        let newest = fetched
            .iter()
            .filter_map(|m| m.as_ref().ok())
            .max_by_key(|m| m.order_key())
            .cloned();
        check_condition(key, condition, newest.as_ref())?;
        let mut order: Vec<usize> = (0..self.replicas.len()).collect();
        let holds_newest = |i: &usize| match (&fetched[*i], &newest) {
            (Ok(m), Some(n)) => m.order_key() == n.order_key(),
            _ => false,
        };
        // Stable: within each group, provider order is kept.
        order.sort_by_key(holds_newest);
        let on_providers = newest.map(|m| m.body.version);
        let known = on_providers.max(self.versions_seen(key)?).unwrap_or(0);
        let next =
            ManifestBody::next_version(key.as_str(), known).map_err(StoreError::InvalidWrite)?;
        Ok((next, order))
    }

    /// After `ours` committed: whether it stayed newest, and if a concurrent writer
    /// elsewhere outranked it, what became of the key.
    ///
    /// The loser repairs the key toward the winner (its own bytes or manifest may have
    /// landed after the winner's on some providers). If after that no provider holds a
    /// verified copy of the winner (the loser's bytes landed over it everywhere), the
    /// loser re-signs its own content as the next version on the providers whose bytes
    /// verify against it, so the key never stays unreadable.
    pub(crate) async fn after_commit(
        &self,
        key: &Key,
        ours: &Manifest,
        identity: &Identity,
    ) -> Result<AfterCommit, StoreError> {
        let Some(newest) = self.newest_on_providers(key).await else {
            return Ok(AfterCommit::Newest);
        };
        if !newest.outranks(ours) {
            return Ok(AfterCommit::Newest);
        }
        let winner = newest.body.version;
        self.record_seen(key, winner)?;
        tracing::warn!(key = %key, ours = ours.body.version, winner,
            "a concurrent write won the order over this one");
        if let Err(e) = self.repair_key_locked(key).await {
            tracing::warn!(key = %key, error = %e, "could not repair after losing the order");
        }
        let check = self.check_key(key, true).await?;
        // An unreachable provider may still hold the winner intact: only a winner every
        // provider answered for, and none with a verified copy, is taken as lost.
        let maybe_readable = check
            .copies
            .iter()
            .any(|c| matches!(c, Verdict::Ok | Verdict::Deleted | Verdict::Unreachable(_)));
        if maybe_readable {
            return Ok(AfterCommit::Superseded(winner));
        }
        let mut body = ours.body.clone();
        body.version = check.newest.map_or(winner, |m| m.body.version.max(winner)) + 1;
        body.created = super::put::unix_now();
        let again = body.sign(identity);
        let mut holders = Vec::new();
        for index in 0..self.replicas.len() {
            let state = self
                .judge_copy(index, key, Ok(again.clone()), Some(&again), true)
                .await;
            if again.body.deleted || state == Verdict::Ok {
                holders.push(index);
            }
        }
        let earlier = holders.into_iter().map(|i| Attempt::ok(i, ())).collect();
        let written = self.write_manifest_on(key, &again, earlier).await;
        if written.iter().all(|w| w.result.is_err()) {
            return Ok(AfterCommit::Superseded(winner));
        }
        self.record_seen(key, again.body.version)?;
        tracing::warn!(key = %key, version = again.body.version,
            "no verified copy of the winning write was left; republished this write above it");
        Ok(AfterCommit::Republished(again.body.version))
    }
}

/// What a committed write turned out to be once the providers were read again.
pub(crate) enum AfterCommit {
    /// It is the key's newest version.
    Newest,
    /// A concurrent write (this version) outranks it and is readable.
    Superseded(u64),
    /// It was outranked, but the winner was left unreadable everywhere, so it was
    /// re-signed as this newer version over its own verified bytes.
    Republished(u64),
}

impl AfterCommit {
    /// What this says about a write, in its report.
    pub(crate) fn apply(self, report: &mut super::PutReport) {
        match self {
            AfterCommit::Newest => {}
            AfterCommit::Superseded(winner) => report.superseded_by = Some(winner),
            AfterCommit::Republished(version) => report.version = version,
        }
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
