//! Signed manifests: which bytes a key holds, at which version, vouched for by the owner.
//!
//! A manifest is stored as JSON at `.mirra/manifests/<key>.json` on every provider. Its
//! signature is deterministic ECDSA over secp256k1 (RFC 6979, low-S, compact `r‖s`,
//! base64) over the SHA-256 of a canonical byte encoding of every other field, signer
//! included. `docs/formats.md` specifies both forms with a worked example that the tests
//! below recompute, so another implementation can interoperate.
//!
//! Times are unix seconds (UTC): an integer has one canonical spelling, RFC 3339 has many.
//! The optional source modification time is in unix nanoseconds, so two edits within one
//! second that keep the size are still told apart.

mod canonical;
mod chunks;
mod json;

use mirra_driver_api::Key;
use std::collections::BTreeMap;

use secp256k1::PublicKey;

use crate::identity::{verify_digest, Identity, SignatureError};

pub use chunks::{sha256, ChunkHasher, EMPTY_SHA256};

/// The format tag every manifest of this version carries.
pub const FORMAT_TAG: &str = "mirra-manifest-1";
/// Largest manifest JSON accepted, so a hostile provider cannot exhaust memory.
pub const MAX_MANIFEST_BYTES: usize = 16 << 20;
/// Reserved prefix under which manifests are stored on each provider.
pub const MANIFEST_PREFIX: &str = ".mirra/manifests/";
/// Suffix of a manifest's storage key.
pub const MANIFEST_SUFFIX: &str = ".json";
/// Largest chunk size accepted: a reader holds one chunk in memory to verify it.
pub const MAX_CHUNK_SIZE: u64 = 1 << 30;
/// Longest content type accepted (it is echoed in HTTP headers by the gateway).
pub const MAX_CONTENT_TYPE_LEN: usize = 255;
/// Longest ETag accepted (`md5-of-md5s-N` is at most 32 + 1 + 5 characters).
pub const MAX_ETAG_LEN: usize = 64;
/// Largest total of user metadata names and values, in bytes (S3's own limit).
pub const MAX_METADATA_BYTES: usize = 2048;

/// Where the manifest of `key` is stored: `.mirra/manifests/<key>.json`.
pub fn manifest_key(key: &str) -> String {
    format!("{MANIFEST_PREFIX}{key}{MANIFEST_SUFFIX}")
}

/// The object key a manifest storage key belongs to, if it is one (inverse of
/// [`manifest_key`]), for listings.
pub fn key_of_manifest_key(storage_key: &str) -> Option<&str> {
    storage_key
        .strip_prefix(MANIFEST_PREFIX)?
        .strip_suffix(MANIFEST_SUFFIX)
        .filter(|key| !key.is_empty())
}

/// Why a manifest was refused. Every variant names the object key it was read for.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// The manifest is larger than [`MAX_MANIFEST_BYTES`].
    #[error("manifest for {key:?} is {size} bytes, over the {limit}-byte limit")]
    TooLarge {
        /// The object key.
        key: String,
        /// Size found.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Not JSON, or JSON of the wrong shape (missing or unknown field, wrong type).
    #[error("manifest for {key:?} is not valid manifest JSON: {source}")]
    Json {
        /// The object key.
        key: String,
        /// The parser's error, with line and column.
        source: serde_json::Error,
    },
    /// A format tag this version does not know.
    #[error(
        "manifest for {key:?} has unknown format {format:?} (this mirra reads {FORMAT_TAG:?})"
    )]
    UnknownFormat {
        /// The object key.
        key: String,
        /// The tag found.
        format: String,
    },
    /// The manifest describes another key (e.g. copied to the wrong place).
    #[error("manifest stored for key {expected:?} describes key {found:?}")]
    KeyMismatch {
        /// The key it was read for.
        expected: String,
        /// The key inside it.
        found: String,
    },
    /// Fields that contradict each other or are out of range.
    #[error("manifest for {key:?} is inconsistent: {reason}")]
    Invalid {
        /// The object key.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// Signed by someone other than the expected owner.
    #[error("manifest for {key:?} is signed by {found}, not the expected key {expected}")]
    WrongSigner {
        /// The object key.
        key: String,
        /// The expected public key, compressed hex.
        expected: String,
        /// The manifest's signer, compressed hex.
        found: String,
    },
    /// A high-S signature: never produced by mirra, so a sign of tampering.
    #[error("manifest for {key:?} has a non-canonical (high-S) signature")]
    HighS {
        /// The object key.
        key: String,
    },
    /// The signature does not verify over the manifest's fields.
    #[error("manifest for {key:?} has a bad signature: {source}")]
    BadSignature {
        /// The object key.
        key: String,
        /// How it failed.
        source: SignatureError,
    },
}

/// Every field of a manifest except the signer and signature: what the owner vouches for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestBody {
    /// The object key.
    pub key: String,
    /// Version, one more than the newest known when written; newest wins.
    pub version: u64,
    /// Object size in bytes (0 for a tombstone).
    pub size: u64,
    /// SHA-256 of the whole object.
    pub sha256: [u8; 32],
    /// Chunk size in bytes (> 0); every chunk but the last has exactly this size.
    pub chunk_size: u64,
    /// SHA-256 of each chunk, in order; `ceil(size / chunk_size)` of them.
    pub chunks: Vec<[u8; 32]>,
    /// MIME type served for the object (may be empty).
    pub content_type: String,
    /// When this version was written, unix seconds UTC.
    pub created: u64,
    /// The source file's modification time, unix nanoseconds UTC, when the object came
    /// from a file: what `mirra sync` compares (with the size) to skip unchanged files.
    /// Optional so manifests written before it existed still parse and verify unchanged.
    pub mtime_ns: Option<u64>,
    /// The S3 ETag of the object (without quotes) when it was written through an S3
    /// front door: the MD5 of the bytes, or S3's `md5-of-md5s-N` for a multipart upload.
    /// Signed so every provider serves the same ETag. Optional, like `mtime_ns`.
    pub etag: Option<String>,
    /// User metadata (S3 `x-amz-meta-*`, names lowercase), signed with the object.
    /// Optional: an empty map is not encoded at all.
    pub metadata: BTreeMap<String, String>,
    /// A tombstone: the key was deleted at this version (size 0, no chunks).
    pub deleted: bool,
}

impl ManifestBody {
    /// A tombstone for `key` at `version`: the signed record that it was deleted.
    pub fn tombstone(
        key: impl Into<String>,
        version: u64,
        chunk_size: u64,
        created: u64,
    ) -> ManifestBody {
        ManifestBody {
            key: key.into(),
            version,
            size: 0,
            sha256: EMPTY_SHA256,
            chunk_size,
            chunks: Vec::new(),
            content_type: String::new(),
            created,
            mtime_ns: None,
            etag: None,
            metadata: BTreeMap::new(),
            deleted: true,
        }
    }

    /// The canonical encoding of this body as signed by `signer` (see docs/formats.md).
    ///
    /// The signer is part of the signed bytes so a signature cannot be re-attributed.
    pub fn canonical_bytes(&self, signer: &PublicKey) -> Vec<u8> {
        canonical::encode(self, signer)
    }

    /// SHA-256 of [`ManifestBody::canonical_bytes`]: the digest that is signed.
    pub fn signing_digest(&self, signer: &PublicKey) -> [u8; 32] {
        sha256(&self.canonical_bytes(signer))
    }

    /// Signs the body with `identity`.
    pub fn sign(self, identity: &Identity) -> Manifest {
        let signer = identity.public_key();
        let signature = identity.sign_digest(&self.signing_digest(&signer));
        Manifest {
            body: self,
            signer,
            signature,
        }
    }

    /// Checks that the fields agree with each other (chunk count, tombstone shape, ...).
    pub fn validate(&self) -> Result<(), ManifestError> {
        let invalid = |reason: String| ManifestError::Invalid {
            key: self.key.clone(),
            reason,
        };
        if self.key.is_empty() {
            return Err(invalid("empty key".into()));
        }
        // Readers look the manifest up under its storage key: a key that is not a valid
        // key, or whose storage key is not (too long), could be signed but never read.
        if let Err(e) = Key::parse(&self.key).and_then(|_| Key::parse(&manifest_key(&self.key))) {
            return Err(invalid(format!("key: {e}")));
        }
        if self.chunk_size == 0 {
            return Err(invalid("chunk_size is 0".into()));
        }
        if self.chunk_size > MAX_CHUNK_SIZE {
            return Err(invalid(format!(
                "chunk_size {} is over the 1 GiB limit",
                self.chunk_size
            )));
        }
        if self.deleted && self.size != 0 {
            return Err(invalid(format!("tombstone with size {}", self.size)));
        }
        let expected_chunks = self.size.div_ceil(self.chunk_size);
        if self.chunks.len() as u64 != expected_chunks {
            return Err(invalid(format!(
                "{} chunk hashes for size {} and chunk_size {} (expected {expected_chunks})",
                self.chunks.len(),
                self.size,
                self.chunk_size
            )));
        }
        if self.size == 0 && self.sha256 != EMPTY_SHA256 {
            return Err(invalid(
                "empty object whose sha256 is not that of no bytes".into(),
            ));
        }
        if self.content_type.len() > MAX_CONTENT_TYPE_LEN {
            return Err(invalid(format!(
                "content_type longer than {MAX_CONTENT_TYPE_LEN} bytes"
            )));
        }
        if self.content_type.chars().any(char::is_control) {
            return Err(invalid("content_type contains control characters".into()));
        }
        if let Some(etag) = &self.etag {
            let valid = !etag.is_empty()
                && etag.len() <= MAX_ETAG_LEN
                && etag.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
            if !valid {
                return Err(invalid(format!(
                    "etag must be 1 to {MAX_ETAG_LEN} ASCII letters, digits or '-'"
                )));
            }
        }
        let metadata_bytes: usize = self.metadata.iter().map(|(k, v)| k.len() + v.len()).sum();
        if metadata_bytes > MAX_METADATA_BYTES {
            return Err(invalid(format!(
                "metadata is {metadata_bytes} bytes, over the {MAX_METADATA_BYTES}-byte limit"
            )));
        }
        if self.metadata.iter().any(|(k, v)| {
            k.is_empty()
                || k.chars().any(|c| c.is_control() || c.is_ascii_uppercase())
                || v.chars().any(char::is_control)
        }) {
            return Err(invalid(
                "metadata names must be non-empty and lowercase, and no name or value may \
                 contain control characters"
                    .into(),
            ));
        }
        Ok(())
    }

    /// Checks what a writer chooses for a new version of `key` before any byte is sent,
    /// by [`ManifestBody::validate`] on an empty version carrying them: the one place
    /// that decides what readers accept also decides what writers may sign.
    ///
    /// # Errors
    /// The reason a reader would refuse a manifest carrying these fields.
    pub fn check_write(
        key: &str,
        version: u64,
        chunk_size: u64,
        content_type: &str,
        mtime_ns: Option<u64>,
        metadata: &BTreeMap<String, String>,
    ) -> Result<(), ManifestError> {
        ManifestBody {
            key: key.to_owned(),
            version,
            size: 0,
            sha256: EMPTY_SHA256,
            chunk_size,
            chunks: Vec::new(),
            content_type: content_type.to_owned(),
            created: 0,
            mtime_ns,
            deleted: false,
            etag: None,
            metadata: metadata.clone(),
        }
        .validate()
    }

    /// The version after `version`, or why there is none (a signed `u64::MAX` would leave
    /// a key that can never be written again).
    ///
    /// # Errors
    /// `Invalid` when `version` is `u64::MAX`.
    pub fn next_version(key: &str, version: u64) -> Result<u64, ManifestError> {
        version
            .checked_add(1)
            .ok_or_else(|| ManifestError::Invalid {
                key: key.to_owned(),
                reason: format!("version {version} has no successor"),
            })
    }

    /// The number of chunks.
    pub fn chunk_count(&self) -> usize {
        self.chunks.len()
    }

    /// `(offset, length)` of chunk `index` within the object, or `None` past the end.
    pub fn chunk_range(&self, index: usize) -> Option<(u64, u64)> {
        if index >= self.chunks.len() {
            return None;
        }
        let offset = index as u64 * self.chunk_size;
        Some((offset, self.chunk_size.min(self.size - offset)))
    }

    /// The index of the chunk holding byte `offset`, or `None` at or past the end.
    pub fn chunk_index_at(&self, offset: u64) -> Option<usize> {
        (offset < self.size).then(|| (offset / self.chunk_size) as usize)
    }

    /// Whether `bytes` are exactly chunk `index` of the object.
    pub fn verify_chunk(&self, index: usize, bytes: &[u8]) -> bool {
        match (self.chunk_range(index), self.chunks.get(index)) {
            (Some((_, len)), Some(expected)) => {
                bytes.len() as u64 == len && sha256(bytes) == *expected
            }
            _ => false,
        }
    }
}

/// A signed manifest: the body, who signed it and the signature.
///
/// Holding one does not mean it verified: call [`Manifest::verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The signed fields.
    pub body: ManifestBody,
    /// The signer's public key.
    pub signer: PublicKey,
    /// Compact ECDSA signature `r‖s` over [`ManifestBody::signing_digest`].
    pub signature: [u8; 64],
}

impl Manifest {
    /// The JSON stored on providers (pretty-printed, fields in the documented order).
    pub fn to_json(&self) -> Vec<u8> {
        json::encode(self)
    }

    /// Parses manifest JSON read for `expected_key`, checking its shape and consistency
    /// (not its signature: see [`Manifest::verify`]).
    pub fn from_json(bytes: &[u8], expected_key: &str) -> Result<Manifest, ManifestError> {
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(ManifestError::TooLarge {
                key: expected_key.to_string(),
                size: bytes.len(),
                limit: MAX_MANIFEST_BYTES,
            });
        }
        json::decode(bytes, expected_key)
    }

    /// [`Manifest::from_json`] then [`Manifest::verify`] against `expected_signer`.
    pub fn from_json_verified(
        bytes: &[u8],
        expected_key: &str,
        expected_signer: &PublicKey,
    ) -> Result<Manifest, ManifestError> {
        let manifest = Manifest::from_json(bytes, expected_key)?;
        manifest.verify(Some(expected_signer))?;
        Ok(manifest)
    }

    /// Checks the signature, and that the signer is `expected_signer` when given.
    ///
    /// Wrong signer, high-S and a signature that does not match are distinct errors.
    pub fn verify(&self, expected_signer: Option<&PublicKey>) -> Result<(), ManifestError> {
        let key = || self.body.key.clone();
        if let Some(expected) = expected_signer {
            if *expected != self.signer {
                return Err(ManifestError::WrongSigner {
                    key: key(),
                    expected: hex::encode(expected.serialize()),
                    found: self.signer_hex(),
                });
            }
        }
        self.body.validate()?;
        verify_digest(&self.signer, &self.signing_digest(), &self.signature).map_err(|source| {
            match source {
                SignatureError::HighS => ManifestError::HighS { key: key() },
                source => ManifestError::BadSignature { key: key(), source },
            }
        })
    }

    /// The canonical bytes the signature covers.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        self.body.canonical_bytes(&self.signer)
    }

    /// SHA-256 of the canonical bytes.
    pub fn signing_digest(&self) -> [u8; 32] {
        self.body.signing_digest(&self.signer)
    }

    /// Where this manifest stands in the one total order on a key's versions: by
    /// version, then by signing digest. Two writers that picked the same version (on two
    /// machines at once) sign different bytes, so exactly one of them ranks higher in
    /// every reader, verify and repair.
    pub fn order_key(&self) -> (u64, [u8; 32]) {
        (self.body.version, self.signing_digest())
    }

    /// Whether this manifest comes after `other` in the total order.
    pub fn outranks(&self, other: &Manifest) -> bool {
        self.order_key() > other.order_key()
    }

    /// The signer as compressed hex.
    pub fn signer_hex(&self) -> String {
        hex::encode(self.signer.serialize())
    }

    /// See [`ManifestBody::chunk_range`].
    pub fn chunk_range(&self, index: usize) -> Option<(u64, u64)> {
        self.body.chunk_range(index)
    }

    /// See [`ManifestBody::verify_chunk`].
    pub fn verify_chunk(&self, index: usize, bytes: &[u8]) -> bool {
        self.body.verify_chunk(index, bytes)
    }
}

#[cfg(test)]
mod tests;
