//! Error responses: a status and a small JSON body saying what went wrong, and for a
//! read no provider could serve, what each provider did.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::store::{ProviderFailure, StoreError};

/// The JSON body of every error response.
#[derive(Debug, Serialize)]
pub(crate) struct ErrorBody {
    pub(crate) error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) key: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) failures: Vec<ProviderFailure>,
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
pub(crate) fn store_error(err: StoreError) -> Response {
    let message = err.to_string();
    let (status, key, failures) = match err {
        StoreError::BadKey(_) | StoreError::BadHash(_) => {
            (StatusCode::BAD_REQUEST, None, Vec::new())
        }
        StoreError::Deleted { key, .. } => (StatusCode::NOT_FOUND, Some(key), Vec::new()),
        StoreError::NoValidCopy { key, failures } if all_missing(&failures.0) => {
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
    if status.is_server_error() {
        tracing::warn!("{message}");
    }
    json_error(
        status,
        ErrorBody {
            error: message,
            key,
            failures,
        },
    )
}

/// Whether `err` says the key does not exist (never written, or deleted), as opposed to
/// providers failing to show it.
pub(crate) fn is_missing(err: &StoreError) -> bool {
    match err {
        StoreError::Deleted { .. } => true,
        StoreError::NoValidCopy { failures, .. } => all_missing(&failures.0),
        _ => false,
    }
}

/// Whether every provider answered that it has no manifest for the key: the only case
/// in which the key can be said not to exist.
fn all_missing(failures: &[ProviderFailure]) -> bool {
    let missing = crate::store::ManifestProblem::Missing.to_string();
    !failures.is_empty() && failures.iter().all(|f| f.reason == missing)
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
