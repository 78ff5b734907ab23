//! `dht+udp://<hex public key>` URLs, as zone files list them.

use mirra_driver_api::DriverError;

use crate::config::decode_hex;
use crate::driver::URL_SCHEME;

/// The ed25519 public key a `dht+udp://` URL names. A trailing `/` is allowed (the
/// form `public_url` produces for the root); any other path is not.
///
/// # Errors
/// `InvalidInput` for another scheme, or a host that is not 64 hex digits (Blockstack's
/// older 40-digit DHT URLs name a hash, not a BEP 44 key, and cannot be read here).
pub fn public_key_from_url(url: &str) -> Result<[u8; 32], DriverError> {
    let bad = |why: &str| DriverError::invalid_input(format!("dht URL {url:?}: {why}"));
    let rest = url
        .strip_prefix(URL_SCHEME)
        .and_then(|r| r.strip_prefix("://"))
        .ok_or_else(|| bad("expected dht+udp://<64 hex digits of an ed25519 public key>"))?;
    let host = rest.strip_suffix('/').unwrap_or(rest);
    let bytes = decode_hex(host)
        .filter(|b| b.len() == 32)
        .ok_or_else(|| bad("the host must be an ed25519 public key as 64 hex digits"))?;
    let mut key = [0u8; 32];
    key.copy_from_slice(&bytes);
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_a_public_key_and_refuses_anything_else() {
        let hex = "ab".repeat(32);
        assert_eq!(
            public_key_from_url(&format!("dht+udp://{hex}")).unwrap(),
            [0xab; 32]
        );
        assert_eq!(
            public_key_from_url(&format!("dht+udp://{hex}/")).unwrap(),
            [0xab; 32]
        );
        for url in [
            format!("http://{hex}"),
            "dht+udp://fc4d9c1481a6349fe99f0e3dd7261d67b23dadc5".to_owned(),
            format!("dht+udp://{hex}/key"),
            "dht+udp://".to_owned(),
        ] {
            assert!(public_key_from_url(&url).is_err(), "{url}");
        }
    }
}
