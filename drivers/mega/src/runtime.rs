//! The tokio runtime each opened provider owns; calls block on it.
//!
//! The mega crate is async, the driver ABI is blocking, and no runtime handle may cross
//! the boundary, so every provider creates its own small runtime in `open`.

use std::future::Future;

use mirra_driver_api::{DriverError, DriverResult};
use tokio::runtime::{Builder, Runtime};

/// Two workers drive the crate's background futures (its upload and MAC pipes) beside
/// the calling threads, which block on their own requests.
const WORKER_THREADS: usize = 2;

/// A multi-thread runtime that shuts down without blocking when dropped.
pub(crate) struct DriverRuntime(Option<Runtime>);

impl DriverRuntime {
    /// Starts the worker threads.
    pub fn new() -> DriverResult<Self> {
        let runtime = Builder::new_multi_thread()
            .worker_threads(WORKER_THREADS)
            .thread_name("mirra-mega")
            .enable_all()
            .build()
            .map_err(|e| DriverError::other(format!("cannot start the mega runtime: {e}")))?;
        Ok(Self(Some(runtime)))
    }

    /// Runs `future` to completion on this runtime, blocking the calling thread.
    /// Many threads may block at once: the host calls a driver from a thread pool.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.0
            .as_ref()
            .expect("runtime is only taken in drop")
            .block_on(future)
    }
}

impl Drop for DriverRuntime {
    fn drop(&mut self) {
        // A plain drop blocks until the workers stop, and panics when the last
        // reference goes away inside another runtime (a host's async test, say).
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}
