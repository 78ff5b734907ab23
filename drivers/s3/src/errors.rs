//! Maps `object_store` errors to the kinds the host acts on.
//!
//! object_store already turns 404/403/401/409/412 into variants; everything else
//! (5xx, throttling, refused connections, timeouts) arrives as `Generic`, where the
//! transport error kind or the HTTP status is found by walking the source chain.

use std::error::Error as StdError;

use mirra_driver_api::{DriverError, ErrorKind};
use object_store::client::{HttpError, HttpErrorKind};
use object_store::Error as StoreError;

/// An error for operation `op` (e.g. `"get"`) on `key` (a mirra key, or a prefix).
pub(crate) fn map_error(err: StoreError, op: &str, key: &str) -> DriverError {
    let kind = match &err {
        StoreError::NotFound { .. } => return DriverError::not_found(key),
        StoreError::PermissionDenied { .. } | StoreError::Unauthenticated { .. } => {
            ErrorKind::PermissionDenied
        }
        StoreError::AlreadyExists { .. } | StoreError::Precondition { .. } => ErrorKind::Conflict,
        StoreError::NotSupported { .. } | StoreError::NotImplemented { .. } => {
            ErrorKind::Unsupported
        }
        StoreError::InvalidPath { .. } => ErrorKind::InvalidInput,
        other => classify_generic(other),
    };
    let message = format!("s3 {op} {key}: {}", one_line(&err));
    if let Some(refused) =
        crate::address_guard::refusal(&format!("s3 {op} {key}: {}", chain_text(&err)))
    {
        return refused;
    }
    DriverError::new(kind, message)
}

/// The HTTP status an error carries, if any (object_store reports it only in text).
pub(crate) fn http_status(err: &StoreError) -> Option<u16> {
    let text = chain_text(err);
    let at = text.find("status code: ")? + "status code: ".len();
    text.get(at..at + 3)?.parse().ok()
}

fn classify_generic(err: &StoreError) -> ErrorKind {
    let mut source: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(http) = e.downcast_ref::<HttpError>() {
            return match http.kind() {
                HttpErrorKind::Connect
                | HttpErrorKind::Request
                | HttpErrorKind::Timeout
                | HttpErrorKind::Interrupted => ErrorKind::Unavailable,
                _ => ErrorKind::Other,
            };
        }
        source = e.source();
    }
    match http_status(err) {
        Some(s) if s >= 500 || s == 429 || s == 408 => ErrorKind::Unavailable,
        Some(401 | 403) => ErrorKind::PermissionDenied,
        Some(404) => ErrorKind::NotFound,
        Some(400) | Some(416) => ErrorKind::InvalidInput,
        _ => ErrorKind::Other,
    }
}

/// Every message in the source chain, joined, for status parsing.
fn chain_text(err: &StoreError) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

/// The error as one line, bounded in length: S3 error bodies can be long XML.
fn one_line(err: &StoreError) -> String {
    let text: String = err
        .to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    const MAX: usize = 400;
    if text.len() <= MAX {
        return text;
    }
    let cut = (0..=MAX)
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    format!("{}…", &text[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generic(message: &str) -> StoreError {
        StoreError::Generic {
            store: "S3",
            source: message.to_owned().into(),
        }
    }

    #[test]
    fn kinds() {
        let nf = StoreError::NotFound {
            path: "p".into(),
            source: "x".into(),
        };
        assert_eq!(map_error(nf, "get", "k").kind, ErrorKind::NotFound);
        let denied = StoreError::PermissionDenied {
            path: "p".into(),
            source: "x".into(),
        };
        assert_eq!(
            map_error(denied, "get", "k").kind,
            ErrorKind::PermissionDenied
        );
        let busy = generic("Server returned non-2xx status code: 503 Service Unavailable: ");
        let e = map_error(busy, "get", "k");
        assert_eq!(e.kind, ErrorKind::Unavailable);
        assert!(e.retryable);
        let range = generic("Server returned non-2xx status code: 416 Range Not Satisfiable");
        assert_eq!(http_status(&range), Some(416));
        assert_eq!(
            map_error(generic("weird"), "get", "k").kind,
            ErrorKind::Other
        );
    }
}
