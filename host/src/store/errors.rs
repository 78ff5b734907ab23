//! What a store operation reports when it fails: per provider, in words.

use std::fmt;

use super::Verdict;
use crate::user_key::UserKeyError;

/// One provider's failure, e.g. `b: chunk 3 corrupt`: the same verdicts `stat` and
/// `verify` give, so front doors decide by the verdict, never by the words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderFailure {
    /// The provider's name.
    pub provider: String,
    /// What the provider's answer was judged to be.
    pub verdict: Verdict,
}

impl ProviderFailure {
    /// What went wrong there, in words.
    pub fn reason(&self) -> &str {
        match &self.verdict {
            // The words a missing manifest has always had.
            Verdict::Missing => "not found",
            verdict => verdict.detail().unwrap_or_else(|| verdict.label()),
        }
    }
}

impl fmt::Display for ProviderFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.provider, self.reason())
    }
}

/// `{"provider": "b", "verdict": "corrupt", "reason": "chunk 3 corrupt"}`.
impl serde::Serialize for ProviderFailure {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut row = serializer.serialize_struct("ProviderFailure", 3)?;
        row.serialize_field("provider", &self.provider)?;
        row.serialize_field("verdict", self.verdict.label())?;
        row.serialize_field("reason", self.reason())?;
        row.end()
    }
}

/// Each provider's failure, one per provider, in the order they were tried.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct Failures(pub Vec<ProviderFailure>);

impl Failures {
    /// Records `verdict` for `provider` unless it already has one (the first cause is
    /// usually the telling one).
    pub fn add(&mut self, provider: &str, verdict: Verdict) {
        if !self.0.iter().any(|f| f.provider == provider) {
            self.0.push(ProviderFailure {
                provider: provider.to_owned(),
                verdict,
            });
        }
    }

    /// Whether every provider was asked and answered that it has no such key.
    pub fn all_missing(&self) -> bool {
        !self.0.is_empty() && self.0.iter().all(|f| f.verdict == Verdict::Missing)
    }

    /// How many providers answered that they have no such key.
    pub fn missing_count(&self) -> usize {
        self.0
            .iter()
            .filter(|f| f.verdict == Verdict::Missing)
            .count()
    }

    /// Whether `provider` has failed.
    pub fn contains(&self, provider: &str) -> bool {
        self.0.iter().any(|f| f.provider == provider)
    }
}

impl fmt::Display for Failures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Empty when no provider was asked at all (none to ask); every provider that was
        // asked and failed is named.
        if self.0.is_empty() {
            return f.write_str("no provider was asked");
        }
        let parts: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&parts.join("; "))
    }
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The key was refused before any provider saw it.
    #[error(transparent)]
    BadKey(#[from] UserKeyError),
    /// A write whose manifest readers would refuse (content type, key, version); refused
    /// before any provider saw a byte.
    #[error("refused before writing: {0}")]
    InvalidWrite(#[source] crate::manifest::ManifestError),
    /// Not a lowercase hex SHA-256.
    #[error("not a SHA-256 digest: {0:?} (expected 64 lowercase hex digits)")]
    BadHash(String),
    /// No provider holds a copy that verifies.
    #[error("{key}: no provider has a valid copy: {failures}")]
    NoValidCopy {
        /// The key asked for.
        key: String,
        /// What each provider did wrong.
        failures: Failures,
    },
    /// No provider could list the keys under a prefix.
    #[error("{prefix:?}: no provider could be listed: {failures}")]
    Unlisted {
        /// The prefix listed.
        prefix: String,
        /// What each provider did instead.
        failures: Failures,
    },
    /// The signed manifest's chunks end before its size does: no valid manifest does
    /// that, and no read goes past its chunks.
    #[error("{key}: the signed manifest has no chunk for byte {offset}")]
    ManifestGap {
        /// The key read.
        key: String,
        /// The first byte no chunk covers.
        offset: u64,
    },
    /// The newest valid manifest is a tombstone.
    #[error("{key}: deleted (version {version})")]
    Deleted {
        /// The key asked for.
        key: String,
        /// The tombstone's version.
        version: u64,
    },
    /// Too few providers committed a write.
    #[error("{key}: write quorum not met: {committed} of {needed} required providers committed; failed: {failures}")]
    QuorumNotMet {
        /// The key written.
        key: String,
        /// How many had to commit.
        needed: usize,
        /// How many did.
        committed: usize,
        /// The providers that failed, and why.
        failures: Failures,
    },
    /// A provider marked `required` did not commit.
    #[error("{key}: required provider failed: {failures}")]
    RequiredFailed {
        /// The key written.
        key: String,
        /// The required providers that failed.
        failures: Failures,
    },
    /// A conditional write's condition did not hold; nothing was written.
    #[error("{key}: precondition failed: {reason}")]
    PreconditionFailed {
        /// The key written.
        key: String,
        /// What the newest version is instead.
        reason: String,
    },
    /// Another write of the same key is in flight and the caller asked not to wait.
    #[error("{key}: another write of this key is in flight")]
    Busy {
        /// The key written.
        key: String,
    },
    /// Writing needs the owner's private key.
    #[error("this store has no signing key; writes need [identity] key_file")]
    ReadOnly,
    /// Reading the input failed.
    #[error("reading the input: {0}")]
    Input(#[source] std::io::Error),
    /// Writing the output failed.
    #[error("writing the output: {0}")]
    Output(#[source] std::io::Error),
    /// Local state (versions seen, repair journal) could not be read or written.
    #[error("local state: {0}")]
    State(String),
}

impl StoreError {
    /// Whether a read failed with some provider's bytes not matching the manifest: the
    /// mark of a write that replaced them after that manifest, so a newer manifest may
    /// be readable where this one is not.
    pub fn bytes_mismatched(&self) -> bool {
        matches!(self, Self::NoValidCopy { failures, .. }
            if failures.0.iter().any(|f| matches!(f.verdict, Verdict::Corrupt(_))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_name_each_provider_or_say_that_none_was_asked() {
        let mut failures = Failures::default();
        assert_eq!(failures.to_string(), "no provider was asked");
        failures.add("a", Verdict::Corrupt("chunk 0 corrupt".into()));
        failures.add("b", Verdict::Missing);
        failures.add(
            "a",
            Verdict::Unreachable("a later, less telling reason".into()),
        );
        assert_eq!(failures.to_string(), "a: chunk 0 corrupt; b: not found");
        assert!(!failures.all_missing());
        assert_eq!(failures.missing_count(), 1);
        let json = serde_json::to_value(&failures).unwrap();
        assert_eq!(
            json[0],
            serde_json::json!({"provider": "a", "verdict": "corrupt", "reason": "chunk 0 corrupt"})
        );
    }
}
