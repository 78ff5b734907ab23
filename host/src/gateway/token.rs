//! Write tokens: compact JWS (JWT) signed with ES256K (ECDSA on secp256k1 over SHA-256,
//! RFC 8812) by the owner's key, carrying an expiry and a key-prefix scope, in the spirit
//! of Gaia's hub tokens.
//!
//! Hand-written because it is small and the maintained JWT crates do not offer ES256K;
//! the signature itself is the same secp256k1 code that signs manifests. Signatures are
//! 64-byte `r‖s` as JWS requires; high-S forms are refused, as for manifests.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use secp256k1::PublicKey;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::identity::{verify_digest, Identity};

/// The only algorithm accepted, as named in the JOSE header.
pub const ALGORITHM: &str = "ES256K";
/// How far the issuer's clock and ours may disagree, in seconds.
pub const CLOCK_SKEW_SECS: u64 = 60;
/// Tokens longer than this are refused before any parsing.
const MAX_TOKEN_LEN: usize = 4096;

/// What a write token grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Issued at, unix seconds.
    pub iat: u64,
    /// Expires at, unix seconds.
    pub exp: u64,
    /// Keys this token may write: every key starting with this string (empty: all).
    pub scope: String,
    /// A random id, so a token can be named in logs without showing the token.
    pub jti: String,
}

impl Claims {
    /// Whether the token's scope covers `key`.
    pub fn allows(&self, key: &str) -> bool {
        key.starts_with(&self.scope)
    }
}

#[derive(Serialize, Deserialize)]
struct Header {
    alg: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    typ: Option<String>,
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// Not three base64url parts of JSON with the required claims.
    #[error("malformed token: {0}")]
    Malformed(String),
    /// The header names another algorithm (`none`, `HS256`, ...).
    #[error("unsupported token algorithm {0:?} (only ES256K)")]
    Algorithm(String),
    /// The signature does not verify against the owner's key.
    #[error("token signature does not verify against the owner's key")]
    Signature,
    /// The token expired.
    #[error("token expired at {exp} (now {now})")]
    Expired {
        /// The token's `exp`.
        exp: u64,
        /// The server's clock.
        now: u64,
    },
    /// The token was issued in the future.
    #[error("token issued in the future (iat {iat}, now {now})")]
    NotYetValid {
        /// The token's `iat`.
        iat: u64,
        /// The server's clock.
        now: u64,
    },
}

/// Mints a token valid from `now` for `ttl_secs`, for keys starting with `scope`.
pub fn mint(identity: &Identity, scope: &str, now: u64, ttl_secs: u64) -> String {
    let mut jti = [0u8; 12];
    secp256k1::rand::RngCore::fill_bytes(&mut secp256k1::rand::rng(), &mut jti);
    let claims = Claims {
        iat: now,
        exp: now.saturating_add(ttl_secs),
        scope: scope.to_owned(),
        jti: hex::encode(jti),
    };
    sign(identity, &claims)
}

/// Signs `claims` as a compact ES256K JWS.
pub fn sign(identity: &Identity, claims: &Claims) -> String {
    let header = Header {
        alg: ALGORITHM.into(),
        typ: Some("JWT".into()),
    };
    let signing_input = format!("{}.{}", base64_json(&header), base64_json(claims));
    let signature = identity.sign_digest(&Sha256::digest(signing_input.as_bytes()).into());
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// Checks `token`'s algorithm, its signature by `owner`, and its validity at `now`
/// (allowing [`CLOCK_SKEW_SECS`] either way), and returns its claims. The scope is the
/// caller's to check, against the key being written.
///
/// # Errors
/// A [`TokenError`] saying which check failed.
pub fn verify(token: &str, owner: &PublicKey, now: u64) -> Result<Claims, TokenError> {
    let claims = verify_signature(token, owner)?;
    check_times(&claims, now)?;
    Ok(claims)
}

/// The claims of `token` once its form and signature check out; the times are not
/// looked at.
fn verify_signature(token: &str, owner: &PublicKey) -> Result<Claims, TokenError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenError::Malformed("too long".into()));
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed(
            "expected three dot-separated parts".into(),
        ));
    };
    let decode = |part: &str, what: &str| {
        URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| TokenError::Malformed(format!("{what} is not base64url")))
    };
    let parsed: Header = serde_json::from_slice(&decode(header, "header")?)
        .map_err(|e| TokenError::Malformed(format!("header: {e}")))?;
    // The algorithm is fixed by the server, never chosen by the token: `alg` is only
    // checked, so `none` or an HMAC algorithm cannot downgrade verification.
    if parsed.alg != ALGORITHM {
        return Err(TokenError::Algorithm(parsed.alg));
    }
    let signature: [u8; 64] = decode(signature, "signature")?
        .try_into()
        .map_err(|_| TokenError::Malformed("signature is not 64 bytes".into()))?;
    let signing_input = &token[..header.len() + 1 + payload.len()];
    let digest: [u8; 32] = Sha256::digest(signing_input.as_bytes()).into();
    verify_digest(owner, &digest, &signature).map_err(|_| TokenError::Signature)?;
    serde_json::from_slice(&decode(payload, "payload")?)
        .map_err(|e| TokenError::Malformed(format!("claims: {e}")))
}

/// Whether `claims` are valid at `now`, give or take [`CLOCK_SKEW_SECS`].
fn check_times(claims: &Claims, now: u64) -> Result<(), TokenError> {
    if now > claims.exp.saturating_add(CLOCK_SKEW_SECS) {
        return Err(TokenError::Expired {
            exp: claims.exp,
            now,
        });
    }
    if claims.iat > now.saturating_add(CLOCK_SKEW_SECS) {
        return Err(TokenError::NotYetValid {
            iat: claims.iat,
            now,
        });
    }
    Ok(())
}

/// How many tokens [`VerifiedTokens`] remembers.
const REMEMBERED_TOKENS: usize = 1024;

/// The tokens whose signature verified, so that a client sending the same token with
/// every request (as clients do) costs one ECDSA verification, not one per request.
/// Only a token of exactly the same bytes is taken from here, and its times are checked
/// on every use, so it still expires.
#[derive(Default)]
pub struct VerifiedTokens {
    claims: Mutex<HashMap<String, Claims>>,
}

impl VerifiedTokens {
    /// As [`verify`], for the one owner whose tokens these are.
    ///
    /// # Errors
    /// A [`TokenError`] saying which check failed.
    pub fn verify(&self, token: &str, owner: &PublicKey, now: u64) -> Result<Claims, TokenError> {
        let known = self.lock().get(token).cloned();
        let claims = match known {
            Some(claims) => claims,
            None => {
                let claims = verify_signature(token, owner)?;
                let mut remembered = self.lock();
                // Forgetting them all is enough: a busy server sees a few tokens again
                // and again, which come back at the cost of one verification each.
                if remembered.len() >= REMEMBERED_TOKENS {
                    remembered.clear();
                }
                remembered.insert(token.to_owned(), claims.clone());
                claims
            }
        };
        check_times(&claims, now)?;
        Ok(claims)
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Claims>> {
        self.claims.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn base64_json(value: &impl Serialize) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).expect("token parts serialize"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000;

    #[test]
    fn a_minted_token_verifies_and_carries_its_scope() {
        let owner = Identity::generate();
        let token = mint(&owner, "photos/", NOW, 3600);
        let claims = verify(&token, &owner.public_key(), NOW + 10).unwrap();
        assert_eq!(
            (claims.iat, claims.exp, claims.scope.as_str()),
            (NOW, NOW + 3600, "photos/")
        );
        assert!(claims.allows("photos/cat.jpg"));
        assert!(!claims.allows("photosx") && !claims.allows("docs/a"));
        assert_eq!(claims.jti.len(), 24);
    }

    #[test]
    fn expiry_and_issue_time_allow_one_minute_of_skew_and_no_more() {
        let owner = Identity::generate();
        let key = owner.public_key();
        let token = mint(&owner, "", NOW, 100);
        assert!(verify(&token, &key, NOW + 100 + CLOCK_SKEW_SECS).is_ok());
        assert!(matches!(
            verify(&token, &key, NOW + 101 + CLOCK_SKEW_SECS),
            Err(TokenError::Expired { .. })
        ));
        assert!(verify(&token, &key, NOW - CLOCK_SKEW_SECS).is_ok());
        assert!(matches!(
            verify(&token, &key, NOW - CLOCK_SKEW_SECS - 1),
            Err(TokenError::NotYetValid { .. })
        ));
    }

    #[test]
    fn another_signer_a_changed_claim_or_another_algorithm_is_refused() {
        let owner = Identity::generate();
        let other = Identity::generate();
        let key = owner.public_key();
        let forged = mint(&other, "", NOW, 3600);
        assert_eq!(verify(&forged, &key, NOW), Err(TokenError::Signature));

        let token = mint(&owner, "a/", NOW, 3600);
        let parts: Vec<&str> = token.split('.').collect();
        let widened = Claims {
            iat: NOW,
            exp: NOW + 3600,
            scope: String::new(),
            jti: "x".into(),
        };
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&widened).unwrap());
        let tampered = format!("{}.{payload}.{}", parts[0], parts[2]);
        assert_eq!(verify(&tampered, &key, NOW), Err(TokenError::Signature));

        let none = URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#);
        let downgraded = format!("{none}.{}.", parts[1]);
        assert_eq!(
            verify(&downgraded, &key, NOW),
            Err(TokenError::Algorithm("none".into()))
        );
        for junk in ["", "a.b", "a.b.c.d", "!!.??.##"] {
            assert!(
                matches!(verify(junk, &key, NOW), Err(TokenError::Malformed(_))),
                "{junk:?}"
            );
        }
    }

    #[test]
    fn high_s_signatures_are_refused() {
        let owner = Identity::generate();
        let token = mint(&owner, "", NOW, 3600);
        let (input, signature) = token.rsplit_once('.').unwrap();
        let mut sig =
            secp256k1::ecdsa::Signature::from_compact(&URL_SAFE_NO_PAD.decode(signature).unwrap())
                .unwrap();
        sig.normalize_s();
        // Negate s: n - s is the malleated twin of a valid signature.
        let compact = sig.serialize_compact();
        let s = secp256k1::SecretKey::from_secret_bytes(compact[32..].try_into().unwrap())
            .unwrap()
            .negate();
        let mut high = compact;
        high[32..].copy_from_slice(&s.to_secret_bytes());
        let malleated = format!("{input}.{}", URL_SAFE_NO_PAD.encode(high));
        assert_eq!(
            verify(&malleated, &owner.public_key(), NOW),
            Err(TokenError::Signature)
        );
    }

    #[test]
    fn a_remembered_token_still_expires_and_only_its_exact_bytes_are_remembered() {
        let owner = Identity::generate();
        let key = owner.public_key();
        let tokens = VerifiedTokens::default();
        let token = mint(&owner, "a/", NOW, 100);
        assert_eq!(tokens.verify(&token, &key, NOW).unwrap().scope, "a/");
        assert_eq!(tokens.lock().len(), 1);
        assert!(matches!(
            tokens.verify(&token, &key, NOW + 101 + CLOCK_SKEW_SECS),
            Err(TokenError::Expired { .. })
        ));
        // A forged twin differing in its signature is checked, not taken for the
        // remembered one.
        let (input, _) = token.rsplit_once('.').unwrap();
        let forged = mint(&Identity::generate(), "a/", NOW, 100);
        let (_, other_signature) = forged.rsplit_once('.').unwrap();
        let twin = format!("{input}.{other_signature}");
        assert_eq!(tokens.verify(&twin, &key, NOW), Err(TokenError::Signature));
        assert_eq!(tokens.lock().len(), 1);
    }

    #[test]
    fn verified_tokens_stay_bounded() {
        let owner = Identity::generate();
        let tokens = VerifiedTokens::default();
        for n in 0..REMEMBERED_TOKENS + 10 {
            let token = mint(&owner, &format!("{n}/"), NOW, 100);
            tokens.verify(&token, &owner.public_key(), NOW).unwrap();
            assert!(tokens.lock().len() <= REMEMBERED_TOKENS);
        }
    }
}
