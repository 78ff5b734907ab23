//! Maps transport errors and HTTP statuses to the kinds the host acts on.

use mirra_driver_api::{DriverError, ErrorKind};
use reqwest::StatusCode;

/// An error for a request that got no usable response (`op` is e.g. `"GET"`).
pub(crate) fn transport_error(e: reqwest::Error, op: &str, key: &str) -> DriverError {
    // Refused, reset, timed out, DNS: all transient for the host's failover.
    let kind = if e.is_timeout() || e.is_connect() || e.is_request() || e.is_body() {
        ErrorKind::Unavailable
    } else {
        ErrorKind::Other
    };
    // The URL is left out: a base URL could carry a token in its path.
    let e = e.without_url();
    let mut message = format!("http {op} {key}: {e}");
    let mut source = std::error::Error::source(&e);
    while let Some(inner) = source {
        message.push_str(": ");
        message.push_str(&inner.to_string());
        source = inner.source();
    }
    if let Some(refused) = crate::address_guard::refusal(&message) {
        return refused;
    }
    DriverError::new(kind, message)
}

/// An error for a response with a failing `status`.
pub(crate) fn status_error(status: StatusCode, op: &str, key: &str) -> DriverError {
    let kind = match status.as_u16() {
        404 | 410 => return DriverError::not_found(key),
        401 | 403 => ErrorKind::PermissionDenied,
        405 | 501 => ErrorKind::Unsupported,
        409 | 412 | 423 => ErrorKind::Conflict,
        408 | 429 => ErrorKind::Unavailable,
        s if s >= 500 => ErrorKind::Unavailable,
        400 | 413 | 414 | 416 => ErrorKind::InvalidInput,
        _ => ErrorKind::Other,
    };
    DriverError::new(kind, format!("http {op} {key}: server answered {status}"))
}

/// An I/O error while reading a response body or a spool file.
pub(crate) fn io_error(e: std::io::Error, op: &str, key: &str) -> DriverError {
    // A body cut off mid-read is the server going away: transient.
    DriverError::unavailable(format!("http {op} {key}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        let kind = |s: u16| status_error(StatusCode::from_u16(s).unwrap(), "GET", "k").kind;
        assert_eq!(kind(404), ErrorKind::NotFound);
        assert_eq!(kind(403), ErrorKind::PermissionDenied);
        assert_eq!(kind(401), ErrorKind::PermissionDenied);
        assert_eq!(kind(503), ErrorKind::Unavailable);
        assert_eq!(kind(500), ErrorKind::Unavailable);
        assert_eq!(kind(405), ErrorKind::Unsupported);
        assert_eq!(kind(409), ErrorKind::Conflict);
        assert!(status_error(StatusCode::BAD_GATEWAY, "GET", "k").retryable);
    }
}
