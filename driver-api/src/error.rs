//! The error a driver returns, and the kind the host acts on.

use std::fmt;

/// What went wrong, as far as the host's retry and failover logic cares.
///
/// Kinds cross the ABI as fixed numbers that are never reused; a kind added in a
/// later 1.x release reaches an older host as [`ErrorKind::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[repr(u8)]
pub enum ErrorKind {
    /// The key does not exist.
    NotFound = 1,
    /// Transient: connection refused, timeout, 5xx, throttling. Usually retryable.
    Unavailable = 2,
    /// Credentials missing or refused, or the object is not readable by us.
    PermissionDenied = 3,
    /// The request itself is wrong: bad key, bad config, value too large.
    InvalidInput = 4,
    /// The driver does not implement this operation (see [`crate::Capabilities`]).
    Unsupported = 5,
    /// A precondition failed or a concurrent writer won.
    Conflict = 6,
    /// The driver panicked; the export macro caught it at the boundary.
    Panicked = 7,
    /// Anything else.
    Other = 8,
}

impl ErrorKind {
    /// Every kind, in ABI order.
    pub const ALL: [ErrorKind; 8] = [
        Self::NotFound,
        Self::Unavailable,
        Self::PermissionDenied,
        Self::InvalidInput,
        Self::Unsupported,
        Self::Conflict,
        Self::Panicked,
        Self::Other,
    ];

    /// The number this kind has on the wire.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The kind with this wire number; unknown numbers (from a newer driver) are `Other`.
    pub fn from_code(code: u8) -> Self {
        Self::ALL
            .into_iter()
            .find(|k| k.code() == code)
            .unwrap_or(Self::Other)
    }

    /// A short lowercase name, for messages and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotFound => "not found",
            Self::Unavailable => "unavailable",
            Self::PermissionDenied => "permission denied",
            Self::InvalidInput => "invalid input",
            Self::Unsupported => "unsupported",
            Self::Conflict => "conflict",
            Self::Panicked => "driver panicked",
            Self::Other => "error",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error from a driver: a kind, a human message, and whether retrying may help.
///
/// Messages must never contain secrets (keys, passwords, signed URLs): the host logs
/// them and shows them to users.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriverError {
    /// What the host should do about it.
    pub kind: ErrorKind,
    /// What happened, for people.
    pub message: String,
    /// Whether the same call may succeed if repeated.
    pub retryable: bool,
}

impl DriverError {
    /// An error of `kind`; retryable exactly when the kind is [`ErrorKind::Unavailable`].
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            retryable: kind == ErrorKind::Unavailable,
        }
    }

    /// A [`ErrorKind::NotFound`] error naming `key`.
    pub fn not_found(key: impl fmt::Display) -> Self {
        Self::new(ErrorKind::NotFound, format!("{key}: not found"))
    }

    /// A transient, retryable [`ErrorKind::Unavailable`] error.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unavailable, message)
    }

    /// An [`ErrorKind::InvalidInput`] error.
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidInput, message)
    }

    /// An [`ErrorKind::Unsupported`] error naming the operation.
    pub fn unsupported(operation: &str) -> Self {
        Self::new(
            ErrorKind::Unsupported,
            format!("{operation} is not supported by this driver"),
        )
    }

    /// An [`ErrorKind::Other`] error.
    pub fn other(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Other, message)
    }

    /// Overrides whether the error is retryable.
    pub fn with_retryable(mut self, retryable: bool) -> Self {
        self.retryable = retryable;
        self
    }
}

impl fmt::Display for DriverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

impl std::error::Error for DriverError {}

impl From<crate::KeyError> for DriverError {
    fn from(e: crate::KeyError) -> Self {
        Self::invalid_input(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_unknown_is_other() {
        for kind in ErrorKind::ALL {
            assert_eq!(ErrorKind::from_code(kind.code()), kind);
        }
        assert_eq!(ErrorKind::from_code(0), ErrorKind::Other);
        assert_eq!(ErrorKind::from_code(200), ErrorKind::Other);
    }

    #[test]
    fn codes_are_frozen() {
        // Renumbering breaks every driver already shipped.
        let codes: Vec<u8> = ErrorKind::ALL.iter().map(|k| k.code()).collect();
        assert_eq!(codes, [1, 2, 3, 4, 5, 6, 7, 8]);
    }
}
