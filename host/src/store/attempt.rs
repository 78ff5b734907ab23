//! One provider's part in a write, carried with the provider it happened on: no list of
//! results matched to providers by position.

use std::fmt;

use mirra_driver_api::DriverError;

/// Which provider (an index into the store's replicas) did what.
#[derive(Debug)]
pub(crate) struct Attempt<T> {
    /// The provider.
    pub(crate) replica: usize,
    /// What came of it.
    pub(crate) result: Result<T, WriteProblem>,
}

impl<T> Attempt<T> {
    pub(crate) fn ok(replica: usize, value: T) -> Self {
        Self {
            replica,
            result: Ok(value),
        }
    }

    pub(crate) fn failed(replica: usize, problem: WriteProblem) -> Self {
        Self {
            replica,
            result: Err(problem),
        }
    }

    /// The next step on the same provider, run only when this one succeeded.
    pub(crate) async fn then<U, Fut>(self, step: impl FnOnce(usize, T) -> Fut) -> Attempt<U>
    where
        Fut: std::future::Future<Output = Result<U, WriteProblem>>,
    {
        let result = match self.result {
            Ok(value) => step(self.replica, value).await,
            Err(problem) => Err(problem),
        };
        Attempt {
            replica: self.replica,
            result,
        }
    }
}

/// Why a write did not complete on one provider; driver errors keep their kind.
#[derive(Debug, Clone)]
pub(crate) enum WriteProblem {
    /// The provider's driver does not declare `WRITE`.
    ReadOnly,
    /// Starting the write or writing its bytes failed.
    Bytes(DriverError),
    /// The input stopped before its end (the read of it failed).
    InputEnded,
    /// The task writing to the provider failed.
    Task(String),
    /// Committing the bytes failed.
    Commit(DriverError),
    /// Writing the manifest failed.
    Manifest(DriverError),
    /// Making the write durable (the provider's flush) failed.
    Flush(DriverError),
    /// Deleting the bytes before writing a tombstone failed (repair).
    Delete(DriverError),
    /// The tombstone was written but the bytes could not be deleted.
    BytesKept(DriverError),
    /// Repair had no verified bytes to copy: why.
    NoSource(String),
}

impl WriteProblem {
    /// The driver's error behind the problem, if a driver call failed.
    pub(crate) fn driver_error(&self) -> Option<&DriverError> {
        match self {
            Self::Bytes(e)
            | Self::Commit(e)
            | Self::Manifest(e)
            | Self::Flush(e)
            | Self::Delete(e)
            | Self::BytesKept(e) => Some(e),
            Self::ReadOnly | Self::InputEnded | Self::Task(_) | Self::NoSource(_) => None,
        }
    }
}

impl fmt::Display for WriteProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ReadOnly => f.write_str("read-only provider: its driver does not declare write"),
            Self::Bytes(e) => write!(f, "{e}"),
            Self::InputEnded => f.write_str("input ended before the write completed"),
            Self::Task(e) => write!(f, "writer task failed: {e}"),
            Self::Commit(e) => write!(f, "commit: {e}"),
            Self::Manifest(e) => write!(f, "manifest: {e}"),
            Self::Flush(e) => write!(f, "flush: {e}"),
            Self::Delete(e) => write!(f, "delete: {e}"),
            Self::BytesKept(e) => write!(f, "tombstone written, bytes not deleted: {e}"),
            Self::NoSource(why) => f.write_str(why),
        }
    }
}

#[cfg(test)]
mod tests {
    use mirra_driver_api::ErrorKind;

    use super::*;

    #[tokio::test]
    async fn a_step_runs_only_after_a_success_and_keeps_the_provider() {
        let next = |replica: usize, value: u32| async move {
            match value {
                0 => Err(WriteProblem::Commit(DriverError::unavailable("timed out"))),
                v => Ok(v + replica as u32),
            }
        };
        let passed = Attempt::ok(3, 1).then(next).await;
        assert_eq!((passed.replica, passed.result.unwrap()), (3, 4));
        let failed = Attempt::ok(2, 0).then(next).await;
        let problem = failed.result.unwrap_err();
        assert_eq!(failed.replica, 2);
        assert!(
            matches!(&problem, WriteProblem::Commit(e) if e.kind == ErrorKind::Unavailable),
            "the driver's kind is kept: {problem:?}"
        );
        assert_eq!(problem.to_string(), "commit: unavailable: timed out");
        let skipped = Attempt::<u32>::failed(1, WriteProblem::ReadOnly)
            // Were it run, this step would replace the problem.
            .then(|_, _| async { Err::<u32, _>(WriteProblem::InputEnded) })
            .await;
        assert_eq!(skipped.replica, 1);
        assert_eq!(
            skipped.result.unwrap_err().to_string(),
            "read-only provider: its driver does not declare write"
        );
    }
}
