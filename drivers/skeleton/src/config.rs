//! The driver's `[provider.config]` table, parsed from the TOML text the host passes.
//!
//! Replace the fields with what your store needs. Keep field names snake_case, reject
//! unknown fields (a typo must not silently fall back to a default), and keep secrets
//! out of `Debug`: the host and your own logs print configs.

use std::fmt;

use mirra_driver_api::DriverError;
use serde::Deserialize;

/// Example configuration:
///
/// ```toml
/// [provider.config]
/// endpoint = "https://api.example.com"
/// api_token = "..."          # optional; prefer reading it from the environment
/// prefix = "mirra/"          # optional; keys are stored under it
/// ```
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SkeletonConfig {
    /// Where the store is. Required: a missing `endpoint` is `InvalidInput`.
    pub endpoint: String,
    /// A credential. Never logged, never put in an error message.
    #[serde(default)]
    pub api_token: Option<String>,
    /// A key prefix inside the store, so one account can hold several providers.
    #[serde(default)]
    pub prefix: String,
}

impl SkeletonConfig {
    /// Parses and checks the config.
    ///
    /// # Errors
    /// `InvalidInput` whose message names the offending field: toml's messages do for
    /// missing and unknown fields ("missing field `endpoint`").
    pub fn parse(config_toml: &str) -> Result<Self, DriverError> {
        let config: Self = toml::from_str(config_toml).map_err(|e| {
            DriverError::invalid_input(format!("skeleton driver config: {}", e.message().trim()))
        })?;
        // Check values too, not only their types, and name the field.
        if !config.endpoint.starts_with("https://") && !config.endpoint.starts_with("http://") {
            return Err(DriverError::invalid_input(format!(
                "skeleton driver config: endpoint {:?} is not an http(s) URL",
                config.endpoint
            )));
        }
        Ok(config)
    }
}

impl fmt::Debug for SkeletonConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SkeletonConfig")
            .field("endpoint", &self.endpoint)
            .field("api_token", &self.api_token.as_ref().map(|_| "<hidden>"))
            .field("prefix", &self.prefix)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mirra_driver_api::ErrorKind;

    #[test]
    fn parses_and_hides_the_token() {
        let config =
            SkeletonConfig::parse("endpoint = \"https://api.example.com\"\napi_token = \"s3cr3t\"")
                .unwrap();
        assert_eq!(config.endpoint, "https://api.example.com");
        assert_eq!(config.prefix, "");
        let shown = format!("{config:?}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
    }

    #[test]
    fn bad_configs_name_the_field() {
        for (text, field) in [
            ("", "endpoint"),
            ("endpoint = \"https://x\"\nendpont = \"y\"", "endpont"),
            ("endpoint = \"ftp://x\"", "endpoint"),
        ] {
            let err = SkeletonConfig::parse(text).unwrap_err();
            assert_eq!(err.kind, ErrorKind::InvalidInput);
            assert!(err.message.contains(field), "{text:?}: {}", err.message);
        }
    }
}
