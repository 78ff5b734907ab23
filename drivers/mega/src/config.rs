//! The `[provider.config]` table of a MEGA provider, parsed and checked.
//!
//! Every error names the field and never echoes the password: toml's own messages quote
//! the offending value, so an error on a secret field is replaced by a fixed text.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use mirra_driver_api::{DriverError, DriverResult};
use serde::Deserialize;
use url::Url;

use crate::paths::RootFolder;

/// MEGA's public API endpoint (what the mega crate uses by default).
pub const DEFAULT_API_URL: &str = "https://g.api.mega.co.nz/";
/// The folder under the Cloud Drive that holds mirra's objects unless configured.
pub const DEFAULT_ROOT_FOLDER: &str = "mirra";
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// Few retries: the host fails over to another provider, which beats waiting here.
const DEFAULT_MAX_RETRIES: usize = 3;

/// Fields whose values must never appear in an error message or in `Debug`.
const SECRET_FIELDS: [&str; 1] = ["password"];

/// The config exactly as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    email: String,
    password: String,
    root_folder: Option<String>,
    api_url: Option<String>,
    timeout: Option<String>,
    max_retries: Option<usize>,
    spool_dir: Option<PathBuf>,
}

/// Checked settings of one MEGA provider.
///
/// ```toml
/// [provider.config]
/// email = "alice@example.com"
/// password = "..."            # the account password; keep this file mode 0600
/// root_folder = "mirra/alice" # optional, under the Cloud Drive; default "mirra"
/// ```
#[derive(Clone)]
pub struct MegaConfig {
    /// The account's login email, lowercased as MEGA does.
    pub email: String,
    /// The account password. Never logged, never put in an error message.
    pub(crate) password: String,
    /// Where mirra's keys live under the Cloud Drive.
    pub root_folder: RootFolder,
    /// MEGA's API endpoint; only tests and MEGA's own staging servers change it.
    pub api_url: Url,
    /// How long one API request may take before the crate retries it.
    pub timeout: Duration,
    /// How many times the crate repeats a failed or throttled API request.
    pub max_retries: usize,
    /// Where streamed writes and downloads are spooled (files created 0600);
    /// `None` is the system's temporary directory.
    pub spool_dir: Option<PathBuf>,
}

impl MegaConfig {
    /// Parses and checks the config.
    ///
    /// # Errors
    /// `InvalidInput` whose message names the offending field, without its value when
    /// the field is the password.
    pub fn parse(config_toml: &str) -> DriverResult<Self> {
        let raw: RawConfig =
            toml::from_str(config_toml).map_err(|e| toml_error(config_toml, &e))?;
        let email = raw.email.trim().to_lowercase();
        // A cheap sanity check only: MEGA itself decides what a valid login is.
        if email.is_empty() || !email.contains('@') || email.contains(char::is_whitespace) {
            return Err(field_error(
                "email",
                format!("{:?} is not an email address", raw.email),
            ));
        }
        if raw.password.is_empty() {
            return Err(field_error("password", "is empty"));
        }
        let root_folder =
            RootFolder::parse(raw.root_folder.as_deref().unwrap_or(DEFAULT_ROOT_FOLDER))
                .map_err(|why| field_error("root_folder", why))?;
        let api_url = parse_api_url(raw.api_url.as_deref().unwrap_or(DEFAULT_API_URL))?;
        let timeout = match raw.timeout {
            None => DEFAULT_TIMEOUT,
            Some(text) => match humantime::parse_duration(&text) {
                Ok(d) if !d.is_zero() => d,
                Ok(_) => return Err(field_error("timeout", "must be more than zero")),
                Err(e) => {
                    return Err(field_error(
                        "timeout",
                        format!("{text:?} is not a duration like \"30s\": {e}"),
                    ))
                }
            },
        };
        let max_retries = raw.max_retries.unwrap_or(DEFAULT_MAX_RETRIES);
        if max_retries == 0 {
            // The crate makes zero attempts with zero retries: every call would fail.
            return Err(field_error("max_retries", "must be at least 1"));
        }
        if let Some(dir) = &raw.spool_dir {
            if !dir.is_absolute() {
                return Err(field_error(
                    "spool_dir",
                    format!("{} is not an absolute path", dir.display()),
                ));
            }
        }
        Ok(Self {
            email,
            password: raw.password,
            root_folder,
            api_url,
            timeout,
            max_retries,
            spool_dir: raw.spool_dir,
        })
    }
}

impl fmt::Debug for MegaConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MegaConfig")
            .field("email", &self.email)
            .field("password", &"<hidden>")
            .field("root_folder", &self.root_folder)
            .field("api_url", &self.api_url.as_str())
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .field("spool_dir", &self.spool_dir)
            .finish()
    }
}

fn field_error(field: &str, why: impl fmt::Display) -> DriverError {
    DriverError::invalid_input(format!("mega driver config: {field}: {why}"))
}

/// toml's error, named by field, with secret values kept out.
fn toml_error(text: &str, e: &toml::de::Error) -> DriverError {
    let message = e.message().trim();
    // Missing and unknown fields: toml's message names them ("missing field `email`"),
    // and its span covers the whole table, not the field.
    if message.starts_with("missing field") || message.starts_with("unknown field") {
        return DriverError::invalid_input(format!("mega driver config: {message}"));
    }
    let field = e.span().and_then(|span| field_at(text, span.start));
    match field {
        Some(field) if SECRET_FIELDS.contains(&field.as_str()) => {
            field_error(&field, "invalid value (not shown: it is a secret)")
        }
        Some(field) => field_error(&field, message),
        None => DriverError::invalid_input(format!("mega driver config: {message}")),
    }
}

/// The key on the line holding byte `offset` of `text`, if that line is `key = ...`.
fn field_at(text: &str, offset: usize) -> Option<String> {
    let offset = offset.min(text.len());
    let start = text.get(..offset)?.rfind('\n').map_or(0, |i| i + 1);
    let line = text[start..].lines().next()?;
    let (key, _) = line.split_once('=')?;
    let key = key.trim().trim_matches('"');
    (!key.is_empty()).then(|| key.to_owned())
}

fn parse_api_url(text: &str) -> DriverResult<Url> {
    let url = Url::parse(text).map_err(|e| field_error("api_url", format!("{text:?}: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(field_error(
            "api_url",
            format!("{text:?} is not an http(s) URL with a host"),
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(field_error(
            "api_url",
            "must not embed credentials; use email and password",
        ));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mirra_driver_api::ErrorKind;

    const GOOD: &str = "email = \"Alice@Example.com\"\npassword = \"hunter2-s3cr3t\"";

    #[test]
    fn parses_with_defaults_and_hides_the_password() {
        let config = MegaConfig::parse(GOOD).unwrap();
        assert_eq!(config.email, "alice@example.com");
        assert_eq!(config.password, "hunter2-s3cr3t");
        assert_eq!(config.root_folder.segments(), ["mirra"]);
        assert_eq!(config.api_url.as_str(), DEFAULT_API_URL);
        assert_eq!(config.timeout, DEFAULT_TIMEOUT);
        assert_eq!(config.max_retries, DEFAULT_MAX_RETRIES);
        let shown = format!("{config:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("<hidden>"), "{shown}");
    }

    #[test]
    fn parses_every_field() {
        let config = MegaConfig::parse(&format!(
            "{GOOD}\nroot_folder = \"/backups/mirra/\"\napi_url = \"http://127.0.0.1:9\"\n\
             timeout = \"5s\"\nmax_retries = 1\nspool_dir = \"/var/tmp\""
        ))
        .unwrap();
        assert_eq!(config.root_folder.segments(), ["backups", "mirra"]);
        assert_eq!(config.api_url.as_str(), "http://127.0.0.1:9/");
        assert_eq!(config.timeout, Duration::from_secs(5));
        assert_eq!(config.max_retries, 1);
        assert_eq!(config.spool_dir, Some(PathBuf::from("/var/tmp")));
    }

    #[test]
    fn bad_configs_name_the_field() {
        for (text, field) in [
            ("password = \"x\"", "email"),
            ("email = \"a@b.c\"", "password"),
            (&format!("{GOOD}\nroot = \"x\"") as &str, "root"),
            (&format!("{GOOD}\nemial = \"x\""), "emial"),
            ("email = \"not an email\"\npassword = \"x\"", "email"),
            ("email = \"a@b.c\"\npassword = \"\"", "password"),
            (&format!("{GOOD}\nroot_folder = \"a/../b\""), "root_folder"),
            (&format!("{GOOD}\nroot_folder = \"\""), "root_folder"),
            (&format!("{GOOD}\nroot_folder = \"a\\\\b\""), "root_folder"),
            (&format!("{GOOD}\nroot_folder = 7"), "root_folder"),
            (&format!("{GOOD}\napi_url = \"ftp://x\""), "api_url"),
            (&format!("{GOOD}\napi_url = \"https://u:p@x/\""), "api_url"),
            (&format!("{GOOD}\ntimeout = \"soon\""), "timeout"),
            (&format!("{GOOD}\ntimeout = \"0s\""), "timeout"),
            (&format!("{GOOD}\nmax_retries = 0"), "max_retries"),
            (&format!("{GOOD}\nmax_retries = -1"), "max_retries"),
            (&format!("{GOOD}\nspool_dir = \"relative\""), "spool_dir"),
        ] {
            let err = MegaConfig::parse(text).unwrap_err();
            assert_eq!(err.kind, ErrorKind::InvalidInput, "{text:?}");
            assert!(err.message.contains(field), "{text:?}: {}", err.message);
            assert!(
                !err.message.contains("hunter2"),
                "{text:?}: {}",
                err.message
            );
        }
    }

    #[test]
    fn a_password_of_the_wrong_type_is_not_echoed() {
        let err = MegaConfig::parse("email = \"a@b.c\"\npassword = 314159265").unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidInput);
        assert!(err.message.contains("password"), "{}", err.message);
        assert!(!err.message.contains("314159265"), "{}", err.message);
    }
}
