//! Tests for manifests, including the worked example in docs/formats.md.

use super::*;
use base64::Engine as _;

const FORMATS_MD: &str = include_str!("../../../docs/formats.md");

/// The fenced block following `<!-- vector:NAME -->` in docs/formats.md, without fences.
fn doc_block(name: &str) -> &'static str {
    let marker = format!("<!-- vector:{name} -->\n");
    let after = FORMATS_MD
        .split_once(&marker)
        .unwrap_or_else(|| panic!("no vector {name}"))
        .1;
    let fence_end = after.find('\n').expect("opening fence") + 1;
    let body = &after[fence_end..];
    &body[..body.find("```").expect("closing fence")]
}

struct Vector {
    identity: Identity,
    body: ManifestBody,
}

/// Builds the example manifest body from the documented inputs alone.
fn documented_vector() -> Vector {
    let inputs: toml::Table = toml::from_str(doc_block("inputs")).unwrap();
    let text = |name: &str| inputs[name].as_str().unwrap().to_string();
    let number = |name: &str| u64::try_from(inputs[name].as_integer().unwrap()).unwrap();
    let mut secret = [0u8; 32];
    hex::decode_to_slice(text("secret_key"), &mut secret).unwrap();
    let chunk_size = number("chunk_size");
    let mut hasher = ChunkHasher::new(chunk_size);
    hasher.update(text("object").as_bytes());
    let (sha256, chunks, size) = hasher.finish();
    Vector {
        identity: Identity::from_secret_bytes(&secret).unwrap(),
        body: ManifestBody {
            key: text("key"),
            version: number("version"),
            size,
            sha256,
            chunk_size,
            chunks,
            content_type: text("content_type"),
            created: number("created"),
            mtime_ns: None,
            etag: None,
            metadata: Default::default(),
            deleted: inputs["deleted"].as_bool().unwrap(),
        },
    }
}

#[test]
fn documented_example_is_reproduced_exactly() {
    let Vector { identity, body } = documented_vector();
    assert_eq!(identity.pubkey_hex(), doc_block("public_key").trim());
    let manifest = body.sign(&identity);
    let canonical = doc_block("canonical");
    assert_eq!(
        String::from_utf8(manifest.canonical_bytes()).unwrap(),
        canonical
    );
    let stated_len = format!("ends with `\\n`; {} bytes)", canonical.len());
    assert!(
        FORMATS_MD.contains(&stated_len),
        "docs/formats.md must state {stated_len}"
    );
    assert_eq!(
        hex::encode(manifest.signing_digest()),
        doc_block("digest").trim()
    );
    let signature = base64::engine::general_purpose::STANDARD.encode(manifest.signature);
    assert_eq!(signature, doc_block("signature").trim());
    assert_eq!(
        String::from_utf8(manifest.to_json()).unwrap(),
        doc_block("json")
    );
}

#[test]
fn documented_json_parses_and_verifies() {
    let Vector { identity, body } = documented_vector();
    let json = doc_block("json").as_bytes();
    let manifest = Manifest::from_json_verified(json, &body.key, &identity.public_key()).unwrap();
    assert_eq!(manifest.body, body);
    assert_eq!(manifest.chunk_range(2), Some((32, 11)));
    assert!(manifest.verify_chunk(2, b"the lazy dog"[1..].as_ref()));
}

fn signed(size_text: &[u8], chunk_size: u64) -> (Identity, Manifest) {
    let identity = Identity::generate();
    let mut hasher = ChunkHasher::new(chunk_size);
    hasher.update(size_text);
    let (sha256, chunks, size) = hasher.finish();
    let body = ManifestBody {
        key: "a/b.bin".into(),
        version: 1,
        size,
        sha256,
        chunk_size,
        chunks,
        content_type: "application/octet-stream".into(),
        created: 1,
        mtime_ns: None,
        etag: None,
        metadata: Default::default(),
        deleted: false,
    };
    let manifest = body.sign(&identity);
    (identity, manifest)
}

#[test]
fn json_round_trips_and_verifies() {
    let (identity, manifest) = signed(b"0123456789", 4);
    let back = Manifest::from_json(&manifest.to_json(), "a/b.bin").unwrap();
    assert_eq!(back, manifest);
    back.verify(Some(&identity.public_key())).unwrap();
    back.verify(None).unwrap();
}

#[test]
fn empty_object_and_tombstone_have_no_chunks() {
    let (identity, manifest) = signed(b"", 4);
    assert_eq!(manifest.body.chunk_count(), 0);
    assert_eq!(manifest.body.sha256, EMPTY_SHA256);
    assert_eq!(manifest.chunk_range(0), None);
    manifest.verify(Some(&identity.public_key())).unwrap();
    let tombstone = ManifestBody::tombstone("gone", 7, 4 << 20, 99).sign(&identity);
    let back = Manifest::from_json(&tombstone.to_json(), "gone").unwrap();
    assert!(back.body.deleted);
    back.verify(Some(&identity.public_key())).unwrap();
}

#[test]
fn chunk_ranges_and_chunk_checks() {
    let (_, manifest) = signed(b"0123456789", 4);
    assert_eq!(manifest.body.chunk_count(), 3);
    assert_eq!(manifest.chunk_range(0), Some((0, 4)));
    assert_eq!(manifest.chunk_range(2), Some((8, 2)));
    assert_eq!(manifest.chunk_range(3), None);
    assert_eq!(manifest.body.chunk_index_at(7), Some(1));
    assert_eq!(manifest.body.chunk_index_at(10), None);
    assert!(manifest.verify_chunk(1, b"4567"));
    assert!(!manifest.verify_chunk(1, b"4568"));
    assert!(!manifest.verify_chunk(2, b"89x"), "length must match too");
    assert!(!manifest.verify_chunk(3, b""));
}

#[test]
fn wrong_signer_high_s_and_bad_signature_are_distinct() {
    let (identity, manifest) = signed(b"data", 4);
    let stranger = Identity::generate();
    let err = manifest.verify(Some(&stranger.public_key())).unwrap_err();
    assert!(matches!(err, ManifestError::WrongSigner { .. }), "{err}");
    assert!(err.to_string().contains(&identity.pubkey_hex()), "{err}");

    let mut high = manifest.clone();
    high.signature = crate::identity::negate_s(&manifest.signature);
    let err = high.verify(Some(&identity.public_key())).unwrap_err();
    assert!(matches!(err, ManifestError::HighS { .. }), "{err}");

    let mut tampered = manifest.clone();
    tampered.body.version = 2;
    let err = tampered.verify(Some(&identity.public_key())).unwrap_err();
    assert!(matches!(err, ManifestError::BadSignature { .. }), "{err}");

    // A signature re-attributed to another signer does not verify either.
    let mut reattributed = manifest.clone();
    reattributed.signer = stranger.public_key();
    let err = reattributed.verify(None).unwrap_err();
    assert!(matches!(err, ManifestError::BadSignature { .. }), "{err}");
}

#[test]
fn every_signed_field_is_covered() {
    let (identity, manifest) = signed(b"0123456789", 4);
    let mutations: Vec<fn(&mut ManifestBody)> = vec![
        |b| b.key.push('x'),
        |b| b.version += 1,
        |b| b.sha256[0] ^= 1,
        |b| b.chunks[0][0] ^= 1,
        |b| b.content_type.push('x'),
        |b| b.created += 1,
        |b| b.mtime_ns = Some(5),
        |b| b.etag = Some("abc".into()),
        |b| {
            b.metadata.insert("a".into(), "b".into());
        },
    ];
    for mutate in mutations {
        let mut changed = manifest.clone();
        mutate(&mut changed.body);
        assert!(changed.verify(Some(&identity.public_key())).is_err());
    }
}

/// The JSON of `manifest` with one field replaced.
fn with_field(manifest: &Manifest, field: &str, value: serde_json::Value) -> Vec<u8> {
    let mut json: serde_json::Value = serde_json::from_slice(&manifest.to_json()).unwrap();
    json[field] = value;
    serde_json::to_vec(&json).unwrap()
}

#[test]
fn malformed_json_is_refused_with_context() {
    let (_, manifest) = signed(b"0123456789", 4);
    let parse = |bytes: &[u8]| Manifest::from_json(bytes, "a/b.bin").unwrap_err();

    let err = parse(&with_field(&manifest, "format", "mirra-manifest-2".into()));
    assert!(
        matches!(err, ManifestError::UnknownFormat { ref format, .. } if format == "mirra-manifest-2")
    );
    let err = parse(b"{}");
    assert!(matches!(err, ManifestError::UnknownFormat { .. }), "{err}");
    let err = parse(b"not json");
    assert!(matches!(err, ManifestError::Json { .. }), "{err}");
    let err = parse(&with_field(&manifest, "extra", 1.into()));
    assert!(err.to_string().contains("unknown field `extra`"), "{err}");
    let err = parse(&with_field(&manifest, "key", "other".into()));
    assert!(matches!(err, ManifestError::KeyMismatch { .. }), "{err}");
    let err = parse(&with_field(&manifest, "size", 20.into()));
    assert!(
        err.to_string().contains("3 chunk hashes for size 20"),
        "{err}"
    );
    let err = parse(&with_field(&manifest, "chunk_size", 0.into()));
    assert!(err.to_string().contains("chunk_size is 0"), "{err}");
    let err = parse(&with_field(&manifest, "chunk_size", (2u64 << 30).into()));
    assert!(err.to_string().contains("over the 1 GiB limit"), "{err}");
    let err = parse(&with_field(&manifest, "deleted", true.into()));
    assert!(err.to_string().contains("tombstone with size 10"), "{err}");
    let err = parse(&with_field(&manifest, "sha256", "abc".into()));
    assert!(
        err.to_string().contains("sha256: expected 64 hex digits"),
        "{err}"
    );
    let err = parse(&with_field(&manifest, "signature", "AAAA".into()));
    assert!(err.to_string().contains("expected 64 bytes"), "{err}");
    let err = parse(&with_field(&manifest, "signer", "02".into()));
    assert!(
        err.to_string().contains("signer: expected a 33-byte"),
        "{err}"
    );
    let err = parse(&with_field(
        &manifest,
        "content_type",
        "text/html\r\nX: y".into(),
    ));
    assert!(err.to_string().contains("control characters"), "{err}");
}

#[test]
fn oversized_input_is_refused_before_parsing() {
    let big = vec![b' '; MAX_MANIFEST_BYTES + 1];
    let err = Manifest::from_json(&big, "k").unwrap_err();
    assert!(matches!(err, ManifestError::TooLarge { .. }), "{err}");
}

#[test]
fn canonical_encoding_length_prefixes_strings() {
    let identity = Identity::from_secret_bytes(&[0x01; 32]).unwrap();
    let mut body = ManifestBody::tombstone("a\nversion:9", 1, 4, 0);
    let tricky = body.canonical_bytes(&identity.public_key());
    body.key = "a".into();
    let plain = body.canonical_bytes(&identity.public_key());
    assert!(String::from_utf8(tricky)
        .unwrap()
        .starts_with("format:mirra-manifest-1\nkey:11:a\nversion:9\nversion:1\n"));
    assert!(String::from_utf8(plain)
        .unwrap()
        .contains("key:1:a\nversion:1\n"));
}

#[test]
fn manifest_keys() {
    assert_eq!(
        manifest_key("docs/fox.txt"),
        ".mirra/manifests/docs/fox.txt.json"
    );
    assert_eq!(
        key_of_manifest_key(".mirra/manifests/docs/fox.txt.json"),
        Some("docs/fox.txt")
    );
    assert_eq!(key_of_manifest_key(".mirra/manifests/.json"), None);
    assert_eq!(key_of_manifest_key("docs/fox.txt"), None);
}

#[test]
fn documented_mtime_example_is_reproduced_exactly() {
    let Vector { identity, mut body } = documented_vector();
    let inputs: toml::Table = toml::from_str(doc_block("mtime_inputs")).unwrap();
    body.mtime_ns = Some(u64::try_from(inputs["mtime_ns"].as_integer().unwrap()).unwrap());
    let manifest = body.sign(&identity);
    let canonical = doc_block("mtime_canonical");
    assert_eq!(
        String::from_utf8(manifest.canonical_bytes()).unwrap(),
        canonical
    );
    assert!(FORMATS_MD.contains(&format!("Canonical bytes ({} bytes;", canonical.len())));
    assert_eq!(
        hex::encode(manifest.signing_digest()),
        doc_block("mtime_digest").trim()
    );
    let signature = base64::engine::general_purpose::STANDARD.encode(manifest.signature);
    assert_eq!(signature, doc_block("mtime_signature").trim());
    assert_eq!(
        String::from_utf8(manifest.to_json()).unwrap(),
        doc_block("mtime_json")
    );
    let parsed = Manifest::from_json_verified(
        doc_block("mtime_json").as_bytes(),
        "docs/fox.txt",
        &identity.public_key(),
    )
    .unwrap();
    assert_eq!(parsed, manifest);

    // Dropping the field from the JSON (as an old writer would never have written it)
    // must not verify: the signature covers the mtime_ns line.
    let mut json: serde_json::Value = serde_json::from_str(doc_block("mtime_json")).unwrap();
    json.as_object_mut().unwrap().remove("mtime_ns");
    let stripped = serde_json::to_vec(&json).unwrap();
    let err = Manifest::from_json_verified(&stripped, "docs/fox.txt", &identity.public_key())
        .unwrap_err();
    assert!(matches!(err, ManifestError::BadSignature { .. }), "{err}");
}

#[test]
fn manifests_without_mtime_keep_their_encoding() {
    let Vector { identity, body } = documented_vector();
    assert!(
        !String::from_utf8(body.canonical_bytes(&identity.public_key()))
            .unwrap()
            .contains("mtime")
    );
    let json = body.sign(&identity).to_json();
    assert!(!String::from_utf8(json).unwrap().contains("mtime"));
}

#[test]
fn writes_are_checked_by_the_rules_readers_apply() {
    assert!(
        ManifestBody::check_write("k", 1, 1 << 20, "text/plain", Some(1), &Default::default())
            .is_ok()
    );
    for (key, content_type, why) in [
        ("k", "text/plain\tx", "a tab in the content type"),
        ("k", "text/plain\u{7}", "a bell in the content type"),
        ("a\tb", "text/plain", "a tab in the key"),
        ("../x", "", "a dot segment in the key"),
    ] {
        assert!(
            ManifestBody::check_write(key, 1, 1 << 20, content_type, None, &Default::default())
                .is_err(),
            "{why} accepted"
        );
    }
    let long = format!("text/{}", "x".repeat(300));
    assert!(ManifestBody::check_write("k", 1, 1 << 20, &long, None, &Default::default()).is_err());
    // A key whose storage key would be too long could be signed but never read.
    let near_limit = "k".repeat(mirra_driver_api::MAX_KEY_LEN - 5);
    assert!(
        ManifestBody::check_write(&near_limit, 1, 1 << 20, "", None, &Default::default()).is_err()
    );
    assert!(
        ManifestBody::check_write("k", 1, 0, "", None, &Default::default()).is_err(),
        "chunk size 0"
    );
}

#[test]
fn the_last_version_has_no_successor() {
    assert_eq!(ManifestBody::next_version("k", 41).unwrap(), 42);
    let err = ManifestBody::next_version("k", u64::MAX).unwrap_err();
    assert!(err.to_string().contains("no successor"), "{err}");
}

#[test]
fn documented_s3_example_is_reproduced_exactly() {
    let Vector { identity, mut body } = documented_vector();
    let inputs: toml::Table = toml::from_str(doc_block("s3_inputs")).unwrap();
    body.etag = Some(inputs["etag"].as_str().unwrap().to_string());
    for (name, value) in inputs["metadata"].as_table().unwrap() {
        body.metadata
            .insert(name.clone(), value.as_str().unwrap().to_string());
    }
    let manifest = body.sign(&identity);
    let canonical = doc_block("s3_canonical");
    assert_eq!(
        String::from_utf8(manifest.canonical_bytes()).unwrap(),
        canonical
    );
    assert!(FORMATS_MD.contains(&format!("Canonical bytes ({} bytes;", canonical.len())));
    assert_eq!(
        hex::encode(manifest.signing_digest()),
        doc_block("s3_digest").trim()
    );
    let signature = base64::engine::general_purpose::STANDARD.encode(manifest.signature);
    assert_eq!(signature, doc_block("s3_signature").trim());
    assert_eq!(
        String::from_utf8(manifest.to_json()).unwrap(),
        doc_block("s3_json")
    );
    let parsed = Manifest::from_json_verified(
        doc_block("s3_json").as_bytes(),
        "docs/fox.txt",
        &identity.public_key(),
    )
    .unwrap();
    assert_eq!(parsed, manifest);
    for field in ["etag", "metadata"] {
        let mut json: serde_json::Value = serde_json::from_str(doc_block("s3_json")).unwrap();
        json.as_object_mut().unwrap().remove(field);
        let stripped = serde_json::to_vec(&json).unwrap();
        let err = Manifest::from_json_verified(&stripped, "docs/fox.txt", &identity.public_key())
            .unwrap_err();
        assert!(
            matches!(err, ManifestError::BadSignature { .. }),
            "{field}: {err}"
        );
    }
}

#[test]
fn s3_fields_are_validated() {
    let (_, manifest) = signed(b"0123456789", 4);
    let bad: Vec<fn(&mut ManifestBody)> = vec![
        |b| b.etag = Some(String::new()),
        |b| b.etag = Some("has\"quote".into()),
        |b| b.etag = Some("x".repeat(65)),
        |b| {
            b.metadata.insert("Upper".into(), "v".into());
        },
        |b| {
            b.metadata.insert("a".into(), "line\nbreak".into());
        },
        |b| {
            b.metadata.insert("big".into(), "v".repeat(3000));
        },
    ];
    for mutate in bad {
        let mut body = manifest.body.clone();
        mutate(&mut body);
        assert!(
            matches!(body.validate(), Err(ManifestError::Invalid { .. })),
            "{body:?}"
        );
    }
}
