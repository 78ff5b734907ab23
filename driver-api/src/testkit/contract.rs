//! Checks of the rest of the contract: health, atomic visibility, public URLs, and
//! read-only access opened from a URL.

use std::sync::atomic::{AtomicBool, Ordering};

use super::{cleanup, ensure, key, pattern, put, read_all, CheckResult, Ctx};
use crate::{ErrorKind, Key, StorageDriver};

pub(crate) fn health_answers(ctx: &Ctx) -> CheckResult {
    ctx.driver
        .health()
        .map_err(|e| format!("health of a reachable store: {e}"))
}

pub(crate) fn atomic_write_visibility(ctx: &Ctx) -> CheckResult {
    let k = ctx.key("atomic.bin")?;
    let old = pattern(40, 0, ctx.size(256 << 10));
    let new = pattern(41, 0, ctx.size(64 << 10));
    put(ctx.driver, &k, &old)?;
    let done = AtomicBool::new(false);
    let (writes, reads) = std::thread::scope(|s| {
        let writer = s.spawn(|| {
            let result =
                (0..20).try_for_each(|i| put(ctx.driver, &k, if i % 2 == 0 { &new } else { &old }));
            done.store(true, Ordering::Release);
            result
        });
        let reader = s.spawn(|| -> CheckResult {
            let mut buf = vec![0u8; old.len().max(new.len()) + 1];
            let (mut whole, mut failed) = (0, 0);
            while !done.load(Ordering::Acquire) || whole == 0 {
                let n = match ctx.driver.read(&k, 0, &mut buf) {
                    Ok(n) => n,
                    // Missing, even for a moment, is not atomic.
                    Err(e) if e.kind == ErrorKind::NotFound => {
                        return Err(format!("a read during overwrites found nothing: {e}"));
                    }
                    // An error is not wrong bytes (the host tries another provider), but
                    // it must not be all the kit ever sees.
                    Err(e) if failed >= 1000 => {
                        return Err(format!("every read during overwrites failed: {e}"));
                    }
                    Err(_) => {
                        failed += 1;
                        continue;
                    }
                };
                // A read may be short, but what it returns must be a prefix of one
                // whole version: never empty, never a mix.
                let got = &buf[..n];
                ensure(
                    n > 0 && (old.starts_with(got) || new.starts_with(got)),
                    || format!("a read during overwrites returned {n} bytes of neither version"),
                )?;
                whole += 1;
            }
            Ok(())
        });
        (
            writer
                .join()
                .unwrap_or_else(|_| Err("writer panicked".into())),
            reader
                .join()
                .unwrap_or_else(|_| Err("reader panicked".into())),
        )
    });
    cleanup(ctx.driver, &[k]);
    writes?;
    reads
}

pub(crate) fn public_url_shape(ctx: &Ctx) -> CheckResult {
    let a = ctx.key("public/a file.txt")?;
    let b = ctx.key("public/b.txt")?;
    let url_a = ctx
        .driver
        .public_url(&a)
        .map_err(|e| format!("public_url of a key that need not exist: {e}"))?;
    let url_b = ctx
        .driver
        .public_url(&b)
        .map_err(|e| format!("public_url: {e}"))?;
    for (k, url) in [(&a, &url_a), (&b, &url_b)] {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| format!("{url:?} is not an absolute URL"))?;
        ensure(
            !scheme.is_empty()
                && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)),
            || format!("{url:?} has no valid scheme"),
        )?;
        ensure(
            !rest.is_empty() && !url.chars().any(char::is_whitespace),
            || format!("{url:?} is empty after the scheme or holds whitespace"),
        )?;
        let last = k.as_str().rsplit('/').next().unwrap_or_default();
        ensure(percent_decode(url).contains(last), || {
            format!("{url:?} does not name the key {k}")
        })?;
    }
    ensure(url_a != url_b, || {
        format!("two keys share the public URL {url_a:?}")
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// An object written through `writer` reads back through `reader` (a driver opened
/// with `open_url` on the same store), and every write through `reader` is refused with
/// `PermissionDenied` or `Unsupported` and changes nothing.
///
/// `prefix` is where `reader` is rooted relative to `writer`'s keys: the kit writes
/// `<prefix><name>` through `writer` and reads `<name>` through `reader`.
pub fn open_url_is_read_only(
    writer: &dyn StorageDriver,
    reader: &dyn StorageDriver,
    prefix: &str,
) -> CheckResult {
    let name = "open-url/object.bin";
    let full = key(prefix, name)?;
    let seen = Key::parse(name).map_err(|e| e.to_string())?;
    let data = pattern(50, 0, 2000);
    put(writer, &full, &data)?;
    let result = (|| {
        let back = read_all(reader, &seen)?;
        ensure(back == data, || {
            "reading through open_url returned different bytes".into()
        })?;
        let refused = |what: &str, r: Result<(), crate::DriverError>| match r {
            Err(e) if matches!(e.kind, ErrorKind::PermissionDenied | ErrorKind::Unsupported) => {
                Ok(())
            }
            Err(e) => Err(format!(
                "{what} through open_url: expected PermissionDenied or Unsupported, got {e}"
            )),
            Ok(()) => Err(format!("{what} through open_url succeeded")),
        };
        refused("put", reader.put(&seen, b"overwritten"))?;
        refused("begin_write", reader.begin_write(&seen).map(drop))?;
        refused("delete", reader.delete(&seen))?;
        let after = read_all(writer, &full)?;
        ensure(after == data, || {
            "a refused write through open_url changed the object".into()
        })
    })();
    cleanup(writer, &[full]);
    result
}

#[cfg(test)]
mod tests {
    use super::percent_decode;

    #[test]
    fn percent_decoding_keeps_malformed_escapes() {
        assert_eq!(percent_decode("a%20b%2"), "a b%2");
        assert_eq!(percent_decode("%zz%41"), "%zzA");
    }
}
