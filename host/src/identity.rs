//! The owner's secp256k1 identity: key generation, the key file, signing.
//!
//! The key file holds the 32-byte secret as lowercase hex and a newline. It is created
//! with mode 0600 before any byte is written, so the secret is never readable by others
//! even for an instant, and loading refuses a file that group or others can access, as
//! ssh does. The secret never appears in `Debug` output or error messages.

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use secp256k1::ecdsa::Signature;
use secp256k1::{ecdsa, Message, PublicKey, SecretKey};

/// Prefix of a public key in a Blockstack zone file TXT record.
pub const BLOCKSTACK_PREFIX: &str = "pubkey:data:";

/// Why an identity could not be created, saved, loaded or a key parsed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// `save` found a key file already there and `force` was not given.
    #[error("key file {} already exists; refusing to overwrite it (use --force to replace the key)", .path.display())]
    AlreadyExists {
        /// The key file.
        path: PathBuf,
    },
    /// Reading or writing the key file failed.
    #[error("key file {}: {source}", .path.display())]
    Io {
        /// The key file (or its directory).
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The key file can be read or written by group or others.
    #[error(
        "key file {} has mode {mode:04o}, which lets group or others access the secret key; \
         run `chmod 600 {}`",
        .path.display(), .path.display()
    )]
    InsecurePermissions {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The key file does not hold a valid secret key.
    #[error("key file {} is not a mirra key: {reason}", .path.display())]
    Malformed {
        /// The key file.
        path: PathBuf,
        /// What is wrong (never the secret itself).
        reason: String,
    },
    /// A public key given as text is not valid.
    #[error("invalid public key {input:?}: {reason}")]
    InvalidPublicKey {
        /// The text given (a public key is not secret).
        input: String,
        /// What is wrong.
        reason: String,
    },
}

/// Why a signature did not verify; each case calls for a different message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// The 64 bytes are not a valid `r‖s` encoding (a value out of range).
    #[error("signature is not a valid compact secp256k1 ECDSA signature")]
    Malformed,
    /// `s` is in the upper half of the curve order: a malleated or non-canonical signature.
    #[error("signature has a high S value (not low-S normalized)")]
    HighS,
    /// The signature does not match the digest and public key.
    #[error("signature does not match the signed data and the signer's public key")]
    Mismatch,
}

/// The owner's secp256k1 key pair.
pub struct Identity {
    secret: SecretKey,
    public: PublicKey,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Only the public half: Debug output reaches logs.
        f.debug_struct("Identity")
            .field("public_key", &self.pubkey_hex())
            .finish_non_exhaustive()
    }
}

impl Drop for Identity {
    fn drop(&mut self) {
        // Best effort: keep the secret from lingering in freed memory.
        self.secret.non_secure_erase();
    }
}

impl Identity {
    /// A new random key from the operating system's CSPRNG.
    pub fn generate() -> Identity {
        use secp256k1::rand::TryRngCore;
        let secret = SecretKey::new(&mut secp256k1::rand::rngs::OsRng.unwrap_err());
        Identity::from_secret(secret)
    }

    /// The identity for a known 32-byte secret (test vectors, imports).
    pub fn from_secret_bytes(bytes: &[u8; 32]) -> Result<Identity, secp256k1::Error> {
        SecretKey::from_secret_bytes(*bytes).map(Identity::from_secret)
    }

    fn from_secret(secret: SecretKey) -> Identity {
        let public = PublicKey::from_secret_key(&secret);
        Identity { secret, public }
    }

    /// Writes the secret key to `path` as hex and a newline, mode 0600.
    ///
    /// Missing parent directories are created (mode 0700). An existing file is refused
    /// with [`IdentityError::AlreadyExists`] unless `force`, in which case it is replaced
    /// atomically: the new key goes to a temporary file that is renamed over the old one.
    pub fn save(&self, path: &Path, force: bool) -> Result<(), IdentityError> {
        let io_err = |source| IdentityError::Io {
            path: path.to_path_buf(),
            source,
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)
                .map_err(io_err)?;
        }
        let contents = format!("{}\n", hex::encode(self.secret.to_secret_bytes()));
        if !force {
            // create_new fails if the file exists: no window where a check and a create
            // could race with another `mirra init`.
            return write_new_private(path, contents.as_bytes()).map_err(|source| {
                if source.kind() == io::ErrorKind::AlreadyExists {
                    IdentityError::AlreadyExists {
                        path: path.to_path_buf(),
                    }
                } else {
                    io_err(source)
                }
            });
        }
        let temp = temp_path(path);
        let written =
            write_new_private(&temp, contents.as_bytes()).and_then(|()| fs::rename(&temp, path));
        if written.is_err() {
            let _ = fs::remove_file(&temp);
        }
        written.map_err(io_err)
    }

    /// Reads a key file written by [`Identity::save`].
    ///
    /// Refuses a file that group or others can access, and one that is not 64 hex digits
    /// (surrounding whitespace allowed) encoding a valid secp256k1 secret.
    pub fn load(path: &Path) -> Result<Identity, IdentityError> {
        let io_err = |source| IdentityError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = fs::File::open(path).map_err(io_err)?;
        let metadata = file.metadata().map_err(io_err)?;
        if !metadata.is_file() {
            return Err(IdentityError::Malformed {
                path: path.to_path_buf(),
                reason: "not a regular file".into(),
            });
        }
        let mode = metadata.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(IdentityError::InsecurePermissions {
                path: path.to_path_buf(),
                mode,
            });
        }
        let malformed = |reason: &str| IdentityError::Malformed {
            path: path.to_path_buf(),
            reason: reason.to_string(),
        };
        let mut text = String::new();
        // A key file is 65 bytes; reading a little more is enough to tell it is too long.
        io::Read::read_to_string(&mut io::Read::take(file, 4096), &mut text)
            .map_err(|_| malformed("not UTF-8 text"))?;
        let digits = text.trim();
        if digits.len() != 64 {
            return Err(malformed(&format!(
                "expected 64 hex digits, found {} characters",
                digits.len()
            )));
        }
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(digits, &mut bytes).map_err(|_| malformed("not hexadecimal"))?;
        let identity = Identity::from_secret_bytes(&bytes).map_err(|_| {
            malformed("not a valid secp256k1 secret key (zero or above the curve order)")
        });
        bytes.fill(0);
        identity
    }

    /// The public key.
    pub fn public_key(&self) -> PublicKey {
        self.public
    }

    /// The public key, compressed, as 66 lowercase hex digits (`02…` or `03…`).
    pub fn pubkey_hex(&self) -> String {
        hex::encode(self.public.serialize())
    }

    /// The public key in Blockstack's zone file form, `pubkey:data:<compressed hex>`.
    pub fn blockstack_txt(&self) -> String {
        format!("{BLOCKSTACK_PREFIX}{}", self.pubkey_hex())
    }

    /// Signs a 32-byte digest: deterministic ECDSA (RFC 6979), low-S, compact `r‖s`.
    pub fn sign_digest(&self, digest: &[u8; 32]) -> [u8; 64] {
        // libsecp256k1 always produces low-S signatures; normalizing again is free and
        // keeps the guarantee local.
        let mut signature = ecdsa::sign(Message::from_digest(*digest), &self.secret);
        signature.normalize_s();
        signature.serialize_compact()
    }
}

/// Checks a compact `r‖s` signature over `digest` by `public`, refusing high-S forms.
pub fn verify_digest(
    public: &PublicKey,
    digest: &[u8; 32],
    signature: &[u8; 64],
) -> Result<(), SignatureError> {
    let parsed = Signature::from_compact(signature).map_err(|_| SignatureError::Malformed)?;
    let mut normalized = parsed;
    normalized.normalize_s();
    if normalized != parsed {
        return Err(SignatureError::HighS);
    }
    ecdsa::verify(&parsed, Message::from_digest(*digest), public)
        .map_err(|_| SignatureError::Mismatch)
}

/// Parses a public key given as hex: compressed (`02`/`03`, 33 bytes) or uncompressed
/// (`04`, 65 bytes), optionally prefixed with `pubkey:data:` as in Blockstack zone files.
pub fn parse_public_key(text: &str) -> Result<PublicKey, IdentityError> {
    let invalid = |reason: &str| IdentityError::InvalidPublicKey {
        input: text.to_string(),
        reason: reason.to_string(),
    };
    let digits = text.trim();
    let digits = digits.strip_prefix(BLOCKSTACK_PREFIX).unwrap_or(digits);
    let bytes = hex::decode(digits).map_err(|_| invalid("not hexadecimal"))?;
    match (bytes.len(), bytes.first()) {
        (33, Some(0x02 | 0x03)) | (65, Some(0x04)) => {}
        (33 | 65, _) => {
            return Err(invalid(
                "bad prefix byte (expected 02 or 03 compressed, 04 uncompressed)",
            ))
        }
        (n, _) => {
            return Err(invalid(&format!(
                "expected 33 bytes (compressed) or 65 bytes (uncompressed), found {n}"
            )))
        }
    }
    PublicKey::from_slice(&bytes).map_err(|_| invalid("not a point on the secp256k1 curve"))
}

/// Creates `path` (which must not exist) with mode 0600, writes `contents` and syncs.
fn write_new_private(path: &Path, contents: &[u8]) -> io::Result<()> {
    // The mode is applied by open(2) itself, before any byte exists in the file.
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

/// A sibling of `path` to write into before renaming over it.
fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map_or_else(|| "key".into(), |n| n.to_string_lossy().into_owned());
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

/// `(r, n - s)`: the other valid-looking form of a signature.
#[cfg(test)]
pub(crate) fn negate_s(signature: &[u8; 64]) -> [u8; 64] {
    // The secp256k1 group order n, big-endian.
    const N: [u8; 32] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xfe, 0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36,
        0x41, 0x41,
    ];
    let mut out = *signature;
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let mut value = i16::from(N[i]) - i16::from(signature[32 + i]) - borrow;
        borrow = i16::from(value < 0);
        if value < 0 {
            value += 256;
        }
        out[32 + i] = value as u8;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_identity() -> Identity {
        Identity::from_secret_bytes(&[0x01; 32]).unwrap()
    }

    fn mode_of(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn save_then_load_round_trips_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/dir/key");
        let identity = Identity::generate();
        identity.save(&path, false).unwrap();
        assert_eq!(mode_of(&path), 0o600);
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text.len(), 65);
        assert!(text.ends_with('\n'));
        let loaded = Identity::load(&path).unwrap();
        assert_eq!(loaded.public_key(), identity.public_key());
    }

    #[test]
    fn save_refuses_an_existing_file_unless_forced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        let first = Identity::generate();
        first.save(&path, false).unwrap();
        let second = Identity::generate();
        let err = second.save(&path, false).unwrap_err();
        assert!(matches!(err, IdentityError::AlreadyExists { .. }));
        assert!(err.to_string().contains("--force"), "{err}");
        assert_eq!(
            Identity::load(&path).unwrap().public_key(),
            first.public_key()
        );
        second.save(&path, true).unwrap();
        assert_eq!(mode_of(&path), 0o600);
        assert_eq!(
            Identity::load(&path).unwrap().public_key(),
            second.public_key()
        );
        // No temporary file is left behind.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn forced_save_resets_a_loose_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        fs::write(&path, "old").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        test_identity().save(&path, true).unwrap();
        assert_eq!(mode_of(&path), 0o600);
    }

    #[test]
    fn load_refuses_group_or_world_access() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        test_identity().save(&path, false).unwrap();
        for mode in [0o640, 0o604, 0o660, 0o620] {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
            let err = Identity::load(&path).unwrap_err();
            assert!(matches!(err, IdentityError::InsecurePermissions { mode: m, .. } if m == mode));
            let message = err.to_string();
            assert!(message.contains(&path.display().to_string()), "{message}");
            assert!(message.contains(&format!("{mode:04o}")), "{message}");
        }
        fs::set_permissions(&path, fs::Permissions::from_mode(0o400)).unwrap();
        assert!(Identity::load(&path).is_ok());
    }

    #[test]
    fn load_refuses_malformed_files_without_echoing_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        let cases: [(&str, &str); 4] = [
            ("abcd\n", "expected 64 hex digits"),
            (&"zz".repeat(32), "not hexadecimal"),
            (&"00".repeat(32), "not a valid secp256k1 secret"),
            (&"ff".repeat(32), "not a valid secp256k1 secret"),
        ];
        for (contents, reason) in cases {
            let _ = fs::remove_file(&path);
            write_new_private(&path, contents.as_bytes()).unwrap();
            let message = Identity::load(&path).unwrap_err().to_string();
            assert!(message.contains(reason), "{message}");
            assert!(!message.contains(contents.trim()), "{message}");
        }
        let message = Identity::load(dir.path()).unwrap_err().to_string();
        assert!(message.contains("not a regular file"), "{message}");
        let missing = Identity::load(&dir.path().join("nope")).unwrap_err();
        assert!(matches!(missing, IdentityError::Io { .. }));
    }

    #[test]
    fn load_accepts_uppercase_and_crlf() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        write_new_private(
            &path,
            format!("{}\r\n", "01".repeat(32).to_uppercase()).as_bytes(),
        )
        .unwrap();
        assert_eq!(
            Identity::load(&path).unwrap().pubkey_hex(),
            test_identity().pubkey_hex()
        );
    }

    #[test]
    fn public_key_forms() {
        let identity = test_identity();
        let hex = identity.pubkey_hex();
        assert_eq!(hex.len(), 66);
        assert!(hex.starts_with("02") || hex.starts_with("03"));
        assert_eq!(identity.blockstack_txt(), format!("pubkey:data:{hex}"));
        let uncompressed = hex::encode(identity.public_key().serialize_uncompressed());
        for text in [
            hex.clone(),
            identity.blockstack_txt(),
            uncompressed,
            format!(" {hex}\n"),
        ] {
            assert_eq!(
                parse_public_key(&text).unwrap(),
                identity.public_key(),
                "{text}"
            );
        }
    }

    #[test]
    fn bad_public_keys_are_refused() {
        let hex = test_identity().pubkey_hex();
        for (text, reason) in [
            ("xyz", "not hexadecimal"),
            ("0203", "expected 33 bytes"),
            (&format!("05{}", &hex[2..]), "bad prefix byte"),
            (&format!("02{}", "ff".repeat(32)), "not a point"),
        ] {
            let message = parse_public_key(text).unwrap_err().to_string();
            assert!(message.contains(reason), "{text}: {message}");
        }
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let shown = format!("{:?}", test_identity());
        assert!(!shown.contains(&"01".repeat(32)), "{shown}");
        assert!(shown.contains(&test_identity().pubkey_hex()), "{shown}");
    }

    #[test]
    fn signatures_are_deterministic_low_s_and_verify() {
        let identity = test_identity();
        let digest = [0x42; 32];
        let signature = identity.sign_digest(&digest);
        assert_eq!(signature, identity.sign_digest(&digest));
        assert_eq!(
            verify_digest(&identity.public_key(), &digest, &signature),
            Ok(())
        );
        let other = [0x43; 32];
        assert_eq!(
            verify_digest(&identity.public_key(), &other, &signature),
            Err(SignatureError::Mismatch)
        );
        let stranger = Identity::generate();
        assert_eq!(
            verify_digest(&stranger.public_key(), &digest, &signature),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_digest(&identity.public_key(), &digest, &[0xff; 64]),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn high_s_signatures_are_refused() {
        let identity = test_identity();
        let digest = [0x42; 32];
        let signature = identity.sign_digest(&digest);
        let high = negate_s(&signature);
        assert_ne!(high, signature);
        assert_eq!(
            verify_digest(&identity.public_key(), &digest, &high),
            Err(SignatureError::HighS)
        );
    }
}
