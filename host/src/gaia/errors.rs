//! Gaia's error replies: a status and `{"message", "error"}` naming the error class the
//! client maps (`ValidationError`, `BadPathError`, `PreconditionFailedError`, ...).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::gateway::responses::store_error;
use crate::store::StoreError;

/// A Gaia error reply.
#[derive(Debug)]
pub struct GaiaError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The error class, as Gaia names it.
    pub class: &'static str,
    /// What went wrong, for people.
    pub message: String,
}

impl GaiaError {
    /// An error of `class` with `status`.
    pub fn new(status: StatusCode, class: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            class,
            message: message.into(),
        }
    }

    /// 401 `ValidationError`: a missing, invalid, revoked or misdirected token.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "ValidationError", message)
    }

    /// 403 `BadPathError`.
    pub fn bad_path(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "BadPathError", message)
    }

    /// 400 `InvalidInputError`: a request body the hub cannot read.
    pub fn bad_input(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "InvalidInputError", message)
    }

    /// 412 `PreconditionFailedError`.
    pub fn precondition(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::PRECONDITION_FAILED,
            "PreconditionFailedError",
            message,
        )
    }

    /// 413 `PayloadTooLargeError`.
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PayloadTooLargeError",
            message,
        )
    }

    /// The reply for a store error: the read gateway's status for it (so both front
    /// doors agree), with the class the Gaia client maps that status to. Failed writes
    /// below quorum stay 5xx, which the client retries.
    pub fn from_store(err: StoreError) -> Self {
        let message = err.to_string();
        let status = store_error(err).status();
        let class = match status {
            StatusCode::NOT_FOUND => "DoesNotExist",
            StatusCode::CONFLICT => "ConflictError",
            StatusCode::PRECONDITION_FAILED => "PreconditionFailedError",
            StatusCode::PAYLOAD_TOO_LARGE => "PayloadTooLargeError",
            StatusCode::BAD_REQUEST => "InvalidInputError",
            StatusCode::FORBIDDEN => "ValidationError",
            _ => "ServerError",
        };
        // 502 is the read gateway's word for "providers failed"; to a Gaia client the
        // hub itself is what is unavailable for now, and 503 says retry.
        let status = if status == StatusCode::BAD_GATEWAY {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            status
        };
        Self::new(status, class, message)
    }
}

impl IntoResponse for GaiaError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "message": self.message, "error": self.class });
        let mut response = (
            self.status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body.to_string(),
        )
            .into_response();
        if self.status.is_client_error() {
            // Refused before the body was read: the connection cannot carry another
            // request reliably.
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}
