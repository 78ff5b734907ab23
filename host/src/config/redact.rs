//! `Debug` for driver config tables without their secrets.
//!
//! Provider tables carry credentials (`secret_access_key`, tokens, passwords) next to
//! harmless settings. Debug output ends up in logs and bug reports, so values under
//! sensitive-looking keys are replaced, at any depth.

use std::fmt;

/// Substrings that mark a key's value as secret (compared in lowercase).
const SENSITIVE: &[&str] = &[
    "secret",
    "password",
    "passwd",
    "token",
    "key_id",
    "access_key",
    "api_key",
    "private_key",
    "credential",
    "auth",
    "session",
    "signature",
];

/// What a hidden value prints as.
pub(crate) const HIDDEN: &str = "<redacted>";

/// Whether a config key's value must not be shown.
pub(crate) fn is_sensitive(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    SENSITIVE.iter().any(|word| key.contains(word))
}

/// Debug-prints a TOML table with sensitive values hidden.
pub(crate) struct RedactedTable<'a>(pub(crate) &'a toml::Table);

impl fmt::Debug for RedactedTable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for (key, value) in self.0 {
            if is_sensitive(key) {
                map.entry(key, &format_args!("{HIDDEN}"));
            } else {
                map.entry(key, &RedactedValue(value));
            }
        }
        map.finish()
    }
}

/// Debug-prints a TOML value, hiding sensitive keys inside nested tables.
struct RedactedValue<'a>(&'a toml::Value);

impl fmt::Debug for RedactedValue<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            toml::Value::Table(table) => RedactedTable(table).fmt(f),
            toml::Value::Array(items) => f
                .debug_list()
                .entries(items.iter().map(RedactedValue))
                .finish(),
            other => fmt::Debug::fmt(other, f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensitive_keys_are_recognised() {
        for key in [
            "secret_access_key",
            "access_key_id",
            "PASSWORD",
            "api_token",
            "sas_token",
            "auth_header",
        ] {
            assert!(is_sensitive(key), "{key}");
        }
        for key in [
            "bucket",
            "region",
            "endpoint",
            "root",
            "prefix",
            "path_style",
        ] {
            assert!(!is_sensitive(key), "{key}");
        }
    }

    #[test]
    fn nested_secrets_are_hidden() {
        let table: toml::Table = toml::from_str(
            r#"
            bucket = "b"
            secret_access_key = "hunter2"
            [nested]
            password = "hunter3"
            list = [{ token = "hunter4", ok = 1 }]
            "#,
        )
        .unwrap();
        let shown = format!("{:?}", RedactedTable(&table));
        assert!(!shown.contains("hunter"), "{shown}");
        assert!(shown.contains("\"b\""), "{shown}");
        assert!(shown.contains(HIDDEN), "{shown}");
    }
}
