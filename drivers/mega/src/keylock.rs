//! One writer per key at a time within a provider.
//!
//! Two uploads of one key racing would each keep the other's file (an upload cannot
//! know about a twin that appears while it runs). Readers cope with twins, but there is
//! no reason to make them: writes and deletes of the same key queue here. Writers in
//! other processes can still race; see `lookup.rs` for how twins are read.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

/// The locks of the keys being written now; an entry lives while someone holds or
/// waits for it.
#[derive(Default)]
pub(crate) struct KeyLocks(Mutex<HashMap<String, Arc<AsyncMutex<()>>>>);

/// Held while a key is being changed.
pub(crate) struct KeyGuard<'a> {
    locks: &'a KeyLocks,
    key: String,
    guard: Option<OwnedMutexGuard<()>>,
}

impl KeyLocks {
    /// Waits until no one else in this provider changes `key`.
    pub async fn lock(&self, key: &str) -> KeyGuard<'_> {
        let lock = {
            let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
            Arc::clone(map.entry(key.to_owned()).or_default())
        };
        let guard = lock.lock_owned().await;
        KeyGuard {
            locks: self,
            key: key.to_owned(),
            guard: Some(guard),
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

impl Drop for KeyGuard<'_> {
    fn drop(&mut self) {
        let mut map = self.locks.0.lock().unwrap_or_else(|e| e.into_inner());
        self.guard.take();
        // Only the map's own reference left: nobody holds or waits for this key.
        if map
            .get(&self.key)
            .is_some_and(|l| Arc::strong_count(l) == 1)
        {
            map.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[test]
    fn writers_of_one_key_take_turns_and_entries_go_away() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_time()
            .build()
            .unwrap();
        let locks = Arc::new(KeyLocks::default());
        let inside = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        runtime.block_on(async {
            let tasks: Vec<_> = (0..8)
                .map(|i| {
                    let (locks, inside, most) = (locks.clone(), inside.clone(), most.clone());
                    tokio::spawn(async move {
                        let key = if i % 2 == 0 { "a/x" } else { "b/y" };
                        let _guard = locks.lock(key).await;
                        let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        inside.fetch_sub(1, Ordering::SeqCst);
                    })
                })
                .collect();
            for task in tasks {
                task.await.unwrap();
            }
        });
        // Two keys: at most two writers at once, one per key.
        assert_eq!(most.load(Ordering::SeqCst), 2);
        assert_eq!(locks.len(), 0);
    }
}
