//! The gateway's memory of what it has verified: the manifest of each recently read key,
//! and the whole bytes of small objects, so a hot object is answered without asking the
//! providers again.
//!
//! Freshness rule: an entry is served for at most [`CachePolicy::fresh`] after the read
//! that verified it; after that the next request reads through the store again (manifest
//! and bytes, with rollback protection) exactly as an uncached request does.
//!
//! What keeps a cached answer honest:
//! - bytes enter only as [`VerifiedBytes`], which can only be built by checking their
//!   size and SHA-256 against the signed manifest they are served with;
//! - a write or delete through this process forgets its key at once
//!   ([`ObjectCache::forget`]); so does anything else in the process that sees a newer
//!   version ([`ObjectCache::observe`]);
//! - an entry is never replaced by a version that ranks below it, and a read that began
//!   before its key's entry was forgotten or evicted does not insert what it found (it
//!   may have raced a newer version), so nothing older than a version this process has
//!   already written or seen comes back.
//!
//! Memory is bounded by a byte budget and an entry count, both enforced on insert by
//! evicting the least recently used entries. Time is a parameter (`now`) so tests need
//! no sleeps.

use std::collections::hash_map::RandomState;
use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use mirra_driver_api::Key;

use crate::manifest::{sha256, Manifest};
use crate::store::ObjectHead;

/// Forgetting a key invalidates reads in flight for every key of its shard; more shards
/// mean fewer needlessly refused inserts, at 8 bytes each.
const SHARDS: usize = 256;

/// What a manifest entry costs beyond its chunk hashes, key and content type: the fixed
/// fields, the signature, the map and LRU bookkeeping (a generous round figure).
const ENTRY_OVERHEAD: u64 = 512;

/// How much the cache holds and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CachePolicy {
    /// How long after its verification an entry may be served; zero disables the cache.
    pub fresh: Duration,
    /// Bytes of manifests and objects held at most; zero disables the cache.
    pub max_bytes: u64,
    /// Entries held at most; zero disables the cache.
    pub max_entries: usize,
    /// Objects larger than this keep only their manifest in the cache.
    pub max_object_bytes: u64,
}

impl CachePolicy {
    /// One second: a version written elsewhere (another process, another gateway) shows
    /// within a second, about as fast as a person reloads, while a hot object costs the
    /// providers one verified read per second instead of one per request.
    pub const DEFAULT_FRESH: Duration = Duration::from_secs(1);
    /// 64 MiB: small next to the read memory budget, room for thousands of small objects.
    pub const DEFAULT_MAX_BYTES: u64 = 64 << 20;
    /// 10,000 entries: bounds the bookkeeping even when every entry is a tiny manifest.
    pub const DEFAULT_MAX_ENTRIES: usize = 10_000;
    /// 256 KiB: profiles, app JSON, thumbnails and Gaia files; anything larger streams
    /// from the providers as before (its manifest is still cached).
    pub const DEFAULT_MAX_OBJECT_BYTES: u64 = 256 << 10;

    /// Whether this policy caches anything at all.
    pub fn enabled(&self) -> bool {
        !self.fresh.is_zero() && self.max_bytes > 0 && self.max_entries > 0
    }
}

impl Default for CachePolicy {
    fn default() -> Self {
        Self {
            fresh: Self::DEFAULT_FRESH,
            max_bytes: Self::DEFAULT_MAX_BYTES,
            max_entries: Self::DEFAULT_MAX_ENTRIES,
            max_object_bytes: Self::DEFAULT_MAX_OBJECT_BYTES,
        }
    }
}

/// A whole object's bytes, checked against the signed manifest they belong to.
#[derive(Clone)]
pub(crate) struct VerifiedBytes(Bytes);

impl VerifiedBytes {
    /// `bytes` if they are exactly the object `manifest` describes (its size and
    /// SHA-256), else `None`.
    pub(crate) fn check(manifest: &Manifest, bytes: Vec<u8>) -> Option<Self> {
        let whole = bytes.len() as u64 == manifest.body.size
            && sha256(&bytes) == manifest.body.sha256
            && !manifest.body.deleted;
        whole.then(|| Self(Bytes::from(bytes)))
    }

    /// The verified bytes (a cheap reference-counted handle).
    pub(crate) fn bytes(&self) -> &Bytes {
        &self.0
    }
}

/// A cached read: the verified manifest, and the bytes when the object is small.
pub(crate) struct CachedObject {
    /// What the headers say.
    pub(crate) head: ObjectHead,
    /// The whole object, when it was small enough to keep.
    pub(crate) bytes: Option<VerifiedBytes>,
}

/// Taken before a read that may fill the cache: the insert is refused if the key's shard
/// was invalidated since.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FillTicket {
    shard: usize,
    epoch: u64,
}

/// Figures for `/_metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Entries held now.
    pub entries: u64,
    /// Bytes held now (manifests and objects, as the budget counts them).
    pub bytes: u64,
    /// Reads answered from the cache.
    pub hits: u64,
    /// Reads that went to the providers (no entry, or a stale one).
    pub misses: u64,
}

struct Entry {
    object: Arc<CachedObject>,
    order: (u64, [u8; 32]),
    verified_at: Instant,
    last_used: u64,
    cost: u64,
}

struct Inner {
    entries: HashMap<Key, Entry>,
    /// Entries by last use, oldest first: the eviction order.
    by_use: BTreeMap<u64, Key>,
    tick: u64,
    bytes: u64,
    epochs: Vec<u64>,
}

/// The bounded cache of verified manifests and small verified objects.
pub(crate) struct ObjectCache {
    policy: CachePolicy,
    hasher: RandomState,
    inner: Mutex<Inner>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl ObjectCache {
    /// A cache with `policy`; `None` when the policy disables caching.
    pub(crate) fn new(policy: CachePolicy) -> Option<Self> {
        policy.enabled().then(|| Self {
            policy,
            hasher: RandomState::new(),
            inner: Mutex::new(Inner {
                entries: HashMap::new(),
                by_use: BTreeMap::new(),
                tick: 0,
                bytes: 0,
                epochs: vec![0; SHARDS],
            }),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        })
    }

    /// Whether an object of `size` bytes keeps its bytes in the cache.
    pub(crate) fn keeps_bytes_of(&self, size: u64) -> bool {
        size <= self.policy.max_object_bytes
    }

    /// The entry for `key` if it was verified less than the freshness bound before `now`;
    /// counts a hit or a miss.
    pub(crate) fn lookup_at(&self, key: &Key, now: Instant) -> Option<Arc<CachedObject>> {
        let mut inner = self.lock();
        let inner = &mut *inner;
        let found = inner.entries.get_mut(key).and_then(|entry| {
            let age = now.saturating_duration_since(entry.verified_at);
            (age < self.policy.fresh).then_some(entry)
        });
        let Some(entry) = found else {
            self.misses.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        inner.tick += 1;
        inner.by_use.remove(&entry.last_used);
        entry.last_used = inner.tick;
        inner.by_use.insert(inner.tick, key.clone());
        self.hits.fetch_add(1, Ordering::Relaxed);
        Some(entry.object.clone())
    }

    /// Take before reading `key` through the store; pass to [`ObjectCache::insert_at`].
    pub(crate) fn ticket(&self, key: &Key) -> FillTicket {
        let shard = self.shard(key);
        FillTicket {
            shard,
            epoch: self.lock().epochs[shard],
        }
    }

    /// Remembers what a read of `key` verified at `now`. Refused (and any entry for the
    /// key dropped) when the key's shard was invalidated since `ticket`; an entry that
    /// ranks above `head` is kept instead. Same version again: the bytes already held
    /// are kept when the read brought none.
    pub(crate) fn insert_at(
        &self,
        ticket: FillTicket,
        key: &Key,
        head: ObjectHead,
        bytes: Option<VerifiedBytes>,
        now: Instant,
    ) {
        let order = head.manifest.order_key();
        let bytes = bytes.filter(|b| self.keeps_bytes_of(b.bytes().len() as u64));
        let mut inner = self.lock();
        if inner.epochs[ticket.shard] != ticket.epoch {
            // Whatever this read found may be older than a version written or seen
            // since it began; and whatever is cached may be older than what it found.
            remove(&mut inner, key, ticket.shard);
            return;
        }
        let mut bytes = bytes;
        if let Some(present) = inner.entries.get(key) {
            if present.order > order {
                return;
            }
            if present.order == order && bytes.is_none() {
                bytes = present.object.bytes.clone();
            }
        }
        let cost = cost_of(key, &head.manifest, bytes.as_ref());
        if cost > self.policy.max_bytes {
            return;
        }
        if let Some(old) = inner.entries.remove(key) {
            inner.by_use.remove(&old.last_used);
            inner.bytes -= old.cost;
        }
        // Make room first, so the bounds hold at every moment the lock is released.
        while inner.entries.len() >= self.policy.max_entries
            || inner.bytes + cost > self.policy.max_bytes
        {
            let Some((_, oldest)) = inner.by_use.pop_first() else {
                break;
            };
            let shard = self.shard(&oldest);
            remove(&mut inner, &oldest, shard);
        }
        inner.tick += 1;
        let tick = inner.tick;
        inner.by_use.insert(tick, key.clone());
        inner.bytes += cost;
        inner.entries.insert(
            key.clone(),
            Entry {
                object: Arc::new(CachedObject { head, bytes }),
                order,
                verified_at: now,
                last_used: tick,
                cost,
            },
        );
    }

    /// Drops `key`'s entry and refuses reads of its shard already in flight: for a write
    /// or delete through this process, or a read that found the entry no longer holds.
    pub(crate) fn forget(&self, key: &Key) {
        let shard = self.shard(key);
        remove(&mut self.lock(), key, shard);
    }

    /// Something else in this process verified `manifest` for `key`: an entry ranking
    /// below it is dropped, and reads in flight that may have found an older version
    /// will not insert it.
    pub(crate) fn observe(&self, key: &Key, manifest: &Manifest) {
        let order = manifest.order_key();
        let shard = self.shard(key);
        let mut inner = self.lock();
        inner.epochs[shard] += 1;
        if inner.entries.get(key).is_some_and(|e| e.order < order) {
            remove(&mut inner, key, shard);
        }
    }

    /// Entries, bytes, hits and misses, for `/_metrics`.
    pub(crate) fn stats(&self) -> CacheStats {
        let inner = self.lock();
        CacheStats {
            entries: inner.entries.len() as u64,
            bytes: inner.bytes,
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
        }
    }

    fn shard(&self, key: &Key) -> usize {
        (self.hasher.hash_one(key) % SHARDS as u64) as usize
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Removes `key`'s entry, if any, and moves its shard's epoch on.
fn remove(inner: &mut Inner, key: &Key, shard: usize) {
    inner.epochs[shard] += 1;
    if let Some(entry) = inner.entries.remove(key) {
        inner.by_use.remove(&entry.last_used);
        inner.bytes -= entry.cost;
    }
}

/// What an entry counts against the byte budget.
fn cost_of(key: &Key, manifest: &Manifest, bytes: Option<&VerifiedBytes>) -> u64 {
    let body = &manifest.body;
    let metadata: usize = body.metadata.iter().map(|(k, v)| k.len() + v.len()).sum();
    let manifest_bytes = ENTRY_OVERHEAD
        + 2 * key.as_str().len() as u64
        + body.content_type.len() as u64
        + 32 * body.chunks.len() as u64
        + metadata as u64;
    manifest_bytes + bytes.map_or(0, |b| b.bytes().len() as u64)
}

#[cfg(test)]
#[path = "cache_tests.rs"]
mod tests;
