//! The `[provider.config]` table of an http provider, parsed and checked.
//!
//! [`RawConfig`] records what was typed (serde, `deny_unknown_fields`); [`Settings`]
//! holds checked values. Errors name the field and never echo a secret's value.

use std::fmt;
use std::time::Duration;

use mirra_driver_api::{DriverError, DriverResult};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::Deserialize;
use url::Url;

const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Fields whose values must never appear in an error message or in `Debug`.
const SECRET_FIELDS: [&str; 2] = ["password", "bearer_token"];

/// Everything but RFC 3986's unreserved characters is escaped in a key segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The config exactly as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    base_url: String,
    #[serde(default)]
    webdav: bool,
    username: Option<String>,
    password: Option<String>,
    bearer_token: Option<String>,
    connect_timeout: Option<String>,
    timeout: Option<String>,
    public_url: Option<String>,
}

/// How requests authenticate.
#[derive(Clone)]
pub(crate) enum Auth {
    None,
    Basic { username: String, password: String },
    Bearer(String),
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => f.write_str("None"),
            Self::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
            Self::Bearer(_) => f.write_str("Bearer(<redacted>)"),
        }
    }
}

/// Checked settings of one http provider.
#[derive(Debug)]
pub(crate) struct Settings {
    /// Ends with `/`.
    pub base_url: Url,
    pub webdav: bool,
    pub auth: Auth,
    pub connect_timeout: Duration,
    pub timeout: Duration,
    /// Ends with `/`; defaults to `base_url`.
    pub public_url: Url,
    /// Opened from a URL: writes answer `PermissionDenied`.
    pub read_only: bool,
    /// Opened from an untrusted URL: the addresses connections may go to.
    pub policy: Option<mirra_driver_api::AddressPolicy>,
}

impl Settings {
    /// Parses and checks the provider's config table, given as TOML text.
    pub fn from_toml(text: &str) -> DriverResult<Self> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| toml_error(text, &e))?;
        let auth = match (raw.username, raw.password, raw.bearer_token) {
            (None, None, None) => Auth::None,
            (Some(username), Some(password), None) => Auth::Basic { username, password },
            // An empty password is legitimate for some servers.
            (Some(username), None, None) => Auth::Basic {
                username,
                password: String::new(),
            },
            (None, Some(_), _) => return Err(field_error("username", "missing (password is set)")),
            (None, None, Some(token)) => Auth::Bearer(token),
            (Some(_), _, Some(_)) => {
                return Err(field_error(
                    "bearer_token",
                    "set either bearer_token or username/password, not both",
                ))
            }
        };
        let base_url = directory_url("base_url", &raw.base_url)?;
        let public_url = match raw.public_url {
            Some(u) => directory_url("public_url", &u)?,
            None => base_url.clone(),
        };
        Ok(Self {
            base_url,
            webdav: raw.webdav,
            auth,
            connect_timeout: parse_duration("connect_timeout", raw.connect_timeout)?
                .unwrap_or(DEFAULT_CONNECT_TIMEOUT),
            timeout: parse_duration("timeout", raw.timeout)?.unwrap_or(DEFAULT_TIMEOUT),
            public_url,
            read_only: false,
            policy: None,
        })
    }

    /// Anonymous, read-only settings rooted at `url` (from `open_url`).
    pub fn read_only_url(url: &str) -> DriverResult<Self> {
        let base_url = directory_url("url", url)?;
        Ok(Self {
            public_url: base_url.clone(),
            base_url,
            webdav: false,
            auth: Auth::None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            timeout: DEFAULT_TIMEOUT,
            read_only: true,
            policy: None,
        })
    }

    /// The URL of `path` (a key, or a collection ending in `/`) under the base URL.
    pub fn url_of(&self, path: &str) -> DriverResult<Url> {
        join(&self.base_url, path)
    }
}

/// `base` + `path` with each segment of `path` percent-encoded.
pub(crate) fn join(base: &Url, path: &str) -> DriverResult<Url> {
    let text = format!("{base}{}", encode_path(path));
    Url::parse(&text).map_err(|e| DriverError::invalid_input(format!("{path:?}: {e}")))
}

/// Percent-encodes each `/`-separated segment of `path`, keeping the slashes.
pub(crate) fn encode_path(path: &str) -> String {
    path.split('/')
        .map(|segment| utf8_percent_encode(segment, SEGMENT).to_string())
        .collect::<Vec<_>>()
        .join("/")
}

/// An `InvalidInput` error naming `field`.
pub(crate) fn field_error(field: &str, problem: impl fmt::Display) -> DriverError {
    DriverError::invalid_input(format!("http config field `{field}`: {problem}"))
}

/// A TOML error naming the field, without the source snippet (which would quote the
/// line, and that line may hold a secret).
fn toml_error(text: &str, e: &toml::de::Error) -> DriverError {
    let field = e.span().and_then(|span| field_at(text, span.start));
    match field {
        Some(field) if SECRET_FIELDS.contains(&field.as_str()) => {
            field_error(&field, "invalid value (not shown: it is a secret)")
        }
        Some(field) => field_error(&field, e.message()),
        None => DriverError::invalid_input(format!("http config: {}", e.message())),
    }
}

/// The key on the line holding byte `offset` of `text`, if that line is `key = ...`.
fn field_at(text: &str, offset: usize) -> Option<String> {
    let start = text[..offset.min(text.len())]
        .rfind('\n')
        .map_or(0, |i| i + 1);
    let line = text[start..].lines().next()?;
    let (key, _) = line.split_once('=')?;
    let key = key.trim().trim_matches('"');
    (!key.is_empty()).then(|| key.to_owned())
}

/// An http(s) URL without credentials, with a path ending in `/` so keys append.
fn directory_url(field: &str, text: &str) -> DriverResult<Url> {
    let mut url = Url::parse(text).map_err(|e| field_error(field, format!("{text:?}: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(field_error(
            field,
            format!("{text:?} is not an http(s) URL with a host"),
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        // Credentials in a URL leak into logs and error messages.
        return Err(field_error(
            field,
            "must not embed credentials; use username/password or bearer_token",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(field_error(field, "must not have a query or fragment"));
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

fn parse_duration(field: &str, text: Option<String>) -> DriverResult<Option<Duration>> {
    let Some(text) = text else { return Ok(None) };
    let d = humantime::parse_duration(&text).map_err(|e| {
        field_error(
            field,
            format!("{text:?} is not a duration like \"5s\": {e}"),
        )
    })?;
    if d.is_zero() {
        return Err(field_error(field, "must be more than zero"));
    }
    Ok(Some(d))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mirra_driver_api::ErrorKind;

    fn invalid(text: &str) -> String {
        let err = Settings::from_toml(text).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidInput, "{err}");
        err.message
    }

    #[test]
    fn parses_and_defaults() {
        let s = Settings::from_toml("base_url = \"https://example.org/files\"\n").unwrap();
        assert_eq!(s.base_url.as_str(), "https://example.org/files/");
        assert_eq!(s.public_url, s.base_url);
        assert!(!s.webdav && matches!(s.auth, Auth::None));
        let s = Settings::from_toml(
            "base_url = \"http://127.0.0.1:8080/\"\nwebdav = true\nusername = \"u\"\n\
             password = \"p\"\ntimeout = \"3s\"\nconnect_timeout = \"1s\"\n\
             public_url = \"https://cdn.example/x\"\n",
        )
        .unwrap();
        assert_eq!(s.timeout, Duration::from_secs(3));
        assert_eq!(s.public_url.as_str(), "https://cdn.example/x/");
        assert!(matches!(s.auth, Auth::Basic { .. }));
    }

    #[test]
    fn errors_name_the_field_and_hide_secrets() {
        assert!(invalid("base_url = \"ftp://x\"\n").contains("base_url"));
        assert!(invalid("base_url = \"http://x\"\nwebdaw = true\n").contains("webdaw"));
        assert!(invalid("base_url = \"http://x\"\ntimeout = \"never\"\n").contains("timeout"));
        assert!(invalid("base_url = \"http://u:pw@x\"\n").contains("base_url"));
        let m = invalid("base_url = \"http://x\"\nusername = \"u\"\npassword = 987654\n");
        assert!(m.contains("password") && !m.contains("987654"), "{m}");
        let m = invalid("base_url = \"http://x\"\nbearer_token = \"t\"\nusername = \"u\"\n");
        assert!(m.contains("bearer_token"), "{m}");
    }

    #[test]
    fn debug_hides_secrets() {
        let s = Settings::from_toml(
            "base_url = \"http://x\"\nusername = \"u\"\npassword = \"hunter22\"\n",
        )
        .unwrap();
        assert!(!format!("{s:?}").contains("hunter22"));
        let s =
            Settings::from_toml("base_url = \"http://x\"\nbearer_token = \"tok-777\"\n").unwrap();
        assert!(!format!("{s:?}").contains("tok-777"));
    }

    #[test]
    fn keys_are_encoded_per_segment() {
        let base = Url::parse("http://h/dav/").unwrap();
        assert_eq!(
            join(&base, "a b/c+d%20/ключ").unwrap().as_str(),
            "http://h/dav/a%20b/c%2Bd%2520/%D0%BA%D0%BB%D1%8E%D1%87"
        );
    }
}
