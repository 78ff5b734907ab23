//! OpenDAL errors in driver-api terms, with secrets scrubbed from every message.

use mirra_driver_api::{DriverError, ErrorKind};
use opendal::ErrorKind as OdKind;

/// Turns OpenDAL errors into [`DriverError`]s for one provider.
///
/// OpenDAL's messages carry context (service, operation, path, sometimes an endpoint or
/// a server's response body); a misconfigured service can echo a credential back, so
/// every message is scrubbed of the provider's secret option values before it leaves.
#[derive(Clone, Default)]
pub(crate) struct ErrorMapper {
    secrets: Vec<String>,
}

impl ErrorMapper {
    pub(crate) fn new(secrets: Vec<String>) -> Self {
        Self { secrets }
    }

    /// `what` names the operation and key, e.g. `read a/b.txt`.
    pub(crate) fn map(&self, what: &str, err: opendal::Error) -> DriverError {
        let text = err.to_string();
        let kind = match err.kind() {
            OdKind::NotFound => ErrorKind::NotFound,
            OdKind::PermissionDenied => ErrorKind::PermissionDenied,
            OdKind::ConfigInvalid => ErrorKind::InvalidInput,
            OdKind::Unsupported => ErrorKind::Unsupported,
            OdKind::RateLimited => ErrorKind::Unavailable,
            OdKind::ConditionNotMatch | OdKind::AlreadyExists | OdKind::Conflict => {
                ErrorKind::Conflict
            }
            // A key that names a directory is not an object.
            OdKind::IsADirectory | OdKind::NotADirectory => ErrorKind::NotFound,
            // Some HTTP services (WebDAV) report a refused login as `Unexpected` with the
            // response in the error's context, which OpenDAL only exposes through Display.
            OdKind::Unexpected if refused_login(&text) => ErrorKind::PermissionDenied,
            // Refused connections, timeouts and 5xx answers arrive as temporary errors.
            _ if err.is_temporary() => ErrorKind::Unavailable,
            _ => ErrorKind::Other,
        };
        let retryable = kind == ErrorKind::Unavailable || err.is_temporary();
        DriverError::new(kind, self.scrub(&format!("{what}: {text}"))).with_retryable(retryable)
    }

    /// `text` with every secret value replaced by `<redacted>`.
    pub(crate) fn scrub(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for secret in &self.secrets {
            out = out.replace(secret.as_str(), "<redacted>");
        }
        out
    }
}

/// Whether an error's text shows an HTTP 401 or 403 answer.
fn refused_login(text: &str) -> bool {
    text.contains("status: 401") || text.contains("status: 403")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_and_secrets_are_scrubbed() {
        let mapper = ErrorMapper::new(vec!["s3cr3t".into()]);
        let cases = [
            (OdKind::NotFound, ErrorKind::NotFound),
            (OdKind::PermissionDenied, ErrorKind::PermissionDenied),
            (OdKind::ConfigInvalid, ErrorKind::InvalidInput),
            (OdKind::Unsupported, ErrorKind::Unsupported),
            (OdKind::RateLimited, ErrorKind::Unavailable),
            (OdKind::ConditionNotMatch, ErrorKind::Conflict),
            (OdKind::AlreadyExists, ErrorKind::Conflict),
            (OdKind::Unexpected, ErrorKind::Other),
        ];
        for (od, expected) in cases {
            let err = mapper.map("stat k", opendal::Error::new(od, "token s3cr3t refused"));
            assert_eq!(err.kind, expected, "{od:?}");
            assert!(!err.message.contains("s3cr3t"), "{}", err.message);
            assert!(err.message.starts_with("stat k: "), "{}", err.message);
        }
        let refused = opendal::Error::new(OdKind::Unexpected, "denied")
            .with_context("response", "Parts { status: 401, version: HTTP/1.1 }");
        assert_eq!(
            mapper.map("stat k", refused).kind,
            ErrorKind::PermissionDenied
        );
        let temporary = opendal::Error::new(OdKind::Unexpected, "503").set_temporary();
        let err = mapper.map("read k", temporary);
        assert_eq!(err.kind, ErrorKind::Unavailable);
        assert!(err.retryable);
    }
}
