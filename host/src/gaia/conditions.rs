//! `If-Match` / `If-None-Match` on a store, as Gaia reads them, turned into the store's
//! [`WriteCondition`]. The ETag is the quoted SHA-256 the read gateway sends, so the
//! value an app got from a store reply or a read is the value it sends back.

use crate::store::WriteCondition;

/// The ETag of an object with this SHA-256 (lowercase hex): the same string in store
/// replies, on reads and in `If-Match`.
pub fn etag_of(sha256_hex: &str) -> String {
    format!("\"{sha256_hex}\"")
}

/// The condition for a store with these header values, or why it fails at once (412):
/// both headers given, an `If-None-Match` other than `*`, or an `If-Match` that no
/// stored ETag can equal.
pub fn condition(
    if_match: Option<&str>,
    if_none_match: Option<&str>,
) -> Result<WriteCondition, String> {
    match (if_match.map(str::trim), if_none_match.map(str::trim)) {
        (Some(_), Some(_)) => Err("If-Match and If-None-Match cannot both be given".into()),
        (None, Some("*")) => Ok(WriteCondition::IfAbsent),
        (None, Some(other)) => Err(format!("If-None-Match must be `*`, not {other:?}")),
        (Some("*") | None, None) => Ok(WriteCondition::Always),
        (Some(etag), None) => match sha256_in(etag) {
            Some(hex) => Ok(WriteCondition::IfSha256(hex.to_owned())),
            None => Err(format!("If-Match {etag:?} is not the file's ETag")),
        },
    }
}

/// The hex inside an ETag this hub hands out, compared as a string: exactly a quoted,
/// 64-digit lowercase hex SHA-256.
fn sha256_in(etag: &str) -> Option<&str> {
    let hex = etag.strip_prefix('"')?.strip_suffix('"')?;
    let valid = hex.len() == 64
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    valid.then_some(hex)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_become_store_conditions() {
        let hex = "ab".repeat(32);
        let etag = etag_of(&hex);
        assert_eq!(condition(None, None), Ok(WriteCondition::Always));
        assert_eq!(condition(Some("*"), None), Ok(WriteCondition::Always));
        assert_eq!(condition(None, Some("*")), Ok(WriteCondition::IfAbsent));
        assert_eq!(
            condition(Some(&etag), None),
            Ok(WriteCondition::IfSha256(hex.clone()))
        );
        for (m, n) in [
            (Some(etag.as_str()), Some("*")),
            (None, Some(etag.as_str())),
            (Some(hex.as_str()), None),
            (Some("\"AB\""), None),
            (Some("W/\"x\""), None),
        ] {
            assert!(condition(m, n).is_err(), "{m:?} {n:?}");
        }
    }
}
