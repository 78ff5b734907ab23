//! The conformance kit: checks every driver must pass, chosen by its capabilities.
//!
//! Run the whole suite from a test with [`run_all`], against a driver linked in-process,
//! and against the same driver built and loaded from its `.so` with [`run_library`]:
//!
//! ```no_run
//! # use mirra_driver_api::{DriverFactory, DriverResult, StorageDriver};
//! # fn open_mine() -> DriverResult<Box<dyn StorageDriver>> { Err(mirra_driver_api::DriverError::unsupported("example")) }
//! # let capabilities = mirra_driver_api::Capabilities::READ;
//! let driver = open_mine()?; // e.g. MyFactory::open(r#"root = "/tmp/x""#)
//! let summary = mirra_driver_api::testkit::run_all(&*driver, capabilities);
//! assert!(summary.skipped.is_empty(), "skipped: {:?}", summary.skipped);
//! # Ok::<(), mirra_driver_api::DriverError>(())
//! ```
//!
//! The kit tests the contract the host relies on (see the crate docs): every declared
//! capability has checks, and a declared capability whose checks cannot run (say
//! `RANGE_READ` without `WRITE`, so nothing can be written to read back) fails the run
//! instead of being skipped. It uses keys the host really sends (under
//! `.mirra/manifests/`, listed under `.mirra/`). Stores with a small value limit run
//! the same kit with [`run_all_with`] and [`Limits`].
//!
//! Each check is also a public function returning `Err` with what went wrong, so a
//! driver can run a subset. Checks work under a fresh key prefix and delete what they
//! wrote when the driver can delete.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::{Capabilities, DriverError, ErrorKind, Key, StorageDriver};

mod contract;
mod data;
mod library;
mod streaming;

pub use contract::open_url_is_read_only;
pub use library::{build_library, run_library, run_library_with};

/// Defines the public, full-size form of each check: `fn(driver, prefix)`.
macro_rules! full_size_checks {
    ($($(#[$doc:meta])* $module:ident::$name:ident proves $proves:expr;)*) => {$(
        $(#[$doc])*
        pub fn $name(driver: &dyn StorageDriver, prefix: &str) -> CheckResult {
            full(driver, prefix, $proves, $module::$name)
        }
    )*};
}

full_size_checks! {
    /// `health` answers `Ok` while the store is up.
    contract::health_answers proves Capabilities::NONE;
    /// A small object reads back byte for byte.
    data::round_trip proves Capabilities::WRITE;
    /// An empty object exists, has size 0, and reads as nothing.
    data::empty_object proves Capabilities::WRITE;
    /// Reads at offset 0, in the middle, of the last byte, and past the end.
    data::range_reads proves Capabilities::RANGE_READ;
    /// `stat` reports exact sizes; missing keys are `NotFound` for `stat` and `read`.
    data::stat_sizes proves Capabilities::READ;
    /// A second write replaces the first, including a shorter one.
    data::overwrite proves Capabilities::WRITE;
    /// Keys with non-ASCII characters and spaces store and read as themselves.
    data::unicode_and_space_keys proves Capabilities::WRITE;
    /// The keys the host writes (`.mirra/manifests/…`, dotted names) store and read back,
    /// and, with `LIST`, list under the `.mirra/` prefix.
    data::host_keys proves Capabilities::WRITE;
    /// A 32 MiB object written through `begin_write` in 1 MiB pieces reads back intact.
    streaming::streamed_write_32mib proves Capabilities::STREAMING_WRITE;
    /// An aborted or dropped write leaves no trace (not in `stat`, not in listings) and
    /// keeps an older object.
    streaming::abort_leaves_nothing proves Capabilities::STREAMING_WRITE;
    /// Eight threads streaming distinct keys at once all land intact.
    streaming::concurrent_writers proves Capabilities::STREAMING_WRITE;
    /// Unsynced writes from several threads, flushed, committed and flushed again as the
    /// host does, all read back intact; nothing shows before its commit, and an aborted
    /// unsynced write leaves the older object.
    streaming::unsynced_batch_then_flush proves Capabilities::FLUSH;
    /// After `delete`, `stat`, `read` and a second `delete` all say `NotFound`.
    data::delete_then_not_found proves Capabilities::DELETE;
    /// 1,100 keys list exactly once each across pages of 250, in a stable order, and a
    /// sibling prefix stays out.
    data::list_prefix_and_paging proves Capabilities::LIST;
    /// While one thread overwrites an object, readers see the old or the new object
    /// whole, never a torn mix, an empty object or `NotFound`.
    contract::atomic_write_visibility proves Capabilities::ATOMIC_WRITE;
    /// `public_url` answers an absolute URL without whitespace that names the key, and
    /// different keys get different URLs.
    contract::public_url_shape proves Capabilities::PUBLIC_URL;
}

/// The outcome of one check: `Err` says what the driver got wrong.
pub type CheckResult = Result<(), String>;

/// A named conformance check and the capabilities it needs.
pub struct Check {
    /// Short name, shown in reports.
    pub name: &'static str,
    /// The driver must have all of these for the check to run.
    pub needs: Capabilities,
    /// The check itself at full sizes; its second argument is a key prefix no other
    /// check uses.
    pub run: fn(&dyn StorageDriver, &str) -> CheckResult,
}

/// What a store can hold, for stores with small value limits (the DHT holds 1,000
/// bytes per value). Checks scale their objects down to fit; none is skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest object the store holds, in bytes.
    pub max_object_size: usize,
    /// Whether the store holds empty objects. When it does not, the kit checks that an
    /// empty `put` is refused with `InvalidInput` and leaves nothing.
    pub empty_objects: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_object_size: usize::MAX,
            empty_objects: true,
        }
    }
}

/// What one check runs against: the driver, its own key prefix, and the store's limits.
pub(crate) struct Ctx<'a> {
    pub driver: &'a dyn StorageDriver,
    pub prefix: String,
    pub limits: Limits,
    pub capabilities: Capabilities,
}

impl Ctx<'_> {
    /// `n` bytes, or the store's limit when smaller.
    pub fn size(&self, n: usize) -> usize {
        n.min(self.limits.max_object_size)
    }

    pub fn key(&self, name: &str) -> Result<Key, String> {
        key(&self.prefix, name)
    }

    pub fn can(&self, caps: Capabilities) -> bool {
        self.capabilities.contains(caps)
    }
}

/// One row of the kit: the capability a check proves, what it needs to run, and how.
struct Entry {
    name: &'static str,
    proves: Capabilities,
    needs: Capabilities,
    sized: fn(&Ctx) -> CheckResult,
    plain: fn(&dyn StorageDriver, &str) -> CheckResult,
}

fn entries() -> Vec<Entry> {
    use Capabilities as C;
    let rw = C::READ | C::WRITE;
    let stream = rw | C::STREAMING_WRITE;
    macro_rules! entry {
        ($name:ident, $proves:expr, $needs:expr, $module:ident) => {
            Entry {
                name: stringify!($name),
                proves: $proves,
                needs: $needs,
                sized: $module::$name,
                plain: $name,
            }
        };
    }
    vec![
        entry!(health_answers, C::NONE, C::NONE, contract),
        entry!(round_trip, C::WRITE, rw, data),
        entry!(empty_object, C::WRITE, rw, data),
        entry!(range_reads, C::RANGE_READ, rw | C::RANGE_READ, data),
        entry!(stat_sizes, C::READ, rw, data),
        entry!(overwrite, C::WRITE, rw, data),
        entry!(unicode_and_space_keys, C::WRITE, rw, data),
        entry!(host_keys, C::WRITE, rw, data),
        entry!(streamed_write_32mib, C::STREAMING_WRITE, stream, streaming),
        entry!(abort_leaves_nothing, C::STREAMING_WRITE, stream, streaming),
        entry!(concurrent_writers, C::STREAMING_WRITE, stream, streaming),
        entry!(
            unsynced_batch_then_flush,
            C::FLUSH,
            stream | C::FLUSH,
            streaming
        ),
        entry!(delete_then_not_found, C::DELETE, rw | C::DELETE, data),
        entry!(list_prefix_and_paging, C::LIST, rw | C::LIST, data),
        entry!(
            atomic_write_visibility,
            C::ATOMIC_WRITE,
            rw | C::ATOMIC_WRITE,
            contract
        ),
        entry!(public_url_shape, C::PUBLIC_URL, C::PUBLIC_URL, contract),
    ]
}

/// Every check in the kit, at full sizes.
pub fn checks() -> Vec<Check> {
    entries()
        .into_iter()
        .map(|e| Check {
            name: e.name,
            needs: e.needs,
            run: e.plain,
        })
        .collect()
}

/// What [`run_all`] did.
#[derive(Debug, Default)]
pub struct Summary {
    /// Checks that ran and passed.
    pub passed: Vec<&'static str>,
    /// Checks of capabilities the driver does not declare, so not run.
    pub skipped: Vec<&'static str>,
}

/// Runs every check `capabilities` calls for and panics listing each failure.
///
/// # Panics
/// When any check fails, when a declared capability's checks cannot run because a
/// capability they need is missing, or when the driver declares no `READ`.
pub fn run_all(driver: &dyn StorageDriver, capabilities: Capabilities) -> Summary {
    run_all_with(driver, capabilities, Limits::default())
}

/// [`run_all`] for a store with small limits: every check runs, at sizes that fit.
///
/// # Panics
/// As for [`run_all`].
pub fn run_all_with(
    driver: &dyn StorageDriver,
    capabilities: Capabilities,
    limits: Limits,
) -> Summary {
    assert!(
        capabilities.contains(Capabilities::READ),
        "the driver declares {capabilities:?}: without READ the host cannot use it, and \
         no conformance check applies"
    );
    let run_id = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let mut summary = Summary::default();
    let mut failures = Vec::new();
    for entry in entries() {
        if !capabilities.contains(entry.proves) {
            summary.skipped.push(entry.name);
            continue;
        }
        if !capabilities.contains(entry.needs) {
            let missing = Capabilities::from_bits(entry.needs.bits() & !capabilities.bits());
            failures.push(format!(
                "{}: the driver declares {:?} but this check also needs {missing:?}",
                entry.name, entry.proves
            ));
            continue;
        }
        let ctx = Ctx {
            driver,
            prefix: format!("mirra-testkit-{run_id}/{}/", entry.name),
            limits,
            capabilities,
        };
        match (entry.sized)(&ctx) {
            Ok(()) => summary.passed.push(entry.name),
            Err(e) => failures.push(format!("{}: {e}", entry.name)),
        }
    }
    assert!(
        failures.is_empty(),
        "{} conformance check(s) failed:\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
    summary
}

/// Runs a sized check at full sizes, for the public per-check functions.
pub(crate) fn full(
    driver: &dyn StorageDriver,
    prefix: &str,
    proves: Capabilities,
    check: fn(&Ctx) -> CheckResult,
) -> CheckResult {
    // A check run on its own assumes the capabilities it tests, plus what it needs.
    let needs = entries()
        .into_iter()
        .find(|e| e.proves == proves)
        .map(|e| e.needs)
        .unwrap_or(Capabilities::NONE);
    check(&Ctx {
        driver,
        prefix: prefix.to_owned(),
        limits: Limits::default(),
        capabilities: needs,
    })
}

pub(crate) fn key(prefix: &str, name: &str) -> Result<Key, String> {
    Key::parse(&format!("{prefix}{name}")).map_err(|e| e.to_string())
}

/// Deterministic bytes that differ per `seed`, so a mixed-up object is caught.
pub fn pattern(seed: u64, offset: u64, len: usize) -> Vec<u8> {
    (0..len as u64)
        .map(|i| {
            let x = (offset + i).wrapping_mul(0x9E37_79B9_7F4A_7C15)
                ^ seed.wrapping_mul(0xBF58_476D_1CE4_E5B9);
            (x >> 29) as u8
        })
        .collect()
}

/// Reads `key` whole by looping `read` until it returns 0.
pub fn read_all(driver: &dyn StorageDriver, key: &Key) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = driver
            .read(key, out.len() as u64, &mut buf)
            .map_err(|e| format!("read {key} at {}: {e}", out.len()))?;
        if n == 0 {
            return Ok(out);
        }
        out.extend_from_slice(&buf[..n]);
    }
}

/// Reads exactly `len` bytes at `offset` (fewer only at the end of the object).
pub(crate) fn read_range(
    driver: &dyn StorageDriver,
    key: &Key,
    offset: u64,
    len: usize,
) -> Result<Vec<u8>, String> {
    let mut out = vec![0u8; len];
    let mut filled = 0;
    while filled < len {
        let n = driver
            .read(key, offset + filled as u64, &mut out[filled..])
            .map_err(|e| format!("read {key} at {}: {e}", offset + filled as u64))?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    out.truncate(filled);
    Ok(out)
}

pub(crate) fn expect_not_found<T: std::fmt::Debug>(
    what: &str,
    result: Result<T, DriverError>,
) -> CheckResult {
    match result {
        Err(e) if e.kind == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("{what}: expected NotFound, got {e}")),
        Ok(v) => Err(format!("{what}: expected NotFound, got Ok({v:?})")),
    }
}

pub(crate) fn put(driver: &dyn StorageDriver, key: &Key, data: &[u8]) -> CheckResult {
    driver.put(key, data).map_err(|e| format!("put {key}: {e}"))
}

pub(crate) fn cleanup(driver: &dyn StorageDriver, keys: &[Key]) {
    for key in keys {
        let _ = driver.delete(key);
    }
}

pub(crate) fn ensure(cond: bool, msg: impl FnOnce() -> String) -> CheckResult {
    if cond {
        Ok(())
    } else {
        Err(msg())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_capability_bit_has_a_check() {
        let entries = entries();
        for (flag, name) in [
            (Capabilities::READ, "read"),
            (Capabilities::RANGE_READ, "range-read"),
            (Capabilities::WRITE, "write"),
            (Capabilities::STREAMING_WRITE, "streaming-write"),
            (Capabilities::LIST, "list"),
            (Capabilities::DELETE, "delete"),
            (Capabilities::PUBLIC_URL, "public-url"),
            (Capabilities::ATOMIC_WRITE, "atomic-write"),
        ] {
            assert!(
                entries.iter().any(|e| e.proves == flag),
                "no check proves {name}"
            );
        }
    }
}
