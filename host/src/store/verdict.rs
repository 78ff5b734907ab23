//! What one provider holds for one key, judged against the newest valid manifest: the
//! one set of verdicts `stat`, `verify`, `repair` and the front doors share.

use std::fmt;

use super::manifests::ManifestProblem;

/// One provider's copy of one key.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "state", content = "detail")]
pub enum Verdict {
    /// The newest version, and its bytes check out.
    Ok,
    /// The newest version is a tombstone, and this provider has it.
    Deleted,
    /// No manifest for the key.
    Missing,
    /// An older version than the newest valid one, or one that lost the tie-break.
    Stale(String),
    /// The manifest is current but the bytes are missing or do not match it.
    Corrupt(String),
    /// The manifest is malformed or not validly signed by the owner.
    BadSignature(String),
    /// The provider did not answer, or failed the call.
    Unreachable(String),
}

impl Verdict {
    /// Whether `repair` has something to do here.
    pub fn is_deficient(&self) -> bool {
        !matches!(self, Self::Ok | Self::Deleted)
    }

    /// The verdict's name, as `--json` spells it: `ok`, `bad_signature`, ...
    pub fn label(&self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Deleted => "deleted",
            Self::Missing => "missing",
            Self::Stale(_) => "stale",
            Self::Corrupt(_) => "corrupt",
            Self::BadSignature(_) => "bad_signature",
            Self::Unreachable(_) => "unreachable",
        }
    }

    /// Why, for the verdicts that carry a reason.
    pub fn detail(&self) -> Option<&str> {
        match self {
            Self::Stale(why)
            | Self::Corrupt(why)
            | Self::BadSignature(why)
            | Self::Unreachable(why) => Some(why),
            Self::Ok | Self::Deleted | Self::Missing => None,
        }
    }
}

/// `corrupt: chunk 3 does not match its hash`, or just `ok`.
impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.detail() {
            Some(why) => write!(f, "{}: {why}", self.label()),
            None => f.write_str(self.label()),
        }
    }
}

impl From<ManifestProblem> for Verdict {
    fn from(problem: ManifestProblem) -> Self {
        match problem {
            ManifestProblem::Missing => Self::Missing,
            ManifestProblem::Unreachable(error) => Self::Unreachable(error.to_string()),
            ManifestProblem::Invalid(why) => Self::BadSignature(why),
        }
    }
}

#[cfg(test)]
mod tests {
    use mirra_driver_api::DriverError;

    use super::*;

    #[test]
    fn verdicts_serialize_and_print_with_one_name_each() {
        let cases = [
            (Verdict::Ok, r#"{"state":"ok"}"#, "ok"),
            (
                Verdict::Corrupt("bytes missing".into()),
                r#"{"state":"corrupt","detail":"bytes missing"}"#,
                "corrupt: bytes missing",
            ),
            (
                Verdict::BadSignature("wrong signer".into()),
                r#"{"state":"bad_signature","detail":"wrong signer"}"#,
                "bad_signature: wrong signer",
            ),
        ];
        for (verdict, json, text) in cases {
            assert_eq!(serde_json::to_string(&verdict).unwrap(), json);
            assert_eq!(verdict.to_string(), text);
        }
        let unreachable = Verdict::from(ManifestProblem::Unreachable(DriverError::unavailable(
            "refused",
        )));
        assert_eq!(unreachable.to_string(), "unreachable: unavailable: refused");
        assert!(unreachable.is_deficient() && !Verdict::Deleted.is_deficient());
    }
}
