//! Put, get, delete and list across every provider, with signed manifests.
//!
//! This is the only layer that knows about signatures: below it, replicas move opaque
//! bytes; above it, the CLI and gateway see verified objects or a clear error saying
//! what each provider did wrong.

mod attempt;
mod chunks;
mod errors;
mod get;
mod hedge;
mod listing;
mod manifests;
mod put;
mod put_batch;
mod range;
mod remove;
mod repair;
mod verdict;
mod verify;
mod versions;

use std::sync::Arc;
use std::time::Duration;

use mirra_driver_api::Key;
use secp256k1::PublicKey;

use crate::config::{WriteQuorum, DEFAULT_HEDGE_AFTER, MIN_HEDGE_AFTER};
use crate::identity::Identity;
use crate::manifest::ManifestBody;
use crate::provider_order::{rfc7553_order_random, Rank};
use crate::replica::Replica;
use crate::state::{RepairJournal, StateError, VersionsSeen};
use crate::write_lock::{WriteLock, WriteLockError, WriteLocks};

pub use errors::{Failures, ProviderFailure, StoreError};
pub use get::{GetOptions, GetReport};
pub use listing::{KeySummary, ProviderStatus};
pub use put::{ProviderOutcome, PutOptions, PutReport, WriteCondition};
pub use range::{ObjectHead, RangeReport};
pub use repair::{RepairAction, RepairReport};
pub use verdict::Verdict;
pub use verify::CopyReport;

/// The data key under which content-addressed (immutable) objects live.
pub fn immutable_key(sha256_hex: &str) -> Result<Key, StoreError> {
    let valid = sha256_hex.len() == 64
        && sha256_hex
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
    if !valid {
        return Err(StoreError::BadHash(sha256_hex.to_owned()));
    }
    Key::parse(&format!(".mirra/sha256/{sha256_hex}"))
        .map_err(|e| StoreError::BadHash(e.to_string()))
}

/// Everything a store operation needs besides its arguments. Clones share everything,
/// the batches of small puts included.
#[derive(Clone)]
pub struct Store {
    replicas: Vec<Replica>,
    signer: PublicKey,
    identity: Option<Arc<Identity>>,
    versions: VersionsSeen,
    journal: RepairJournal,
    quorum: WriteQuorum,
    chunk_size: u64,
    hedge_after: Option<Duration>,
    locks: WriteLocks,
    batcher: Arc<put_batch::PutBatcher>,
}

/// How to build a [`Store`].
pub struct StoreParts {
    /// Providers, in any order (the store sorts them by priority).
    pub replicas: Vec<Replica>,
    /// Whose signature reads must carry.
    pub signer: PublicKey,
    /// The owner's key, for writes; `None` makes the store read-only.
    pub identity: Option<Arc<Identity>>,
    /// Newest versions seen, for rollback protection.
    pub versions: VersionsSeen,
    /// Writes that providers missed.
    pub journal: RepairJournal,
    /// How many providers must commit a write.
    pub quorum: WriteQuorum,
    /// Bytes per verified chunk.
    pub chunk_size: u64,
    /// How long a read waits for a provider before also asking the next one; `None`
    /// derives it from each provider's latency.
    pub hedge_after: Option<Duration>,
}

impl Store {
    /// A store over `parts.replicas`, tried in priority order (stable for ties).
    pub fn new(parts: StoreParts) -> Self {
        let mut replicas = parts.replicas;
        replicas.sort_by_key(|r| r.settings().priority);
        // Beside the versions record, so every store sharing a state dir shares the locks.
        let locks = WriteLocks::new(parts.versions.state_dir());
        Self {
            replicas,
            signer: parts.signer,
            identity: parts.identity,
            versions: parts.versions,
            journal: parts.journal,
            quorum: parts.quorum,
            chunk_size: parts.chunk_size.max(1),
            hedge_after: parts.hedge_after,
            locks,
            batcher: Arc::default(),
        }
    }

    /// A store that cannot sign, over `replicas` (opened from a zone file, with no
    /// config): it verifies against `signer` under the default policy, keeping this
    /// host's record of versions seen in `state_dir`.
    ///
    /// # Errors
    /// The state directory's records cannot be opened.
    pub fn read_only(
        replicas: Vec<Replica>,
        signer: PublicKey,
        state_dir: &std::path::Path,
    ) -> Result<Self, StateError> {
        let policy = crate::config::Policy::default();
        Ok(Self::new(StoreParts {
            replicas,
            signer,
            identity: None,
            versions: VersionsSeen::open(state_dir)?,
            journal: RepairJournal::open(state_dir)?,
            quorum: policy.write_quorum,
            chunk_size: policy.chunk_size,
            hedge_after: policy.hedge_after,
        }))
    }

    /// The providers, in priority order.
    pub fn replicas(&self) -> &[Replica] {
        &self.replicas
    }

    /// The public key reads verify against.
    pub fn signer(&self) -> &PublicKey {
        &self.signer
    }

    /// Provider indices in the order reads should try them: by priority, weighted random
    /// among equal priorities (RFC 7553, [`crate::provider_order`]), and within a
    /// priority the providers whose breaker is closed first.
    pub(crate) fn read_order(&self) -> Vec<usize> {
        let ranks: Vec<Rank> = self
            .replicas
            .iter()
            .map(|r| Rank {
                priority: r.settings().priority,
                weight: r.settings().weight,
            })
            .collect();
        let mut order = rfc7553_order_random(&ranks);
        // Stable: the weighted order stands among providers of equal health.
        order.sort_by_key(|&i| {
            let r = &self.replicas[i];
            (r.settings().priority, r.health_record().is_open())
        });
        order
    }

    /// How long to wait for `replica` before hedging: the configured delay, else twice
    /// the provider's recent p95 latency (at least a few milliseconds).
    pub(crate) fn hedge_delay(&self, replica: &Replica) -> Duration {
        match (self.hedge_after, replica.health_record().p95()) {
            (Some(configured), _) => configured,
            (None, Some(p95)) => (p95 * 2).max(MIN_HEDGE_AFTER),
            (None, None) => DEFAULT_HEDGE_AFTER,
        }
    }

    /// Refuses, before anything is written, a write whose manifest readers would refuse.
    fn check_write(
        &self,
        key: &Key,
        content_type: &str,
        mtime_ns: Option<u64>,
        metadata: &std::collections::BTreeMap<String, String>,
    ) -> Result<(), StoreError> {
        ManifestBody::check_write(
            key.as_str(),
            1,
            self.chunk_size,
            content_type,
            mtime_ns,
            metadata,
        )
        .map_err(StoreError::InvalidWrite)
    }

    fn identity(&self) -> Result<&Identity, StoreError> {
        self.identity.as_deref().ok_or(StoreError::ReadOnly)
    }

    /// This machine's write lock on `key`, held until the write's manifest is everywhere.
    pub(crate) async fn write_lock(
        &self,
        key: &Key,
        fail_if_busy: bool,
    ) -> Result<WriteLock, StoreError> {
        self.locks
            .lock(&self.signer, key.as_str(), fail_if_busy)
            .await
            .map_err(|e| match e {
                WriteLockError::Busy => StoreError::Busy {
                    key: key.to_string(),
                },
                e => StoreError::State(e.to_string()),
            })
    }
}
