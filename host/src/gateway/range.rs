//! The conditional and range headers of RFC 9110: `Range` (one range only),
//! `If-None-Match` and `If-Range`, against an object's strong ETag.

/// What a `Range` header asks of an object of a given size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RangeRequest {
    /// No usable range: send the whole object with 200. Covers a missing header, a
    /// malformed one and several ranges (which a server may ignore, RFC 9110 §14.2).
    Full,
    /// Send bytes `start..end` (end exclusive) with 206.
    Partial {
        /// First byte.
        start: u64,
        /// One past the last byte.
        end: u64,
    },
    /// The range lies past the end: 416.
    Unsatisfiable,
}

/// Parses a `Range` header value against an object of `size` bytes.
pub(crate) fn parse_range(header: Option<&str>, size: u64) -> RangeRequest {
    let Some(spec) = header.and_then(|h| strip_prefix_ignore_case(h.trim(), "bytes=")) else {
        return RangeRequest::Full;
    };
    if spec.contains(',') {
        return RangeRequest::Full;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeRequest::Full;
    };
    let number = |s: &str| -> Option<u64> {
        let s = s.trim();
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok())?
    };
    match (first.trim().is_empty(), last.trim().is_empty()) {
        // `bytes=-N`: the last N bytes.
        (true, false) => match number(last) {
            // An empty object has no last bytes to send (RFC 9110 §14.1.1).
            Some(0) => RangeRequest::Unsatisfiable,
            Some(_) if size == 0 => RangeRequest::Unsatisfiable,
            Some(n) => RangeRequest::Partial {
                start: size - n.min(size),
                end: size,
            },
            None => RangeRequest::Full,
        },
        // `bytes=A-`: from A to the end.
        (false, true) => match number(first) {
            Some(start) if start < size => RangeRequest::Partial { start, end: size },
            Some(_) => RangeRequest::Unsatisfiable,
            None => RangeRequest::Full,
        },
        // `bytes=A-B`: inclusive; B past the end is cut to the end.
        (false, false) => match (number(first), number(last)) {
            (Some(start), Some(last)) if start > last => RangeRequest::Full,
            (Some(start), Some(_)) if start >= size => RangeRequest::Unsatisfiable,
            (Some(start), Some(last)) => RangeRequest::Partial {
                start,
                end: last.saturating_add(1).min(size),
            },
            _ => RangeRequest::Full,
        },
        (true, true) => RangeRequest::Full,
    }
}

/// Whether an `If-None-Match` header matches `etag` (a quoted strong ETag): `*`, or any
/// listed tag equal to it under the weak comparison RFC 9110 §13.1.2 prescribes.
pub(crate) fn none_match(header: &str, etag: &str) -> bool {
    header
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

/// Whether an `If-Range` header lets the range apply: only an identical strong ETag
/// does (a date or a weak tag means "send it all").
pub(crate) fn if_range_holds(header: &str, etag: &str) -> bool {
    header.trim() == etag
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::RangeRequest::{Full, Partial, Unsatisfiable};
    use super::*;

    #[test]
    fn single_ranges_at_the_edges() {
        let r = |h: &str| parse_range(Some(h), 100);
        assert_eq!(r("bytes=0-0"), Partial { start: 0, end: 1 });
        assert_eq!(
            r("bytes=99-99"),
            Partial {
                start: 99,
                end: 100
            }
        );
        assert_eq!(
            r("bytes=99-"),
            Partial {
                start: 99,
                end: 100
            }
        );
        assert_eq!(r("bytes=0-"), Partial { start: 0, end: 100 });
        assert_eq!(
            r("bytes=10-1000"),
            Partial {
                start: 10,
                end: 100
            }
        );
        assert_eq!(
            r("bytes=-1"),
            Partial {
                start: 99,
                end: 100
            }
        );
        assert_eq!(r("bytes=-100"), Partial { start: 0, end: 100 });
        assert_eq!(r("bytes=-500"), Partial { start: 0, end: 100 });
        assert_eq!(r("Bytes= 5 - 9"), Partial { start: 5, end: 10 });
        assert_eq!(r("bytes=18446744073709551615-"), Unsatisfiable);
        assert_eq!(
            r("bytes=0-18446744073709551615"),
            Partial { start: 0, end: 100 }
        );
    }

    #[test]
    fn past_the_end_is_unsatisfiable() {
        let r = |h: &str| parse_range(Some(h), 100);
        assert_eq!(r("bytes=100-"), Unsatisfiable);
        assert_eq!(r("bytes=100-200"), Unsatisfiable);
        assert_eq!(r("bytes=-0"), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=0-"), 0), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=-5"), 0), Unsatisfiable);
    }

    #[test]
    fn malformed_or_multiple_ranges_mean_the_whole_object() {
        let r = |h: &str| parse_range(Some(h), 100);
        for h in [
            "items=0-1",
            "bytes=",
            "bytes=-",
            "bytes=a-b",
            "bytes=5-1",
            "bytes=0-1,5-6",
            "bytes=1",
            "bytes=+1-2",
        ] {
            assert_eq!(r(h), Full, "{h}");
        }
        assert_eq!(parse_range(None, 100), Full);
    }

    #[test]
    fn etag_conditions() {
        let etag = "\"abc\"";
        assert!(none_match("\"abc\"", etag));
        assert!(none_match("\"x\", W/\"abc\"", etag));
        assert!(none_match("*", etag));
        assert!(!none_match("\"abd\"", etag));
        assert!(!none_match("abc", etag));
        assert!(if_range_holds(" \"abc\" ", etag));
        assert!(!if_range_holds("W/\"abc\"", etag));
        assert!(!if_range_holds("Tue, 15 Nov 1994 08:12:31 GMT", etag));
    }
}
