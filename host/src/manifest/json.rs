//! The JSON form stored at `.mirra/manifests/<key>.json`.
//!
//! Parsing is strict (unknown fields refused, every field required) because nothing in
//! the JSON outside the signed fields may influence a reader.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use secp256k1::PublicKey;
use serde::{Deserialize, Serialize};

use super::{Manifest, ManifestBody, ManifestError, FORMAT_TAG};

/// The manifest as it appears in JSON, field for field; hashes as lowercase hex.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestJson {
    format: String,
    key: String,
    version: u64,
    size: u64,
    sha256: String,
    chunk_size: u64,
    chunks: Vec<String>,
    content_type: String,
    created: u64,
    /// Optional: absent in manifests of files without a recorded time, and in every
    /// manifest written before the field existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    mtime_ns: Option<u64>,
    /// Optional: only objects written through the S3 front door carry an ETag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    etag: Option<String>,
    /// Optional: omitted when empty.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    metadata: BTreeMap<String, String>,
    deleted: bool,
    signer: String,
    signature: String,
}

/// Just the format tag, read first so an unknown format gets its own error.
#[derive(Deserialize)]
struct FormatProbe {
    format: Option<String>,
}

pub(super) fn encode(manifest: &Manifest) -> Vec<u8> {
    let body = &manifest.body;
    let json = ManifestJson {
        format: FORMAT_TAG.to_string(),
        key: body.key.clone(),
        version: body.version,
        size: body.size,
        sha256: hex::encode(body.sha256),
        chunk_size: body.chunk_size,
        chunks: body.chunks.iter().map(hex::encode).collect(),
        content_type: body.content_type.clone(),
        created: body.created,
        mtime_ns: body.mtime_ns,
        etag: body.etag.clone(),
        metadata: body.metadata.clone(),
        deleted: body.deleted,
        signer: hex::encode(manifest.signer.serialize()),
        signature: BASE64.encode(manifest.signature),
    };
    let mut bytes = serde_json::to_vec_pretty(&json).expect("plain strings and numbers serialize");
    bytes.push(b'\n');
    bytes
}

pub(super) fn decode(bytes: &[u8], expected_key: &str) -> Result<Manifest, ManifestError> {
    let json_err = |source| ManifestError::Json {
        key: expected_key.to_string(),
        source,
    };
    let probe: FormatProbe = serde_json::from_slice(bytes).map_err(json_err)?;
    match probe.format.as_deref() {
        Some(FORMAT_TAG) => {}
        other => {
            return Err(ManifestError::UnknownFormat {
                key: expected_key.to_string(),
                format: other.unwrap_or("(none)").to_string(),
            })
        }
    }
    let json: ManifestJson = serde_json::from_slice(bytes).map_err(json_err)?;
    if json.key != expected_key {
        return Err(ManifestError::KeyMismatch {
            expected: expected_key.to_string(),
            found: json.key,
        });
    }
    let invalid = |reason: String| ManifestError::Invalid {
        key: expected_key.to_string(),
        reason,
    };
    let body = ManifestBody {
        sha256: hash_from_hex(&json.sha256).map_err(|e| invalid(format!("sha256: {e}")))?,
        chunks: json
            .chunks
            .iter()
            .enumerate()
            .map(|(i, h)| hash_from_hex(h).map_err(|e| invalid(format!("chunks[{i}]: {e}"))))
            .collect::<Result<_, _>>()?,
        key: json.key,
        version: json.version,
        size: json.size,
        chunk_size: json.chunk_size,
        content_type: json.content_type,
        created: json.created,
        mtime_ns: json.mtime_ns,
        etag: json.etag,
        metadata: json.metadata,
        deleted: json.deleted,
    };
    body.validate()?;
    let signer = parse_signer(&json.signer).map_err(|e| invalid(format!("signer: {e}")))?;
    let signature =
        parse_signature(&json.signature).map_err(|e| invalid(format!("signature: {e}")))?;
    Ok(Manifest {
        body,
        signer,
        signature,
    })
}

fn hash_from_hex(text: &str) -> Result<[u8; 32], String> {
    let mut out = [0u8; 32];
    if text.len() != 64 {
        return Err(format!(
            "expected 64 hex digits, found {} characters",
            text.len()
        ));
    }
    hex::decode_to_slice(text, &mut out).map_err(|_| "not hexadecimal".to_string())?;
    Ok(out)
}

fn parse_signer(text: &str) -> Result<PublicKey, String> {
    let bytes = hex::decode(text).map_err(|_| "not hexadecimal".to_string())?;
    if bytes.len() != 33 {
        return Err(format!(
            "expected a 33-byte compressed public key, found {} bytes",
            bytes.len()
        ));
    }
    PublicKey::from_slice(&bytes).map_err(|_| "not a secp256k1 public key".to_string())
}

fn parse_signature(text: &str) -> Result<[u8; 64], String> {
    let bytes = BASE64
        .decode(text)
        .map_err(|e| format!("not base64 ({e})"))?;
    bytes
        .try_into()
        .map_err(|bytes: Vec<u8>| format!("expected 64 bytes (r‖s), found {}", bytes.len()))
}
