//! When a failed read proves a key absent although some providers did not answer: a
//! write commits on a write quorum of providers, so if more providers than a write may
//! miss (`providers - quorum`) answered "no manifest", no committed write of the key can
//! be hiding on the silent ones. Gaia needs this twice: a bucket with no revocation
//! record, and a delete of a file that is not there (404, not a 5xx), both while a
//! provider is down.

use crate::gateway::responses::is_missing;
use crate::store::{Failures, StoreError};

/// Whether `err`, from reading a key over `providers` providers whose writes commit on
/// `required_writes`, proves the key has no live version.
pub fn proves_absent(err: &StoreError, providers: usize, required_writes: usize) -> bool {
    match err {
        _ if is_missing(err) => true,
        StoreError::NoValidCopy { failures, .. } => {
            absent_on_enough(failures, providers, required_writes)
        }
        _ => false,
    }
}

fn absent_on_enough(failures: &Failures, providers: usize, required_writes: usize) -> bool {
    failures.missing_count() > providers.saturating_sub(required_writes.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Verdict;

    fn failures(missing: usize, unavailable: usize) -> Failures {
        let mut failures = Failures::default();
        for i in 0..missing + unavailable {
            let verdict = if i < missing {
                Verdict::Missing
            } else {
                Verdict::Unreachable("unavailable".into())
            };
            failures.add(&format!("p{i}"), verdict);
        }
        failures
    }

    #[test]
    fn absence_needs_more_answers_than_a_write_can_miss() {
        let two_missing = failures(2, 1);
        let one_missing = failures(1, 2);
        // Three providers, quorum 2: a committed write is on two of them, so two
        // "missing" answers prove absence and one does not.
        assert!(absent_on_enough(&two_missing, 3, 2));
        assert!(!absent_on_enough(&one_missing, 3, 2));
        // Quorum 1: only every provider answering "missing" proves it.
        assert!(!absent_on_enough(&two_missing, 3, 1));
        assert!(absent_on_enough(&one_missing, 3, 3));
    }

    #[test]
    fn other_errors_prove_nothing() {
        assert!(!proves_absent(&StoreError::ReadOnly, 3, 2));
        let deleted = StoreError::Deleted {
            key: "k".into(),
            version: 2,
        };
        assert!(proves_absent(&deleted, 3, 2));
    }
}
