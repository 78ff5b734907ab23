//! Maps the mega crate's errors to the kinds the host acts on.
//!
//! MEGA answers with negative error codes (`ENOENT`, `EAGAIN`, ...); the crate retries
//! `EAGAIN` and transport failures itself and gives up with `MaxRetriesReached`, so
//! that, like throttling and timeouts, is transient. Messages carry the operation and
//! the key, never the session id or the password (the crate's messages hold neither).

use mega::{Error as MegaError, ErrorCode};
use mirra_driver_api::{DriverError, ErrorKind};

/// An error for operation `op` (e.g. `"download"`) on `subject` (a key or a folder).
pub(crate) fn map_error(err: &MegaError, op: &str, subject: &str) -> DriverError {
    let kind = kind_of(err);
    if kind == ErrorKind::NotFound {
        return DriverError::not_found(subject);
    }
    DriverError::new(kind, format!("mega {op} {subject}: {}", one_line(err)))
}

/// An error from logging in. MEGA answers a wrong email or password with `ENOENT`,
/// which here is a refused login, not a missing object.
pub(crate) fn map_login_error(err: &MegaError, email: &str) -> DriverError {
    match err {
        MegaError::MegaError {
            code: ErrorCode::ENOENT | ErrorCode::EKEY,
        }
        | MegaError::HmacMismatch { .. } => DriverError::new(
            ErrorKind::PermissionDenied,
            format!("mega login as {email}: refused (wrong email or password?)"),
        ),
        MegaError::MegaError {
            code: ErrorCode::EMFAREQUIRED,
        } => DriverError::new(
            ErrorKind::PermissionDenied,
            format!(
                "mega login as {email}: the account requires multi-factor authentication, \
                 which this driver cannot answer; use an account without it"
            ),
        ),
        other => map_error(other, "login as", email),
    }
}

/// The kind the host acts on for one of the crate's errors.
pub(crate) fn kind_of(err: &MegaError) -> ErrorKind {
    match err {
        MegaError::MegaError { code } => kind_of_code(*code),
        MegaError::NodeNotFound => ErrorKind::NotFound,
        MegaError::MissingUserSession => ErrorKind::PermissionDenied,
        // The crate gave up after its own retries of EAGAIN, timeouts and refused
        // connections: the service is not answering now.
        MegaError::MaxRetriesReached => ErrorKind::Unavailable,
        MegaError::ReqwestError { source } => {
            let status = source.status().map(|s| s.as_u16());
            if source.is_timeout()
                || source.is_connect()
                || source.is_request()
                || matches!(status, Some(s) if s >= 500 || s == 429 || s == 408)
            {
                ErrorKind::Unavailable
            } else if matches!(status, Some(401 | 403)) {
                ErrorKind::PermissionDenied
            } else if status == Some(404) {
                ErrorKind::NotFound
            } else {
                ErrorKind::Other
            }
        }
        // A download cut short surfaces as an I/O error from the body stream.
        MegaError::IoError { source } => match source.kind() {
            std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::TimedOut
            | std::io::ErrorKind::UnexpectedEof
            | std::io::ErrorKind::BrokenPipe
            | std::io::ErrorKind::Interrupted
            | std::io::ErrorKind::Other => ErrorKind::Unavailable,
            _ => ErrorKind::Other,
        },
        // The bytes did not match MEGA's MAC: a damaged transfer, worth another try;
        // mirra verifies every byte anyway.
        MegaError::CondensedMacMismatch => ErrorKind::Unavailable,
        _ => ErrorKind::Other,
    }
}

/// The kind for one of MEGA's API error codes.
pub(crate) fn kind_of_code(code: ErrorCode) -> ErrorKind {
    use ErrorCode::*;
    match code {
        ENOENT => ErrorKind::NotFound,
        // Transient on MEGA's side, or a transfer quota that refills over time.
        EINTERNAL | EAGAIN | ERATELIMIT | ETOOMANY | EEXPIRED | ETEMPUNAVAIL
        | ETOOMANYCONNECTIONS | EREAD | EWRITE | EOVERQUOTA | ESSL | EINCOMPLETE => {
            ErrorKind::Unavailable
        }
        EACCESS | ESID | EBLOCKED | EMFAREQUIRED | EMASTERONLY | EBUSINESSPASTDUE | EAPPKEY => {
            ErrorKind::PermissionDenied
        }
        EARGS | ERANGE => ErrorKind::InvalidInput,
        EEXIST | ECIRCULAR => ErrorKind::Conflict,
        // The storage is full (EGOINGOVERQUOTA, EPAYWALL), a failed upload, a key that
        // does not decrypt: nothing a retry fixes.
        _ => ErrorKind::Other,
    }
}

/// The error as one bounded line, without URLs: MEGA's carry the session id (`sid=`)
/// or a download token in their query, and reqwest puts the URL in its messages.
fn one_line(err: &MegaError) -> String {
    let text = match err {
        MegaError::ReqwestError { source } => match source.status() {
            Some(status) => format!("HTTP status {status}"),
            None if source.is_timeout() => "HTTP request timed out".into(),
            None if source.is_connect() => "cannot connect".into(),
            None => "HTTP request failed".into(),
        },
        other => other.to_string(),
    };
    let text = hide_urls(&text.split_whitespace().collect::<Vec<_>>().join(" "));
    const MAX: usize = 300;
    if text.len() <= MAX {
        return text;
    }
    let cut = (0..=MAX)
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    format!("{}…", &text[..cut])
}

/// `text` with every http(s) URL replaced by `<url>`.
fn hide_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = ["http://", "https://"]
        .iter()
        .filter_map(|scheme| rest.find(scheme))
        .min()
    {
        out.push_str(&rest[..at]);
        out.push_str("<url>");
        let url = &rest[at..];
        let end = url
            .find(|c: char| c.is_whitespace() || matches!(c, ')' | ']' | '"' | '\'' | '>'))
            .unwrap_or(url.len());
        rest = &url[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(code: ErrorCode) -> MegaError {
        MegaError::MegaError { code }
    }

    #[test]
    fn api_codes_map_to_the_kinds_the_host_acts_on() {
        for (c, kind) in [
            (ErrorCode::ENOENT, ErrorKind::NotFound),
            (ErrorCode::EAGAIN, ErrorKind::Unavailable),
            (ErrorCode::ERATELIMIT, ErrorKind::Unavailable),
            (ErrorCode::ETEMPUNAVAIL, ErrorKind::Unavailable),
            (ErrorCode::EOVERQUOTA, ErrorKind::Unavailable),
            (ErrorCode::EACCESS, ErrorKind::PermissionDenied),
            (ErrorCode::ESID, ErrorKind::PermissionDenied),
            (ErrorCode::EBLOCKED, ErrorKind::PermissionDenied),
            (ErrorCode::EARGS, ErrorKind::InvalidInput),
            (ErrorCode::EEXIST, ErrorKind::Conflict),
            (ErrorCode::EGOINGOVERQUOTA, ErrorKind::Other),
            (ErrorCode::EPAYWALL, ErrorKind::Other),
            (ErrorCode::EKEY, ErrorKind::Other),
            (ErrorCode::UNKNOWN, ErrorKind::Other),
        ] {
            let err = map_error(&code(c), "download", "a/b");
            assert_eq!(err.kind, kind, "{c:?}: {err}");
            assert_eq!(err.retryable, kind == ErrorKind::Unavailable, "{c:?}");
        }
    }

    #[test]
    fn a_missing_node_is_not_found_naming_the_key() {
        let err = map_error(&MegaError::NodeNotFound, "stat", "alice/x");
        assert_eq!(err.kind, ErrorKind::NotFound);
        assert!(err.message.contains("alice/x"), "{}", err.message);
    }

    #[test]
    fn exhausted_retries_and_broken_transfers_are_transient() {
        for err in [
            MegaError::MaxRetriesReached,
            MegaError::CondensedMacMismatch,
            MegaError::IoError {
                source: std::io::Error::from(std::io::ErrorKind::ConnectionReset),
            },
        ] {
            let mapped = map_error(&err, "download", "k");
            assert_eq!(mapped.kind, ErrorKind::Unavailable, "{err}");
            assert!(mapped.retryable);
        }
        let bad_json = MegaError::InvalidResponseFormat;
        assert_eq!(map_error(&bad_json, "list", "k").kind, ErrorKind::Other);
    }

    #[test]
    fn a_refused_login_is_permission_denied_not_not_found() {
        for err in [code(ErrorCode::ENOENT), code(ErrorCode::EMFAREQUIRED)] {
            let mapped = map_login_error(&err, "alice@example.com");
            assert_eq!(mapped.kind, ErrorKind::PermissionDenied, "{err}");
            assert!(mapped.message.contains("alice@example.com"));
        }
        let busy = map_login_error(&code(ErrorCode::EAGAIN), "a@b.c");
        assert_eq!(busy.kind, ErrorKind::Unavailable);
    }

    /// A real reqwest error, from a request to a closed loopback port whose URL holds
    /// a session id the way MEGA's event URLs do.
    fn reqwest_error() -> reqwest::Error {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            reqwest::get(format!("http://127.0.0.1:{port}/sc?sn=1&sid=SECRETSESSION"))
                .await
                .unwrap_err()
        })
    }

    #[test]
    fn transport_errors_are_transient_and_never_show_the_session_id() {
        let direct = MegaError::ReqwestError {
            source: reqwest_error(),
        };
        let mapped = map_error(&direct, "list", "the account");
        assert_eq!(mapped.kind, ErrorKind::Unavailable, "{mapped}");
        assert!(!mapped.message.contains("SECRETSESSION"), "{mapped}");
        // Downloads wrap the same error in an io::Error, whose message is reqwest's.
        let wrapped = MegaError::IoError {
            source: std::io::Error::other(reqwest_error()),
        };
        assert!(
            wrapped.to_string().contains("SECRETSESSION"),
            "the test's premise"
        );
        let mapped = map_error(&wrapped, "download", "k");
        assert_eq!(mapped.kind, ErrorKind::Unavailable, "{mapped}");
        assert!(!mapped.message.contains("SECRETSESSION"), "{mapped}");
        assert!(mapped.message.contains("<url>"), "{mapped}");
    }

    #[test]
    fn urls_are_hidden_wherever_they_sit() {
        assert_eq!(
            hide_urls("error for url (https://g.api.mega.co.nz/cs?id=1&sid=x) and http://a/b"),
            "error for url (<url>) and <url>"
        );
        assert_eq!(hide_urls("no url here"), "no url here");
    }
}
