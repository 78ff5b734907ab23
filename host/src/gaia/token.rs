//! Gaia hub tokens: `Authorization: bearer v1:<JWT>`, an ES256K JWT signed by the app key
//! it names in `iss`, carrying the hub's challenge text and optionally `exp`, `iat`,
//! `scopes` and an `associationToken`.
//!
//! The JavaScript signer does not normalise signatures to low-S, and libsecp256k1
//! refuses high-S ones, so `s` is normalised before verifying: a high-S signature is the
//! same signature, not a forgery.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use secp256k1::ecdsa::Signature;
use secp256k1::{ecdsa, Message, PublicKey};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::address::address_of;
use super::scopes::{Scope, ScopeError, Scopes};

/// Tokens longer than this are refused before any parsing.
const MAX_TOKEN_LEN: usize = 16 * 1024;

/// Why a token is refused (every case is a 401 `ValidationError`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// No `Authorization` header.
    #[error("no Authorization header; Gaia writes need `bearer v1:<token>`")]
    Missing,
    /// Not `bearer v1:<three base64url parts>` of JSON.
    #[error("malformed token: {0}")]
    Malformed(String),
    /// The header names another algorithm.
    #[error("unsupported token algorithm {0:?} (only ES256K)")]
    Algorithm(String),
    /// The signature does not verify against `iss`.
    #[error("the token's signature does not verify against its iss key")]
    Signature,
    /// The challenge text is not this hub's.
    #[error("the token's gaiaChallenge is not this hub's challenge_text")]
    Challenge,
    /// `exp` is in the past.
    #[error("the token expired at {exp} (now {now})")]
    Expired {
        /// The token's `exp`.
        exp: u64,
        /// The server's clock.
        now: u64,
    },
    /// Issued before the address's revoke-all time, or without `iat` after one.
    #[error("the token was revoked: issued at {iat:?}, oldest valid time {oldest}")]
    Revoked {
        /// The token's `iat`, if any.
        iat: Option<u64>,
        /// The address's oldest valid time.
        oldest: u64,
    },
    /// The association token is invalid.
    #[error("invalid associationToken: {0}")]
    Association(String),
    /// The scopes claim is invalid.
    #[error(transparent)]
    Scopes(#[from] ScopeError),
}

/// A token whose signature and challenge verified.
#[derive(Debug, Clone)]
pub struct HubToken {
    /// The bucket address of the `iss` key: the only bucket the token may write.
    pub address: String,
    /// `iat`, unix seconds.
    pub issued_at: Option<u64>,
    /// What the token may write and delete.
    pub scopes: Scopes,
    /// The address of the association token's issuer, when one vouched for the app key.
    pub associated_by: Option<String>,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Claims {
    iss: String,
    gaia_challenge: Option<String>,
    exp: Option<f64>,
    iat: Option<f64>,
    #[serde(default)]
    scopes: Option<Vec<Scope>>,
    association_token: Option<String>,
    child_to_associate: Option<String>,
}

/// Verifies the `Authorization` header value `header` at `now`: signature by `iss`,
/// `gaiaChallenge == challenge`, `exp`, scopes and any association token. Which bucket
/// it may write, revocation and the whitelist are the caller's to check.
pub fn verify(header: Option<&str>, challenge: &str, now: u64) -> Result<HubToken, TokenError> {
    let value = header.ok_or(TokenError::Missing)?.trim();
    let token = value
        .get(..7)
        .filter(|p| p.eq_ignore_ascii_case("bearer "))
        .map(|_| value[7..].trim())
        .ok_or_else(|| TokenError::Malformed("not a bearer token".into()))?;
    let jwt = token
        .strip_prefix("v1:")
        .ok_or_else(|| TokenError::Malformed("only v1 tokens are accepted".into()))?;
    let (claims, issuer_key) = verified_claims(jwt)?;
    if claims.gaia_challenge.as_deref() != Some(challenge) {
        return Err(TokenError::Challenge);
    }
    check_expiry(claims.exp, now)?;
    let scopes = Scopes::parse(claims.scopes.as_deref().unwrap_or_default())?;
    let associated_by = match &claims.association_token {
        Some(association) => Some(verify_association(association, &claims.iss, now)?),
        None => None,
    };
    Ok(HubToken {
        address: address_of(&issuer_key),
        issued_at: claims.iat.map(seconds),
        scopes,
        associated_by,
    })
}

impl HubToken {
    /// Refuses the token if `oldest` (the address's revoke-all time) is set and the token
    /// lacks `iat` or was issued before it.
    pub fn check_revocation(&self, oldest: Option<u64>) -> Result<(), TokenError> {
        match (oldest, self.issued_at) {
            (None, _) => Ok(()),
            (Some(oldest), Some(iat)) if iat >= oldest => Ok(()),
            (Some(oldest), iat) => Err(TokenError::Revoked { iat, oldest }),
        }
    }
}

/// An association token: signed by its own `iss` (the user's key), naming the app key
/// in `childToAssociate`, with an unexpired `exp`. Returns its issuer's address.
fn verify_association(jwt: &str, app_key: &str, now: u64) -> Result<String, TokenError> {
    let bad = |e: TokenError| TokenError::Association(e.to_string());
    let (claims, issuer_key) = verified_claims(jwt).map_err(bad)?;
    if claims.child_to_associate.as_deref() != Some(app_key) {
        return Err(TokenError::Association(
            "childToAssociate is not the token's iss".into(),
        ));
    }
    let Some(exp) = claims.exp else {
        return Err(TokenError::Association("no exp".into()));
    };
    check_expiry(Some(exp), now).map_err(bad)?;
    Ok(address_of(&issuer_key))
}

/// Parses a compact JWS, checks it is ES256K and signed by the key its `iss` names, and
/// returns the claims with that key's bytes.
fn verified_claims(jwt: &str) -> Result<(Claims, Vec<u8>), TokenError> {
    if jwt.len() > MAX_TOKEN_LEN {
        return Err(TokenError::Malformed("too long".into()));
    }
    let mut parts = jwt.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed(
            "expected three dot-separated parts".into(),
        ));
    };
    let decode = |part: &str, what: &str| {
        URL_SAFE_NO_PAD
            .decode(part.trim_end_matches('='))
            .map_err(|_| TokenError::Malformed(format!("{what} is not base64url")))
    };
    let parsed: Header = serde_json::from_slice(&decode(header, "header")?)
        .map_err(|e| TokenError::Malformed(format!("header: {e}")))?;
    // Fixed by the hub, only checked: `none` or HMAC cannot downgrade verification.
    if parsed.alg != "ES256K" {
        return Err(TokenError::Algorithm(parsed.alg));
    }
    let claims: Claims = serde_json::from_slice(&decode(payload, "payload")?)
        .map_err(|e| TokenError::Malformed(format!("claims: {e}")))?;
    let issuer_key = hex::decode(&claims.iss)
        .map_err(|_| TokenError::Malformed("iss is not a hex public key".into()))?;
    let public_key = PublicKey::from_slice(&issuer_key)
        .map_err(|_| TokenError::Malformed("iss is not a secp256k1 public key".into()))?;
    let raw = decode(signature, "signature")?;
    let mut signature = Signature::from_compact(&raw).map_err(|_| TokenError::Signature)?;
    signature.normalize_s();
    let signing_input = &jwt[..header.len() + 1 + payload.len()];
    let digest: [u8; 32] = Sha256::digest(signing_input.as_bytes()).into();
    ecdsa::verify(&signature, Message::from_digest(digest), &public_key)
        .map_err(|_| TokenError::Signature)?;
    Ok((claims, issuer_key))
}

fn check_expiry(exp: Option<f64>, now: u64) -> Result<(), TokenError> {
    match exp.map(seconds) {
        Some(exp) if exp <= now => Err(TokenError::Expired { exp, now }),
        _ => Ok(()),
    }
}

/// JSON numbers as whole seconds; negative or absurd values clamp.
fn seconds(value: f64) -> u64 {
    if value.is_finite() && value > 0.0 {
        value as u64
    } else {
        0
    }
}

#[cfg(test)]
#[path = "token_tests.rs"]
mod tests;
