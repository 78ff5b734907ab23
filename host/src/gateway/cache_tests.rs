use std::time::{Duration, Instant};

use mirra_driver_api::Key;

use super::*;
use crate::identity::Identity;
use crate::manifest::{sha256, ManifestBody};

fn key(text: &str) -> Key {
    Key::parse(text).unwrap()
}

/// A signed manifest of `bytes` at `version`, and the head a read of it returns.
fn head_of(identity: &Identity, key: &Key, version: u64, bytes: &[u8]) -> ObjectHead {
    let chunk_size = 4096;
    let chunks = bytes.chunks(chunk_size as usize).map(sha256).collect();
    let body = ManifestBody {
        key: key.as_str().into(),
        version,
        size: bytes.len() as u64,
        sha256: sha256(bytes),
        chunk_size,
        chunks,
        content_type: "text/plain".into(),
        created: 1,
        mtime_ns: None,
        etag: None,
        metadata: Default::default(),
        deleted: false,
    };
    ObjectHead {
        manifest: body.sign(identity),
        provider: "p".into(),
    }
}

fn policy(max_bytes: u64, max_entries: usize) -> CachePolicy {
    CachePolicy {
        fresh: Duration::from_secs(5),
        max_bytes,
        max_entries,
        max_object_bytes: 1024,
    }
}

/// Reads `k` at `version` of `bytes` into `cache` as the gateway does.
fn fill(
    cache: &ObjectCache,
    identity: &Identity,
    k: &Key,
    version: u64,
    bytes: &[u8],
    now: Instant,
) {
    let ticket = cache.ticket(k);
    let head = head_of(identity, k, version, bytes);
    let verified = VerifiedBytes::check(&head.manifest, bytes.to_vec());
    cache.insert_at(ticket, k, head, verified, now);
}

fn version_of(cache: &ObjectCache, k: &Key, now: Instant) -> Option<u64> {
    cache.lookup_at(k, now).map(|c| c.head.version())
}

#[test]
fn zero_in_any_bound_disables_the_cache() {
    assert!(ObjectCache::new(CachePolicy::default()).is_some());
    for disabled in [
        CachePolicy {
            fresh: Duration::ZERO,
            ..CachePolicy::default()
        },
        CachePolicy {
            max_bytes: 0,
            ..CachePolicy::default()
        },
        CachePolicy {
            max_entries: 0,
            ..CachePolicy::default()
        },
    ] {
        assert!(ObjectCache::new(disabled).is_none(), "{disabled:?}");
    }
}

#[test]
fn only_bytes_matching_the_signed_hash_are_verified() {
    let id = Identity::generate();
    let k = key("a.txt");
    let head = head_of(&id, &k, 1, b"hello");
    assert!(VerifiedBytes::check(&head.manifest, b"hello".to_vec()).is_some());
    assert!(VerifiedBytes::check(&head.manifest, b"hellO".to_vec()).is_none());
    assert!(VerifiedBytes::check(&head.manifest, b"hello!".to_vec()).is_none());
    assert!(VerifiedBytes::check(&head.manifest, Vec::new()).is_none());
}

#[test]
fn entries_are_served_until_the_freshness_bound_then_missed() {
    let id = Identity::generate();
    let cache = ObjectCache::new(policy(1 << 20, 100)).unwrap();
    let k = key("a.txt");
    let t0 = Instant::now();
    assert!(cache.lookup_at(&k, t0).is_none());
    fill(&cache, &id, &k, 1, b"one", t0);
    let hit = cache
        .lookup_at(&k, t0 + Duration::from_millis(4999))
        .unwrap();
    assert_eq!(hit.bytes.as_ref().unwrap().bytes().as_ref(), b"one");
    assert!(cache.lookup_at(&k, t0 + Duration::from_secs(5)).is_none());
    let stats = cache.stats();
    assert_eq!((stats.hits, stats.misses), (1, 2));
    // A refetch renews the entry.
    fill(&cache, &id, &k, 2, b"two", t0 + Duration::from_secs(6));
    assert_eq!(version_of(&cache, &k, t0 + Duration::from_secs(7)), Some(2));
}

#[test]
fn large_objects_keep_only_their_manifest() {
    let id = Identity::generate();
    let cache = ObjectCache::new(policy(1 << 20, 100)).unwrap();
    let k = key("big.bin");
    let now = Instant::now();
    fill(&cache, &id, &k, 1, &[7u8; 2048], now);
    let hit = cache.lookup_at(&k, now).unwrap();
    assert!(hit.bytes.is_none());
    assert_eq!(hit.head.size(), 2048);
    assert!(cache.stats().bytes < 2048);
}

#[test]
fn a_forgotten_key_is_missed_and_reads_begun_before_do_not_refill_it() {
    let id = Identity::generate();
    let cache = ObjectCache::new(policy(1 << 20, 100)).unwrap();
    let k = key("a.txt");
    let now = Instant::now();
    fill(&cache, &id, &k, 1, b"one", now);
    let in_flight = cache.ticket(&k);
    cache.forget(&k);
    assert!(cache.lookup_at(&k, now).is_none());
    // The read that began before the write may carry the old version: not inserted.
    cache.insert_at(in_flight, &k, head_of(&id, &k, 1, b"one"), None, now);
    assert!(cache.lookup_at(&k, now).is_none());
    // A read begun after it is.
    fill(&cache, &id, &k, 2, b"two", now);
    assert_eq!(version_of(&cache, &k, now), Some(2));
}

#[test]
fn an_entry_is_never_replaced_by_an_older_version() {
    let id = Identity::generate();
    let cache = ObjectCache::new(policy(1 << 20, 100)).unwrap();
    let k = key("a.txt");
    let now = Instant::now();
    let slow = cache.ticket(&k);
    fill(&cache, &id, &k, 3, b"three", now);
    cache.insert_at(slow, &k, head_of(&id, &k, 2, b"two"), None, now);
    assert_eq!(version_of(&cache, &k, now), Some(3));
}

#[test]
fn a_newer_version_seen_elsewhere_drops_the_entry() {
    let id = Identity::generate();
    let cache = ObjectCache::new(policy(1 << 20, 100)).unwrap();
    let k = key("a.txt");
    let now = Instant::now();
    fill(&cache, &id, &k, 1, b"one", now);
    cache.observe(&k, &head_of(&id, &k, 1, b"one").manifest);
    assert_eq!(version_of(&cache, &k, now), Some(1), "same version kept");
    let in_flight = cache.ticket(&k);
    cache.observe(&k, &head_of(&id, &k, 2, b"two").manifest);
    assert!(cache.lookup_at(&k, now).is_none());
    cache.insert_at(in_flight, &k, head_of(&id, &k, 1, b"one"), None, now);
    assert!(cache.lookup_at(&k, now).is_none());
}

#[test]
fn a_manifest_only_read_keeps_the_bytes_of_the_same_version() {
    let id = Identity::generate();
    let cache = ObjectCache::new(policy(1 << 20, 100)).unwrap();
    let k = key("a.txt");
    let now = Instant::now();
    fill(&cache, &id, &k, 1, b"one", now);
    let ticket = cache.ticket(&k);
    cache.insert_at(ticket, &k, head_of(&id, &k, 1, b"one"), None, now);
    let hit = cache.lookup_at(&k, now).unwrap();
    assert_eq!(hit.bytes.as_ref().unwrap().bytes().as_ref(), b"one");
}

#[test]
fn the_entry_count_and_byte_budget_hold_evicting_the_least_recently_used() {
    let id = Identity::generate();
    let now = Instant::now();
    let cache = ObjectCache::new(policy(1 << 20, 3)).unwrap();
    for i in 0..3 {
        fill(&cache, &id, &key(&format!("k{i}")), 1, b"x", now);
    }
    // k0 is used, so k1 is the least recently used when k3 arrives.
    assert!(cache.lookup_at(&key("k0"), now).is_some());
    fill(&cache, &id, &key("k3"), 1, b"x", now);
    assert_eq!(cache.stats().entries, 3);
    assert!(cache.lookup_at(&key("k1"), now).is_none());
    for kept in ["k0", "k2", "k3"] {
        assert!(cache.lookup_at(&key(kept), now).is_some(), "{kept}");
    }

    let budget = 4 * 1024;
    let cache = ObjectCache::new(policy(budget, 1000)).unwrap();
    for i in 0..100 {
        fill(
            &cache,
            &id,
            &key(&format!("k{i}")),
            1,
            &[i as u8; 1000],
            now,
        );
        let stats = cache.stats();
        assert!(stats.bytes <= budget, "{stats:?}");
    }
    let stats = cache.stats();
    assert!(stats.entries >= 2 && stats.entries < 100, "{stats:?}");
    assert!(cache.lookup_at(&key("k99"), now).is_some());
    assert!(cache.lookup_at(&key("k0"), now).is_none());
}

#[test]
fn an_entry_larger_than_the_whole_budget_is_not_kept() {
    let id = Identity::generate();
    let now = Instant::now();
    let cache = ObjectCache::new(CachePolicy {
        max_object_bytes: 1 << 20,
        ..policy(600, 10)
    })
    .unwrap();
    fill(&cache, &id, &key("a"), 1, &[1u8; 1000], now);
    assert_eq!(
        cache.stats(),
        CacheStats {
            misses: 0,
            ..CacheStats::default()
        }
    );
}
