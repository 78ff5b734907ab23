//! Flushes shared by the providers of one file system.
//!
//! A flush is one `syncfs` of the file system the root is on. Several disk providers
//! often share one (three directories on one disk, as in the embedded default), and a
//! batch flushes every provider at once: that was three `syncfs` of the same file system,
//! each waiting for the same writeback and the same disk cache flush. Here a flush asked
//! for while another `syncfs` of its file system runs waits for that one, then runs one
//! more only if still needed. That is safe because a `syncfs` makes durable everything
//! written before it began: once one that began after a flush was asked for has
//! completed, that flush is done; the `syncfs` already running when it was asked may
//! have begun before the caller's last write, so it does not count.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Condvar, LazyLock, Mutex, MutexGuard, PoisonError};

/// The flush of each file system (by device number) any disk driver of this process
/// opened a root on.
static FILE_SYSTEMS: LazyLock<Mutex<HashMap<u64, Arc<SharedFlush>>>> =
    LazyLock::new(Default::default);

/// Flushes of one file system, shared by every root on it.
#[derive(Debug, Default)]
pub(crate) struct SharedFlush {
    state: Mutex<State>,
    finished: Condvar,
}

#[derive(Debug, Default)]
struct State {
    /// Flushes asked for so far; each caller's ticket is the count after its own.
    asked: u64,
    /// Every ticket up to this one is durable: a sync that began after it completed.
    covered: u64,
    /// Whether a sync runs now.
    running: bool,
}

impl SharedFlush {
    /// The flush of the file system with device number `dev`.
    pub(crate) fn of_device(dev: u64) -> Arc<SharedFlush> {
        let mut all = FILE_SYSTEMS.lock().unwrap_or_else(PoisonError::into_inner);
        all.entry(dev).or_default().clone()
    }

    /// Returns once a `sync` that began after this call has succeeded: the caller's,
    /// or another caller's. A failed `sync` fails its own caller only; the others
    /// waiting for it run one of their own.
    pub(crate) fn flush(&self, sync: impl FnOnce() -> io::Result<()>) -> io::Result<()> {
        let mut state = self.lock();
        state.asked += 1;
        let ticket = state.asked;
        loop {
            if state.covered >= ticket {
                return Ok(());
            }
            if !state.running {
                state.running = true;
                let covers = state.asked;
                drop(state);
                let result = sync();
                let mut state = self.lock();
                state.running = false;
                if result.is_ok() {
                    state.covered = state.covered.max(covers);
                }
                self.finished.notify_all();
                return result;
            }
            state = self
                .finished
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;
    use std::thread::{self, JoinHandle};

    use super::*;

    /// Waits until `count` flushes were asked for.
    fn until_asked(flush: &SharedFlush, count: u64) {
        while flush.lock().asked < count {
            thread::yield_now();
        }
    }

    /// A flush whose sync runs until the sender is used, then returns `outcome`;
    /// returned once that sync runs.
    fn held_sync(
        flush: &Arc<SharedFlush>,
        outcome: io::Result<()>,
    ) -> (mpsc::Sender<()>, JoinHandle<io::Result<()>>) {
        let (release, hold) = mpsc::channel::<()>();
        let shared = flush.clone();
        let held = thread::spawn(move || {
            shared.flush(|| {
                hold.recv().unwrap();
                outcome
            })
        });
        while !flush.lock().running {
            thread::yield_now();
        }
        (release, held)
    }

    /// A flush whose sync, if it runs one, counts itself in `syncs`.
    fn counted(flush: &Arc<SharedFlush>, syncs: &Arc<AtomicUsize>) -> JoinHandle<io::Result<()>> {
        let (flush, syncs) = (flush.clone(), syncs.clone());
        thread::spawn(move || {
            flush.flush(|| {
                syncs.fetch_add(1, Ordering::SeqCst);
                Ok(())
            })
        })
    }

    #[test]
    fn flushes_asked_during_a_sync_share_the_next_one() {
        let flush = Arc::new(SharedFlush::default());
        let (release, first) = held_sync(&flush, Ok(()));
        let syncs = Arc::new(AtomicUsize::new(0));
        let later = [counted(&flush, &syncs), counted(&flush, &syncs)];
        until_asked(&flush, 3);
        // The sync that runs began before these two asked: it must not count for them.
        assert_eq!(syncs.load(Ordering::SeqCst), 0);
        release.send(()).unwrap();
        first.join().unwrap().unwrap();
        for flush in later {
            flush.join().unwrap().unwrap();
        }
        assert_eq!(syncs.load(Ordering::SeqCst), 1, "one more sync for both");
    }

    #[test]
    fn a_failed_sync_fails_its_caller_and_the_waiting_run_their_own() {
        let flush = Arc::new(SharedFlush::default());
        let (release, failing) = held_sync(&flush, Err(io::Error::other("disk gone")));
        let syncs = Arc::new(AtomicUsize::new(0));
        let waiting = counted(&flush, &syncs);
        until_asked(&flush, 2);
        release.send(()).unwrap();
        assert!(failing.join().unwrap().is_err());
        waiting.join().unwrap().unwrap();
        assert_eq!(syncs.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_flush_after_a_finished_sync_runs_its_own() {
        let flush = SharedFlush::default();
        let mut syncs = 0;
        for _ in 0..3 {
            flush
                .flush(|| {
                    syncs += 1;
                    Ok(())
                })
                .unwrap();
        }
        assert_eq!(syncs, 3);
    }

    #[test]
    fn roots_on_one_device_share_one_flush() {
        let a = SharedFlush::of_device(u64::MAX - 1);
        let b = SharedFlush::of_device(u64::MAX - 1);
        let c = SharedFlush::of_device(u64::MAX - 2);
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &c));
    }
}
