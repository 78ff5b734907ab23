//! The `[provider.config]` table of an s3 provider, parsed and checked.
//!
//! Parsing happens in two steps, as in ripgrep's low/high args: [`RawConfig`] records
//! what was typed (serde, `deny_unknown_fields`), [`Settings`] holds checked values the
//! driver can use without further validation. Every error names the field and never
//! echoes a secret's value.

use std::fmt;
use std::time::Duration;

use mirra_driver_api::{DriverError, DriverResult};
use serde::Deserialize;
use url::Url;

use crate::credentials::{self, Credentials};

const MIB: u64 = 1 << 20;
/// S3 refuses parts smaller than 5 MiB (except the last one).
const MIN_PART_SIZE: u64 = 5 * MIB;
/// S3 refuses parts larger than 5 GiB.
const MAX_PART_SIZE: u64 = 5 << 30;
const DEFAULT_PART_SIZE: u64 = 8 * MIB;
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// Few retries: the host fails over to another provider, which beats waiting here.
const DEFAULT_MAX_RETRIES: usize = 2;
const DEFAULT_REGION: &str = "us-east-1";

/// Fields whose values must never appear in an error message.
const SECRET_FIELDS: [&str; 2] = ["secret_access_key", "session_token"];

/// The config exactly as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    endpoint: Option<String>,
    region: Option<String>,
    bucket: String,
    #[serde(default)]
    prefix: String,
    #[serde(default)]
    path_style: bool,
    public_url: Option<String>,
    access_key_id: Option<String>,
    secret_access_key: Option<String>,
    session_token: Option<String>,
    part_size: Option<SizeValue>,
    connect_timeout: Option<String>,
    timeout: Option<String>,
    max_retries: Option<usize>,
}

/// A size as a number of bytes or a string with a unit (`"8MiB"`, `"16 MB"`).
#[derive(Deserialize)]
#[serde(untagged)]
enum SizeValue {
    Bytes(u64),
    Text(String),
}

/// Checked settings of one s3 provider.
pub(crate) struct Settings {
    /// The S3 endpoint as configured (`None`: AWS for `region`).
    pub endpoint: Option<Url>,
    pub region: String,
    pub bucket: String,
    /// Empty, or a `/`-separated prefix ending with `/`.
    pub prefix: String,
    pub path_style: bool,
    pub public_url: Option<Url>,
    /// `None` means anonymous (unsigned) requests.
    pub credentials: Option<Credentials>,
    pub part_size: usize,
    pub connect_timeout: Duration,
    pub timeout: Duration,
    pub max_retries: usize,
    /// Opened from a URL: writes answer `PermissionDenied`.
    pub read_only: bool,
    /// Opened from an untrusted URL: the addresses connections may go to.
    pub policy: Option<mirra_driver_api::AddressPolicy>,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Credentials print as redacted through their own Debug.
        f.debug_struct("Settings")
            .field("endpoint", &self.endpoint.as_ref().map(Url::as_str))
            .field("region", &self.region)
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("path_style", &self.path_style)
            .field("public_url", &self.public_url.as_ref().map(Url::as_str))
            .field("credentials", &self.credentials)
            .field("part_size", &self.part_size)
            .field("connect_timeout", &self.connect_timeout)
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .field("read_only", &self.read_only)
            .finish()
    }
}

impl Settings {
    /// Parses and checks the provider's config table, given as TOML text.
    pub fn from_toml(text: &str) -> DriverResult<Self> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| toml_error(text, &e))?;
        let credentials = credentials::resolve(
            raw.access_key_id,
            raw.secret_access_key,
            raw.session_token,
            &credentials::ProcessEnv,
        )?;
        Self::check(
            RawChecked {
                endpoint: raw.endpoint,
                region: raw.region,
                bucket: raw.bucket,
                prefix: raw.prefix,
                path_style: raw.path_style,
                public_url: raw.public_url,
                part_size: raw.part_size,
                connect_timeout: raw.connect_timeout,
                timeout: raw.timeout,
                max_retries: raw.max_retries,
            },
            Some(credentials),
            false,
        )
    }

    /// Settings for anonymous, read-only access (from `open_url`).
    pub fn anonymous(
        endpoint: Option<Url>,
        region: Option<String>,
        bucket: String,
        prefix: String,
        path_style: bool,
    ) -> DriverResult<Self> {
        Self::check(
            RawChecked {
                endpoint: endpoint.map(String::from),
                region,
                bucket,
                prefix,
                path_style,
                ..RawChecked::default()
            },
            None,
            true,
        )
    }

    fn check(
        raw: RawChecked,
        credentials: Option<Credentials>,
        read_only: bool,
    ) -> DriverResult<Self> {
        let endpoint = raw
            .endpoint
            .map(|e| parse_http_url("endpoint", &e))
            .transpose()?;
        let public_url = raw
            .public_url
            .map(|u| parse_http_url("public_url", &u))
            .transpose()?;
        check_bucket(&raw.bucket)?;
        let region = match raw.region {
            Some(r) if r.trim().is_empty() => return Err(field_error("region", "is empty")),
            Some(r) => r,
            None => std::env::var("AWS_REGION")
                .or_else(|_| std::env::var("AWS_DEFAULT_REGION"))
                .unwrap_or_else(|_| DEFAULT_REGION.into()),
        };
        let part_size = match raw.part_size {
            None => DEFAULT_PART_SIZE,
            Some(SizeValue::Bytes(n)) => n,
            Some(SizeValue::Text(t)) => parse_size(&t).ok_or_else(|| {
                field_error("part_size", format!("{t:?} is not a size like \"8MiB\""))
            })?,
        };
        if !(MIN_PART_SIZE..=MAX_PART_SIZE).contains(&part_size) {
            return Err(field_error(
                "part_size",
                format!("{part_size} bytes is outside S3's 5 MiB to 5 GiB"),
            ));
        }
        Ok(Self {
            endpoint,
            region,
            prefix: normalize_prefix(&raw.prefix)?,
            bucket: raw.bucket,
            path_style: raw.path_style,
            public_url,
            credentials,
            part_size: part_size as usize,
            connect_timeout: parse_duration("connect_timeout", raw.connect_timeout)?
                .unwrap_or(DEFAULT_CONNECT_TIMEOUT),
            timeout: parse_duration("timeout", raw.timeout)?.unwrap_or(DEFAULT_TIMEOUT),
            max_retries: raw.max_retries.unwrap_or(DEFAULT_MAX_RETRIES),
            read_only,
            policy: None,
        })
    }
}

/// The non-credential fields, shared by `open` and `open_url`.
#[derive(Default)]
struct RawChecked {
    endpoint: Option<String>,
    region: Option<String>,
    bucket: String,
    prefix: String,
    path_style: bool,
    public_url: Option<String>,
    part_size: Option<SizeValue>,
    connect_timeout: Option<String>,
    timeout: Option<String>,
    max_retries: Option<usize>,
}

/// An `InvalidInput` error naming `field`.
pub(crate) fn field_error(field: &str, problem: impl fmt::Display) -> DriverError {
    DriverError::invalid_input(format!("s3 config field `{field}`: {problem}"))
}

/// Turns a TOML error into one naming the field, without the source snippet: the
/// snippet would quote the line, and that line may hold a secret.
fn toml_error(text: &str, e: &toml::de::Error) -> DriverError {
    let field = e.span().and_then(|span| field_at(text, span.start));
    match field {
        Some(field) if SECRET_FIELDS.contains(&field.as_str()) => {
            field_error(&field, "invalid value (not shown: it is a secret)")
        }
        Some(field) => field_error(&field, e.message()),
        None => DriverError::invalid_input(format!("s3 config: {}", e.message())),
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

fn parse_http_url(field: &str, text: &str) -> DriverResult<Url> {
    let url = Url::parse(text).map_err(|e| field_error(field, format!("{text:?}: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(field_error(
            field,
            format!("{text:?} is not an http(s) URL with a host"),
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(field_error(
            field,
            "must not embed credentials; use access_key_id / secret_access_key",
        ));
    }
    Ok(url)
}

/// Bucket names as S3 allows them: 3-63 lowercase letters, digits, `.` and `-`
/// (uppercase and `_` are accepted for older and non-AWS stores).
fn check_bucket(bucket: &str) -> DriverResult<()> {
    let ok_chars = bucket
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if bucket.is_empty() || bucket.len() > 255 || !ok_chars {
        return Err(field_error(
            "bucket",
            format!("{bucket:?} is not a bucket name"),
        ));
    }
    Ok(())
}

/// `"mirra"`, `"/mirra/"` and `"mirra/"` all become `"mirra/"`; `""` stays empty.
fn normalize_prefix(prefix: &str) -> DriverResult<String> {
    let trimmed = prefix.trim_matches('/');
    if trimmed.is_empty() {
        return Ok(String::new());
    }
    let bad = trimmed
        .split('/')
        .any(|s| s.is_empty() || s == "." || s == ".." || s.chars().any(char::is_control));
    if bad {
        return Err(field_error(
            "prefix",
            format!("{prefix:?} has an empty, '.', '..' or control-character segment"),
        ));
    }
    Ok(format!("{trimmed}/"))
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

/// Parses `"8MiB"`, `"8 MiB"`, `"16MB"`, `"5242880"`.
fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        _ => return None,
    };
    number.checked_mul(factor)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mirra_driver_api::ErrorKind;

    const KEYS: &str = "access_key_id = \"AKID\"\nsecret_access_key = \"TOPSECRET\"\n";

    fn parse(extra: &str) -> DriverResult<Settings> {
        Settings::from_toml(&format!("bucket = \"b\"\n{KEYS}{extra}"))
    }

    fn invalid(extra: &str) -> String {
        let err = parse(extra).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidInput, "{err}");
        err.message
    }

    #[test]
    fn defaults() {
        let s = parse("").unwrap();
        assert_eq!(s.part_size, 8 << 20);
        assert_eq!(s.prefix, "");
        assert_eq!(s.timeout, DEFAULT_TIMEOUT);
        assert!(!s.path_style && !s.read_only);
    }

    #[test]
    fn every_field_parses() {
        let s = parse(
            "endpoint = \"http://127.0.0.1:9000\"\nregion = \"eu-west-1\"\nprefix = \"/a/b\"\n\
             path_style = true\npublic_url = \"https://cdn.example/a/b/\"\npart_size = \"16MiB\"\n\
             connect_timeout = \"2s\"\ntimeout = \"1m\"\nmax_retries = 0\n",
        )
        .unwrap();
        assert_eq!(s.prefix, "a/b/");
        assert_eq!(s.part_size, 16 << 20);
        assert_eq!(s.connect_timeout, Duration::from_secs(2));
        assert_eq!(s.timeout, Duration::from_secs(60));
        assert_eq!(s.region, "eu-west-1");
        assert_eq!(s.max_retries, 0);
    }

    #[test]
    fn errors_name_the_field() {
        assert!(invalid("bukket = \"x\"\n").contains("bukket"));
        assert!(invalid("part_size = 1024\n").contains("part_size"));
        assert!(invalid("part_size = \"lots\"\n").contains("part_size"));
        assert!(invalid("timeout = \"soon\"\n").contains("`timeout`"));
        assert!(invalid("path_style = \"yes\"\n").contains("path_style"));
        assert!(invalid("endpoint = \"ftp://x\"\n").contains("endpoint"));
        assert!(invalid("prefix = \"a//b\"\n").contains("prefix"));
        let missing = Settings::from_toml(KEYS).unwrap_err();
        assert!(missing.message.contains("bucket"), "{}", missing.message);
    }

    #[test]
    fn secrets_stay_out_of_errors_and_debug() {
        let err = Settings::from_toml(
            "bucket = \"b\"\naccess_key_id = \"A\"\nsecret_access_key = 12345678\n",
        )
        .unwrap_err();
        assert!(err.message.contains("secret_access_key"), "{}", err.message);
        assert!(!err.message.contains("12345678"), "{}", err.message);
        let debug = format!("{:?}", parse("").unwrap());
        assert!(!debug.contains("TOPSECRET"), "{debug}");
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("8MiB"), Some(8 << 20));
        assert_eq!(parse_size("8 mib"), Some(8 << 20));
        assert_eq!(parse_size("6000000"), Some(6_000_000));
        assert_eq!(parse_size("5MB"), Some(5_000_000));
        assert_eq!(parse_size("x"), None);
    }
}
