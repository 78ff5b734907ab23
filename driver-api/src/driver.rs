//! The plain Rust traits a driver author implements.
//!
//! Nothing here is FFI: [`export_driver!`](crate::export_driver) wraps these traits in
//! the stable ABI, and the host sees loaded drivers through the same traits again
//! (see [`LoadedDriver`](crate::LoadedDriver)), so one conformance kit tests both.

use crate::{AddressPolicy, DriverError, DriverInfo, Key, ListPage, ObjectMeta};

/// Shorthand for the result every driver call returns.
pub type DriverResult<T> = Result<T, DriverError>;

/// One opened provider: a root directory, a bucket and prefix, a base URL.
///
/// Every call is **blocking**; the host runs them on a blocking thread pool with a
/// deadline and a concurrency limit, so a driver may block on network I/O. A driver
/// that needs an async runtime owns one (no runtime handle crosses the ABI).
///
/// Keys arrive already validated by [`Key::parse`]; a driver maps them to its storage
/// without escaping the root it was opened with. `begin_write`, `delete`, `list` and
/// `public_url` have default bodies that answer
/// [`ErrorKind::Unsupported`](crate::ErrorKind), `put`'s default streams through
/// `begin_write` and `health`'s answers `Ok`, so a read-only driver implements two
/// methods. The host calls an operation only when its capability is declared; see the
/// write contract in the [crate docs](crate).
pub trait StorageDriver: Send + Sync + 'static {
    /// Size of `key`. Capability: [`READ`](crate::Capabilities::READ).
    /// A missing key is [`ErrorKind::NotFound`](crate::ErrorKind::NotFound).
    fn stat(&self, key: &Key) -> DriverResult<ObjectMeta>;

    /// Reads up to `buf.len()` bytes of `key` starting at `offset` into `buf` and
    /// returns how many were read; 0 means `offset` is at or past the end. Fewer bytes
    /// than asked does not mean the end: callers loop. Capability:
    /// [`READ`](crate::Capabilities::READ), and
    /// [`RANGE_READ`](crate::Capabilities::RANGE_READ) for a non-zero offset to be cheap.
    /// A missing key is `NotFound`.
    fn read(&self, key: &Key, offset: u64, buf: &mut [u8]) -> DriverResult<usize>;

    /// Stores `data` under `key`, replacing any object there. For small objects; the
    /// default streams through [`begin_write`](Self::begin_write).
    /// Capability: [`WRITE`](crate::Capabilities::WRITE).
    fn put(&self, key: &Key, data: &[u8]) -> DriverResult<()> {
        let mut writer = self.begin_write(key)?;
        writer.write(data)?;
        writer.commit()
    }

    /// Starts a streamed write of `key`. Nothing is visible under `key` until
    /// [`ObjectWriter::commit`]; [`ObjectWriter::abort`] (or dropping the writer) leaves
    /// no trace. Capability: [`STREAMING_WRITE`](crate::Capabilities::STREAMING_WRITE).
    fn begin_write(&self, key: &Key) -> DriverResult<Box<dyn ObjectWriter>> {
        let _ = key;
        Err(DriverError::unsupported("begin_write"))
    }

    /// Deletes `key`. Deleting a missing key is `NotFound`.
    /// Capability: [`DELETE`](crate::Capabilities::DELETE).
    fn delete(&self, key: &Key) -> DriverResult<()> {
        let _ = key;
        Err(DriverError::unsupported("delete"))
    }

    /// Lists keys that start with `prefix` (a plain string prefix, not only whole
    /// segments), at most `limit` per page, in a stable order, resuming after `cursor`
    /// (a value this driver returned in [`ListPage::next_cursor`]).
    /// Capability: [`LIST`](crate::Capabilities::LIST).
    fn list(&self, prefix: &str, cursor: Option<&str>, limit: u32) -> DriverResult<ListPage> {
        let _ = (prefix, cursor, limit);
        Err(DriverError::unsupported("list"))
    }

    /// A URL where other clients can read `key` without mirra (for zone files).
    /// Capability: [`PUBLIC_URL`](crate::Capabilities::PUBLIC_URL). The key need not exist.
    fn public_url(&self, key: &Key) -> DriverResult<String> {
        let _ = key;
        Err(DriverError::unsupported("public_url"))
    }

    /// A cheap liveness check of the backing store (a HEAD, a `stat` of the root).
    fn health(&self) -> DriverResult<()> {
        Ok(())
    }

    /// Like [`begin_write`](Self::begin_write), but neither `write` nor `commit` need
    /// make anything durable: that waits for the next [`flush`](Self::flush). The host
    /// writes a batch of objects this way, flushes, commits them all, and flushes again,
    /// so one sync per provider covers the whole batch and a crash never leaves a
    /// visible object whose bytes did not reach the disk. Capability:
    /// [`FLUSH`](crate::Capabilities::FLUSH) (since 1.2); the default is `begin_write`,
    /// whose writes are durable on commit, which is stronger.
    fn begin_unsynced_write(&self, key: &Key) -> DriverResult<Box<dyn ObjectWriter>> {
        self.begin_write(key)
    }

    /// Makes durable every byte written so far through writers from
    /// [`begin_unsynced_write`](Self::begin_unsynced_write), committed or not, and every
    /// commit of them that returned, on this provider. Several threads may call it at
    /// once. Capability: [`FLUSH`](crate::Capabilities::FLUSH) (since 1.2); the default
    /// answers `Ok`, right for a driver whose writes are durable when they return.
    fn flush(&self) -> DriverResult<()> {
        Ok(())
    }
}

/// A streamed write in progress, from [`StorageDriver::begin_write`].
///
/// Dropping a writer without calling `commit` must behave like `abort`.
pub trait ObjectWriter: Send {
    /// Appends `data`. The writer may buffer; nothing is visible yet.
    fn write(&mut self, data: &[u8]) -> DriverResult<()>;

    /// Makes the whole object visible under its key, atomically if the driver has
    /// [`ATOMIC_WRITE`](crate::Capabilities::ATOMIC_WRITE).
    fn commit(self: Box<Self>) -> DriverResult<()>;

    /// Discards everything written; the key keeps whatever it held before.
    fn abort(self: Box<Self>) -> DriverResult<()>;
}

/// The entry points of a driver library: the type named in
/// [`export_driver!`](crate::export_driver).
pub trait DriverFactory: 'static {
    /// Name, version, URL schemes and capabilities. Must not fail or block.
    fn info() -> DriverInfo;

    /// Opens a provider from its `[provider.config]` table, given as TOML text.
    /// A bad config is [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) with a
    /// message naming the field.
    fn open(config_toml: &str) -> DriverResult<Box<dyn StorageDriver>>;

    /// Opens read-only, unauthenticated access rooted at `url` (from a zone file's URI
    /// record). The default answers `Unsupported`.
    fn open_url(url: &str) -> DriverResult<Box<dyn StorageDriver>> {
        let _ = url;
        Err(DriverError::unsupported("open_url"))
    }

    /// Like [`open_url`](Self::open_url), but every connection the provider makes must
    /// go to an address `policy` allows, checked on the resolved address at connect
    /// time (a name resolving to 127.0.0.1 is loopback) and again on each redirect;
    /// local files are opened only if [`AddressPolicy::allows_local_files`]. A refused
    /// connection is [`ErrorKind::PermissionDenied`](crate::ErrorKind::PermissionDenied)
    /// whose message starts with `refused by the address policy`.
    ///
    /// The default opens with `open_url` when the policy allows everything and
    /// otherwise answers `Unsupported`, which tells the host this driver cannot enforce
    /// a policy (the host then decides by itself whether to open the URL).
    fn open_url_within(url: &str, policy: &AddressPolicy) -> DriverResult<Box<dyn StorageDriver>> {
        if policy.is_unrestricted() {
            Self::open_url(url)
        } else {
            Err(DriverError::unsupported("open_url_within"))
        }
    }
}
