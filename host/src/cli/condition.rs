//! `--if-match` / `--if-none-match` for `put` and `rm`: the store's write conditions.

use clap::Args;

use crate::store::{PutReport, WriteCondition};

/// Write only if the key's newest version is what the caller last saw.
#[derive(Debug, Args)]
pub struct ConditionFlags {
    /// Write only if the newest live version has this SHA-256 (64 hex digits, the
    /// gateway's ETag, quotes optional) or the newest version has this number.
    #[arg(long, value_name = "SHA256|VERSION", conflicts_with = "if_none_match")]
    if_match: Option<String>,
    /// `'*'`: write only if the key has no live version (never written, or deleted).
    #[arg(long, value_name = "*")]
    if_none_match: Option<String>,
}

impl ConditionFlags {
    /// Whether any condition was given.
    pub fn any(&self) -> bool {
        self.if_match.is_some() || self.if_none_match.is_some()
    }

    /// The condition the flags ask for.
    pub fn condition(&self) -> anyhow::Result<WriteCondition> {
        if let Some(value) = &self.if_none_match {
            anyhow::ensure!(
                value == "*",
                "--if-none-match takes only '*' (write only if the key does not exist), not {value:?}"
            );
            return Ok(WriteCondition::IfAbsent);
        }
        match &self.if_match {
            None => Ok(WriteCondition::Always),
            Some(value) => parse_if_match(value),
        }
    }
}

fn parse_if_match(value: &str) -> anyhow::Result<WriteCondition> {
    let bare = value.trim().trim_matches('"');
    if bare.len() == 64 && bare.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(WriteCondition::IfSha256(bare.to_ascii_lowercase()));
    }
    if !bare.is_empty() && bare.bytes().all(|b| b.is_ascii_digit()) {
        let version = bare
            .parse()
            .map_err(|_| anyhow::anyhow!("--if-match version {bare} is too large"))?;
        return Ok(WriteCondition::IfVersion(version));
    }
    anyhow::bail!("--if-match takes a SHA-256 (64 hex digits) or a version number, not {value:?}")
}

/// The exit status for a write that committed: superseded when a concurrent writer won.
pub fn exit_status(report: &PutReport) -> u8 {
    match report.superseded_by {
        Some(_) => super::EXIT_SUPERSEDED,
        None => super::EXIT_OK,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(if_match: Option<&str>, if_none_match: Option<&str>) -> ConditionFlags {
        ConditionFlags {
            if_match: if_match.map(str::to_owned),
            if_none_match: if_none_match.map(str::to_owned),
        }
    }

    #[test]
    fn hashes_versions_and_star_parse() {
        let hex = "AB".repeat(32);
        assert_eq!(
            flags(Some(&format!("\"{hex}\"")), None)
                .condition()
                .unwrap(),
            WriteCondition::IfSha256(hex.to_ascii_lowercase())
        );
        assert_eq!(
            flags(Some("7"), None).condition().unwrap(),
            WriteCondition::IfVersion(7)
        );
        assert_eq!(
            flags(None, Some("*")).condition().unwrap(),
            WriteCondition::IfAbsent
        );
        assert_eq!(
            flags(None, None).condition().unwrap(),
            WriteCondition::Always
        );
    }

    #[test]
    fn anything_else_is_refused_with_a_reason() {
        for (m, n) in [(Some("abc"), None), (Some(""), None), (None, Some("etag"))] {
            let err = flags(m, n).condition().unwrap_err().to_string();
            assert!(err.contains("--if-"), "{err}");
        }
        let err = flags(Some("99999999999999999999999"), None)
            .condition()
            .unwrap_err()
            .to_string();
        assert!(err.contains("too large"), "{err}");
    }
}
