//! One owned tokio runtime for a driver built on async crates (feature `runtime`).
//!
//! The driver ABI is blocking and no runtime handle may cross it, so a driver whose
//! client library is async owns a runtime and blocks on it in each call. Every such
//! driver needs the same three things, which [`DriverRuntime`] gets right once:
//!
//! - calls block on the runtime from the host's worker threads, many at once;
//! - dropping it outside any runtime waits (briefly) for its workers to stop, so no
//!   thread of the driver keeps running once the provider is closed;
//! - dropping it inside another runtime (the last reference released in a host's async
//!   code or test) does not panic: it shuts down in the background instead of blocking.
//!
//! ```
//! # fn main() -> Result<(), mirra_driver_api::DriverError> {
//! let runtime = mirra_driver_api::runtime::DriverRuntime::new("example", 2)?;
//! let answer = runtime.block_on(async { 6 * 7 });
//! assert_eq!(answer, 42);
//! # Ok(()) }
//! ```

use std::future::Future;
use std::time::Duration;

use tokio::runtime::{Builder, EnterGuard, Handle, Runtime};
use tokio::task::JoinHandle;

use crate::{DriverError, DriverResult};

/// How long dropping a runtime outside async code waits for its workers to stop.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A multi-thread tokio runtime owned by one opened provider.
pub struct DriverRuntime {
    runtime: Option<Runtime>,
    name: String,
}

impl std::fmt::Debug for DriverRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DriverRuntime")
            .field("name", &self.name)
            .finish()
    }
}

impl DriverRuntime {
    /// Starts `workers` worker threads (at least one) named `mirra-<name>`, with I/O and
    /// timers enabled.
    ///
    /// # Errors
    /// `Other` when the threads cannot be started.
    pub fn new(name: &str, workers: usize) -> DriverResult<Self> {
        let runtime = Builder::new_multi_thread()
            .worker_threads(workers.max(1))
            .thread_name(format!("mirra-{name}"))
            .enable_all()
            .build()
            .map_err(|e| {
                DriverError::other(format!("{name} driver: cannot start a runtime: {e}"))
            })?;
        Ok(Self {
            runtime: Some(runtime),
            name: name.to_owned(),
        })
    }

    fn runtime(&self) -> &Runtime {
        self.runtime
            .as_ref()
            .expect("the runtime is only taken when dropped")
    }

    /// Runs `future` to completion, blocking the calling thread. Many threads may block
    /// at once: the host calls a driver from a thread pool.
    ///
    /// # Panics
    /// When called from a thread that is running async code (tokio forbids blocking
    /// there); the host never does, it calls drivers from blocking threads.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime().block_on(future)
    }

    /// Runs `future` in the background on the workers.
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.runtime().spawn(future)
    }

    /// Enters the runtime's context, for constructors that look for a current runtime.
    pub fn enter(&self) -> EnterGuard<'_> {
        self.runtime().enter()
    }

    /// A handle to the runtime, for clients that keep one.
    pub fn handle(&self) -> &Handle {
        self.runtime().handle()
    }
}

impl Drop for DriverRuntime {
    fn drop(&mut self) {
        let Some(runtime) = self.runtime.take() else {
            return;
        };
        if Handle::try_current().is_ok() {
            // Blocking here panics inside async code; let the workers finish on their own.
            runtime.shutdown_background();
        } else {
            runtime.shutdown_timeout(SHUTDOWN_GRACE);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_on_futures_from_many_threads() {
        let runtime = DriverRuntime::new("test", 1).unwrap();
        let sums: Vec<u64> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4u64)
                .map(|i| {
                    let runtime = &runtime;
                    s.spawn(move || {
                        runtime.block_on(async move {
                            tokio::time::sleep(Duration::from_millis(5)).await;
                            i * 10
                        })
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(sums, [0, 10, 20, 30]);
    }

    #[test]
    fn dropping_inside_another_runtime_does_not_panic() {
        let outer = Builder::new_current_thread().enable_all().build().unwrap();
        let runtime = DriverRuntime::new("inner", 1).unwrap();
        let spawned = runtime.spawn(async { 1 });
        assert_eq!(runtime.block_on(spawned).unwrap(), 1);
        outer.block_on(async move { drop(runtime) });
    }

    #[test]
    fn dropping_outside_waits_for_the_workers() {
        let runtime = DriverRuntime::new("stop", 1).unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        runtime.spawn(async move {
            // Held until the runtime drops this task at shutdown.
            let _tx = tx;
            std::future::pending::<()>().await;
        });
        drop(runtime);
        // The task (and its sender) is gone once drop returns.
        assert!(rx.recv_timeout(Duration::from_secs(1)).is_err());
        assert!(matches!(
            rx.try_recv(),
            Err(std::sync::mpsc::TryRecvError::Disconnected)
        ));
    }
}
