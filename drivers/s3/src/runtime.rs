//! The tokio runtime each opened provider owns; calls block on it.
//!
//! object_store is async, the driver ABI is blocking, and no runtime handle may cross
//! the boundary, so every provider creates its own small runtime in `open`.

use std::future::Future;

use mirra_driver_api::{DriverError, DriverResult};
use tokio::runtime::{Builder, Runtime};

/// Two workers: enough to run a few part uploads beside the calling thread's request.
const WORKER_THREADS: usize = 2;

/// A multi-thread runtime that shuts down without blocking when dropped.
pub(crate) struct DriverRuntime(Option<Runtime>);

impl DriverRuntime {
    /// Starts the worker threads.
    pub fn new() -> DriverResult<Self> {
        let runtime = Builder::new_multi_thread()
            .worker_threads(WORKER_THREADS)
            .thread_name("mirra-s3")
            .enable_all()
            .build()
            .map_err(|e| DriverError::other(format!("cannot start the s3 runtime: {e}")))?;
        Ok(Self(Some(runtime)))
    }

    fn runtime(&self) -> &Runtime {
        self.0.as_ref().expect("runtime is only taken in drop")
    }

    /// Runs `future` to completion on this runtime, blocking the calling thread.
    /// Many threads may block at once: the host calls a driver from a thread pool.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime().block_on(future)
    }

    /// Runs `future` in the background on the workers.
    pub fn spawn<F>(&self, future: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.runtime().spawn(future)
    }

    /// Enters the runtime's context, for constructors that look for a current runtime.
    pub fn enter(&self) -> tokio::runtime::EnterGuard<'_> {
        self.runtime().enter()
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
