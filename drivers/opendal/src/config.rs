//! The `[provider.config]` table of an OpenDAL provider: a `scheme` plus the service's
//! own options, passed through to OpenDAL as strings.

use std::collections::BTreeMap;
use std::fmt;

use mirra_driver_api::DriverError;

/// The services compiled into this build, in the order the README lists them.
pub const ENABLED_SCHEMES: [&str; 9] = [
    "fs", "webdav", "sftp", "dropbox", "gdrive", "onedrive", "azblob", "gcs", "ipfs",
];

/// Option names whose values are secrets. A name matches when it contains any of these
/// (case-insensitive), which covers every credential option of the enabled services:
/// `password`, `access_token`, `refresh_token`, `client_secret`, `account_key`,
/// `sas_token`, `credential`, and sftp's `key` (a path, hidden all the same).
const SECRET_MARKERS: [&str; 6] = ["password", "secret", "token", "key", "credential", "sas"];

/// An OpenDAL provider's configuration, e.g.
/// `scheme = "webdav"`, `endpoint = "https://dav.example"`, `username = "alice"`.
///
/// Every field other than `scheme` is a service option handed to OpenDAL verbatim
/// (integers and booleans are turned into their text form, as OpenDAL expects).
/// `Debug` shows secret options as `"<redacted>"`.
#[derive(Clone, PartialEq, Eq)]
pub struct OpendalConfig {
    /// The OpenDAL service, one of [`ENABLED_SCHEMES`].
    pub scheme: String,
    /// The service's options, by name.
    pub options: BTreeMap<String, String>,
}

impl OpendalConfig {
    /// Parses the TOML text the host passes to `open`.
    ///
    /// # Errors
    /// `InvalidInput` naming the field: no `scheme`, a scheme this build does not
    /// include, or an option that is a table or array rather than a plain value.
    pub fn parse(config_toml: &str) -> Result<Self, DriverError> {
        let bad = |msg: String| DriverError::invalid_input(format!("opendal driver config: {msg}"));
        // toml's own message may quote the offending line, which can hold a secret.
        let table: toml::Table = toml::from_str(config_toml)
            .map_err(|e| bad(format!("not valid TOML: {}", e.message().trim())))?;
        let mut scheme = None;
        let mut options = BTreeMap::new();
        for (name, value) in table {
            let text = match value {
                toml::Value::String(s) => s,
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                toml::Value::Float(f) => f.to_string(),
                other => {
                    return Err(bad(format!(
                        "field `{name}` is a {}; service options are plain strings",
                        other.type_str()
                    )))
                }
            };
            if name == "scheme" {
                scheme = Some(text);
            } else {
                options.insert(name, text);
            }
        }
        let scheme = scheme.ok_or_else(|| {
            bad(format!(
                "missing field `scheme` (one of: {})",
                ENABLED_SCHEMES.join(", ")
            ))
        })?;
        if !ENABLED_SCHEMES.contains(&scheme.as_str()) {
            return Err(bad(format!(
                "field `scheme`: {scheme:?} is not built into this driver (built in: {}); \
                 for S3-compatible stores use the s3 driver",
                ENABLED_SCHEMES.join(", ")
            )));
        }
        Ok(Self { scheme, options })
    }

    /// Whether the option `name` holds a secret.
    pub fn is_secret(name: &str) -> bool {
        let lower = name.to_ascii_lowercase();
        SECRET_MARKERS.iter().any(|m| lower.contains(m))
    }

    /// The values of every secret option, so messages can be scrubbed of them.
    pub(crate) fn secret_values(&self) -> Vec<String> {
        self.options
            .iter()
            .filter(|(name, value)| Self::is_secret(name) && !value.is_empty())
            .map(|(_, value)| value.clone())
            .collect()
    }
}

impl fmt::Debug for OpendalConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown: BTreeMap<&str, &str> = self
            .options
            .iter()
            .map(|(name, value)| {
                let value = if Self::is_secret(name) {
                    "<redacted>"
                } else {
                    value.as_str()
                };
                (name.as_str(), value)
            })
            .collect();
        f.debug_struct("OpendalConfig")
            .field("scheme", &self.scheme)
            .field("options", &shown)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mirra_driver_api::ErrorKind;

    #[test]
    fn scheme_and_options_pass_through_as_strings() {
        let config = OpendalConfig::parse(
            "scheme = \"webdav\"\nendpoint = \"http://127.0.0.1:8080\"\nroot = \"/m/\"\n\
             enable_user_metadata = false\nconcurrent = 4\n",
        )
        .unwrap();
        assert_eq!(config.scheme, "webdav");
        assert_eq!(config.options["endpoint"], "http://127.0.0.1:8080");
        assert_eq!(config.options["enable_user_metadata"], "false");
        assert_eq!(config.options["concurrent"], "4");
        assert!(!config.options.contains_key("scheme"));
    }

    #[test]
    fn secrets_never_show_in_debug() {
        let config = OpendalConfig::parse(
            "scheme = \"azblob\"\ncontainer = \"c\"\naccount_key = \"SUPERSECRET1\"\n\
             sas_token = \"SUPERSECRET2\"\n",
        )
        .unwrap();
        let shown = format!("{config:?}");
        assert!(!shown.contains("SUPERSECRET"), "{shown}");
        assert!(
            shown.contains("<redacted>") && shown.contains("container"),
            "{shown}"
        );
        let mut secrets = config.secret_values();
        secrets.sort();
        assert_eq!(secrets, ["SUPERSECRET1", "SUPERSECRET2"]);
        for name in [
            "password",
            "refresh_token",
            "client_secret",
            "access_token",
            "key",
        ] {
            assert!(OpendalConfig::is_secret(name), "{name}");
        }
        assert!(!OpendalConfig::is_secret("endpoint"));
    }

    #[test]
    fn bad_configs_name_the_field() {
        let cases = [
            ("root = \"/x\"", "scheme"),
            ("scheme = \"s3\"", "scheme"),
            ("scheme = \"fs\"\nroot = [\"/x\"]", "root"),
        ];
        for (text, field) in cases {
            let err = OpendalConfig::parse(text).unwrap_err();
            assert_eq!(err.kind, ErrorKind::InvalidInput, "{text:?}");
            assert!(err.message.contains(field), "{text:?}: {}", err.message);
        }
        let err = OpendalConfig::parse("scheme = \"fs\"\npassword = \"hunter2").unwrap_err();
        assert!(!err.message.contains("hunter2"), "{}", err.message);
    }
}
