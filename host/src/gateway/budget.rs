//! One memory budget for the chunks the gateway holds while serving reads.
//!
//! Every read holds a whole chunk in memory to verify it before any byte is released, so
//! with large chunks a few hundred clients could make the process allocate gigabytes.
//! Each read reserves the bytes it will hold from one shared budget before it fetches;
//! when the budget is spent it waits a little for another read to finish, then gives up
//! with 503 and `Retry-After` instead of allocating.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The budget counts kibibytes, so a `u32` reservation covers any chunk size.
const UNIT: u64 = 1024;
/// The budget when the machine's memory cannot be read.
const FALLBACK_BYTES: u64 = 1 << 30;
/// The smallest default: enough for a few reads of the default chunk size.
const MIN_DEFAULT_BYTES: u64 = 64 << 20;

/// The shared budget.
#[derive(Debug, Clone)]
pub(crate) struct MemoryBudget {
    permits: Arc<Semaphore>,
    total_units: u64,
    wait: Duration,
}

/// Bytes of the budget held by one read; given back when dropped.
#[derive(Debug)]
pub(crate) struct Reservation {
    _permit: OwnedSemaphorePermit,
}

impl MemoryBudget {
    /// A budget of `bytes`, in which a reservation waits at most `wait`.
    pub(crate) fn new(bytes: u64, wait: Duration) -> Self {
        let total_units = (bytes / UNIT).clamp(1, Semaphore::MAX_PERMITS as u64);
        Self {
            permits: Arc::new(Semaphore::new(total_units as usize)),
            total_units,
            wait,
        }
    }

    /// Reserves `bytes` (at most the whole budget, so one read larger than the budget
    /// still runs, alone). `None` when the budget stayed spent for the whole wait.
    pub(crate) async fn reserve(&self, bytes: u64) -> Option<Reservation> {
        let units = bytes.div_ceil(UNIT).clamp(1, self.total_units);
        let units = u32::try_from(units).unwrap_or(u32::MAX);
        let acquire = self.permits.clone().acquire_many_owned(units);
        match tokio::time::timeout(self.wait, acquire).await {
            Ok(Ok(permit)) => Some(Reservation { _permit: permit }),
            _ => None,
        }
    }
}

/// The default budget: a quarter of the machine's memory, at least 64 MiB.
pub fn default_budget_bytes() -> u64 {
    machine_memory()
        .map_or(FALLBACK_BYTES, |total| total / 4)
        .max(MIN_DEFAULT_BYTES)
}

/// `MemTotal` from `/proc/meminfo`, in bytes.
fn machine_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reservations_wait_then_give_up_and_are_returned_when_dropped() {
        let budget = MemoryBudget::new(10 * UNIT, Duration::from_millis(50));
        let first = budget.reserve(6 * UNIT).await.expect("fits");
        assert!(
            budget.reserve(6 * UNIT).await.is_none(),
            "over the budget after the wait"
        );
        drop(first);
        assert!(budget.reserve(6 * UNIT).await.is_some());
        // Larger than the whole budget: runs alone rather than never.
        assert!(budget.reserve(100 * UNIT).await.is_some());
    }

    #[test]
    fn the_default_follows_the_machine() {
        let bytes = default_budget_bytes();
        assert!(bytes >= MIN_DEFAULT_BYTES);
        if let Some(total) = machine_memory() {
            assert!(bytes <= total.max(MIN_DEFAULT_BYTES));
        }
    }
}
