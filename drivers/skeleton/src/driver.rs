//! One opened provider. Every operation is where your store's client code goes.
//!
//! Each method's doc says what to implement, which [`Capabilities`] flag to declare in
//! `info()` once it works, and what a missing key must return. Until then each one
//! answers [`ErrorKind::Unsupported`](mirra_driver_api::ErrorKind::Unsupported), which
//! the host handles: it never calls an operation whose capability is not declared.
//!
//! All calls are blocking and may come from many threads at once (`Send + Sync`). If
//! your client library is async, own a runtime in the driver: enable the `runtime`
//! feature of `mirra-driver-api`, build a `mirra_driver_api::runtime::DriverRuntime` in
//! `open` and `block_on` it inside each call; no runtime crosses the ABI.
//!
//! [`Capabilities`]: mirra_driver_api::Capabilities

use mirra_driver_api::{
    DriverError, DriverResult, Key, ListPage, ObjectMeta, ObjectWriter, StorageDriver,
};

use crate::SkeletonConfig;

/// An opened provider of the skeleton driver: holds the config (and, in a real driver,
/// the HTTP client, connection pool or SDK handle built once in `open`).
#[derive(Debug)]
pub struct SkeletonDriver {
    config: SkeletonConfig,
}

impl SkeletonDriver {
    /// Builds the driver from a checked config. Connect, or build your client, here;
    /// do not fail just because the store is down right now (that is `health`'s job).
    pub fn new(config: SkeletonConfig) -> Self {
        Self { config }
    }

    /// The configuration this provider was opened with.
    pub fn config(&self) -> &SkeletonConfig {
        &self.config
    }
}

impl StorageDriver for SkeletonDriver {
    /// Implement: return the object's size (a HEAD request, a metadata call).
    /// Declare [`Capabilities::READ`](mirra_driver_api::Capabilities::READ) together
    /// with `read`. A missing key is `DriverError::not_found(key)`.
    fn stat(&self, key: &Key) -> DriverResult<ObjectMeta> {
        let _ = key;
        Err(DriverError::unsupported("stat"))
    }

    /// Implement: copy up to `buf.len()` bytes of the object, starting at `offset`, into
    /// `buf` and return how many; return 0 when `offset` is at or past the end (not an
    /// error). Returning fewer bytes than asked is fine, the host loops. Declare `READ`,
    /// and also `RANGE_READ` if a non-zero offset does not re-read from the start (an
    /// HTTP `Range` request). A missing key is `NotFound`.
    fn read(&self, key: &Key, offset: u64, buf: &mut [u8]) -> DriverResult<usize> {
        let _ = (key, offset, buf);
        Err(DriverError::unsupported("read"))
    }

    /// Implement: store `data` under `key`, replacing what is there, in one request.
    /// Declare `WRITE`, and `ATOMIC_WRITE` if readers can never see a partial object.
    /// `WRITE` alone is enough for `mirra put`: the host then buffers each object (up to
    /// 64 MiB) and calls `put` once. Without an override, the trait's default streams
    /// through `begin_write`.
    fn put(&self, key: &Key, data: &[u8]) -> DriverResult<()> {
        let _ = (key, data);
        Err(DriverError::unsupported("put"))
    }

    /// Implement: start an upload and return a writer (a struct implementing
    /// [`ObjectWriter`]: `write` appends, `commit` makes the object visible, `abort` and
    /// `Drop` throw it away, e.g. a multipart upload or a temporary file). Nothing may be
    /// visible under `key` before `commit`. Declare `STREAMING_WRITE` (together with
    /// `WRITE`) when it does not hold the whole object in memory; the host then streams
    /// objects of any size through it.
    fn begin_write(&self, key: &Key) -> DriverResult<Box<dyn ObjectWriter>> {
        let _ = key;
        Err(DriverError::unsupported("begin_write"))
    }

    /// Implement: remove the object. Declare `DELETE`. A missing key is `NotFound` (if
    /// the store cannot tell, `stat` first).
    fn delete(&self, key: &Key) -> DriverResult<()> {
        let _ = key;
        Err(DriverError::unsupported("delete"))
    }

    /// Implement: up to `limit` keys starting with `prefix` (a plain string prefix),
    /// with sizes, in a stable order (sorted by key if you can), after `cursor`; set
    /// `next_cursor` when more follow. Never list your own temporary objects. Declare
    /// `LIST`.
    fn list(&self, prefix: &str, cursor: Option<&str>, limit: u32) -> DriverResult<ListPage> {
        let _ = (prefix, cursor, limit);
        Err(DriverError::unsupported("list"))
    }

    /// Implement: a URL where anyone can `GET` the object without mirra, for zone files
    /// (the key need not exist yet). Declare `PUBLIC_URL`.
    fn public_url(&self, key: &Key) -> DriverResult<String> {
        let _ = key;
        Err(DriverError::unsupported("public_url"))
    }

    /// Implement: a cheap check that the store answers (a HEAD of the bucket, a ping).
    /// Return `DriverError::unavailable(..)` when it does not. No capability needed;
    /// `mirra doctor` and `mirra providers` call it first, so until you implement it,
    /// answer `Ok` (as the trait's default does) rather than an error.
    fn health(&self) -> DriverResult<()> {
        Ok(())
    }
}
