//! Checks of streamed writes: a large object, abort and drop, concurrent writers.

use super::{
    cleanup, ensure, expect_not_found, pattern, put, read_all, read_range, CheckResult, Ctx,
};
use crate::{Capabilities, Key};

const MIB: usize = 1 << 20;

pub(crate) fn streamed_write_32mib(ctx: &Ctx) -> CheckResult {
    let k = ctx.key("big.bin")?;
    let total = ctx.size(32 * MIB);
    let piece_len = ctx.size(MIB);
    let mut writer = ctx
        .driver
        .begin_write(&k)
        .map_err(|e| format!("begin_write: {e}"))?;
    let mut written = 0;
    while written < total {
        let len = piece_len.min(total - written);
        writer
            .write(&pattern(7, written as u64, len))
            .map_err(|e| format!("write at {written}: {e}"))?;
        written += len;
    }
    writer.commit().map_err(|e| format!("commit: {e}"))?;
    let result = (|| {
        let size = ctx.driver.stat(&k).map_err(|e| format!("stat: {e}"))?.size;
        ensure(size == total as u64, || {
            format!("stat says {size}, wrote {total}")
        })?;
        let mut offset = 0;
        while offset < total {
            let want = (4 * MIB).min(total - offset);
            let got = read_range(ctx.driver, &k, offset as u64, want)?;
            ensure(got == pattern(7, offset as u64, want), || {
                format!("bytes at {offset} differ")
            })?;
            offset += got.len();
        }
        Ok(())
    })();
    cleanup(ctx.driver, &[k]);
    result
}

pub(crate) fn abort_leaves_nothing(ctx: &Ctx) -> CheckResult {
    let size = ctx.size(10_000);
    let fresh = ctx.key("aborted")?;
    let mut writer = ctx
        .driver
        .begin_write(&fresh)
        .map_err(|e| format!("begin_write: {e}"))?;
    writer
        .write(&pattern(8, 0, size))
        .map_err(|e| format!("write: {e}"))?;
    writer.abort().map_err(|e| format!("abort: {e}"))?;
    expect_not_found("stat after abort", ctx.driver.stat(&fresh))?;

    let dropped = ctx.key("dropped")?;
    let mut writer = ctx
        .driver
        .begin_write(&dropped)
        .map_err(|e| format!("begin_write: {e}"))?;
    writer
        .write(&pattern(9, 0, size))
        .map_err(|e| format!("write: {e}"))?;
    drop(writer);
    expect_not_found(
        "stat after dropping an uncommitted writer",
        ctx.driver.stat(&dropped),
    )?;

    // No trace: no temporary object of either write shows in a listing.
    if ctx.can(Capabilities::LIST) {
        let page = ctx
            .driver
            .list(&ctx.prefix, None, 1000)
            .map_err(|e| format!("list after abort: {e}"))?;
        ensure(page.entries.is_empty(), || {
            let keys: Vec<&str> = page.entries.iter().map(|e| e.key.as_str()).collect();
            format!("aborted and dropped writes left {keys:?} in the listing")
        })?;
    }

    let existing = ctx.key("kept")?;
    let original = pattern(10, 0, ctx.size(777));
    put(ctx.driver, &existing, &original)?;
    let mut writer = ctx
        .driver
        .begin_write(&existing)
        .map_err(|e| format!("begin_write: {e}"))?;
    writer
        .write(&pattern(11, 0, ctx.size(5000)))
        .map_err(|e| format!("write: {e}"))?;
    writer.abort().map_err(|e| format!("abort: {e}"))?;
    let back = read_all(ctx.driver, &existing)?;
    cleanup(ctx.driver, &[existing]);
    ensure(back == original, || {
        "an aborted overwrite changed the existing object".into()
    })
}

pub(crate) fn unsynced_batch_then_flush(ctx: &Ctx) -> CheckResult {
    let keys = (0..16)
        .map(|i| ctx.key(&format!("batch/{i}")))
        .collect::<Result<Vec<_>, _>>()?;
    let objects: Vec<Vec<u8>> = (0..16u64)
        .map(|i| pattern(20 + i, 0, ctx.size(3000 + 500 * i as usize)))
        .collect();
    let result = (|| {
        // Written from several threads at once, as concurrent host writes do.
        let writers = std::thread::scope(|s| {
            let handles: Vec<_> = keys
                .iter()
                .zip(&objects)
                .map(|(k, data)| {
                    s.spawn(move || {
                        let mut writer = ctx
                            .driver
                            .begin_unsynced_write(k)
                            .map_err(|e| format!("begin_unsynced_write {k}: {e}"))?;
                        writer.write(data).map_err(|e| format!("write {k}: {e}"))?;
                        Ok::<_, String>(writer)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .map_err(|_| "a writer thread panicked".to_string())?
                })
                .collect::<Result<Vec<_>, String>>()
        })?;
        ctx.driver
            .flush()
            .map_err(|e| format!("flush before commit: {e}"))?;
        expect_not_found("stat before commit", ctx.driver.stat(&keys[0]))?;
        for (writer, k) in writers.into_iter().zip(&keys) {
            writer.commit().map_err(|e| format!("commit {k}: {e}"))?;
        }
        ctx.driver
            .flush()
            .map_err(|e| format!("flush after commit: {e}"))?;
        for (k, data) in keys.iter().zip(&objects) {
            let back = read_all(ctx.driver, k)?;
            ensure(back == *data, || format!("{k} read back different bytes"))?;
        }
        let mut writer = ctx
            .driver
            .begin_unsynced_write(&keys[0])
            .map_err(|e| format!("begin_unsynced_write: {e}"))?;
        writer
            .write(&pattern(99, 0, ctx.size(100)))
            .map_err(|e| format!("write: {e}"))?;
        writer.abort().map_err(|e| format!("abort: {e}"))?;
        ctx.driver
            .flush()
            .map_err(|e| format!("flush after abort: {e}"))?;
        ensure(read_all(ctx.driver, &keys[0])? == objects[0], || {
            "an aborted unsynced overwrite changed the existing object".into()
        })
    })();
    cleanup(ctx.driver, &keys);
    result
}

pub(crate) fn concurrent_writers(ctx: &Ctx) -> CheckResult {
    let driver = ctx.driver;
    // Four pieces that together fill the store's limit, or 1 MiB.
    let piece = (ctx.size(MIB) / 4).max(1);
    let keys: Vec<Key> = (0..8)
        .map(|i| ctx.key(&format!("c{i}")))
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
                    for p in 0..4u64 {
                        w.write(&pattern(20 + i as u64, p * piece as u64, piece))
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
    let result = (|| {
        results.into_iter().collect::<CheckResult>()?;
        for (i, k) in keys.iter().enumerate() {
            let back = read_all(driver, k)?;
            ensure(back == pattern(20 + i as u64, 0, 4 * piece), || {
                format!("{k} holds wrong bytes after concurrent writes")
            })?;
        }
        Ok(())
    })();
    cleanup(driver, &keys);
    result
}
