//! The conformance kit: checks every driver must pass, chosen by its capabilities.
//!
//! Run the whole suite from a test with [`run_all`], against a driver linked in-process
//! and against the same driver loaded from its `.so` through [`DriverLibrary`]:
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
//! Each check is also a public function returning `Err` with what went wrong, so a
//! driver can run a subset. Checks work under a fresh key prefix and delete what they
//! wrote when the driver can delete.
//!
//! [`DriverLibrary`]: crate::DriverLibrary

use std::time::{SystemTime, UNIX_EPOCH};

use crate::{Capabilities, ErrorKind, Key, StorageDriver};

/// The outcome of one check: `Err` says what the driver got wrong.
pub type CheckResult = Result<(), String>;

/// A named conformance check and the capabilities it needs.
pub struct Check {
    /// Short name, shown in reports.
    pub name: &'static str,
    /// The driver must have all of these for the check to run.
    pub needs: Capabilities,
    /// The check itself; its second argument is a key prefix no other check uses.
    pub run: fn(&dyn StorageDriver, &str) -> CheckResult,
}

/// Every check in the kit.
pub fn checks() -> Vec<Check> {
    let rw = Capabilities::READ | Capabilities::WRITE;
    let stream = rw | Capabilities::STREAMING_WRITE;
    vec![
        Check {
            name: "round_trip",
            needs: rw,
            run: round_trip,
        },
        Check {
            name: "empty_object",
            needs: rw,
            run: empty_object,
        },
        Check {
            name: "range_reads",
            needs: rw | Capabilities::RANGE_READ,
            run: range_reads,
        },
        Check {
            name: "stat_sizes",
            needs: rw,
            run: stat_sizes,
        },
        Check {
            name: "overwrite",
            needs: rw,
            run: overwrite,
        },
        Check {
            name: "unicode_and_space_keys",
            needs: rw,
            run: unicode_and_space_keys,
        },
        Check {
            name: "streamed_write_32mib",
            needs: stream,
            run: streamed_write_32mib,
        },
        Check {
            name: "abort_leaves_nothing",
            needs: stream,
            run: abort_leaves_nothing,
        },
        Check {
            name: "concurrent_writers",
            needs: stream,
            run: concurrent_writers,
        },
        Check {
            name: "delete_then_not_found",
            needs: rw | Capabilities::DELETE,
            run: delete_then_not_found,
        },
        Check {
            name: "list_prefix_and_paging",
            needs: rw | Capabilities::LIST,
            run: list_prefix_and_paging,
        },
    ]
}

/// What [`run_all`] did.
#[derive(Debug, Default)]
pub struct Summary {
    /// Checks that ran and passed.
    pub passed: Vec<&'static str>,
    /// Checks skipped for a missing capability.
    pub skipped: Vec<&'static str>,
}

/// Runs every check `capabilities` allows and panics listing each failure.
///
/// # Panics
/// When any check fails, or when no check could run at all.
pub fn run_all(driver: &dyn StorageDriver, capabilities: Capabilities) -> Summary {
    let run_id = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let mut summary = Summary::default();
    let mut failures = Vec::new();
    for check in checks() {
        if !capabilities.contains(check.needs) {
            summary.skipped.push(check.name);
            continue;
        }
        let prefix = format!("mirra-testkit-{run_id}/{}/", check.name);
        match (check.run)(driver, &prefix) {
            Ok(()) => summary.passed.push(check.name),
            Err(e) => failures.push(format!("{}: {e}", check.name)),
        }
    }
    assert!(
        failures.is_empty(),
        "{} conformance check(s) failed:\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
    assert!(
        !summary.passed.is_empty(),
        "no conformance check applies to capabilities {capabilities:?}"
    );
    summary
}

fn key(prefix: &str, name: &str) -> Result<Key, String> {
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
fn read_range(
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

fn expect_not_found<T: std::fmt::Debug>(
    what: &str,
    result: Result<T, crate::DriverError>,
) -> CheckResult {
    match result {
        Err(e) if e.kind == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("{what}: expected NotFound, got {e}")),
        Ok(v) => Err(format!("{what}: expected NotFound, got Ok({v:?})")),
    }
}

fn put(driver: &dyn StorageDriver, key: &Key, data: &[u8]) -> CheckResult {
    driver.put(key, data).map_err(|e| format!("put {key}: {e}"))
}

fn cleanup(driver: &dyn StorageDriver, keys: &[Key]) {
    for key in keys {
        let _ = driver.delete(key);
    }
}

fn ensure(cond: bool, msg: impl FnOnce() -> String) -> CheckResult {
    if cond {
        Ok(())
    } else {
        Err(msg())
    }
}

/// A small object reads back byte for byte.
pub fn round_trip(driver: &dyn StorageDriver, prefix: &str) -> CheckResult {
    let k = key(prefix, "hello.txt")?;
    let data = pattern(1, 0, 4096 + 17);
    put(driver, &k, &data)?;
    let back = read_all(driver, &k)?;
    cleanup(driver, &[k]);
    ensure(back == data, || {
        format!(
            "read back {} bytes that differ from the {} written",
            back.len(),
            data.len()
        )
    })
}

/// An empty object exists, has size 0, and reads as nothing.
pub fn empty_object(driver: &dyn StorageDriver, prefix: &str) -> CheckResult {
    let k = key(prefix, "empty")?;
    put(driver, &k, &[])?;
    let size = driver.stat(&k).map_err(|e| format!("stat: {e}"))?.size;
    let back = read_all(driver, &k)?;
    cleanup(driver, &[k]);
    ensure(size == 0, || format!("stat says {size} bytes"))?;
    ensure(back.is_empty(), || {
        format!("read returned {} bytes", back.len())
    })
}

/// Reads at offset 0, in the middle, of the last byte, and past the end.
pub fn range_reads(driver: &dyn StorageDriver, prefix: &str) -> CheckResult {
    let k = key(prefix, "ranges.bin")?;
    let data = pattern(2, 0, 100_000);
    put(driver, &k, &data)?;
    let result = (|| {
        let cases = [(0u64, 10usize), (40_000, 12_345), (99_999, 1), (99_990, 50)];
        for (offset, len) in cases {
            let got = read_range(driver, &k, offset, len)?;
            let end = (offset as usize + len).min(data.len());
            ensure(got == data[offset as usize..end], || {
                format!(
                    "range {offset}+{len} returned wrong bytes ({} bytes)",
                    got.len()
                )
            })?;
        }
        for offset in [100_000u64, 1 << 40] {
            let n = driver
                .read(&k, offset, &mut [0u8; 16])
                .map_err(|e| format!("read past the end at {offset}: {e}"))?;
            ensure(n == 0, || {
                format!("read at {offset} past the end returned {n} bytes")
            })?;
        }
        Ok(())
    })();
    cleanup(driver, &[k]);
    result
}

/// `stat` reports exact sizes; missing keys are `NotFound` for `stat` and `read`.
pub fn stat_sizes(driver: &dyn StorageDriver, prefix: &str) -> CheckResult {
    let mut keys = Vec::new();
    for size in [1usize, 1000, 65_537] {
        let k = key(prefix, &format!("size-{size}"))?;
        put(driver, &k, &pattern(3, 0, size))?;
        let got = driver.stat(&k).map_err(|e| format!("stat: {e}"))?.size;
        keys.push(k);
        ensure(got == size as u64, || {
            format!("stat of a {size}-byte object says {got}")
        })?;
    }
    cleanup(driver, &keys);
    let missing = key(prefix, "missing")?;
    expect_not_found("stat of a missing key", driver.stat(&missing))?;
    expect_not_found(
        "read of a missing key",
        driver.read(&missing, 0, &mut [0u8; 8]),
    )
}

/// A second write replaces the first, including a shorter one.
pub fn overwrite(driver: &dyn StorageDriver, prefix: &str) -> CheckResult {
    let k = key(prefix, "over")?;
    put(driver, &k, &pattern(4, 0, 5000))?;
    let second = pattern(5, 0, 300);
    put(driver, &k, &second)?;
    let back = read_all(driver, &k)?;
    let size = driver.stat(&k).map_err(|e| format!("stat: {e}"))?.size;
    cleanup(driver, &[k]);
    ensure(back == second && size == 300, || {
        format!("after overwrite: {} bytes read, stat {size}", back.len())
    })
}

/// Keys with non-ASCII characters and spaces store and list as themselves.
pub fn unicode_and_space_keys(driver: &dyn StorageDriver, prefix: &str) -> CheckResult {
    let names = ["ünïcødé/ключ 鍵.txt", "with space/a b+c%20d.txt"];
    let mut keys = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let k = key(prefix, name)?;
        let data = pattern(6 + i as u64, 0, 100);
        put(driver, &k, &data)?;
        let back = read_all(driver, &k)?;
        ensure(back == data, || {
            format!("{name:?} read back different bytes")
        })?;
        keys.push(k);
    }
    cleanup(driver, &keys);
    Ok(())
}

const MIB: usize = 1 << 20;

/// A 32 MiB object written through `begin_write` in 1 MiB pieces reads back intact.
pub fn streamed_write_32mib(driver: &dyn StorageDriver, prefix: &str) -> CheckResult {
    let k = key(prefix, "big.bin")?;
    let total = 32 * MIB;
    let mut writer = driver
        .begin_write(&k)
        .map_err(|e| format!("begin_write: {e}"))?;
    for piece in 0..32 {
        let chunk = pattern(7, (piece * MIB) as u64, MIB);
        writer
            .write(&chunk)
            .map_err(|e| format!("write piece {piece}: {e}"))?;
    }
    writer.commit().map_err(|e| format!("commit: {e}"))?;
    let result = (|| {
        let size = driver.stat(&k).map_err(|e| format!("stat: {e}"))?.size;
        ensure(size == total as u64, || {
            format!("stat says {size}, wrote {total}")
        })?;
        let mut offset = 0;
        while offset < total {
            let got = read_range(driver, &k, offset as u64, 4 * MIB)?;
            ensure(got == pattern(7, offset as u64, 4 * MIB), || {
                format!("bytes at {offset} differ")
            })?;
            offset += got.len();
        }
        Ok(())
    })();
    cleanup(driver, &[k]);
    result
}

/// An aborted or dropped write leaves nothing new visible, and keeps an older object.
pub fn abort_leaves_nothing(driver: &dyn StorageDriver, prefix: &str) -> CheckResult {
    let fresh = key(prefix, "aborted")?;
    let mut writer = driver
        .begin_write(&fresh)
        .map_err(|e| format!("begin_write: {e}"))?;
    writer
        .write(&pattern(8, 0, 10_000))
        .map_err(|e| format!("write: {e}"))?;
    writer.abort().map_err(|e| format!("abort: {e}"))?;
    expect_not_found("stat after abort", driver.stat(&fresh))?;

    let dropped = key(prefix, "dropped")?;
    let mut writer = driver
        .begin_write(&dropped)
        .map_err(|e| format!("begin_write: {e}"))?;
    writer
        .write(&pattern(9, 0, 10_000))
        .map_err(|e| format!("write: {e}"))?;
    drop(writer);
    expect_not_found(
        "stat after dropping an uncommitted writer",
        driver.stat(&dropped),
    )?;

    let existing = key(prefix, "kept")?;
    let original = pattern(10, 0, 777);
    put(driver, &existing, &original)?;
    let mut writer = driver
        .begin_write(&existing)
        .map_err(|e| format!("begin_write: {e}"))?;
    writer
        .write(&pattern(11, 0, 5000))
        .map_err(|e| format!("write: {e}"))?;
    writer.abort().map_err(|e| format!("abort: {e}"))?;
    let back = read_all(driver, &existing)?;
    cleanup(driver, &[existing]);
    ensure(back == original, || {
        "an aborted overwrite changed the existing object".into()
    })
}

/// Eight threads streaming distinct keys at once all land intact.
pub fn concurrent_writers(driver: &dyn StorageDriver, prefix: &str) -> CheckResult {
    let keys: Vec<Key> = (0..8)
        .map(|i| key(prefix, &format!("c{i}")))
        .collect::<Result<_, _>>()?;
    let results: Vec<CheckResult> = std::thread::scope(|s| {
        let handles: Vec<_> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| {
                s.spawn(move || {
                    let mut w = driver
                        .begin_write(k)
                        .map_err(|e| format!("begin_write {k}: {e}"))?;
                    for piece in 0..4u64 {
                        w.write(&pattern(20 + i as u64, piece * 262_144, 262_144))
                            .map_err(|e| format!("write {k}: {e}"))?;
                    }
                    w.commit().map_err(|e| format!("commit {k}: {e}"))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("writer thread panicked".into()))
            })
            .collect()
    });
    results.into_iter().collect::<CheckResult>()?;
    for (i, k) in keys.iter().enumerate() {
        let back = read_all(driver, k)?;
        ensure(back == pattern(20 + i as u64, 0, MIB), || {
            format!("{k} holds wrong bytes after concurrent writes")
        })?;
    }
    cleanup(driver, &keys);
    Ok(())
}

/// After `delete`, `stat`, `read` and a second `delete` all say `NotFound`.
pub fn delete_then_not_found(driver: &dyn StorageDriver, prefix: &str) -> CheckResult {
    let k = key(prefix, "doomed")?;
    put(driver, &k, b"bye")?;
    driver.delete(&k).map_err(|e| format!("delete: {e}"))?;
    expect_not_found("stat after delete", driver.stat(&k))?;
    expect_not_found("read after delete", driver.read(&k, 0, &mut [0u8; 8]))?;
    expect_not_found("second delete", driver.delete(&k))
}

/// 1,100 keys list exactly once each across pages of 250, in a stable order, and a
/// sibling prefix stays out.
pub fn list_prefix_and_paging(driver: &dyn StorageDriver, prefix: &str) -> CheckResult {
    let inside = format!("{prefix}in/");
    let mut written: Vec<Key> = Vec::new();
    for i in 0..1100 {
        let k = key(&inside, &format!("k{i:05}"))?;
        put(driver, &k, &[i as u8; 3])?;
        written.push(k);
    }
    let sibling = key(prefix, "inside-not/x")?;
    put(driver, &sibling, b"x")?;
    let list_all = || -> Result<Vec<(String, u64)>, String> {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..100 {
            let page = driver
                .list(&inside, cursor.as_deref(), 250)
                .map_err(|e| format!("list: {e}"))?;
            ensure(page.entries.len() <= 250, || {
                format!(
                    "page of {} entries exceeds the limit 250",
                    page.entries.len()
                )
            })?;
            seen.extend(page.entries.into_iter().map(|e| (e.key, e.size)));
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => return Ok(seen),
            }
        }
        Err("listing did not end after 100 pages".into())
    };
    let first = list_all()?;
    let second = list_all()?;
    written.push(sibling);
    cleanup(driver, &written);
    written.pop();
    ensure(first == second, || {
        "two listings returned different orders".into()
    })?;
    let mut keys: Vec<&str> = first.iter().map(|(k, _)| k.as_str()).collect();
    ensure(first.iter().all(|(_, size)| *size == 3), || {
        "listed sizes are wrong".into()
    })?;
    keys.sort_unstable();
    let before = keys.len();
    keys.dedup();
    ensure(keys.len() == before, || {
        format!("{} duplicate entries", before - keys.len())
    })?;
    let mut expected: Vec<&str> = written.iter().map(Key::as_str).collect();
    expected.sort_unstable();
    ensure(keys == expected, || {
        format!(
            "listed {} keys under {inside}, expected {}",
            keys.len(),
            expected.len()
        )
    })
}
