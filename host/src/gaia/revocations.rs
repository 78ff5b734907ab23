//! `revoke-all`'s oldest valid token time per bucket address. It lives on the providers
//! as an ordinary owner-signed object, `.gaia/revocations/<address>`, so every gateway
//! process over the same providers sees it and a provider cannot forge or roll it back
//! past what this machine has seen. This process caches it briefly, and a revocation
//! made here takes effect here at once.
//!
//! With providers down, "no revocation" is believed only when the providers that
//! answered prove it (see [`super::absence`]); otherwise requests are refused with 503
//! rather than let a revoked token through.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use mirra_driver_api::Key;
use serde::{Deserialize, Serialize};

use super::absence::proves_absent;
use crate::store::{PutOptions, Store, StoreError, WriteCondition};

/// How long a revocation read from the providers is trusted before reading it again:
/// the longest a revoke-all made by another gateway process takes to apply here.
pub const CACHE_FOR: Duration = Duration::from_secs(2);
/// Attempts to raise the time while other writers race on the same record.
const RAISE_ATTEMPTS: usize = 5;
/// Where the records live; no bucket address can start with a dot.
const PREFIX: &str = ".gaia/revocations/";

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Record {
    oldest_valid_timestamp: u64,
}

/// Revocation times, read through a short cache.
#[derive(Debug)]
pub struct Revocations {
    cache: Mutex<HashMap<String, (Instant, Option<u64>)>>,
    /// Providers that commit every write (the write quorum).
    required_writes: usize,
}

impl Revocations {
    /// Revocations over a store whose writes commit on `required_writes` providers.
    pub fn new(required_writes: usize) -> Self {
        Self {
            cache: Mutex::default(),
            required_writes: required_writes.max(1),
        }
    }

    /// The oldest valid `iat` for `address`, if revoke-all was ever called for it.
    ///
    /// # Errors
    /// When no provider can say (a token is then refused with 503, not let through).
    pub async fn oldest(&self, store: &Store, address: &str) -> Result<Option<u64>, StoreError> {
        if let Some((read, value)) = self.cached(address) {
            if read.elapsed() < CACHE_FOR {
                return Ok(value);
            }
        }
        let (value, _) = read_record(store, &record_key(address)?, self.required_writes).await?;
        self.remember(address, value);
        Ok(value)
    }

    /// Raises `address`'s oldest valid time to `timestamp` (never lowers it), with a
    /// conditional write so concurrent revocations from several gateways all hold.
    /// Returns the time now in force.
    ///
    /// # Errors
    /// A store error; `PreconditionFailed` if other writers kept winning.
    pub async fn raise(
        &self,
        store: &Store,
        address: &str,
        timestamp: u64,
    ) -> Result<u64, StoreError> {
        let key = record_key(address)?;
        let mut last_error = None;
        for _ in 0..RAISE_ATTEMPTS {
            let (current, version) = read_record(store, &key, self.required_writes).await?;
            if current.is_some_and(|c| c >= timestamp) {
                self.remember(address, current);
                return Ok(current.unwrap_or(timestamp));
            }
            let body = serde_json::to_vec(&Record {
                oldest_valid_timestamp: timestamp,
            })
            .expect("records serialize");
            let options = PutOptions {
                content_type: "application/json".into(),
                condition: version.map_or(WriteCondition::IfAbsent, WriteCondition::IfVersion),
                ..PutOptions::default()
            };
            match store.put_with(&key, body.as_slice(), &options).await {
                Ok(_) => {
                    self.remember(address, Some(timestamp));
                    return Ok(timestamp);
                }
                Err(e @ (StoreError::PreconditionFailed { .. } | StoreError::Busy { .. })) => {
                    last_error = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last_error.expect("at least one attempt"))
    }

    fn cached(&self, address: &str) -> Option<(Instant, Option<u64>)> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.get(address).copied()
    }

    fn remember(&self, address: &str, value: Option<u64>) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.insert(address.to_owned(), (Instant::now(), value));
    }
}

/// The key of `address`'s revocation record.
pub(crate) fn record_key(address: &str) -> Result<Key, StoreError> {
    Ok(crate::user_key::parse_user_key(&format!(
        "{PREFIX}{address}"
    ))?)
}

/// The record's time and the version it was read from; `(None, None)` when never
/// written. A record that does not parse counts as no revocation only if it was never
/// written: a garbled but validly signed record is an error, not a way around revoking.
async fn read_record(
    store: &Store,
    key: &Key,
    required_writes: usize,
) -> Result<(Option<u64>, Option<u64>), StoreError> {
    let head = match store.head(key).await {
        Ok(head) => head,
        Err(StoreError::Deleted { version, .. }) => return Ok((None, Some(version))),
        Err(e) if proves_absent(&e, store.replicas().len(), required_writes) => {
            return Ok((None, None))
        }
        Err(e) => return Err(e),
    };
    let mut bytes = Vec::new();
    store
        .get_range(key, &head.manifest, 0, head.size(), &mut bytes)
        .await?;
    let record: Record = serde_json::from_slice(&bytes)
        .map_err(|e| StoreError::State(format!("{key}: not a revocation record: {e}")))?;
    Ok((Some(record.oldest_valid_timestamp), Some(head.version())))
}
