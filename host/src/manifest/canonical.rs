//! The canonical byte encoding a manifest signature covers.
//!
//! Line-oriented ASCII so a human can read it in a hex dump, with every variable-length
//! string length-prefixed so no key or content type can forge a line break: two different
//! manifests never encode to the same bytes. docs/formats.md specifies it normatively.

use std::fmt::Write as _;

use secp256k1::PublicKey;

use super::{ManifestBody, FORMAT_TAG};

/// Encodes `body` and `signer` (every manifest field but the signature).
///
/// ```text
/// format:mirra-manifest-1
/// key:<byte length>:<key>
/// version:<decimal>
/// size:<decimal>
/// sha256:<64 lowercase hex>
/// chunk_size:<decimal>
/// chunks:<decimal count>
/// chunk:<64 lowercase hex>          (one line per chunk, in order)
/// content_type:<byte length>:<content type>
/// created:<decimal unix seconds>
/// mtime_ns:<decimal unix nanoseconds>   (only when the manifest has one)
/// etag:<byte length>:<etag>             (only when the manifest has one)
/// metadata:<decimal count>              (only when there is metadata)
/// meta:<name length>:<name>:<value length>:<value>   (one per entry, by name)
/// deleted:<true|false>
/// signer:<66 lowercase hex, compressed>
/// ```
/// Each line ends with a single `\n`, including the last; decimals have no sign and no
/// leading zeros.
pub(super) fn encode(body: &ManifestBody, signer: &PublicKey) -> Vec<u8> {
    let mut out = String::with_capacity(320 + body.key.len() + 72 * body.chunks.len());
    // Writing to a String cannot fail, so the fmt::Results below are always Ok.
    let _ = writeln!(out, "format:{FORMAT_TAG}");
    let _ = writeln!(out, "key:{}:{}", body.key.len(), body.key);
    let _ = writeln!(out, "version:{}", body.version);
    let _ = writeln!(out, "size:{}", body.size);
    let _ = writeln!(out, "sha256:{}", hex::encode(body.sha256));
    let _ = writeln!(out, "chunk_size:{}", body.chunk_size);
    let _ = writeln!(out, "chunks:{}", body.chunks.len());
    for chunk in &body.chunks {
        let _ = writeln!(out, "chunk:{}", hex::encode(chunk));
    }
    let _ = writeln!(
        out,
        "content_type:{}:{}",
        body.content_type.len(),
        body.content_type
    );
    let _ = writeln!(out, "created:{}", body.created);
    // Emitted only when present, so manifests without it keep their canonical bytes
    // (and signatures); the distinct line name keeps the two shapes unambiguous.
    if let Some(mtime_ns) = body.mtime_ns {
        let _ = writeln!(out, "mtime_ns:{mtime_ns}");
    }
    // Same rule for the S3 fields: absent, they leave the encoding unchanged.
    if let Some(etag) = &body.etag {
        let _ = writeln!(out, "etag:{}:{etag}", etag.len());
    }
    if !body.metadata.is_empty() {
        let _ = writeln!(out, "metadata:{}", body.metadata.len());
        for (name, value) in &body.metadata {
            let _ = writeln!(out, "meta:{}:{name}:{}:{value}", name.len(), value.len());
        }
    }
    let _ = writeln!(out, "deleted:{}", body.deleted);
    let _ = writeln!(out, "signer:{}", hex::encode(signer.serialize()));
    out.into_bytes()
}
