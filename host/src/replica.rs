//! One provider as the store sees it: a loaded driver behind an async handle that runs
//! each blocking call on tokio's blocking pool, at most `concurrency` at a time, gives up
//! on it after a deadline, retries transient failures, and keeps the provider's health.
//!
//! A call that overruns its deadline keeps its thread and its permit until the driver
//! returns: a hung driver slowly runs out of permits instead of piling up threads, and
//! its breaker opens so later calls fail fast without touching it.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use mirra_driver_api::{
    Capabilities, DriverError, DriverInfo, DriverResult, ErrorKind, Key, ListPage, ObjectWriter,
    StorageDriver,
};
use tokio::sync::Semaphore;

use crate::flush_group::FlushGroup;
use crate::health::{Admission, BreakerPolicy, Health};

/// First retry backoff; doubled per attempt and jittered by ±50 %.
const BASE_BACKOFF: Duration = Duration::from_millis(50);

/// How a provider is used, from its `[[provider]]` entry.
#[derive(Debug, Clone)]
pub struct ReplicaSettings {
    /// The provider's name.
    pub name: String,
    /// Lower is tried first.
    pub priority: u16,
    /// Relative share among equal priorities.
    pub weight: u16,
    /// A put fails unless this provider committed.
    pub required: bool,
    /// Longest time one operation may take, retries included.
    pub timeout: Duration,
    /// Longest time one read call may take before the provider counts as stalled.
    pub stall_timeout: Duration,
    /// Retries of a retryable failure.
    pub retries: u32,
    /// When the circuit breaker opens.
    pub breaker: BreakerPolicy,
    /// Driver calls in flight at once.
    pub concurrency: usize,
}

#[cfg(test)]
impl ReplicaSettings {
    /// Settings for a test double: 5 s deadlines, no retries, a breaker that opens
    /// after 5 failures for 1 s, 2 calls at once.
    pub(crate) fn for_tests(name: &str, priority: u16) -> Self {
        Self {
            name: name.into(),
            priority,
            weight: 1,
            required: false,
            timeout: Duration::from_secs(5),
            stall_timeout: Duration::from_secs(5),
            retries: 0,
            breaker: BreakerPolicy {
                failures: 5,
                cooldown: Duration::from_secs(1),
            },
            concurrency: 2,
        }
    }
}

/// A provider: its settings, its driver's description, and the driver itself.
#[derive(Clone)]
pub struct Replica {
    settings: Arc<ReplicaSettings>,
    info: Arc<DriverInfo>,
    driver: Arc<dyn StorageDriver>,
    permits: Arc<Semaphore>,
    health: Arc<Health>,
    flushes: Arc<FlushGroup>,
}

impl std::fmt::Debug for Replica {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replica")
            .field("name", &self.settings.name)
            .field("driver", &self.info.name)
            .finish()
    }
}

/// The first piece [`Replica::read_small`] asks for: every manifest of an object up
/// to a few GiB at the default chunk size fits.
pub const SMALL_READ_FIRST: usize = 64 << 10;

impl Replica {
    /// Wraps an opened driver.
    pub fn new(
        settings: ReplicaSettings,
        info: DriverInfo,
        driver: Arc<dyn StorageDriver>,
    ) -> Self {
        let permits = Arc::new(Semaphore::new(settings.concurrency.max(1)));
        let health = Arc::new(Health::new(settings.breaker));
        Self {
            settings: Arc::new(settings),
            info: Arc::new(info),
            driver,
            permits,
            health,
            flushes: Arc::default(),
        }
    }

    /// The provider's name.
    pub fn name(&self) -> &str {
        &self.settings.name
    }

    /// The provider's settings.
    pub fn settings(&self) -> &ReplicaSettings {
        &self.settings
    }

    /// What the driver said about itself.
    pub fn info(&self) -> &DriverInfo {
        &self.info
    }

    /// Whether the driver has every capability in `caps`.
    pub fn can(&self, caps: Capabilities) -> bool {
        self.info.capabilities.contains(caps)
    }

    /// The provider's health record.
    pub fn health_record(&self) -> &Health {
        &self.health
    }

    /// `Ok` when the driver declares `caps`; otherwise an `Unsupported` error naming the
    /// operation and the provider, without calling the driver. Every driver call below
    /// goes through this first: the host never calls what a driver does not declare.
    fn require(&self, caps: Capabilities, op: &str) -> DriverResult<()> {
        if self.can(caps) {
            return Ok(());
        }
        Err(DriverError::new(
            ErrorKind::Unsupported,
            format!(
                "{op}: provider {} (driver {}) does not declare {}",
                self.name(),
                self.info.name,
                caps.names().join("+")
            ),
        ))
    }

    /// Runs `f` once against the driver on the blocking pool, within `deadline`, unless
    /// the breaker is open; records the outcome in the provider's health.
    ///
    /// The outcome is recorded even when the caller stops waiting: a hedged read that
    /// another provider won drops this future, but the driver call goes on, and what it
    /// finally returns (a black-holed provider's timeout, a slow one's late answer) still
    /// counts. Without that, a provider that never answers never fails either, its
    /// breaker never opens, and every read keeps paying the hedge delay for it.
    ///
    /// # Errors
    /// The driver's error, or `Unavailable` when the deadline passed first or the breaker
    /// is open.
    pub async fn call_once<T, F>(
        &self,
        op: &'static str,
        deadline: Duration,
        f: F,
    ) -> DriverResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&dyn StorageDriver) -> DriverResult<T> + Send + 'static,
    {
        if self.health.admit() == Admission::Refused {
            let last = self.health.snapshot().last_error.unwrap_or_default();
            return Err(DriverError::unavailable(format!(
                "circuit open after repeated failures (last: {last})"
            ))
            .with_retryable(false));
        }
        let outcome = Arc::new(Outcome {
            health: self.health.clone(),
            started: Instant::now(),
            recorded: AtomicBool::new(false),
        });
        let work = async {
            let permit = self
                .permits
                .clone()
                .acquire_owned()
                .await
                .map_err(|_| DriverError::other("replica closed"))?;
            let driver = self.driver.clone();
            let outcome = outcome.clone();
            tokio::task::spawn_blocking(move || {
                let _permit = permit;
                let result = f(&*driver);
                outcome.record(&result);
                result
            })
            .await
            .map_err(|e| DriverError::new(ErrorKind::Panicked, format!("{op} task failed: {e}")))?
        };
        let result = match tokio::time::timeout(deadline, work).await {
            Ok(result) => result,
            Err(_) => Err(DriverError::unavailable(format!(
                "{op} timed out after {deadline:?}"
            ))),
        };
        // A no-op when the driver's own answer was recorded already; this records the
        // deadline passing first, or a panic.
        outcome.record(&result);
        result
    }

    /// Runs `attempt` until it succeeds, fails for good, or the retries or the operation
    /// deadline run out, sleeping a jittered exponential backoff between tries.
    ///
    /// # Errors
    /// The last attempt's error.
    pub async fn retrying<T, Fut>(&self, mut attempt: impl FnMut() -> Fut) -> DriverResult<T>
    where
        Fut: Future<Output = DriverResult<T>>,
    {
        let give_up_at = Instant::now() + self.settings.timeout;
        let mut tries = 0;
        loop {
            let error = match attempt().await {
                Ok(value) => return Ok(value),
                Err(e) => e,
            };
            let backoff = jittered(BASE_BACKOFF * 2u32.saturating_pow(tries));
            if !error.retryable
                || tries >= self.settings.retries
                || Instant::now() + backoff >= give_up_at
            {
                return Err(error);
            }
            tracing::debug!(provider = self.name(), %error, ?backoff, "retrying");
            tokio::time::sleep(backoff).await;
            tries += 1;
        }
    }

    /// [`Replica::call_once`] with the operation deadline, retried.
    pub async fn call<T, F>(&self, op: &'static str, f: F) -> DriverResult<T>
    where
        T: Send + 'static,
        F: Fn(&dyn StorageDriver) -> DriverResult<T> + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        self.retrying(|| {
            let f = f.clone();
            self.call_once(op, self.settings.timeout, move |d| f(d))
        })
        .await
    }

    /// Size of `key`.
    pub async fn stat(&self, key: &Key) -> DriverResult<u64> {
        self.require(Capabilities::READ, "stat")?;
        let key = key.clone();
        self.call("stat", move |d| d.stat(&key).map(|m| m.size))
            .await
    }

    /// Reads `len` bytes at `offset` into `buf` (resized to what was read), looping over
    /// short reads; fewer bytes only at the end of the object. Each try must finish
    /// within the stall timeout. A driver without `RANGE_READ` is only ever asked to read
    /// from the start: the bytes before `offset` are read and dropped.
    pub async fn read_range(
        &self,
        key: &Key,
        offset: u64,
        len: usize,
        buf: Vec<u8>,
    ) -> DriverResult<Vec<u8>> {
        self.require(Capabilities::READ, "read")?;
        let ranged = self.can(Capabilities::RANGE_READ);
        let mut spare = Some(buf);
        self.retrying(|| {
            let key = key.clone();
            let mut buf = spare.take().unwrap_or_default();
            self.call_once("read", self.settings.stall_timeout, move |d| {
                if !ranged && !skip_to(d, &key, offset)? {
                    buf.clear();
                    return Ok(buf);
                }
                buf.resize(len, 0);
                let mut filled = 0;
                while filled < len {
                    let n = d.read(&key, offset + filled as u64, &mut buf[filled..])?;
                    if n == 0 {
                        break;
                    }
                    filled += n;
                }
                buf.truncate(filled);
                Ok(buf)
            })
        })
        .await
    }

    /// Reads a whole small object, refusing one larger than `limit` bytes.
    ///
    /// Reads a first piece of at most [`SMALL_READ_FIRST`] bytes and grows (doubling)
    /// only while the object fills what was asked: the read buffer is zeroed before the
    /// driver fills it, and sizing it to `limit` (16 MiB for manifests) on every call
    /// made each manifest read, even a missing one, cost a 16 MiB memset.
    pub async fn read_small(&self, key: &Key, limit: usize) -> DriverResult<Vec<u8>> {
        let mut want = SMALL_READ_FIRST.min(limit + 1);
        let mut data = self.read_range(key, 0, want, Vec::new()).await?;
        while data.len() == want && want <= limit {
            let more = want.min(limit + 1 - want);
            let next = self.read_range(key, want as u64, more, Vec::new()).await?;
            let complete = next.len() < more;
            data.extend_from_slice(&next);
            want += more;
            if complete {
                break;
            }
        }
        if data.len() > limit {
            return Err(DriverError::invalid_input(format!(
                "{key} is larger than {limit} bytes"
            )));
        }
        Ok(data)
    }

    /// Counts `error`, returned by a call made outside [`Replica::call_once`]'s own
    /// accounting (one of many in a batch), against the provider when it says the
    /// provider is unwell.
    pub(crate) fn record_error(&self, error: &DriverError) {
        if counts_against_provider(error.kind) {
            self.health.record_failure(&error.to_string());
        }
    }

    /// Stores a small object.
    pub async fn put(&self, key: &Key, data: Arc<Vec<u8>>) -> DriverResult<()> {
        self.require(Capabilities::WRITE, "put")?;
        let key = key.clone();
        self.call("put", move |d| d.put(&key, &data)).await
    }

    /// Deletes `key`.
    pub async fn delete(&self, key: &Key) -> DriverResult<()> {
        self.require(Capabilities::DELETE, "delete")?;
        let key = key.clone();
        self.call("delete", move |d| d.delete(&key)).await
    }

    /// One page of a listing.
    pub async fn list(
        &self,
        prefix: &str,
        cursor: Option<String>,
        limit: u32,
    ) -> DriverResult<ListPage> {
        self.require(Capabilities::LIST, "list")?;
        let prefix = prefix.to_owned();
        self.call("list", move |d| d.list(&prefix, cursor.as_deref(), limit))
            .await
    }

    /// Every key under `prefix`, following cursors.
    ///
    /// # Errors
    /// The driver's error, or `Other` naming the provider when a cursor comes back that
    /// was already followed: a listing that does not advance would never end (and it
    /// counts against the provider's health).
    pub async fn list_all(&self, prefix: &str) -> DriverResult<Vec<(String, u64)>> {
        let mut out = Vec::new();
        let mut cursor = None;
        let mut followed = std::collections::HashSet::new();
        loop {
            let page = self.list(prefix, cursor, 1000).await?;
            out.extend(page.entries.into_iter().map(|e| (e.key, e.size)));
            match page.next_cursor {
                Some(next) if !followed.insert(next.clone()) => {
                    let reason = format!(
                        "provider {}: listing cursor does not advance (returned {next:?} again)",
                        self.name()
                    );
                    self.health.record_bad_answer(&reason);
                    return Err(DriverError::other(reason));
                }
                Some(next) => cursor = Some(next),
                None => return Ok(out),
            }
        }
    }

    /// A URL other clients can read `key` from.
    pub async fn public_url(&self, key: &Key) -> DriverResult<String> {
        self.require(Capabilities::PUBLIC_URL, "public_url")?;
        let key = key.clone();
        self.call("public_url", move |d| d.public_url(&key)).await
    }

    /// The driver's liveness check.
    pub async fn health(&self) -> DriverResult<()> {
        self.call("health", |d| d.health()).await
    }

    /// Starts a write of a whole object: streamed through the driver's `begin_write`
    /// when it declares `STREAMING_WRITE`, else (with `WRITE` only) buffered in memory,
    /// up to [`BUFFERED_WRITE_LIMIT`] bytes, and stored with one `put` at commit.
    ///
    /// On a provider with `FLUSH` the write is unsynced (`begin_unsynced_write`): it is
    /// durable only after [`Replica::flush`], which every caller makes before it
    /// reports the write done. The driver's writer is created by the first `write` (or
    /// the commit of an empty object), in the same blocking call: one hand-off fewer per
    /// object.
    ///
    /// # Errors
    /// `Unsupported` without `WRITE`.
    pub fn begin_write(&self, key: &Key) -> DriverResult<ReplicaWriter> {
        self.require(Capabilities::WRITE, "write")?;
        let inner = if self.can(Capabilities::STREAMING_WRITE) {
            Inner::Streamed(Streamed {
                key: key.clone(),
                unsynced: self.can(Capabilities::FLUSH),
                slot: Arc::new(Mutex::new(Slot::NotStarted)),
            })
        } else {
            Inner::Buffered {
                key: key.clone(),
                data: Vec::new(),
            }
        };
        Ok(ReplicaWriter {
            replica: self.clone(),
            inner,
        })
    }

    /// Makes every unsynced write to this provider so far durable (see
    /// [`Replica::begin_write`]); concurrent callers share one driver flush. A no-op on
    /// a provider without `FLUSH`, whose writes are durable when they return.
    ///
    /// # Errors
    /// The driver's error.
    pub async fn flush(&self) -> DriverResult<()> {
        if !self.can(Capabilities::FLUSH) {
            return Ok(());
        }
        self.flushes
            .after_my_writes(|| self.call("flush", |d| d.flush()))
            .await
    }
}

/// The largest object the host writes to a provider whose driver has `WRITE` but not
/// `STREAMING_WRITE`: such a write is held in memory and stored with one `put`.
pub const BUFFERED_WRITE_LIMIT: usize = 64 << 20;

/// Reads the whole of `key`, at most `limit` bytes, in one blocking call: for a driver
/// with `RANGE_READ`, already on the blocking pool (a batch's call).
pub(crate) fn read_whole(d: &dyn StorageDriver, key: &Key, limit: usize) -> DriverResult<Vec<u8>> {
    let mut buf = vec![0u8; (8 << 10).min(limit + 1)];
    let mut filled = 0;
    loop {
        if filled == buf.len() {
            if filled > limit {
                return Err(DriverError::invalid_input(format!(
                    "{key} is larger than {limit} bytes"
                )));
            }
            buf.resize((2 * filled).min(limit + 1), 0);
        }
        let n = d.read(key, filled as u64, &mut buf[filled..])?;
        if n == 0 {
            buf.truncate(filled);
            return Ok(buf);
        }
        filled += n;
    }
}

/// Reads and drops the first `offset` bytes of `key`, in order from the start, for a
/// driver without `RANGE_READ`: such a driver only ever sees reads that continue where
/// the previous one of the same call ended. `false` when the object ends first.
fn skip_to(d: &dyn StorageDriver, key: &Key, offset: u64) -> DriverResult<bool> {
    let mut scratch = vec![0u8; offset.min(1 << 20) as usize];
    let mut pos = 0u64;
    while pos < offset {
        let want = scratch.len().min((offset - pos) as usize);
        let n = d.read(key, pos, &mut scratch[..want])?;
        if n == 0 {
            return Ok(false);
        }
        pos += n as u64;
    }
    Ok(true)
}

/// A write of one object to one provider; each driver call runs on the blocking pool
/// like any other.
pub struct ReplicaWriter {
    replica: Replica,
    inner: Inner,
}

enum Inner {
    /// The driver's own streamed writer.
    Streamed(Streamed),
    /// A `WRITE`-only driver: the bytes so far, stored with `put` at commit.
    Buffered { key: Key, data: Vec<u8> },
}

/// A streamed write's driver writer, shared with the blocking call using it so the call
/// can return the driver's own result (which health records) and still leave the writer
/// for `abort`. Created by the first call that needs it.
#[derive(Clone)]
struct Streamed {
    key: Key,
    /// Started with `begin_unsynced_write` (the provider has `FLUSH`).
    unsynced: bool,
    slot: Arc<Mutex<Slot>>,
}

/// Where a streamed write's driver writer is.
enum Slot {
    /// Not created yet.
    NotStarted,
    Open(Box<dyn ObjectWriter>),
    /// Taken by `commit` or `abort`, or lost to a failed call.
    Gone,
}

impl Streamed {
    fn lock(&self) -> std::sync::MutexGuard<'_, Slot> {
        self.slot.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the driver's writer, created first if it was not yet.
    fn with_open<T>(
        &self,
        d: &dyn StorageDriver,
        f: impl FnOnce(&mut Box<dyn ObjectWriter>) -> DriverResult<T>,
    ) -> DriverResult<T> {
        let mut slot = self.lock();
        if matches!(*slot, Slot::NotStarted) {
            *slot = Slot::Gone;
            *slot = Slot::Open(match self.unsynced {
                true => d.begin_unsynced_write(&self.key)?,
                false => d.begin_write(&self.key)?,
            });
        }
        match &mut *slot {
            Slot::Open(writer) => f(writer),
            _ => Err(DriverError::other("writer already failed")),
        }
    }

    /// The driver's writer out of its cell (created first for an empty object).
    fn take(&self, d: &dyn StorageDriver) -> DriverResult<Box<dyn ObjectWriter>> {
        self.with_open(d, |_| Ok(()))?;
        match std::mem::replace(&mut *self.lock(), Slot::Gone) {
            Slot::Open(writer) => Ok(writer),
            _ => Err(DriverError::other("writer already failed")),
        }
    }
}

impl ReplicaWriter {
    /// Appends `data`.
    ///
    /// # Errors
    /// The driver's error; for a buffered write, `InvalidInput` once the object grows past
    /// [`BUFFERED_WRITE_LIMIT`].
    pub async fn write(&mut self, data: Arc<Vec<u8>>) -> DriverResult<()> {
        let streamed = match &mut self.inner {
            Inner::Streamed(streamed) => streamed.clone(),
            Inner::Buffered { data: held, .. } => {
                if held.len() + data.len() > BUFFERED_WRITE_LIMIT {
                    return Err(DriverError::invalid_input(format!(
                        "provider {} (driver {}) cannot stream writes, and objects over {} MiB \
                         do not fit the buffer the host stores with one put",
                        self.replica.name(),
                        self.replica.info.name,
                        BUFFERED_WRITE_LIMIT >> 20
                    )));
                }
                held.extend_from_slice(&data);
                return Ok(());
            }
        };
        let timeout = self.replica.settings.timeout;
        self.replica
            .call_once("write", timeout, move |d| {
                streamed.with_open(d, |writer| writer.write(&data))
            })
            .await
    }

    /// Makes the object visible.
    pub async fn commit(self) -> DriverResult<()> {
        let streamed = match self.inner {
            Inner::Buffered { key, data } => return self.replica.put(&key, Arc::new(data)).await,
            Inner::Streamed(streamed) => streamed,
        };
        self.replica
            .call_once("commit", self.replica.settings.timeout, move |d| {
                streamed.take(d)?.commit()
            })
            .await
    }

    /// Commits this write and then `next` (a small object on the same provider, such as
    /// the manifest of this one) in one blocking call; `next` is aborted when this
    /// commit fails. Writers of other kinds are committed one after the other.
    ///
    /// # Errors
    /// The first commit's error, else the second's.
    pub async fn commit_then(self, next: ReplicaWriter) -> DriverResult<()> {
        let (Inner::Streamed(first), Inner::Streamed(second)) = (&self.inner, &next.inner) else {
            return match self.commit().await {
                Ok(()) => next.commit().await,
                Err(e) => {
                    let _ = next.abort().await;
                    Err(e)
                }
            };
        };
        let (first, second) = (first.clone(), second.clone());
        self.replica
            .call_once("commit", self.replica.settings.timeout, move |d| {
                let (first, second) = (first.take(d)?, second.take(d));
                match (first.commit(), second) {
                    (Ok(()), second) => second?.commit(),
                    (Err(e), second) => {
                        if let Ok(second) = second {
                            let _ = second.abort();
                        }
                        Err(e)
                    }
                }
            })
            .await
    }

    /// Discards what was written.
    pub async fn abort(self) -> DriverResult<()> {
        let Inner::Streamed(streamed) = self.inner else {
            return Ok(());
        };
        // Never started, or lost to a deadline: nothing to abort.
        let Slot::Open(writer) = std::mem::replace(&mut *streamed.lock(), Slot::Gone) else {
            return Ok(());
        };
        self.replica
            .call_once("abort", self.replica.settings.timeout, move |_| {
                writer.abort()
            })
            .await
    }
}

/// One driver call's entry in its provider's health, written once: by the blocking task
/// when the driver returns, or by the caller when its deadline passed or the task panicked.
struct Outcome {
    health: Arc<Health>,
    started: Instant,
    recorded: AtomicBool,
}

impl Outcome {
    fn record<T>(&self, result: &DriverResult<T>) {
        if self.recorded.swap(true, Ordering::AcqRel) {
            return;
        }
        match result {
            Err(e) if counts_against_provider(e.kind) => self.health.record_failure(&e.to_string()),
            _ => self.health.record_success(self.started.elapsed()),
        }
    }
}

/// Whether an error says the provider is unwell, as opposed to answering a question
/// (`NotFound`) or refusing a request (`InvalidInput`, `Unsupported`, `Conflict`).
fn counts_against_provider(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::Unavailable
            | ErrorKind::Panicked
            | ErrorKind::PermissionDenied
            | ErrorKind::Other
    )
}

/// `base` scaled by a factor in [0.5, 1.5), so retrying clients do not march in step.
fn jittered(base: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let factor = 0.5 + f64::from(nanos % 1000) / 1000.0;
    base.mul_f64(factor)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mirra_driver_api::{Capabilities, ObjectMeta};

    /// One object of fixed bytes; remembers the largest buffer it was handed.
    struct Fixed(Vec<u8>, std::sync::atomic::AtomicUsize);

    impl StorageDriver for Fixed {
        fn stat(&self, _: &Key) -> DriverResult<ObjectMeta> {
            Ok(ObjectMeta {
                size: self.0.len() as u64,
            })
        }
        fn read(&self, _: &Key, offset: u64, buf: &mut [u8]) -> DriverResult<usize> {
            self.1
                .fetch_max(buf.len(), std::sync::atomic::Ordering::Relaxed);
            let rest = self.0.get(offset as usize..).unwrap_or_default();
            let n = rest.len().min(buf.len());
            buf[..n].copy_from_slice(&rest[..n]);
            Ok(n)
        }
        /// A hostile listing: one entry and the same cursor on every page.
        fn list(&self, _: &str, _: Option<&str>, _: u32) -> DriverResult<ListPage> {
            Ok(ListPage {
                entries: vec![mirra_driver_api::ListEntry {
                    key: "a".into(),
                    size: 1,
                }],
                next_cursor: Some("a".into()),
            })
        }
    }

    #[tokio::test]
    async fn a_listing_whose_cursor_does_not_advance_ends_with_an_error_naming_the_provider() {
        let (replica, _) = replica(1);
        let err = tokio::time::timeout(Duration::from_secs(10), replica.list_all(""))
            .await
            .expect("the listing ended")
            .unwrap_err();
        assert!(
            err.to_string().contains("provider fixed")
                && err.to_string().contains("does not advance"),
            "{err}"
        );
        assert_eq!(replica.health_record().snapshot().consecutive_failures, 1);
    }

    fn replica(len: usize) -> (Replica, Arc<Fixed>) {
        let driver = Arc::new(Fixed(
            (0..len).map(|i| i as u8).collect(),
            Default::default(),
        ));
        let settings = ReplicaSettings {
            concurrency: 1,
            ..ReplicaSettings::for_tests("fixed", 0)
        };
        let info = DriverInfo {
            name: "fixed".into(),
            version: "0".into(),
            url_schemes: Vec::new(),
            capabilities: Capabilities::READ | Capabilities::LIST,
        };
        (Replica::new(settings, info, driver.clone()), driver)
    }

    /// Streams writes into a writer whose every `write` fails as an unreachable
    /// provider's would.
    struct FailingWrites;

    struct FailingWriter;

    impl ObjectWriter for FailingWriter {
        fn write(&mut self, _: &[u8]) -> DriverResult<()> {
            Err(DriverError::unavailable("connection reset mid-upload"))
        }
        fn commit(self: Box<Self>) -> DriverResult<()> {
            Ok(())
        }
        fn abort(self: Box<Self>) -> DriverResult<()> {
            Ok(())
        }
    }

    impl StorageDriver for FailingWrites {
        fn stat(&self, key: &Key) -> DriverResult<ObjectMeta> {
            Err(DriverError::not_found(key))
        }
        fn read(&self, key: &Key, _: u64, _: &mut [u8]) -> DriverResult<usize> {
            Err(DriverError::not_found(key))
        }
        fn begin_write(&self, _: &Key) -> DriverResult<Box<dyn ObjectWriter>> {
            Ok(Box::new(FailingWriter))
        }
    }

    #[tokio::test]
    async fn a_write_failing_mid_stream_counts_against_the_provider() {
        let settings = ReplicaSettings {
            breaker: BreakerPolicy {
                failures: 1,
                cooldown: Duration::from_secs(60),
            },
            concurrency: 1,
            ..ReplicaSettings::for_tests("flaky", 0)
        };
        let info = DriverInfo {
            name: "failing-writes".into(),
            version: "0".into(),
            url_schemes: Vec::new(),
            capabilities: Capabilities::READ | Capabilities::WRITE | Capabilities::STREAMING_WRITE,
        };
        let replica = Replica::new(settings, info, Arc::new(FailingWrites));
        let key = Key::parse("k").unwrap();
        let mut writer = replica.begin_write(&key).unwrap();
        let err = writer.write(Arc::new(vec![1, 2, 3])).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::Unavailable, "{err}");
        let health = replica.health_record().snapshot();
        assert_eq!(health.consecutive_failures, 1, "{health:?}");
        assert!(
            health
                .last_error
                .as_deref()
                .is_some_and(|e| e.contains("mid-upload")),
            "{health:?}"
        );
        assert!(
            replica.health_record().is_open(),
            "one failed write opens a breaker set to open after one failure"
        );
    }

    #[tokio::test]
    async fn read_small_reads_whole_objects_without_limit_sized_buffers() {
        let key = Key::parse("k").unwrap();
        let limit = 1 << 20;
        for len in [
            0,
            10,
            SMALL_READ_FIRST - 1,
            SMALL_READ_FIRST,
            SMALL_READ_FIRST + 1,
            200_000,
            limit,
        ] {
            let (replica, driver) = replica(len);
            let data = replica.read_small(&key, limit).await.unwrap();
            assert_eq!(data, driver.0, "length {len}");
            let largest = driver.1.load(std::sync::atomic::Ordering::Relaxed);
            assert!(
                largest <= len.max(SMALL_READ_FIRST),
                "length {len}: a {largest}-byte buffer"
            );
        }
        let (replica, _) = replica(limit + 1);
        let err = replica.read_small(&key, limit).await.unwrap_err();
        assert!(err.to_string().contains("larger than"), "{err}");
    }
}

#[cfg(test)]
#[path = "replica_capability_tests.rs"]
pub(crate) mod capability_tests;
