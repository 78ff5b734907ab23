//! S3 ETags: the MD5 of a body as the store reads it, multipart `md5-of-md5s-N`, and the
//! ETag served for any object.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use md5::{Digest, Md5};
use tokio::io::{AsyncRead, ReadBuf};

use super::errors::DigestMismatch;
use crate::manifest::Manifest;

/// The ETag an object is served with: the one signed in its manifest, else (objects not
/// written through S3) its SHA-256, which no client mistakes for an MD5.
pub(crate) fn of(manifest: &Manifest) -> String {
    manifest
        .body
        .etag
        .clone()
        .unwrap_or_else(|| hex::encode(manifest.body.sha256))
}

/// S3's multipart ETag: the MD5 of the parts' binary MD5s, then `-<part count>`.
pub(crate) fn multipart(part_etags: &[String]) -> Option<String> {
    let mut hasher = Md5::new();
    for etag in part_etags {
        hasher.update(hex::decode(etag).ok()?);
    }
    Some(format!(
        "{}-{}",
        hex::encode(hasher.finalize()),
        part_etags.len()
    ))
}

/// Decodes a `Content-MD5` header (base64 of 16 bytes) to lowercase hex.
pub(crate) fn content_md5_hex(header: &str) -> Option<String> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(header.trim())
        .ok()?;
    (bytes.len() == 16).then(|| hex::encode(bytes))
}

/// Hashes what the store reads; at the end of the input, checks the expected MD5 (a
/// mismatch fails the read, so the store aborts the write) and fills `etag`.
pub(crate) struct Md5Reader<R> {
    inner: R,
    hasher: Option<Md5>,
    expected: Option<String>,
    etag: Arc<OnceLock<String>>,
}

impl<R> Md5Reader<R> {
    /// Wraps `inner`; `expected` is the hex MD5 the body must have, if the client sent one.
    pub(crate) fn new(inner: R, expected: Option<String>, etag: Arc<OnceLock<String>>) -> Self {
        Self {
            inner,
            hasher: Some(Md5::new()),
            expected,
            etag,
        }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for Md5Reader<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let new = &buf.filled()[before..];
                if !new.is_empty() {
                    if let Some(hasher) = this.hasher.as_mut() {
                        hasher.update(new);
                    }
                    return Poll::Ready(Ok(()));
                }
                // End of input: settle the digest once.
                if let Some(hasher) = this.hasher.take() {
                    let md5 = hex::encode(hasher.finalize());
                    if let Some(expected) = &this.expected {
                        if *expected != md5 {
                            return Poll::Ready(Err(io::Error::other(DigestMismatch(format!(
                                "the body's MD5 is {md5}, Content-MD5 said {expected}"
                            )))));
                        }
                    }
                    let _ = this.etag.set(md5);
                }
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncReadExt;

    use super::*;

    #[tokio::test]
    async fn the_etag_is_the_md5_of_what_was_read() {
        let etag = Arc::new(OnceLock::new());
        let mut reader = Md5Reader::new(
            &b"The quick brown fox jumps over the lazy dog"[..],
            None,
            etag.clone(),
        );
        let mut out = Vec::new();
        reader.read_to_end(&mut out).await.unwrap();
        assert_eq!(etag.get().unwrap(), "9e107d9d372bb6826bd81d3542a419d6");
    }

    #[tokio::test]
    async fn a_wrong_content_md5_fails_the_read_and_sets_no_etag() {
        let etag = Arc::new(OnceLock::new());
        let wrong = Some("00000000000000000000000000000000".to_string());
        let mut reader = Md5Reader::new(&b"abc"[..], wrong, etag.clone());
        let err = reader.read_to_end(&mut Vec::new()).await.unwrap_err();
        assert!(err.get_ref().unwrap().is::<DigestMismatch>());
        assert!(etag.get().is_none());
    }

    #[test]
    fn multipart_etags_follow_s3() {
        // Two parts "a" and "b": md5(md5("a") ‖ md5("b")) with "-2".
        let a = hex::encode(Md5::digest(b"a"));
        let b = hex::encode(Md5::digest(b"b"));
        let mut both = Md5::digest(b"a").to_vec();
        both.extend_from_slice(&Md5::digest(b"b"));
        let expected = format!("{}-2", hex::encode(Md5::digest(&both)));
        assert_eq!(multipart(&[a, b]).unwrap(), expected);
        assert_eq!(
            content_md5_hex("kAFQmDzST7DWlj99KOF/cg==").unwrap(),
            "900150983cd24fb0d6963f7d28e17f72"
        );
        assert!(content_md5_hex("not base64!").is_none());
    }
}
