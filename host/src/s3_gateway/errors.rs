//! Store errors as S3 errors: what a client can act on, without provider internals.

use s3s::{s3_error, S3Error};

use crate::store::{Store, StoreError};

/// The S3 error for a failed store operation on an object.
///
/// A read that could not be verified is `ServiceUnavailable` (retryable), never wrong
/// bytes; a write that missed its quorum likewise. The full reason goes to the log, not
/// to the client.
pub(crate) fn from_store(err: StoreError) -> S3Error {
    match err {
        StoreError::Deleted { .. } => s3_error!(NoSuchKey),
        StoreError::NoValidCopy { ref failures, .. } if failures.all_missing() => {
            s3_error!(NoSuchKey)
        }
        StoreError::NoValidCopy { .. }
        | StoreError::Unlisted { .. }
        | StoreError::QuorumNotMet { .. }
        | StoreError::RequiredFailed { .. } => {
            tracing::warn!("{err}");
            s3_error!(
                ServiceUnavailable,
                "too few providers answered with a verified copy; retry"
            )
        }
        StoreError::PreconditionFailed { .. } => s3_error!(PreconditionFailed),
        StoreError::Busy { .. } => s3_error!(
            ConditionalRequestConflict,
            "another write of this key is in flight"
        ),
        StoreError::BadKey(e) => s3_error!(InvalidArgument, "{e}"),
        StoreError::BadHash(e) => s3_error!(InvalidArgument, "{e}"),
        StoreError::ReadOnly => s3_error!(AccessDenied, "this gateway has no signing key"),
        StoreError::Input(e) => match bad_digest(&e) {
            Some(message) => s3_error!(BadDigest, "{message}"),
            None => s3_error!(IncompleteBody, "reading the request body: {e}"),
        },
        err => {
            tracing::warn!("{err}");
            s3_error!(InternalError)
        }
    }
}

/// Whether `err` proves the key has no committed version although some providers did
/// not answer: every committed write reached the write quorum, so at most `providers -
/// quorum` providers can lack it, and more providers than that answered "no such key".
/// Without this, any missing key would be `ServiceUnavailable` during an outage, and
/// clients that probe for absence (rclone, `aws s3 sync`) would fail.
pub(crate) fn provably_absent(store: &Store, err: &StoreError) -> bool {
    let StoreError::NoValidCopy { failures, .. } = err else {
        return false;
    };
    let said_missing = failures.missing_count();
    let providers = store.replicas().len();
    said_missing > providers.saturating_sub(store.quorum_needed())
}

/// A body whose MD5 did not match its `Content-MD5` fails the read with this marker.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct DigestMismatch(pub(crate) String);

fn bad_digest(err: &std::io::Error) -> Option<String> {
    err.get_ref()
        .and_then(|e| e.downcast_ref::<DigestMismatch>())
        .map(ToString::to_string)
}
