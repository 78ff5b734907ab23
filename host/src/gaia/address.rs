//! Gaia bucket addresses: the Bitcoin mainnet P2PKH address of a token's issuer key,
//! `base58check(0x00 ‖ RIPEMD160(SHA256(public key bytes)))`, as Gaia derives it.

use ripemd::Ripemd160;
use sha2::{Digest, Sha256};

/// The version byte of a Bitcoin mainnet pay-to-public-key-hash address.
const P2PKH_MAINNET: u8 = 0x00;

/// The address of `public_key` in the serialisation the issuer gave (33 bytes
/// compressed or 65 uncompressed: the two give different addresses, as in Gaia).
pub fn address_of(public_key: &[u8]) -> String {
    let hash160 = Ripemd160::digest(Sha256::digest(public_key));
    bs58::encode(hash160)
        .with_check_version(P2PKH_MAINNET)
        .into_string()
}

/// Whether `text` can be a bucket address in a URL: non-empty ASCII letters and digits,
/// as the hub's routes require.
pub fn is_address_text(text: &str) -> bool {
    !text.is_empty() && text.len() <= 64 && text.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_key_gives_its_bitcoin_address() {
        // The public key of secret key 1 (the generator), compressed and uncompressed,
        // and their well-known mainnet addresses.
        let compressed =
            hex::decode("0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798")
                .unwrap();
        assert_eq!(
            address_of(&compressed),
            "1BgGZ9tcN4rm9KBzDn7KprQz87SZ26SAMH"
        );
        let uncompressed = hex::decode(
            "0479be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798\
             483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8",
        )
        .unwrap();
        assert_eq!(
            address_of(&uncompressed),
            "1EHNa6Q4Jz2uvNExL497mE43ikXhwF6kZm"
        );
    }

    #[test]
    fn address_text_is_alphanumeric() {
        assert!(is_address_text("1BgGZ9tcN4rm9KBzDn7KprQz87SZ26SAMH"));
        for bad in ["", "a/b", "a.b", "..", "a b", "ä"] {
            assert!(!is_address_text(bad), "{bad:?}");
        }
    }
}
