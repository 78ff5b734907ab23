//! The `[provider.config]` table of a DHT provider, and where bootstrap nodes come from.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr, ToSocketAddrs};

use mirra_driver_api::DriverError;
use serde::Deserialize;

/// The environment variable read when a config (or an `open_url` reader, which has no
/// config) names no bootstrap nodes: comma-separated `host:port` entries.
pub const BOOTSTRAP_ENV: &str = "MIRRA_DHT_BOOTSTRAP";

/// The bootstrap entry that stands for the mainline crate's public routers
/// (router.bittorrent.com and friends). Never a default: it must be written out.
pub const PUBLIC_BOOTSTRAP: &str = "mainline";

/// A DHT provider's configuration:
///
/// ```toml
/// seed = "<64 hex digits>"                  # ed25519 seed that signs the BEP 44 items
/// bootstrap = ["127.0.0.1:6881"]            # or ["mainline"] for the public DHT
/// port = 6881                               # optional; a random free port otherwise
/// bind_address = "127.0.0.1"                # optional; 0.0.0.0 otherwise
/// request_timeout_ms = 2000                 # optional; how long to wait for a node
/// ```
///
/// `Debug` hides the seed.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DhtConfig {
    /// The ed25519 signing seed, 32 bytes as 64 hex digits. Its public key names the
    /// items; whoever holds the seed can overwrite them.
    pub seed: String,
    /// `host:port` nodes to join the DHT through; [`BOOTSTRAP_ENV`] when absent.
    #[serde(default)]
    pub bootstrap: Option<Vec<String>>,
    /// UDP port to listen on.
    #[serde(default)]
    pub port: Option<u16>,
    /// IPv4 address to bind to.
    #[serde(default)]
    pub bind_address: Option<Ipv4Addr>,
    /// How long a query waits for one node's answer, in milliseconds (mainline's
    /// default, 2000, when absent). Every lookup waits this long for the slowest node
    /// it asked, so a small private network can lower it.
    #[serde(default)]
    pub request_timeout_ms: Option<u64>,
}

impl fmt::Debug for DhtConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DhtConfig")
            .field("seed", &"<redacted>")
            .field("bootstrap", &self.bootstrap)
            .field("port", &self.port)
            .field("bind_address", &self.bind_address)
            .field("request_timeout_ms", &self.request_timeout_ms)
            .finish()
    }
}

fn bad(message: impl fmt::Display) -> DriverError {
    DriverError::invalid_input(format!("dht driver config: {message}"))
}

impl DhtConfig {
    /// Parses the TOML text the host passes to `open`.
    ///
    /// # Errors
    /// `InvalidInput` naming the field: missing `seed`, an unknown field, a wrong type.
    /// The message never quotes the config text, which holds the seed.
    pub fn parse(config_toml: &str) -> Result<Self, DriverError> {
        toml::from_str(config_toml).map_err(|e| bad(describe_error(config_toml, &e)))
    }

    /// The seed as bytes.
    ///
    /// # Errors
    /// `InvalidInput` naming `seed` when it is not 64 hex digits.
    pub fn seed_bytes(&self) -> Result<[u8; 32], DriverError> {
        let bytes = decode_hex(self.seed.trim())
            .filter(|b| b.len() == 32)
            .ok_or_else(|| bad("field `seed` must be 32 bytes written as 64 hex digits"))?;
        let mut seed = [0u8; 32];
        seed.copy_from_slice(&bytes);
        Ok(seed)
    }

    /// The bootstrap nodes: the config's, else [`BOOTSTRAP_ENV`]'s.
    ///
    /// # Errors
    /// See [`resolve_bootstrap`].
    pub fn bootstrap_nodes(&self) -> Result<Bootstrap, DriverError> {
        resolve_bootstrap(self.bootstrap.as_deref())
    }
}

/// Where a node joins the DHT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bootstrap {
    /// These nodes, resolved to IPv4 `ip:port` text.
    Nodes(Vec<String>),
    /// The mainline crate's public routers, because the config said [`PUBLIC_BOOTSTRAP`].
    Public,
}

/// Resolves `configured`, or [`BOOTSTRAP_ENV`] when it is `None`.
///
/// There is deliberately no implicit default: a test or a private network must never
/// reach the public DHT by forgetting a setting.
///
/// # Errors
/// `InvalidInput` naming `bootstrap` when neither source gives a node, or an entry does
/// not resolve to an IPv4 address (mainline speaks IPv4 only).
pub fn resolve_bootstrap(configured: Option<&[String]>) -> Result<Bootstrap, DriverError> {
    let entries: Vec<String> = match configured {
        Some(list) => list.to_vec(),
        None => std::env::var(BOOTSTRAP_ENV)
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
    };
    if entries.is_empty() {
        return Err(bad(format!(
            "no bootstrap nodes: set `bootstrap = [\"host:port\", ...]` or {BOOTSTRAP_ENV}; \
             use [\"{PUBLIC_BOOTSTRAP}\"] to join the public BitTorrent DHT"
        )));
    }
    if entries.iter().any(|e| e == PUBLIC_BOOTSTRAP) {
        return Ok(Bootstrap::Public);
    }
    let mut nodes = Vec::new();
    for entry in &entries {
        let resolved: Vec<SocketAddr> = entry
            .to_socket_addrs()
            .map_err(|e| bad(format!("field `bootstrap`: {entry:?}: {e}")))?
            .filter(SocketAddr::is_ipv4)
            .collect();
        if resolved.is_empty() {
            return Err(bad(format!(
                "field `bootstrap`: {entry:?} has no IPv4 address"
            )));
        }
        nodes.extend(resolved.iter().map(SocketAddr::to_string));
    }
    Ok(Bootstrap::Nodes(nodes))
}

/// toml's message, naming the field. Messages about missing or unknown fields name it
/// already; for a wrong type the field is the name on the line the error points at.
/// Only the name is taken from the text: the line itself may hold the seed.
fn describe_error(config_toml: &str, err: &toml::de::Error) -> String {
    let message = err.message().trim();
    let field = err.span().and_then(|span| {
        let before = config_toml.get(..span.start)?;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let line = config_toml[line_start..].lines().next()?;
        let (name, _) = line.split_once('=')?;
        Some(name.trim().trim_matches('"').to_owned())
    });
    match field {
        Some(name) if !name.is_empty() && !message.contains(&format!("`{name}`")) => {
            format!("field `{name}`: {message}")
        }
        _ => message.to_owned(),
    }
}

/// Lowercase or uppercase hex to bytes; `None` for odd lengths or other characters.
pub(crate) fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Bytes as lowercase hex.
pub(crate) fn encode_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use mirra_driver_api::ErrorKind;

    const SEED: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn parses_and_hides_the_seed() {
        let config = DhtConfig::parse(&format!(
            "seed = \"{SEED}\"\nbootstrap = [\"127.0.0.1:7000\"]\nport = 7001\n\
             bind_address = \"127.0.0.1\"\n"
        ))
        .unwrap();
        assert_eq!(config.seed_bytes().unwrap()[31], 0x1f);
        assert_eq!(config.port, Some(7001));
        assert_eq!(
            config.bootstrap_nodes().unwrap(),
            Bootstrap::Nodes(vec!["127.0.0.1:7000".into()])
        );
        let shown = format!("{config:?}");
        assert!(
            !shown.contains(SEED) && shown.contains("<redacted>"),
            "{shown}"
        );
    }

    #[test]
    fn bad_configs_name_the_field_and_never_show_the_seed() {
        let cases = [
            ("bootstrap = []".to_owned(), "seed"),
            (format!("seed = \"{SEED}\"\nbootstrp = []"), "bootstrp"),
            (format!("seed = \"{SEED}\"\nport = \"x\""), "port"),
        ];
        for (text, field) in cases {
            let err = DhtConfig::parse(&text).unwrap_err();
            assert_eq!(err.kind, ErrorKind::InvalidInput, "{text}");
            assert!(err.message.contains(field), "{text}: {}", err.message);
            assert!(!err.message.contains(SEED), "{}", err.message);
        }
        for seed in ["abc", "zz", &SEED[2..]] {
            let config = DhtConfig::parse(&format!("seed = \"{seed}\"")).unwrap();
            let err = config.seed_bytes().unwrap_err();
            assert!(err.message.contains("seed"), "{}", err.message);
        }
    }

    #[test]
    fn bootstrap_is_never_implicit() {
        let err = resolve_bootstrap(Some(&[])).unwrap_err();
        assert!(err.message.contains(BOOTSTRAP_ENV), "{}", err.message);
        assert_eq!(
            resolve_bootstrap(Some(&["mainline".into()])).unwrap(),
            Bootstrap::Public
        );
        let err = resolve_bootstrap(Some(&["no-port".into()])).unwrap_err();
        assert!(err.message.contains("bootstrap"), "{}", err.message);
    }

    #[test]
    fn hex_round_trips() {
        let bytes = decode_hex(SEED).unwrap();
        assert_eq!(encode_hex(&bytes), SEED);
        assert_eq!(decode_hex("ABff"), Some(vec![0xab, 0xff]));
        assert_eq!(decode_hex("abc"), None);
        assert_eq!(decode_hex("zz"), None);
    }
}
