//! `file://` URLs: built for `public_url`, parsed for `open_url`.
//!
//! Hand-written rather than pulling in a URL crate: the driver only needs absolute
//! local paths, percent-encoded byte by byte (RFC 8089, RFC 3986).

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use mirra_driver_api::{DriverError, DriverResult};

/// `file://` followed by the absolute `path`, every byte other than unreserved
/// characters and `/` percent-encoded (spaces, `%`, `#`, `?`, non-ASCII...).
pub(crate) fn from_path(path: &Path) -> String {
    let mut url = String::from("file://");
    for &byte in path.as_os_str().as_bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            url.push(byte as char);
        } else {
            url.push_str(&format!("%{byte:02X}"));
        }
    }
    url
}

/// The absolute directory a `file:///dir` (or `file://localhost/dir`) URL names.
///
/// # Errors
/// `InvalidInput` for another scheme, a remote host, a query or fragment, a relative
/// path, a bad percent escape, or an encoded NUL.
pub(crate) fn to_path(url: &str) -> DriverResult<PathBuf> {
    let bad = |why: &str| DriverError::invalid_input(format!("{url:?}: {why}"));
    let scheme_len = "file://".len();
    if url.len() < scheme_len || !url[..scheme_len].eq_ignore_ascii_case("file://") {
        return Err(bad("not a file:// URL"));
    }
    let rest = &url[scheme_len..];
    if rest.contains(['?', '#']) {
        return Err(bad("a file:// URL for mirra takes no query or fragment"));
    }
    let path = match rest.find('/') {
        Some(0) => rest,
        Some(at) if rest[..at].eq_ignore_ascii_case("localhost") => &rest[at..],
        _ => return Err(bad("only local paths (file:///dir) can be opened")),
    };
    let bytes = percent_decode(path.as_bytes()).ok_or_else(|| bad("bad percent escape"))?;
    if bytes.contains(&0) {
        return Err(bad("the path contains NUL"));
    }
    Ok(PathBuf::from(OsString::from_vec(bytes)))
}

fn percent_decode(input: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] == b'%' {
            let hex = input.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(input[i]);
            i += 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mirra_driver_api::ErrorKind;

    #[test]
    fn paths_round_trip_through_urls() {
        let path = Path::new("/srv/my data/ünï#1?%.txt");
        let url = from_path(path);
        assert_eq!(url, "file:///srv/my%20data/%C3%BCn%C3%AF%231%3F%25.txt");
        assert_eq!(to_path(&url).unwrap(), path);
        assert_eq!(
            to_path("file://localhost/srv/x").unwrap(),
            Path::new("/srv/x")
        );
        assert_eq!(to_path("FILE:///srv").unwrap(), Path::new("/srv"));
    }

    #[test]
    fn refuses_urls_that_are_not_local_paths() {
        for url in [
            "http://example.com/x",
            "file://example.com/x",
            "file://",
            "file:relative",
            "file:///x?y=1",
            "file:///x#frag",
            "file:///x%2",
            "file:///x%zz",
            "file:///x%00y",
        ] {
            let err = to_path(url).unwrap_err();
            assert_eq!(err.kind, ErrorKind::InvalidInput, "{url}");
        }
    }
}
