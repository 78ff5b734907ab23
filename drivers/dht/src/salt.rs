//! Keys as BEP 44 salts.
//!
//! A mutable item is addressed by the signer's public key and a salt of at most 64
//! bytes, so one seed holds many keys. A key of up to 64 bytes is its own salt, byte
//! for byte, so any BEP 44 client can find it knowing only the key. A longer key is
//! hashed: the salt is a NUL byte followed by the key's SHA-256. No key contains NUL
//! (keys have no control characters), so the two forms never collide.

use mirra_driver_api::Key;
use sha2::{Digest, Sha256};

/// The longest salt BEP 44 allows.
pub const MAX_SALT_LEN: usize = 64;

/// The salt that addresses `key`.
pub fn salt_for(key: &Key) -> Vec<u8> {
    let bytes = key.as_str().as_bytes();
    if bytes.len() <= MAX_SALT_LEN {
        return bytes.to_vec();
    }
    let mut salt = Vec::with_capacity(33);
    salt.push(0);
    salt.extend_from_slice(&Sha256::digest(bytes));
    salt
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_keys_are_their_own_salt_and_long_ones_are_hashed() {
        let short = Key::parse("profile.json").unwrap();
        assert_eq!(salt_for(&short), b"profile.json");
        let edge = Key::parse(&"k".repeat(MAX_SALT_LEN)).unwrap();
        assert_eq!(salt_for(&edge).len(), MAX_SALT_LEN);

        let long = Key::parse(&format!(".mirra/manifests/{}.json", "x".repeat(80))).unwrap();
        let salt = salt_for(&long);
        assert_eq!(salt.len(), 33);
        assert_eq!(salt[0], 0);
        let other = Key::parse(&format!(".mirra/manifests/{}.json", "y".repeat(80))).unwrap();
        assert_ne!(salt_for(&other), salt);
    }
}
