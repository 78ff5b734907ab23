//! Where an s3 provider's credentials come from: the config, else the standard AWS
//! environment variables, else the shared credentials file (`~/.aws/credentials`, or
//! `AWS_SHARED_CREDENTIALS_FILE`) for `AWS_PROFILE` (default `default`).
//!
//! Instance-metadata credentials are deliberately not probed: that means network calls
//! to a link-local address on every open, and a silent multi-second stall off EC2.

use std::fmt;
use std::path::{Path, PathBuf};

use mirra_driver_api::DriverResult;

use crate::config::field_error;

/// An access key pair, with an optional session token. `Debug` hides the secrets.
#[derive(Clone)]
pub(crate) struct Credentials {
    pub key_id: String,
    pub secret: String,
    pub token: Option<String>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("key_id", &self.key_id)
            .field("secret", &"<redacted>")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Reads environment variables and files; a trait so tests need not touch the process
/// environment (which other test threads share).
pub(crate) trait Environment {
    /// The variable's value, if set and not empty.
    fn var(&self, name: &str) -> Option<String>;
    /// The text of the file at `path`, if readable.
    fn read_file(&self, path: &Path) -> Option<String>;
}

/// The real process environment and file system.
pub(crate) struct ProcessEnv;

impl Environment for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
    fn read_file(&self, path: &Path) -> Option<String> {
        std::fs::read_to_string(path).ok()
    }
}

/// Picks credentials: config first, then environment, then the profile file.
pub(crate) fn resolve(
    key_id: Option<String>,
    secret: Option<String>,
    token: Option<String>,
    env: &dyn Environment,
) -> DriverResult<Credentials> {
    match (key_id, secret) {
        (Some(key_id), Some(secret)) => {
            return Ok(Credentials {
                key_id,
                secret,
                token,
            })
        }
        (Some(_), None) => {
            return Err(field_error(
                "secret_access_key",
                "missing (access_key_id is set)",
            ))
        }
        (None, Some(_)) => {
            return Err(field_error(
                "access_key_id",
                "missing (secret_access_key is set)",
            ))
        }
        (None, None) => {}
    }
    if let (Some(key_id), Some(secret)) = (
        env.var("AWS_ACCESS_KEY_ID"),
        env.var("AWS_SECRET_ACCESS_KEY"),
    ) {
        let token = env.var("AWS_SESSION_TOKEN");
        return Ok(Credentials {
            key_id,
            secret,
            token,
        });
    }
    let profile = env.var("AWS_PROFILE").unwrap_or_else(|| "default".into());
    let file = env
        .var("AWS_SHARED_CREDENTIALS_FILE")
        .map(PathBuf::from)
        .or_else(|| {
            env.var("HOME")
                .map(|h| PathBuf::from(h).join(".aws/credentials"))
        });
    if let Some(found) = file
        .and_then(|f| env.read_file(&f))
        .and_then(|text| from_profile(&text, &profile))
    {
        return Ok(found);
    }
    Err(field_error(
        "access_key_id",
        format!(
            "no credentials: set access_key_id and secret_access_key, or \
             AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or profile [{profile}] in the \
             AWS credentials file (open an s3:// URL for anonymous reads)"
        ),
    ))
}

/// The keys of `[profile]` in an AWS credentials file (INI: `key = value` lines under
/// `[section]` headers, `#`/`;` comments).
fn from_profile(text: &str, profile: &str) -> Option<Credentials> {
    let mut in_section = false;
    let (mut key_id, mut secret, mut token) = (None, None, None);
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            in_section = section.trim() == profile;
            continue;
        }
        if !in_section {
            continue;
        }
        if let Some((name, value)) = line.split_once('=') {
            let value = Some(value.trim().to_owned()).filter(|v| !v.is_empty());
            match name.trim().to_ascii_lowercase().as_str() {
                "aws_access_key_id" => key_id = value,
                "aws_secret_access_key" => secret = value,
                "aws_session_token" => token = value,
                _ => {}
            }
        }
    }
    Some(Credentials {
        key_id: key_id?,
        secret: secret?,
        token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct FakeEnv(HashMap<&'static str, &'static str>);

    impl Environment for FakeEnv {
        fn var(&self, name: &str) -> Option<String> {
            self.0.get(name).map(|v| v.to_string())
        }
        fn read_file(&self, path: &Path) -> Option<String> {
            self.0.get(path.to_str()?).map(|v| v.to_string())
        }
    }

    const FILE: &str = "# comment\n[default]\naws_access_key_id = DEF\naws_secret_access_key = defsecret\n\n\
                        [work]\naws_access_key_id=WORK\naws_secret_access_key=worksecret\naws_session_token = tok\n";

    #[test]
    fn config_wins_then_env_then_profile() {
        let env = FakeEnv(HashMap::from([
            ("AWS_ACCESS_KEY_ID", "ENV"),
            ("AWS_SECRET_ACCESS_KEY", "envsecret"),
            ("HOME", "/h"),
            ("/h/.aws/credentials", FILE),
        ]));
        let c = resolve(Some("CFG".into()), Some("s".into()), None, &env).unwrap();
        assert_eq!(c.key_id, "CFG");
        let c = resolve(None, None, None, &env).unwrap();
        assert_eq!(c.key_id, "ENV");
        let env = FakeEnv(HashMap::from([
            ("HOME", "/h"),
            ("/h/.aws/credentials", FILE),
        ]));
        assert_eq!(resolve(None, None, None, &env).unwrap().key_id, "DEF");
        let env = FakeEnv(HashMap::from([
            ("AWS_PROFILE", "work"),
            ("AWS_SHARED_CREDENTIALS_FILE", "/c"),
            ("/c", FILE),
        ]));
        let c = resolve(None, None, None, &env).unwrap();
        assert_eq!(
            (c.key_id.as_str(), c.token.as_deref()),
            ("WORK", Some("tok"))
        );
    }

    #[test]
    fn half_a_pair_or_nothing_is_an_error_naming_the_field() {
        let env = FakeEnv(HashMap::new());
        let e = resolve(Some("A".into()), None, None, &env).unwrap_err();
        assert!(e.message.contains("secret_access_key"));
        let e = resolve(None, None, None, &env).unwrap_err();
        assert!(e.message.contains("access_key_id"));
    }

    #[test]
    fn debug_hides_secrets() {
        let c = Credentials {
            key_id: "AKID".into(),
            secret: "hush".into(),
            token: Some("sess-xyz".into()),
        };
        let d = format!("{c:?}");
        assert!(!d.contains("hush") && !d.contains("sess-xyz"), "{d}");
    }
}
