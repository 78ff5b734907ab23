use secp256k1::SecretKey;
use serde_json::json;

use super::*;

const CHALLENGE: &str = r#"["gaiahub","0","test","blockstack_storage_please_sign"]"#;
const NOW: u64 = 1_700_000_000;

fn key(byte: u8) -> (SecretKey, String) {
    let secret = SecretKey::from_secret_bytes([byte; 32]).unwrap();
    let public = PublicKey::from_secret_key(&secret);
    (secret, hex::encode(public.serialize()))
}

/// `s` replaced by `n - s`: the high-S twin of a low-S signature.
fn high_s(compact: [u8; 64]) -> [u8; 64] {
    const N: [u8; 32] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xfe, 0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36,
        0x41, 0x41,
    ];
    let mut out = compact;
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let d = i16::from(N[i]) - i16::from(compact[32 + i]) - borrow;
        out[32 + i] = d.rem_euclid(256) as u8;
        borrow = i16::from(d < 0);
    }
    out
}

fn sign_with(secret: &SecretKey, claims: &serde_json::Value, make_high: bool) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"ES256K"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let input = format!("{header}.{payload}");
    let digest: [u8; 32] = Sha256::digest(input.as_bytes()).into();
    let signature = ecdsa::sign(Message::from_digest(digest), secret);
    let mut compact = signature.serialize_compact();
    if make_high {
        compact = high_s(compact);
    }
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(compact))
}

fn bearer(jwt: &str) -> String {
    format!("bearer v1:{jwt}")
}

#[test]
fn a_client_token_verifies_and_names_its_address() {
    let (secret, iss) = key(7);
    let claims =
        json!({"gaiaChallenge": CHALLENGE, "hubUrl": "http://h", "iss": iss, "salt": "00"});
    for high in [false, true] {
        let header = bearer(&sign_with(&secret, &claims, high));
        let token = verify(Some(&header), CHALLENGE, NOW).unwrap();
        assert_eq!(token.address, address_of(&hex::decode(&iss).unwrap()));
        assert!(token.issued_at.is_none());
        // "Bearer" in any case.
        let upper = header.replacen("bearer", "BEARER", 1);
        assert!(verify(Some(&upper), CHALLENGE, NOW).is_ok());
    }
}

#[test]
fn forged_wrong_or_stale_tokens_are_refused() {
    let (secret, iss) = key(7);
    let (other, _) = key(9);
    let good = json!({"gaiaChallenge": CHALLENGE, "iss": iss});
    // Signed by another key than iss.
    let forged = bearer(&sign_with(&other, &good, false));
    assert_eq!(
        verify(Some(&forged), CHALLENGE, NOW).unwrap_err(),
        TokenError::Signature
    );
    // A tampered payload.
    let signed = sign_with(&secret, &good, false);
    let mut parts: Vec<&str> = signed.split('.').collect();
    let tampered_payload =
        URL_SAFE_NO_PAD.encode(json!({"gaiaChallenge": CHALLENGE, "iss": iss, "x": 1}).to_string());
    parts[1] = &tampered_payload;
    let tampered = bearer(&parts.join("."));
    assert_eq!(
        verify(Some(&tampered), CHALLENGE, NOW).unwrap_err(),
        TokenError::Signature
    );
    // Another hub's challenge.
    let other_hub = json!({"gaiaChallenge": "[\"gaiahub\",\"0\",\"elsewhere\"]", "iss": iss});
    let header = bearer(&sign_with(&secret, &other_hub, false));
    assert_eq!(
        verify(Some(&header), CHALLENGE, NOW).unwrap_err(),
        TokenError::Challenge
    );
    // Expired.
    let expired = json!({"gaiaChallenge": CHALLENGE, "iss": iss, "exp": NOW - 1});
    let header = bearer(&sign_with(&secret, &expired, false));
    assert!(matches!(
        verify(Some(&header), CHALLENGE, NOW),
        Err(TokenError::Expired { .. })
    ));
    // Not v1, not bearer, none at all, alg none.
    assert!(matches!(
        verify(Some(&format!("bearer {signed}")), CHALLENGE, NOW),
        Err(TokenError::Malformed(_))
    ));
    assert!(matches!(
        verify(Some(&format!("Basic v1:{signed}")), CHALLENGE, NOW),
        Err(TokenError::Malformed(_))
    ));
    assert_eq!(
        verify(None, CHALLENGE, NOW).unwrap_err(),
        TokenError::Missing
    );
    let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#);
    let unsigned = format!("bearer v1:{none_header}.{}.", parts[1]);
    assert!(matches!(
        verify(Some(&unsigned), CHALLENGE, NOW),
        Err(TokenError::Algorithm(_))
    ));
}

#[test]
fn revocation_needs_iat_at_or_after_the_oldest_valid_time() {
    let (secret, iss) = key(7);
    let with_iat = json!({"gaiaChallenge": CHALLENGE, "iss": iss, "iat": NOW});
    let token = verify(
        Some(&bearer(&sign_with(&secret, &with_iat, false))),
        CHALLENGE,
        NOW,
    )
    .unwrap();
    assert!(token.check_revocation(None).is_ok());
    assert!(token.check_revocation(Some(NOW)).is_ok());
    assert!(token.check_revocation(Some(NOW + 1)).is_err());
    let without = json!({"gaiaChallenge": CHALLENGE, "iss": iss});
    let token = verify(
        Some(&bearer(&sign_with(&secret, &without, false))),
        CHALLENGE,
        NOW,
    )
    .unwrap();
    assert!(token.check_revocation(None).is_ok());
    assert_eq!(
        token.check_revocation(Some(1)).unwrap_err(),
        TokenError::Revoked {
            iat: None,
            oldest: 1
        }
    );
}

#[test]
fn association_tokens_must_name_the_app_key_and_be_unexpired() {
    let (user, user_pub) = key(3);
    let (app, app_pub) = key(7);
    let association = |child: &str, exp: u64| {
        sign_with(
            &user,
            &json!({"iss": user_pub, "childToAssociate": child, "exp": exp}),
            false,
        )
    };
    let outer = |association: String| {
        bearer(&sign_with(
            &app,
            &json!({"gaiaChallenge": CHALLENGE, "iss": app_pub, "associationToken": association}),
            false,
        ))
    };
    let token = verify(
        Some(&outer(association(&app_pub, NOW + 60))),
        CHALLENGE,
        NOW,
    )
    .unwrap();
    assert_eq!(
        token.associated_by.unwrap(),
        address_of(&hex::decode(&user_pub).unwrap())
    );
    assert_eq!(token.address, address_of(&hex::decode(&app_pub).unwrap()));
    for bad in [
        association(&user_pub, NOW + 60),
        association(&app_pub, NOW - 1),
    ] {
        assert!(matches!(
            verify(Some(&outer(bad)), CHALLENGE, NOW),
            Err(TokenError::Association(_))
        ));
    }
}

#[test]
fn scopes_are_parsed_from_the_claims() {
    let (secret, iss) = key(7);
    let claims = json!({"gaiaChallenge": CHALLENGE, "iss": iss,
        "scopes": [{"scope": "putFilePrefix", "domain": "a/"}]});
    let token = verify(
        Some(&bearer(&sign_with(&secret, &claims, false))),
        CHALLENGE,
        NOW,
    )
    .unwrap();
    assert!(token.scopes.check_write("a/x").is_ok());
    assert!(token.scopes.check_write("b/x").is_err());
    let bad = json!({"gaiaChallenge": CHALLENGE, "iss": iss,
        "scopes": [{"scope": "readAll", "domain": ""}]});
    assert!(matches!(
        verify(
            Some(&bearer(&sign_with(&secret, &bad, false))),
            CHALLENGE,
            NOW
        ),
        Err(TokenError::Scopes(_))
    ));
}
