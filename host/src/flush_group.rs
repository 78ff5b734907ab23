//! Concurrent writes to one provider share its flushes (group commit).
//!
//! A flush makes durable everything written before it *started*. So a caller whose
//! writes are done needs a flush that starts after it asked, and any such flush will do:
//! callers that arrive while one runs wait for it, and the first of them runs the next
//! one for all of them. Sixteen concurrent writes then cost two syncs, not sixteen.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};

use mirra_driver_api::DriverResult;
use tokio::sync::Mutex;

/// The flushes of one provider.
#[derive(Debug, Default)]
pub struct FlushGroup {
    /// Held while a flush runs, so flushes of one provider never overlap.
    turn: Mutex<()>,
    /// How many flushes have started.
    started: AtomicU64,
    /// The number of the latest flush that succeeded (0: none yet).
    succeeded: AtomicU64,
}

impl FlushGroup {
    /// Returns once a flush that started after this call has succeeded, running
    /// `flush` itself when no such flush is under way.
    ///
    /// # Errors
    /// The error of the flush this caller ran; callers that waited for it then run
    /// their own.
    pub async fn after_my_writes<F, Fut>(&self, flush: F) -> DriverResult<()>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = DriverResult<()>>,
    {
        // Every flush numbered above `seen` starts after this load, so after the
        // caller's writes.
        let seen = self.started.load(Ordering::Acquire);
        let _turn = self.turn.lock().await;
        if self.succeeded.load(Ordering::Acquire) > seen {
            return Ok(());
        }
        let number = self.started.fetch_add(1, Ordering::AcqRel) + 1;
        flush().await?;
        self.succeeded.fetch_max(number, Ordering::AcqRel);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mirra_driver_api::DriverError;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;
    use std::time::Duration;

    #[tokio::test]
    async fn concurrent_callers_share_flushes_and_late_ones_get_their_own() {
        let group = Arc::new(FlushGroup::default());
        let runs = Arc::new(AtomicUsize::new(0));
        let flush = |runs: Arc<AtomicUsize>| async move {
            runs.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(50)).await;
            Ok(())
        };
        let callers: Vec<_> = (0..16)
            .map(|_| {
                let (group, runs) = (group.clone(), runs.clone());
                tokio::spawn(async move { group.after_my_writes(|| flush(runs)).await })
            })
            .collect();
        for caller in callers {
            caller.await.unwrap().unwrap();
        }
        let shared = runs.load(Ordering::SeqCst);
        // One flush for the first caller, one for everyone who arrived during it.
        assert!((1..=3).contains(&shared), "{shared} flushes for 16 callers");
        // A caller after all of them is not covered by an earlier flush.
        group.after_my_writes(|| flush(runs.clone())).await.unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), shared + 1);
    }

    #[tokio::test]
    async fn a_failed_flush_fails_its_caller_and_covers_nobody() {
        let group = FlushGroup::default();
        let err = group
            .after_my_writes(|| async { Err(DriverError::unavailable("disk gone")) })
            .await
            .unwrap_err();
        assert!(err.message.contains("disk gone"));
        let ran = AtomicUsize::new(0);
        group
            .after_my_writes(|| async {
                ran.fetch_add(1, Ordering::SeqCst);
                Ok(())
            })
            .await
            .unwrap();
        assert_eq!(
            ran.load(Ordering::SeqCst),
            1,
            "the next caller flushed again"
        );
    }
}
