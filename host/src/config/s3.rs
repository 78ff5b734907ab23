//! The optional `[s3]` table: who may use `mirra serve --s3`, and how.

use std::fmt;

use serde::Deserialize;

/// The `[s3]` table.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct S3Config {
    /// The region the endpoint reports and signatures are scoped to (`us-east-1`).
    pub region: Option<String>,
    /// Base domain for virtual-host-style requests (`<bucket>.<domain>`); unset, only
    /// path-style requests name a bucket.
    pub domain: Option<String>,
    /// Buckets anyone may read without signing (GetObject, HeadObject, listing).
    pub public_buckets: Vec<String>,
    /// The `[[s3.credentials]]` entries: access keys and what each may do.
    pub credentials: Vec<S3Credential>,
}

/// One `[[s3.credentials]]` entry.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Credential {
    /// The access key id clients send.
    pub access_key: String,
    /// The secret clients sign with; never printed.
    pub secret_key: String,
    /// Buckets this key may use; empty means every bucket (unless `prefixes` is set).
    #[serde(default)]
    pub buckets: Vec<String>,
    /// `bucket/key-prefix` strings this key may use, e.g. `"photos/2024/"`; objects
    /// outside them are denied, as are listings that could reach past them.
    #[serde(default)]
    pub prefixes: Vec<String>,
    /// Only reads (GET, HEAD, listings).
    #[serde(default)]
    pub read_only: bool,
}

impl fmt::Debug for S3Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Credential")
            .field("access_key", &self.access_key)
            .field("secret_key", &format_args!("<redacted>"))
            .field("buckets", &self.buckets)
            .field("prefixes", &self.prefixes)
            .field("read_only", &self.read_only)
            .finish()
    }
}

impl S3Config {
    /// Why the table cannot be used, if it cannot: `(field, message)`.
    pub(crate) fn problem(&self) -> Option<(String, String)> {
        for (index, credential) in self.credentials.iter().enumerate() {
            let field = |name: &str| format!("s3.credentials[{index}].{name}");
            if credential.access_key.is_empty() {
                return Some((field("access_key"), "empty access key".into()));
            }
            if credential.secret_key.len() < 8 {
                return Some((
                    field("secret_key"),
                    "secret key shorter than 8 characters".into(),
                ));
            }
            let first = self
                .credentials
                .iter()
                .position(|c| c.access_key == credential.access_key);
            if first != Some(index) {
                return Some((
                    field("access_key"),
                    format!(
                        "duplicate access key (also s3.credentials[{}])",
                        first.unwrap_or(0)
                    ),
                ));
            }
            if let Some(prefix) = credential.prefixes.iter().find(|p| !p.contains('/')) {
                return Some((
                    field("prefixes"),
                    format!("{prefix:?} is not of the form \"bucket/key-prefix\""),
                ));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_secret() {
        let credential = S3Credential {
            access_key: "AKIDEXAMPLE".into(),
            secret_key: "wJalrXUtnFEMI-very-secret".into(),
            buckets: vec![],
            prefixes: vec![],
            read_only: false,
        };
        let printed = format!("{credential:?}");
        assert!(printed.contains("AKIDEXAMPLE"));
        assert!(!printed.contains("very-secret"), "{printed}");
    }
}
