//! The `[gaia]` table: how `mirra serve --gaia` presents itself as a Gaia hub.

use serde::Deserialize;

/// Gaia's default upload limit, in megabytes.
pub const DEFAULT_GAIA_MAX_UPLOAD_MB: u64 = 20;

/// The `[gaia]` table.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct GaiaConfig {
    /// The server name in the challenge text tokens must sign:
    /// `["gaiahub","0",server_name,"blockstack_storage_please_sign"]`.
    pub server_name: String,
    /// Largest upload accepted, in megabytes (MiB); larger ones get 413.
    pub max_file_upload_size_megabytes: u64,
    /// Where apps read files (must end in `/`); unset, this gateway's own address as
    /// the request's `Host` names it.
    pub read_url_prefix: Option<String>,
    /// When set, only these bucket addresses (or apps vouched for by one of them with an
    /// association token) may write.
    pub whitelist: Option<Vec<String>>,
}

impl Default for GaiaConfig {
    fn default() -> Self {
        GaiaConfig {
            server_name: "gaia-0".into(),
            max_file_upload_size_megabytes: DEFAULT_GAIA_MAX_UPLOAD_MB,
            read_url_prefix: None,
            whitelist: None,
        }
    }
}

impl GaiaConfig {
    /// Checks what serde cannot: a usable limit and a read prefix ending in `/`.
    pub fn check(&self) -> Result<(), String> {
        if self.max_file_upload_size_megabytes == 0 {
            return Err("gaia.max_file_upload_size_megabytes must be at least 1".into());
        }
        if self.server_name.is_empty() || self.server_name.chars().any(char::is_control) {
            return Err("gaia.server_name must be non-empty text".into());
        }
        if let Some(prefix) = &self.read_url_prefix {
            check_read_url_prefix(prefix)?;
        }
        Ok(())
    }
}

/// A read URL prefix must be an http(s) URL ending in `/`: the client appends
/// `address/path` to it as it is.
pub fn check_read_url_prefix(prefix: &str) -> Result<(), String> {
    let scheme_ok = prefix.starts_with("http://") || prefix.starts_with("https://");
    if !scheme_ok || !prefix.ends_with('/') || prefix.chars().any(|c| c.is_control() || c == ' ') {
        return Err(format!(
            "read_url_prefix {prefix:?} must be an http(s) URL ending in `/`"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::Config;

    const PROVIDER: &str = "[[provider]]\nname = \"a\"\ndriver = \"disk\"\n";

    #[test]
    fn the_gaia_table_parses_with_defaults() {
        let config = Config::parse(PROVIDER, Path::new("c.toml")).unwrap();
        assert_eq!(config.gaia, GaiaConfig::default());
        let text = format!(
            "[gaia]\nserver_name = \"hub.example\"\nmax_file_upload_size_megabytes = 5\n\
             read_url_prefix = \"https://cdn.example/\"\nwhitelist = [\"1abc\"]\n{PROVIDER}"
        );
        let config = Config::parse(&text, Path::new("c.toml")).unwrap();
        assert_eq!(config.gaia.server_name, "hub.example");
        assert_eq!(config.gaia.max_file_upload_size_megabytes, 5);
        assert_eq!(config.gaia.whitelist, Some(vec!["1abc".to_owned()]));
    }

    #[test]
    fn bad_gaia_settings_are_errors_naming_the_field() {
        for (setting, field) in [
            (
                "read_url_prefix = \"https://cdn.example\"",
                "read_url_prefix",
            ),
            ("read_url_prefix = \"ftp://x/\"", "read_url_prefix"),
            (
                "max_file_upload_size_megabytes = 0",
                "max_file_upload_size_megabytes",
            ),
            ("server_nmae = \"x\"", "server_nmae"),
        ] {
            let text = format!("[gaia]\n{setting}\n{PROVIDER}");
            let err = Config::parse(&text, Path::new("c.toml"))
                .unwrap_err()
                .to_string();
            assert!(err.contains(field), "{setting}: {err}");
        }
    }
}
