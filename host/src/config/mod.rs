//! The TOML config: identity, write policy and the `[[provider]]` list.
//!
//! One serde struct tree with `deny_unknown_fields` everywhere, so a typo is an error
//! rather than a silently ignored setting. Every error with the file's contents names the
//! file, line, column and field (`config.toml:7:1: provider[1].prioirty: unknown field`):
//! the toml deserializer supplies the span, `serde_path_to_error` the field path, and the
//! checks that span several fields (duplicate names, quorum) re-read the spans they need.

mod default_text;
mod error;
mod file_safety;
mod gaia;
mod paths;
mod redact;
mod s3;
mod show;
mod values;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::{self, Deserializer};
use serde::Deserialize;

pub use default_text::default_config_text;
pub use error::ConfigError;
pub use file_safety::write_private;
pub use gaia::{check_read_url_prefix, GaiaConfig, DEFAULT_GAIA_MAX_UPLOAD_MB};
pub use paths::{default_config_path, default_data_dir, default_state_dir, expand_tilde, home_dir};
pub use s3::{S3Config, S3Credential};
pub use show::effective_toml;
pub use values::{format_duration, format_size, parse_duration, parse_size, WriteQuorum};

/// Default chunk size for manifests: 4 MiB.
pub const DEFAULT_CHUNK_SIZE: u64 = 4 << 20;
/// Smallest chunk size accepted: 1 KiB (smaller chunks bloat manifests for no gain).
pub const MIN_CHUNK_SIZE: u64 = 1 << 10;
/// Largest chunk size accepted: 1 GiB (a chunk is held in memory to be verified).
pub const MAX_CHUNK_SIZE: u64 = crate::manifest::MAX_CHUNK_SIZE;
/// Default per-operation timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default delay before a hedged read asks a second provider.
pub const DEFAULT_HEDGE_AFTER: Duration = Duration::from_millis(250);
/// The shortest automatic hedge delay: below this, hedging only doubles the load.
pub const MIN_HEDGE_AFTER: Duration = Duration::from_millis(5);
/// Default deadline for one chunk of a read to arrive before the provider counts as stalled.
pub const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Default retries of a retryable failure, within the operation's deadline.
pub const DEFAULT_RETRIES: u32 = 2;
/// Default consecutive failures that open a provider's circuit breaker.
pub const DEFAULT_BREAKER_FAILURES: u32 = 3;
/// Default time an open breaker waits before letting one probe through.
pub const DEFAULT_BREAKER_COOLDOWN: Duration = Duration::from_secs(5);
/// Default provider priority (lower is tried first, as in RFC 7553).
pub const DEFAULT_PRIORITY: u16 = 10;
/// Default provider weight among providers of equal priority.
pub const DEFAULT_WEIGHT: u16 = 1;

/// A checked config, as loaded from `config.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Extra directories searched for driver `.so` files named by a bare driver name
    /// (`driver_dirs = [...]`, at the top of the file), `~` expanded.
    #[serde(default, deserialize_with = "de_paths")]
    pub driver_dirs: Vec<PathBuf>,
    /// The owner's signing key.
    #[serde(default)]
    pub identity: IdentityConfig,
    /// Write quorum, chunking and timing.
    #[serde(default)]
    pub policy: Policy,
    /// The `[[provider]]` entries, in file order; at least one, names unique.
    #[serde(default, rename = "provider")]
    pub providers: Vec<ProviderConfig>,
    /// How `mirra serve --gaia` presents itself as a Gaia hub.
    #[serde(default)]
    pub gaia: GaiaConfig,
    /// The optional `[s3]` table for `mirra serve --s3`.
    #[serde(default)]
    pub s3: S3Config,
}

/// The `[identity]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityConfig {
    /// The secp256k1 secret key file (`~` expanded); defaults to `<data dir>/key`.
    #[serde(deserialize_with = "de_path")]
    pub key_file: PathBuf,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        IdentityConfig {
            key_file: default_data_dir().join("key"),
        }
    }
}

/// The `[policy]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// How many providers must commit a write (`3`, `"all"` or `"majority"`).
    pub write_quorum: WriteQuorum,
    /// Manifest chunk size in bytes (`"4MiB"` or an integer).
    #[serde(deserialize_with = "de_chunk_size")]
    pub chunk_size: u64,
    /// Deadline for one driver operation (`"30s"`).
    #[serde(deserialize_with = "values::de_duration")]
    pub timeout: Duration,
    /// Delay before a read also asks the next provider (`"250ms"`). Unset, it follows
    /// each provider's recent latency: twice its p95, at least [`MIN_HEDGE_AFTER`], and
    /// [`DEFAULT_HEDGE_AFTER`] until there are samples.
    #[serde(deserialize_with = "values::de_opt_duration")]
    pub hedge_after: Option<Duration>,
    /// A read chunk that takes longer than this counts as a stall (`"10s"`).
    #[serde(deserialize_with = "values::de_duration")]
    pub stall_timeout: Duration,
    /// Retries of a retryable failure, with jittered exponential backoff (`2`).
    pub retries: u32,
    /// Consecutive failures that open a provider's circuit breaker (`3`).
    pub breaker_failures: u32,
    /// How long an open breaker waits before one probe call (`"5s"`).
    #[serde(deserialize_with = "values::de_duration")]
    pub breaker_cooldown: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            write_quorum: WriteQuorum::default(),
            chunk_size: DEFAULT_CHUNK_SIZE,
            timeout: DEFAULT_TIMEOUT,
            hedge_after: None,
            stall_timeout: DEFAULT_STALL_TIMEOUT,
            retries: DEFAULT_RETRIES,
            breaker_failures: DEFAULT_BREAKER_FAILURES,
            breaker_cooldown: DEFAULT_BREAKER_COOLDOWN,
        }
    }
}

/// One `[[provider]]` entry: a place that holds a copy of every object.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// Unique name, `[a-z0-9_-]+`, used in messages, the repair journal and the CLI.
    #[serde(deserialize_with = "de_provider_name")]
    pub name: String,
    /// A bare driver name (`"disk"` → `libmirra_driver_disk.so`) or a path to a `.so`,
    /// as written; see [`ProviderConfig::driver_ref`].
    #[serde(deserialize_with = "de_driver")]
    pub driver: String,
    /// Lower is tried first.
    #[serde(default = "default_priority")]
    pub priority: u16,
    /// Relative share among providers of equal priority.
    #[serde(default = "default_weight")]
    pub weight: u16,
    /// When true, a write fails unless this provider committed it, whatever the quorum.
    #[serde(default)]
    pub required: bool,
    /// The `[provider.config]` table, handed to the driver verbatim (may hold secrets).
    #[serde(default)]
    pub config: toml::Table,
    /// Optional fault injection for tests and demos.
    #[serde(default)]
    pub chaos: Option<ChaosConfig>,
}

/// Where a provider's driver comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DriverRef<'a> {
    /// A bare name such as `disk`, looked up as `libmirra_driver_<name>.so`.
    Name(&'a str),
    /// An explicit path to a driver file, `~` expanded.
    Path(PathBuf),
}

impl ProviderConfig {
    /// The `[provider.config]` table as TOML text, the form drivers' `open` receives.
    pub fn driver_config_toml(&self) -> String {
        // A toml::Table came from TOML, so it always serializes back; an error here
        // would be a toml crate bug, not bad input.
        toml::to_string(&self.config).expect("a parsed TOML table serializes back to TOML")
    }

    /// Whether [`ProviderConfig::driver`] names a driver or points at a file: anything
    /// with a `/` or ending in `.so` is a path.
    pub fn driver_ref(&self) -> DriverRef<'_> {
        if self.driver.contains('/') || self.driver.ends_with(".so") {
            DriverRef::Path(paths::expand_tilde_str(&self.driver))
        } else {
            DriverRef::Name(&self.driver)
        }
    }
}

impl fmt::Debug for ProviderConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderConfig")
            .field("name", &self.name)
            .field("driver", &self.driver)
            .field("priority", &self.priority)
            .field("weight", &self.weight)
            .field("required", &self.required)
            .field("config", &redact::RedactedTable(&self.config))
            .field("chaos", &self.chaos)
            .finish()
    }
}

/// The optional `[provider.chaos]` table: faults the host injects around one provider.
///
/// Only parsed and range-checked here; the replica layer applies it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChaosConfig {
    /// Every call fails as unavailable.
    pub down: bool,
    /// Probability (0.0–1.0) that a call fails as unavailable.
    #[serde(deserialize_with = "values::de_rate")]
    pub fail_rate: f64,
    /// Delay added to every call.
    #[serde(deserialize_with = "values::de_opt_duration")]
    pub latency: Option<Duration>,
    /// A read stops making progress after this many bytes.
    pub stall_after_bytes: Option<u64>,
    /// Probability (0.0–1.0) that a read returns one flipped byte.
    #[serde(deserialize_with = "values::de_rate")]
    pub corrupt_rate: f64,
    /// Seed for the fault dice, for reproducible runs.
    pub seed: Option<u64>,
}

impl Config {
    /// Reads and checks the config at `path`; driver paths in it become absolute
    /// (`~` expanded, relative ones taken from the config file's directory). Warns when
    /// the file holds credentials and group or others can read it.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        use std::io::Read;
        use std::os::unix::fs::PermissionsExt;
        let read_error = |source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        };
        let mut file = std::fs::File::open(path).map_err(read_error)?;
        let mode = file.metadata().map_err(read_error)?.permissions().mode();
        let mut text = String::new();
        file.read_to_string(&mut text).map_err(read_error)?;
        let mut config = Config::parse(&text, path)?;
        file_safety::anchor_paths(&mut config, path);
        if let Some(warning) = file_safety::exposure_warning(&config, path, mode) {
            tracing::warn!("{warning}");
        }
        Ok(config)
    }

    /// Parses and checks config `text`; `path` only appears in error messages.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let deserializer = toml::Deserializer::parse(text)
            .map_err(|err| toml_error(err, String::new(), text, path))?;
        let config: Config = serde_path_to_error::deserialize(deserializer)
            .map_err(|err| serde_error(err, text, path))?;
        config.validate(text, path)?;
        Ok(config)
    }

    /// The number of providers a write must reach, per the write quorum.
    pub fn required_writes(&self) -> usize {
        self.policy.write_quorum.required(self.providers.len())
    }

    /// The provider named `name`, if configured.
    pub fn provider(&self, name: &str) -> Option<&ProviderConfig> {
        self.providers.iter().find(|p| p.name == name)
    }

    /// Checks that relate several fields, pointing errors at the field's span.
    fn validate(&self, text: &str, path: &Path) -> Result<(), ConfigError> {
        if self.providers.is_empty() {
            return Err(ConfigError::invalid(
                path,
                text,
                None,
                "provider",
                "no providers configured: add at least one [[provider]] table",
            ));
        }
        for (index, provider) in self.providers.iter().enumerate() {
            let first = self.providers.iter().position(|p| p.name == provider.name);
            if first != Some(index) {
                let spans = SpanIndex::read(text);
                let span = spans
                    .provider
                    .get(index)
                    .and_then(|p| p.name.as_ref())
                    .map(|n| n.span());
                return Err(ConfigError::invalid(
                    path,
                    text,
                    span,
                    format!("provider[{index}].name"),
                    format!(
                        "duplicate provider name {:?} (also provider[{}])",
                        provider.name,
                        first.unwrap_or(0)
                    ),
                ));
            }
        }
        if let Some((field, message)) = self.s3.problem() {
            return Err(ConfigError::invalid(path, text, None, field, message));
        }
        if let WriteQuorum::Count(count) = self.policy.write_quorum {
            if count.get() > self.providers.len() {
                let spans = SpanIndex::read(text);
                let span = spans.policy.and_then(|p| p.write_quorum).map(|q| q.span());
                return Err(ConfigError::invalid(
                    path,
                    text,
                    span,
                    "policy.write_quorum",
                    format!(
                        "write_quorum is {count} but only {} provider(s) are configured",
                        self.providers.len()
                    ),
                ));
            }
        }
        if let Err(message) = self.gaia.check() {
            return Err(ConfigError::invalid(path, text, None, "gaia", message));
        }
        Ok(())
    }
}

/// Turns a deserialization error into [`ConfigError::Invalid`] with span and field path.
fn serde_error(
    err: serde_path_to_error::Error<toml::de::Error>,
    text: &str,
    path: &Path,
) -> ConfigError {
    let mut field = err.path().to_string();
    if field == "." {
        field.clear();
    }
    toml_error(err.into_inner(), field, text, path)
}

/// `err` at `field` ("" for a syntax error, which no field is reached by).
fn toml_error(err: toml::de::Error, mut field: String, text: &str, path: &Path) -> ConfigError {
    let message = err.message().trim_end().to_string();
    // For an unknown field the path stops at the enclosing table; name the field itself
    // too, since that is the word the user has to fix.
    if let Some(unknown) = unknown_field_name(&message) {
        if !field.ends_with(unknown) {
            field = if field.is_empty() {
                unknown.to_string()
            } else {
                format!("{field}.{unknown}")
            };
        }
    }
    ConfigError::invalid(path, text, err.span(), field, message)
}

/// The field named by serde's "unknown field `x`, expected ..." message.
fn unknown_field_name(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split('`').next()
}

/// Spans of the few fields that cross-field checks point at; read only on error.
#[derive(Deserialize, Default)]
#[serde(default)]
struct SpanIndex {
    policy: Option<PolicySpans>,
    provider: Vec<ProviderSpans>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct PolicySpans {
    write_quorum: Option<toml::Spanned<toml::Value>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ProviderSpans {
    name: Option<toml::Spanned<toml::Value>>,
}

impl SpanIndex {
    /// Re-reads `text` (already known to parse) for spans; empty if that fails.
    fn read(text: &str) -> SpanIndex {
        toml::from_str(text).unwrap_or_default()
    }
}

fn default_priority() -> u16 {
    DEFAULT_PRIORITY
}

fn default_weight() -> u16 {
    DEFAULT_WEIGHT
}

fn de_path<'de, D: Deserializer<'de>>(deserializer: D) -> Result<PathBuf, D::Error> {
    let text = String::deserialize(deserializer)?;
    if text.is_empty() {
        return Err(de::Error::custom("path must not be empty"));
    }
    Ok(paths::expand_tilde_str(&text))
}

fn de_paths<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<PathBuf>, D::Error> {
    let texts = Vec::<String>::deserialize(deserializer)?;
    Ok(texts.iter().map(|t| paths::expand_tilde_str(t)).collect())
}

fn de_chunk_size<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    let size = values::de_size(deserializer)?;
    if (MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&size) {
        Ok(size)
    } else {
        Err(de::Error::custom(format!(
            "chunk_size must be between 1KiB and 1GiB, not {}",
            format_size(size)
        )))
    }
}

fn de_provider_name<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let name = String::deserialize(deserializer)?;
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if valid {
        Ok(name)
    } else {
        Err(de::Error::custom(format!(
            "invalid provider name {name:?}: use 1 to 64 of a-z, 0-9, '_' and '-'"
        )))
    }
}

fn de_driver<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let driver = String::deserialize(deserializer)?;
    if driver.trim().is_empty() {
        return Err(de::Error::custom(
            "driver must name a driver (e.g. \"disk\") or a path to a .so",
        ));
    }
    Ok(driver)
}

#[cfg(test)]
mod tests;
