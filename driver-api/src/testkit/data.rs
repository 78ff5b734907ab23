//! Checks of plain reads and writes: round trips, sizes, ranges, keys, delete, listing.

use super::{
    cleanup, ensure, expect_not_found, key, pattern, put, read_all, read_range, CheckResult, Ctx,
};
use crate::{Capabilities, ErrorKind, Key};

pub(crate) fn round_trip(ctx: &Ctx) -> CheckResult {
    let k = ctx.key("hello.txt")?;
    let data = pattern(1, 0, ctx.size(4096 + 17));
    put(ctx.driver, &k, &data)?;
    let back = read_all(ctx.driver, &k)?;
    cleanup(ctx.driver, &[k]);
    ensure(back == data, || {
        format!(
            "read back {} bytes that differ from the {} written",
            back.len(),
            data.len()
        )
    })
}

pub(crate) fn empty_object(ctx: &Ctx) -> CheckResult {
    let k = ctx.key("empty")?;
    if !ctx.limits.empty_objects {
        // The store says it cannot hold one: it must refuse it plainly, and keep nothing.
        return match ctx.driver.put(&k, &[]) {
            Err(e) if e.kind == ErrorKind::InvalidInput => {
                expect_not_found("stat after a refused empty put", ctx.driver.stat(&k))
            }
            Err(e) => Err(format!("an empty put: expected InvalidInput, got {e}")),
            Ok(()) => Err("an empty put succeeded on a store declared unable to hold one".into()),
        };
    }
    put(ctx.driver, &k, &[])?;
    let size = ctx.driver.stat(&k).map_err(|e| format!("stat: {e}"))?.size;
    let back = read_all(ctx.driver, &k)?;
    cleanup(ctx.driver, &[k]);
    ensure(size == 0, || format!("stat says {size} bytes"))?;
    ensure(back.is_empty(), || {
        format!("read returned {} bytes", back.len())
    })
}

pub(crate) fn range_reads(ctx: &Ctx) -> CheckResult {
    let k = ctx.key("ranges.bin")?;
    let len = ctx.size(100_000);
    let data = pattern(2, 0, len);
    put(ctx.driver, &k, &data)?;
    let result = (|| {
        // Start, middle, last byte, and a range that runs past the end.
        let cases = [
            (0usize, 10usize),
            (len * 2 / 5, len / 8),
            (len - 1, 1),
            (len - len.min(10), 50),
        ];
        for (offset, want) in cases {
            let got = read_range(ctx.driver, &k, offset as u64, want)?;
            let end = (offset + want).min(len);
            ensure(got == data[offset..end], || {
                format!(
                    "range {offset}+{want} returned wrong bytes ({} bytes)",
                    got.len()
                )
            })?;
        }
        for offset in [len as u64, 1 << 40] {
            let n = ctx
                .driver
                .read(&k, offset, &mut [0u8; 16])
                .map_err(|e| format!("read past the end at {offset}: {e}"))?;
            ensure(n == 0, || {
                format!("read at {offset} past the end returned {n} bytes")
            })?;
        }
        Ok(())
    })();
    cleanup(ctx.driver, &[k]);
    result
}

pub(crate) fn stat_sizes(ctx: &Ctx) -> CheckResult {
    let mut keys = Vec::new();
    let mut sizes: Vec<usize> = [1usize, 1000, 65_537].map(|s| ctx.size(s)).to_vec();
    sizes.dedup();
    for size in sizes {
        let k = ctx.key(&format!("size-{size}"))?;
        put(ctx.driver, &k, &pattern(3, 0, size))?;
        let got = ctx.driver.stat(&k).map_err(|e| format!("stat: {e}"))?.size;
        keys.push(k);
        ensure(got == size as u64, || {
            format!("stat of a {size}-byte object says {got}")
        })?;
    }
    cleanup(ctx.driver, &keys);
    let missing = ctx.key("missing")?;
    expect_not_found("stat of a missing key", ctx.driver.stat(&missing))?;
    expect_not_found(
        "read of a missing key",
        ctx.driver.read(&missing, 0, &mut [0u8; 8]),
    )
}

pub(crate) fn overwrite(ctx: &Ctx) -> CheckResult {
    let k = ctx.key("over")?;
    put(ctx.driver, &k, &pattern(4, 0, ctx.size(5000)))?;
    let short = ctx.size(5000) * 3 / 50;
    let second = pattern(5, 0, short.max(1));
    put(ctx.driver, &k, &second)?;
    let back = read_all(ctx.driver, &k)?;
    let size = ctx.driver.stat(&k).map_err(|e| format!("stat: {e}"))?.size;
    cleanup(ctx.driver, &[k]);
    ensure(back == second && size == second.len() as u64, || {
        format!(
            "after overwrite with {} bytes: {} bytes read, stat {size}",
            second.len(),
            back.len()
        )
    })
}

pub(crate) fn unicode_and_space_keys(ctx: &Ctx) -> CheckResult {
    let names = ["ünïcødé/ключ 鍵.txt", "with space/a b+c%20d.txt"];
    let mut keys = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let k = ctx.key(name)?;
        let data = pattern(6 + i as u64, 0, ctx.size(100));
        put(ctx.driver, &k, &data)?;
        let back = read_all(ctx.driver, &k)?;
        keys.push(k);
        ensure(back == data, || {
            format!("{name:?} read back different bytes")
        })?;
    }
    cleanup(ctx.driver, &keys);
    Ok(())
}

pub(crate) fn host_keys(ctx: &Ctx) -> CheckResult {
    // The host keeps manifests under `.mirra/manifests/<key>.json` and lists `.mirra/`.
    let base = format!(".mirra/manifests/{}", ctx.prefix);
    let names = ["photo.jpg.json", "dir/.hidden.json", "a.b.c/d..e.json"];
    let mut keys = Vec::new();
    let mut result = Ok(());
    for (i, name) in names.iter().enumerate() {
        let k = key(&base, name)?;
        let data = pattern(30 + i as u64, 0, ctx.size(300));
        put(ctx.driver, &k, &data)?;
        let back = read_all(ctx.driver, &k)?;
        keys.push(k.clone());
        if back != data {
            result = Err(format!("{k} read back different bytes"));
            break;
        }
    }
    if result.is_ok() && ctx.can(Capabilities::LIST) {
        result = listed_under(ctx, ".mirra/", &keys);
    }
    cleanup(ctx.driver, &keys);
    result
}

/// Every one of `keys` appears when listing `prefix` page by page.
fn listed_under(ctx: &Ctx, prefix: &str, keys: &[Key]) -> CheckResult {
    let mut missing: Vec<&str> = keys.iter().map(Key::as_str).collect();
    let mut cursor: Option<String> = None;
    for _ in 0..10_000 {
        let page = ctx
            .driver
            .list(prefix, cursor.as_deref(), 1000)
            .map_err(|e| format!("list {prefix:?}: {e}"))?;
        missing.retain(|k| !page.entries.iter().any(|e| e.key == *k));
        match page.next_cursor {
            Some(next) if !missing.is_empty() => cursor = Some(next),
            _ => break,
        }
    }
    ensure(missing.is_empty(), || {
        format!("listing {prefix:?} left out {missing:?}")
    })
}

pub(crate) fn delete_then_not_found(ctx: &Ctx) -> CheckResult {
    let k = ctx.key("doomed")?;
    put(ctx.driver, &k, b"bye")?;
    ctx.driver.delete(&k).map_err(|e| format!("delete: {e}"))?;
    expect_not_found("stat after delete", ctx.driver.stat(&k))?;
    expect_not_found("read after delete", ctx.driver.read(&k, 0, &mut [0u8; 8]))?;
    expect_not_found("second delete", ctx.driver.delete(&k))
}

pub(crate) fn list_prefix_and_paging(ctx: &Ctx) -> CheckResult {
    let driver = ctx.driver;
    let inside = format!("{}in/", ctx.prefix);
    let mut written: Vec<Key> = Vec::new();
    for i in 0..1100 {
        let k = key(&inside, &format!("k{i:05}"))?;
        put(driver, &k, &[i as u8; 3])?;
        written.push(k);
    }
    let sibling = ctx.key("inside-not/x")?;
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
    let first = list_all();
    let second = list_all();
    written.push(sibling);
    cleanup(driver, &written);
    written.pop();
    let (first, second) = (first?, second?);
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
