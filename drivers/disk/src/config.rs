//! The `[provider.config]` table of a disk provider.

use std::path::{Path, PathBuf};

use mirra_driver_api::DriverError;
use serde::Deserialize;

/// A disk provider's configuration, e.g. `root = "~/.local/share/mirra/providers/laptop"`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiskConfig {
    /// The directory that holds the objects: absolute, or starting with `~/`.
    /// Created if missing.
    pub root: String,
}

impl DiskConfig {
    /// Parses the TOML text the host passes to `open`.
    ///
    /// # Errors
    /// `InvalidInput` naming the field: missing `root`, an unknown field, a wrong type.
    pub fn parse(config_toml: &str) -> Result<Self, DriverError> {
        toml::from_str(config_toml).map_err(|e| {
            DriverError::invalid_input(format!(
                "disk driver config: {}",
                describe_error(config_toml, &e)
            ))
        })
    }

    /// The root as an absolute path, with a leading `~` replaced by `$HOME`.
    ///
    /// # Errors
    /// `InvalidInput` naming `root` when it is empty, relative, or uses `~` with no
    /// `$HOME` set. A relative root would depend on the host's working directory.
    pub fn root_path(&self) -> Result<PathBuf, DriverError> {
        let bad = |why: &str| {
            DriverError::invalid_input(format!("disk driver config: root {:?} {why}", self.root))
        };
        let expanded = match self.root.strip_prefix('~') {
            Some(rest) if rest.is_empty() || rest.starts_with('/') => {
                let home = std::env::var_os("HOME")
                    .filter(|h| !h.is_empty())
                    .ok_or_else(|| bad("starts with ~ but $HOME is not set"))?;
                let mut path = PathBuf::from(home);
                path.push(rest.trim_start_matches('/'));
                path
            }
            // `~user/...` would need a password-database lookup; nobody needs it here.
            Some(_) => {
                return Err(bad(
                    "uses ~user, which is not supported; use ~/ or a full path",
                ))
            }
            None => PathBuf::from(&self.root),
        };
        if self.root.is_empty() {
            return Err(bad("is empty"));
        }
        if !Path::new(&expanded).is_absolute() {
            return Err(bad(
                "is relative; use an absolute path or one starting with ~/",
            ));
        }
        Ok(expanded)
    }
}

/// toml's message without its multi-line source excerpt, naming the field.
///
/// Messages about missing or unknown fields name the field already; a wrong type
/// ("invalid type: integer `5`, expected a string") does not, so the field is taken
/// from the line the error points at.
fn describe_error(config_toml: &str, err: &toml::de::Error) -> String {
    let message = err.message().trim();
    let field = err
        .span()
        .and_then(|span| {
            let before = config_toml.get(..span.start)?;
            let line_start = before.rfind('\n').map_or(0, |i| i + 1);
            let line = config_toml[line_start..].lines().next()?;
            let (name, _) = line.split_once('=')?;
            Some(name.trim().trim_matches('"').to_owned())
        })
        .filter(|name| !name.is_empty() && !message.contains(&format!("`{name}`")));
    match field {
        Some(name) => format!("field `{name}`: {message}"),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mirra_driver_api::ErrorKind;

    #[test]
    fn parses_root_and_expands_tilde() {
        let config = DiskConfig::parse(r#"root = "/srv/mirra""#).unwrap();
        assert_eq!(config.root_path().unwrap(), PathBuf::from("/srv/mirra"));

        let home = std::env::var("HOME").expect("tests run with $HOME set");
        let config = DiskConfig::parse(r#"root = "~/data/x""#).unwrap();
        assert_eq!(config.root_path().unwrap(), Path::new(&home).join("data/x"));
        let config = DiskConfig::parse(r#"root = "~""#).unwrap();
        assert_eq!(config.root_path().unwrap(), PathBuf::from(&home));
    }

    #[test]
    fn bad_configs_name_the_field() {
        let cases = [
            ("", "root"),
            (r#"rot = "/x""#, "rot"),
            (
                r#"root = "/x"
public_url = "http://x""#,
                "public_url",
            ),
            ("root = 5", "root"),
        ];
        for (text, field) in cases {
            let err = DiskConfig::parse(text).unwrap_err();
            assert_eq!(err.kind, ErrorKind::InvalidInput, "{text:?}");
            assert!(err.message.contains(field), "{text:?}: {}", err.message);
        }
        for root in ["", "relative/dir", "~bob/x"] {
            let config = DiskConfig { root: root.into() };
            let err = config.root_path().unwrap_err();
            assert_eq!(err.kind, ErrorKind::InvalidInput, "{root:?}");
            assert!(err.message.contains("root"), "{}", err.message);
        }
    }
}
