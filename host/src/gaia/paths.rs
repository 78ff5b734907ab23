//! Where a Gaia file lives in the owner's store: the key `<address>/<path>`, so the read
//! gateway's `GET /{address}/{path}` is the file's read URL. Paths are checked as Gaia
//! checks them (403 `BadPathError`) and then as any mirra key.

use mirra_driver_api::Key;
use percent_encoding::percent_decode_str;

use super::address::is_address_text;
use crate::user_key::parse_user_key;

/// Longest path accepted, in characters, as in Gaia.
const MAX_PATH_CHARS: usize = 4096;
/// Most `/`-separated segments in a path, as in Gaia.
const MAX_SEGMENTS: usize = 100;

/// Why a bucket address or file path is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadPath {
    /// The address is not letters and digits.
    #[error("invalid bucket address {0:?}: letters and digits only")]
    Address(String),
    /// The path breaks one of Gaia's rules or is not a valid mirra key.
    #[error("invalid path {path:?}: {reason}")]
    Path {
        /// The path as decoded.
        path: String,
        /// The rule it breaks.
        reason: String,
    },
}

/// Splits a route tail `"{address}/{path}"` (still percent-encoded) into the address
/// and the store key of the file.
pub fn file_key(tail: &str) -> Result<(String, Key), BadPath> {
    let (address, raw_path) = tail.split_once('/').unwrap_or((tail, ""));
    if !is_address_text(address) {
        return Err(BadPath::Address(address.to_owned()));
    }
    let path = percent_decode_str(raw_path)
        .decode_utf8()
        .map_err(|_| BadPath::Path {
            path: raw_path.to_owned(),
            reason: "not UTF-8 once percent-decoded".into(),
        })?
        .into_owned();
    let bad = |reason: &str| BadPath::Path {
        path: path.clone(),
        reason: reason.to_owned(),
    };
    if path.is_empty() {
        return Err(bad("empty"));
    }
    if path.chars().count() > MAX_PATH_CHARS {
        return Err(bad("longer than 4096 characters"));
    }
    if path.split('/').count() > MAX_SEGMENTS {
        return Err(bad("more than 100 segments"));
    }
    if path.contains("..") {
        return Err(bad("contains `..`"));
    }
    if path.ends_with('/') {
        return Err(bad("ends with `/`"));
    }
    let key = parse_user_key(&format!("{address}/{path}")).map_err(|e| bad(&e.to_string()))?;
    Ok((address.to_owned(), key))
}

/// The prefix under which every file of `address` lives.
pub fn bucket_prefix(address: &str) -> String {
    format!("{address}/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_map_to_address_slash_path() {
        let (address, key) = file_key("1Abc/photos/cat%20one.json").unwrap();
        assert_eq!(address, "1Abc");
        assert_eq!(key.as_str(), "1Abc/photos/cat one.json");
        assert_eq!(bucket_prefix("1Abc"), "1Abc/");
    }

    #[test]
    fn bad_paths_are_refused() {
        let deep = vec!["a"; 101].join("/");
        let long = "a".repeat(4097);
        for tail in [
            "1Abc/../x",
            "1Abc/a/%2e%2e/b",
            "1Abc/dir/",
            "1Abc/",
            "1Abc",
            "1Abc/a//b",
            "1Abc/a%00b",
            "1Abc/%ff",
            &format!("1Abc/{deep}"),
            &format!("1Abc/{long}"),
        ] {
            assert!(
                matches!(file_key(tail), Err(BadPath::Path { .. })),
                "{tail:.60} accepted"
            );
        }
        assert!(matches!(file_key("1A.b/x"), Err(BadPath::Address(_))));
        assert!(matches!(file_key("/x"), Err(BadPath::Address(_))));
    }
}
