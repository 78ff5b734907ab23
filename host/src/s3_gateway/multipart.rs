//! Multipart uploads with the parts in the store: each part is an internal object
//! (`.mirra/s3/uploads/<id>/part-NNNNN`, signed and on every provider like any object),
//! so an open upload survives a gateway restart and any gateway process can continue
//! or complete it. Complete streams the parts, verified, into the final object, which
//! is never held in memory; then the parts are deleted.

use std::collections::BTreeMap;

use futures::StreamExt;
use s3s::dto::*;
use s3s::{s3_error, S3Result};

use super::body;
use super::buckets::missing_as;
use super::errors::from_store;
use super::etag;
use super::naming::{
    object_key, part_key, part_number, parts_prefix, upload_record, UPLOADS_PREFIX,
};
use super::objects::Described;
use super::service::{last_modified, unix_now, MirraS3};
use crate::manifest::Manifest;
use crate::store::{PutOptions, WriteCondition};

/// Parts read at once for listings and for checking a Complete request.
const HEADS_IN_FLIGHT: usize = 16;

/// What an open upload is for, stored as its record.
#[derive(serde::Serialize, serde::Deserialize)]
struct UploadRecord {
    bucket: String,
    key: String,
    content_type: Option<String>,
    metadata: BTreeMap<String, String>,
    initiated: u64,
}

impl MirraS3 {
    async fn upload(&self, upload_id: &str, bucket: &str, key: &str) -> S3Result<UploadRecord> {
        let record_key = upload_record(upload_id)?;
        let (_, bytes) = body::read_small(&self.store, &record_key)
            .await
            .map_err(|e| missing_as(&self.store, e, || s3_error!(NoSuchUpload)))?;
        let record: UploadRecord = serde_json::from_slice(&bytes).map_err(|e| {
            tracing::warn!("upload record {upload_id}: {e}");
            s3_error!(InternalError)
        })?;
        if record.bucket != bucket || record.key != key {
            return Err(s3_error!(NoSuchUpload));
        }
        Ok(record)
    }

    pub(super) async fn create_multipart_op(
        &self,
        input: CreateMultipartUploadInput,
    ) -> S3Result<CreateMultipartUploadOutput> {
        self.ensure_bucket(&input.bucket).await?;
        object_key(&input.bucket, &input.key)?;
        let upload_id = new_upload_id();
        let record = UploadRecord {
            bucket: input.bucket.clone(),
            key: input.key.clone(),
            content_type: input.content_type,
            metadata: input
                .metadata
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v))
                .collect(),
            initiated: unix_now(),
        };
        let json = serde_json::to_vec(&record).expect("strings serialize");
        let options = PutOptions {
            content_type: "application/json".into(),
            condition: WriteCondition::IfAbsent,
            ..PutOptions::default()
        };
        self.store
            .put_with(&upload_record(&upload_id)?, &json[..], &options)
            .await
            .map_err(from_store)?;
        Ok(CreateMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(upload_id),
            ..CreateMultipartUploadOutput::default()
        })
    }

    pub(super) async fn upload_part_op(
        &self,
        input: UploadPartInput,
    ) -> S3Result<UploadPartOutput> {
        self.upload(&input.upload_id, &input.bucket, &input.key)
            .await?;
        let key = part_key(&input.upload_id, input.part_number)?;
        let Some(blob) = input.body else {
            return Err(s3_error!(IncompleteBody));
        };
        let described = Described {
            content_type: Some("application/octet-stream".into()),
            metadata: None,
            content_md5: input.content_md5,
        };
        let (_, etag) = self
            .write(
                &key,
                body::upload(blob),
                described,
                WriteCondition::Always,
                None,
            )
            .await?;
        Ok(UploadPartOutput {
            e_tag: Some(ETag::Strong(etag)),
            ..UploadPartOutput::default()
        })
    }

    /// Every stored part of `upload_id`: number and manifest, in order.
    async fn parts(&self, upload_id: &str) -> S3Result<Vec<(i32, Manifest)>> {
        let listed = self
            .store
            .list(&parts_prefix(upload_id)?)
            .await
            .map_err(from_store)?;
        let store = &self.store;
        let parts: Vec<Option<(i32, Manifest)>> = futures::stream::iter(listed)
            .map(|summary| async move {
                let number = part_number(&summary.key)?;
                let key = part_key(upload_id, number).ok()?;
                let head = store.head(&key).await.ok()?;
                Some((number, head.manifest))
            })
            .buffered(HEADS_IN_FLIGHT)
            .collect()
            .await;
        let mut parts: Vec<(i32, Manifest)> = parts.into_iter().flatten().collect();
        parts.sort_by_key(|(n, _)| *n);
        Ok(parts)
    }

    pub(super) async fn complete_multipart_op(
        &self,
        input: CompleteMultipartUploadInput,
    ) -> S3Result<CompleteMultipartUploadOutput> {
        let record = self
            .upload(&input.upload_id, &input.bucket, &input.key)
            .await?;
        let requested = input
            .multipart_upload
            .and_then(|m| m.parts)
            .filter(|p| !p.is_empty())
            .ok_or_else(|| s3_error!(MalformedXML, "no parts listed"))?;
        let stored: BTreeMap<i32, Manifest> =
            self.parts(&input.upload_id).await?.into_iter().collect();
        let mut chosen = Vec::with_capacity(requested.len());
        let mut previous = 0;
        for part in &requested {
            let number = part.part_number.ok_or_else(|| s3_error!(InvalidPart))?;
            if number <= previous {
                return Err(s3_error!(InvalidPartOrder));
            }
            previous = number;
            let manifest = stored
                .get(&number)
                .ok_or_else(|| s3_error!(InvalidPart, "part {number} was not uploaded"))?;
            let etag = etag::of(manifest);
            if part.e_tag.as_ref().is_some_and(|e| e.value() != etag) {
                return Err(s3_error!(InvalidPart, "part {number} has another ETag"));
            }
            chosen.push((number, manifest.clone(), etag));
        }
        let etags: Vec<String> = chosen.iter().map(|(_, _, e)| e.clone()).collect();
        let final_etag = etag::multipart(&etags).ok_or_else(|| s3_error!(InternalError))?;
        let target = object_key(&input.bucket, &input.key)?;
        let condition = self
            .write_condition(
                &target,
                input.if_match.as_ref(),
                input.if_none_match.as_ref(),
            )
            .await?;

        // The parts, read verified one after another, are the body of the final put.
        let (mut writer, reader) = tokio::io::duplex(256 * 1024);
        let total: u64 = chosen.iter().map(|(_, m, _)| m.body.size).sum();
        let reader = Exactly::new(reader, total);
        let store = self.store.clone();
        let upload_id = input.upload_id.clone();
        let parts: Vec<(i32, Manifest)> = chosen.into_iter().map(|(n, m, _)| (n, m)).collect();
        let feeding = tokio::spawn(async move {
            for (number, manifest) in parts {
                let key = part_key(&upload_id, number).map_err(|e| e.to_string())?;
                let size = manifest.body.size;
                store
                    .get_range(&key, &manifest, 0, size, &mut writer)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            Ok::<(), String>(())
        });
        let described = Described {
            content_type: record.content_type,
            metadata: Some(record.metadata.into_iter().collect()),
            content_md5: None,
        };
        let written = self
            .write_concatenation(&target, reader, described, condition, final_etag.clone())
            .await;
        let fed = feeding.await.map_err(|_| s3_error!(InternalError))?;
        if let Err(reason) = fed {
            tracing::warn!("completing upload {}: {reason}", input.upload_id);
            return Err(s3_error!(
                ServiceUnavailable,
                "a part could not be read verified; retry"
            ));
        }
        written?;
        self.forget_upload(&input.upload_id).await;
        Ok(CompleteMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            e_tag: Some(ETag::Strong(final_etag)),
            ..CompleteMultipartUploadOutput::default()
        })
    }

    async fn write_concatenation(
        &self,
        target: &mirra_driver_api::Key,
        reader: Exactly<tokio::io::DuplexStream>,
        described: Described,
        condition: WriteCondition,
        etag: String,
    ) -> S3Result<()> {
        self.write(target, reader, described, condition, Some(etag))
            .await
            .map(drop)
    }

    /// Deletes an upload's parts and record (best effort: leftovers are inert and a
    /// later Abort or Complete of the same id finds no record).
    async fn forget_upload(&self, upload_id: &str) {
        if let Ok(record) = upload_record(upload_id) {
            if let Err(e) = self.store.remove(&record).await {
                tracing::warn!("removing upload record {upload_id}: {e}");
            }
        }
        let Ok(parts) = self.parts(upload_id).await else {
            return;
        };
        for (number, _) in parts {
            if let Ok(key) = part_key(upload_id, number) {
                if let Err(e) = self.store.remove(&key).await {
                    tracing::warn!("removing part {number} of upload {upload_id}: {e}");
                }
            }
        }
    }

    pub(super) async fn abort_multipart_op(
        &self,
        input: AbortMultipartUploadInput,
    ) -> S3Result<AbortMultipartUploadOutput> {
        self.upload(&input.upload_id, &input.bucket, &input.key)
            .await?;
        self.forget_upload(&input.upload_id).await;
        Ok(AbortMultipartUploadOutput::default())
    }

    pub(super) async fn list_parts_op(&self, input: ListPartsInput) -> S3Result<ListPartsOutput> {
        self.upload(&input.upload_id, &input.bucket, &input.key)
            .await?;
        let marker = input.part_number_marker.unwrap_or(0);
        let max = input.max_parts.unwrap_or(1000).clamp(0, 1000) as usize;
        let all: Vec<(i32, Manifest)> = self
            .parts(&input.upload_id)
            .await?
            .into_iter()
            .filter(|(n, _)| *n > marker)
            .collect();
        let truncated = all.len() > max;
        let parts: Vec<Part> = all
            .into_iter()
            .take(max)
            .map(|(number, manifest)| Part {
                part_number: Some(number),
                size: i64::try_from(manifest.body.size).ok(),
                e_tag: Some(ETag::Strong(etag::of(&manifest))),
                last_modified: Some(last_modified(&manifest)),
                ..Part::default()
            })
            .collect();
        Ok(ListPartsOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(input.upload_id),
            part_number_marker: Some(marker),
            next_part_number_marker: parts.last().and_then(|p| p.part_number),
            max_parts: Some(max as i32),
            is_truncated: Some(truncated),
            parts: Some(parts),
            ..ListPartsOutput::default()
        })
    }

    pub(super) async fn list_uploads_op(
        &self,
        input: ListMultipartUploadsInput,
    ) -> S3Result<ListMultipartUploadsOutput> {
        self.ensure_bucket(&input.bucket).await?;
        let records = self.store.list(UPLOADS_PREFIX).await.map_err(from_store)?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let mut uploads = Vec::new();
        for summary in records {
            let Some(upload_id) = summary
                .key
                .strip_prefix(UPLOADS_PREFIX)
                .and_then(|rest| rest.strip_suffix("/upload"))
            else {
                continue;
            };
            let Ok(key) = upload_record(upload_id) else {
                continue;
            };
            let Ok((_, bytes)) = body::read_small(&self.store, &key).await else {
                continue;
            };
            let Ok(record) = serde_json::from_slice::<UploadRecord>(&bytes) else {
                continue;
            };
            if record.bucket != input.bucket || !record.key.starts_with(&prefix) {
                continue;
            }
            uploads.push(MultipartUpload {
                key: Some(record.key),
                upload_id: Some(upload_id.to_owned()),
                initiated: Some(Timestamp::from(
                    std::time::UNIX_EPOCH + std::time::Duration::from_secs(record.initiated),
                )),
                ..MultipartUpload::default()
            });
        }
        uploads.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(ListMultipartUploadsOutput {
            bucket: Some(input.bucket),
            prefix: input.prefix,
            is_truncated: Some(false),
            max_uploads: Some(input.max_uploads.unwrap_or(1000)),
            uploads: Some(uploads),
            ..ListMultipartUploadsOutput::default()
        })
    }
}

/// A fresh upload id: 128 random bits as 32 hex digits.
fn new_upload_id() -> String {
    use secp256k1::rand::RngCore;
    let mut bytes = [0u8; 16];
    secp256k1::rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// A reader that fails at its end unless exactly `expected` bytes came through: the
/// parts' reader stops early when a part cannot be read verified, and that must fail
/// the final write rather than commit a shorter object.
struct Exactly<R> {
    inner: R,
    remaining: u64,
}

impl<R> Exactly<R> {
    fn new(inner: R, expected: u64) -> Self {
        Self {
            inner,
            remaining: expected,
        }
    }
}

impl<R: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Exactly<R> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        use std::task::Poll;
        let before = buf.filled().len();
        let this = &mut *self;
        match std::pin::Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let read = (buf.filled().len() - before) as u64;
                if read == 0 && this.remaining != 0 {
                    return Poll::Ready(Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        format!("the parts ended {} bytes short", this.remaining),
                    )));
                }
                if read > this.remaining {
                    return Poll::Ready(Err(std::io::Error::other(
                        "the parts are longer than listed",
                    )));
                }
                this.remaining -= read;
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
    async fn a_short_concatenation_fails_instead_of_ending() {
        let mut short = Exactly::new(&b"abc"[..], 4);
        assert!(short.read_to_end(&mut Vec::new()).await.is_err());
        let mut exact = Exactly::new(&b"abcd"[..], 4);
        let mut out = Vec::new();
        exact.read_to_end(&mut out).await.unwrap();
        assert_eq!(out, b"abcd");
        assert!(new_upload_id() != new_upload_id());
        assert_eq!(new_upload_id().len(), 32);
    }
}
