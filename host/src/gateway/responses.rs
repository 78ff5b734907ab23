//! Error responses: a status and a small JSON body saying what went wrong, and for a
//! read no provider could serve, what each provider did.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::store::{ProviderFailure, StoreError, Verdict};

/// The JSON body of every error response.
#[derive(Debug, Serialize)]
pub(crate) struct ErrorBody {
    pub(crate) error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) key: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) failures: Vec<PublicFailure>,
}

/// What a client may know of one provider's failure: its name and the class of its
/// verdict, never its paths, endpoints or error text.
#[derive(Debug, Serialize)]
pub(crate) struct PublicFailure {
    provider: String,
    reason: &'static str,
}

impl From<ProviderFailure> for PublicFailure {
    fn from(failure: ProviderFailure) -> Self {
        Self {
            reason: verdict_class(&failure.verdict),
            provider: failure.provider,
        }
    }
}

/// A JSON error response.
pub(crate) fn error(status: StatusCode, message: impl Into<String>) -> Response {
    json_error(
        status,
        ErrorBody {
            error: message.into(),
            key: None,
            failures: Vec::new(),
        },
    )
}

pub(crate) fn json_error(status: StatusCode, body: ErrorBody) -> Response {
    let text = serde_json::to_string(&body).expect("error bodies serialize");
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        text + "\n",
    )
        .into_response()
}

/// The response for a store error.
///
/// A client error (4xx) says what was wrong with the request. A server error (5xx)
/// names each provider with only a short reason class (`missing`, `unavailable`,
/// `corrupt`, `stale`), in the body and in `X-Mirra-Failures`: provider errors carry
/// absolute paths, endpoints and driver text that are for the operator, so the full
/// detail goes to the log.
pub(crate) fn store_error(err: StoreError) -> Response {
    let detail = err.to_string();
    let public = match &err {
        StoreError::NoValidCopy { key, .. } => format!("{key}: no provider has a valid copy"),
        StoreError::QuorumNotMet {
            key,
            needed,
            committed,
            ..
        } => format!("{key}: write quorum not met: {committed} of {needed} providers committed"),
        StoreError::RequiredFailed { key, .. } => format!("{key}: a required provider failed"),
        StoreError::Unlisted { prefix, .. } => format!("{prefix:?}: no provider could be listed"),
        _ => "internal error; the server's log has the detail".to_owned(),
    };
    let (status, key, failures) = match err {
        StoreError::BadKey(_) | StoreError::BadHash(_) | StoreError::InvalidWrite(_) => {
            (StatusCode::BAD_REQUEST, None, Vec::new())
        }
        StoreError::Deleted { key, .. } => (StatusCode::NOT_FOUND, Some(key), Vec::new()),
        StoreError::NoValidCopy { key, failures } if failures.all_missing() => {
            (StatusCode::NOT_FOUND, Some(key), failures.0)
        }
        // Some provider may hold the object but could not show a valid copy: the honest
        // answer is "bad gateway", not "does not exist".
        StoreError::NoValidCopy { key, failures } => {
            (StatusCode::BAD_GATEWAY, Some(key), failures.0)
        }
        StoreError::QuorumNotMet { key, failures, .. }
        | StoreError::RequiredFailed { key, failures } => {
            (StatusCode::BAD_GATEWAY, Some(key), failures.0)
        }
        StoreError::Unlisted { prefix, failures } => {
            (StatusCode::BAD_GATEWAY, Some(prefix), failures.0)
        }
        StoreError::ReadOnly => (StatusCode::FORBIDDEN, None, Vec::new()),
        StoreError::PreconditionFailed { key, .. } => {
            (StatusCode::PRECONDITION_FAILED, Some(key), Vec::new())
        }
        StoreError::Busy { key } => (StatusCode::CONFLICT, Some(key), Vec::new()),
        StoreError::Input(ref e) if body_too_large(e) => {
            (StatusCode::PAYLOAD_TOO_LARGE, None, Vec::new())
        }
        StoreError::Input(_) => (StatusCode::BAD_REQUEST, None, Vec::new()),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, None, Vec::new()),
    };
    let failures: Vec<PublicFailure> = failures.into_iter().map(PublicFailure::from).collect();
    let message = if status.is_server_error() {
        tracing::warn!("{detail}");
        public
    } else {
        detail
    };
    let summary = failures
        .iter()
        .map(|f| format!("{}={}", f.provider, f.reason))
        .collect::<Vec<_>>()
        .join(", ");
    let mut response = json_error(
        status,
        ErrorBody {
            error: message,
            key,
            failures,
        },
    );
    // Provider names come from the operator's config; one that is not a valid header
    // value only leaves the header out.
    if let (false, Ok(value)) = (summary.is_empty(), HeaderValue::from_str(&summary)) {
        response.headers_mut().insert("x-mirra-failures", value);
    }
    response
}

/// The class of a provider's verdict a client may see.
fn verdict_class(verdict: &Verdict) -> &'static str {
    match verdict {
        Verdict::Missing => "missing",
        Verdict::Stale(_) => "stale",
        Verdict::Corrupt(_) | Verdict::BadSignature(_) => "corrupt",
        Verdict::Unreachable(_) | Verdict::Ok | Verdict::Deleted => "unavailable",
    }
}

/// The class of a provider's last error in its health record, which keeps words only:
/// an answer that failed verification (`record_bad_answer`) or a failed call.
pub(crate) fn health_class(last_error: &str) -> &'static str {
    if last_error.starts_with("invalid manifest") || last_error.contains("corrupt") {
        "corrupt"
    } else {
        "unavailable"
    }
}

/// Whether `err` says the key does not exist (never written, or deleted), as opposed to
/// providers failing to show it.
pub(crate) fn is_missing(err: &StoreError) -> bool {
    match err {
        StoreError::Deleted { .. } => true,
        // Only when every provider answered that it has no manifest for the key can
        // the key be said not to exist.
        StoreError::NoValidCopy { failures, .. } => failures.all_missing(),
        _ => false,
    }
}

/// Whether reading the request body failed because it passed the size limit.
pub(crate) fn body_too_large(err: &std::io::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = err.get_ref().map(|e| e as _);
    while let Some(e) = cause {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cause = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Failures;

    #[tokio::test]
    async fn server_errors_name_providers_and_classes_only() {
        let mut failures = Failures::default();
        failures.add(
            "a",
            Verdict::Unreachable(
                "chunk 0: /srv/mirra/a/obj: Permission denied (os error 13)".into(),
            ),
        );
        failures.add("b", Verdict::Corrupt("chunk 0 corrupt".into()));
        failures.add(
            "c",
            Verdict::BadSignature("manifest for \"k\" is not valid JSON".into()),
        );
        failures.add("d", Verdict::Missing);
        failures.add(
            "e",
            Verdict::Unreachable("http://user:secret@127.0.0.1:9/x: connection refused".into()),
        );
        let response = store_error(StoreError::NoValidCopy {
            key: "k".into(),
            failures,
        });
        assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
        assert_eq!(
            response.headers()["x-mirra-failures"],
            "a=unavailable, b=corrupt, c=corrupt, d=missing, e=unavailable"
        );
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let text = String::from_utf8(body.to_vec()).unwrap();
        for secret in ["/srv", "secret", "127.0.0.1", "os error", "JSON"] {
            assert!(!text.contains(secret), "{secret:?} leaked: {text}");
        }
        assert!(
            text.contains("\"provider\":\"e\",\"reason\":\"unavailable\""),
            "{text}"
        );
    }

    #[test]
    fn classes_follow_the_verdict_not_the_words() {
        // Words that once decided the class ("not found", "corrupt") no longer do.
        assert_eq!(
            verdict_class(&Verdict::Corrupt("chunk 3: not found".into())),
            "corrupt"
        );
        assert_eq!(
            verdict_class(&Verdict::Stale("version 1 < 2".into())),
            "stale"
        );
        assert_eq!(
            verdict_class(&Verdict::Unreachable("x corrupt".into())),
            "unavailable"
        );
        assert_eq!(verdict_class(&Verdict::Missing), "missing");
        assert_eq!(health_class("invalid manifest: bad signature"), "corrupt");
        assert_eq!(health_class("timed out after 30s"), "unavailable");
    }
}
