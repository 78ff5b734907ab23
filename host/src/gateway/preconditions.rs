//! `If-Match` / `If-None-Match` on PUT and DELETE, turned into the store's write condition
//! so the check happens under the key's write lock, atomically with the write.

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use mirra_driver_api::Key;

use super::responses::{error, store_error};
use crate::store::{Store, StoreError, WriteCondition};

/// The write condition the request's headers ask for, or the response refusing it.
///
/// A single strong ETag becomes [`WriteCondition::IfSha256`]. `If-Match: *` or a list of
/// tags is resolved against the current version first and then pinned to its hash, so
/// the write still fails if that version changes before it commits (stricter than the
/// header, never looser). Weak tags never match (RFC 9110 uses strong comparison).
pub(super) async fn write_condition(
    store: &Store,
    key: &Key,
    headers: &HeaderMap,
) -> Result<WriteCondition, Response> {
    let text = |name: header::HeaderName| match headers.get(&name) {
        None => Ok(None),
        Some(value) => value
            .to_str()
            .map(|v| Some(v.trim().to_owned()))
            .map_err(|_| format!("{name} is not ASCII")),
    };
    let bad_request = |message: String| error(StatusCode::BAD_REQUEST, message);
    let if_match = text(header::IF_MATCH).map_err(bad_request)?;
    let if_none_match = text(header::IF_NONE_MATCH).map_err(bad_request)?;
    match (if_match, if_none_match) {
        (Some(_), Some(_)) => Err(error(
            StatusCode::BAD_REQUEST,
            "give If-Match or If-None-Match, not both",
        )),
        (None, None) => Ok(WriteCondition::Always),
        (None, Some(tags)) if tags == "*" => Ok(WriteCondition::IfAbsent),
        (None, Some(_)) => Err(error(
            StatusCode::BAD_REQUEST,
            "If-None-Match on a write takes only \"*\" (write only if the key does not exist)",
        )),
        (Some(tags), None) => {
            let wanted: Vec<&str> = tags.split(',').map(str::trim).collect();
            if let [tag] = wanted.as_slice() {
                if let Some(sha) = strong_sha256(tag) {
                    return Ok(WriteCondition::IfSha256(sha));
                }
            }
            let current = match store.head(key).await {
                Ok(head) => head.sha256_hex(),
                Err(StoreError::Deleted { .. }) => return Err(not_met(key, "no live version")),
                Err(StoreError::NoValidCopy { .. }) => return Err(not_met(key, "no live version")),
                Err(e) => return Err(store_error(e)),
            };
            let matches = wanted
                .iter()
                .any(|tag| *tag == "*" || strong_sha256(tag).as_deref() == Some(&current));
            match matches {
                true => Ok(WriteCondition::IfSha256(current)),
                false => Err(not_met(key, "no tag matches the current version")),
            }
        }
    }
}

fn not_met(key: &Key, reason: &str) -> Response {
    store_error(StoreError::PreconditionFailed {
        key: key.to_string(),
        reason: reason.to_owned(),
    })
}

/// The lowercase hex SHA-256 of a strong ETag `"<64 hex>"`; `None` for anything else.
fn strong_sha256(tag: &str) -> Option<String> {
    let inner = tag.strip_prefix('"')?.strip_suffix('"')?;
    (inner.len() == 64 && inner.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| inner.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::strong_sha256;

    #[test]
    fn only_quoted_hashes_are_strong_tags() {
        let hex = "0f".repeat(32);
        assert_eq!(strong_sha256(&format!("\"{hex}\"")), Some(hex.clone()));
        assert_eq!(strong_sha256(&format!("W/\"{hex}\"")), None);
        assert_eq!(strong_sha256(&hex), None);
        assert_eq!(strong_sha256("\"abc\""), None);
    }
}
