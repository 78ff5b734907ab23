//! Single objects: put (conditional, with Content-MD5, metadata and Content-Type signed
//! in the manifest), get and head (Range and the conditional headers), delete, batch
//! delete and copy, each streamed through the store.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::{Arc, OnceLock};

use futures::StreamExt;
use mirra_driver_api::Key;
use s3s::dto::*;
use s3s::{s3_error, S3Error, S3Result};
use tokio::io::AsyncRead;

use super::body;
use super::buckets::missing_as;
use super::errors::from_store;
use super::etag::{self, Md5Reader};
use super::naming::object_key;
use super::service::{last_modified, metadata_of, unix_now_ns, MirraS3};
use crate::manifest::{Manifest, MAX_CONTENT_TYPE_LEN};
use crate::store::{PutOptions, PutReport, WriteCondition};

/// S3's content type for bodies that came without one.
const DEFAULT_CONTENT_TYPE: &str = "binary/octet-stream";
/// Deletes of one DeleteObjects request in flight at once.
const DELETES_IN_FLIGHT: usize = 8;

/// What a write records besides the bytes.
pub(super) struct Described {
    pub(super) content_type: Option<String>,
    pub(super) metadata: Option<Metadata>,
    pub(super) content_md5: Option<String>,
}

impl MirraS3 {
    /// Streams `input` to `key`, hashing it for the ETag on the way.
    pub(super) async fn write(
        &self,
        key: &Key,
        input: impl AsyncRead + Unpin + Send,
        described: Described,
        condition: WriteCondition,
        known_etag: Option<String>,
    ) -> S3Result<(PutReport, String)> {
        let content_type = content_type(described.content_type)?;
        let metadata = metadata(described.metadata)?;
        let expected = match described.content_md5 {
            Some(header) => Some(etag::content_md5_hex(&header).ok_or_else(|| {
                s3_error!(InvalidDigest, "Content-MD5 is not base64 of 16 bytes")
            })?),
            None => None,
        };
        let cell = Arc::new(OnceLock::new());
        if let Some(known) = known_etag {
            let _ = cell.set(known);
        }
        let options = PutOptions {
            content_type,
            // S3's Last-Modified is when the object was written; whole seconds (the
            // manifest's `created`) would make `aws s3 sync` re-upload files modified
            // earlier within the same second.
            mtime_ns: Some(unix_now_ns()),
            condition,
            etag: cell.clone(),
            metadata,
            ..PutOptions::default()
        };
        let reader = Md5Reader::new(input, expected, cell.clone());
        let report = self
            .store
            .put_with(key, reader, &options)
            .await
            .map_err(from_store)?;
        let etag = cell.get().cloned().unwrap_or_else(|| report.sha256.clone());
        Ok((report, etag))
    }

    /// The store condition for S3's `If-Match`/`If-None-Match` on a write.
    ///
    /// S3 ETags are MD5s the store does not index, so `If-Match` is turned into the
    /// matching version's SHA-256: the store's own check stays the atomic one, and a
    /// writer that slipped in between makes the write fail rather than overwrite.
    pub(super) async fn write_condition(
        &self,
        key: &Key,
        if_match: Option<&ETagCondition>,
        if_none_match: Option<&ETagCondition>,
    ) -> S3Result<WriteCondition> {
        match (if_match, if_none_match) {
            (Some(_), Some(_)) => Err(s3_error!(
                NotImplemented,
                "If-Match and If-None-Match together"
            )),
            (None, None) => Ok(WriteCondition::Always),
            (None, Some(ETagCondition::Any)) => Ok(WriteCondition::IfAbsent),
            (None, Some(ETagCondition::ETag(_))) => Err(s3_error!(
                NotImplemented,
                "If-None-Match on a write takes only *"
            )),
            (Some(condition), None) => {
                let head =
                    self.store.head(key).await.map_err(|e| {
                        missing_as(&self.store, e, || s3_error!(PreconditionFailed))
                    })?;
                let matches = match condition {
                    ETagCondition::Any => true,
                    ETagCondition::ETag(expected) => expected.value() == etag::of(&head.manifest),
                };
                if !matches {
                    return Err(s3_error!(PreconditionFailed));
                }
                Ok(WriteCondition::IfSha256(head.sha256_hex()))
            }
        }
    }

    pub(super) async fn put_object_op(&self, input: PutObjectInput) -> S3Result<PutObjectOutput> {
        self.ensure_bucket(&input.bucket).await?;
        let key = object_key(&input.bucket, &input.key)?;
        let condition = self
            .write_condition(&key, input.if_match.as_ref(), input.if_none_match.as_ref())
            .await?;
        let Some(blob) = input.body else {
            return Err(s3_error!(IncompleteBody));
        };
        let described = Described {
            content_type: input.content_type,
            metadata: input.metadata,
            content_md5: input.content_md5,
        };
        let (report, etag) = self
            .write(&key, body::upload(blob), described, condition, None)
            .await?;
        Ok(PutObjectOutput {
            e_tag: Some(ETag::Strong(etag)),
            size: i64::try_from(report.size).ok(),
            ..PutObjectOutput::default()
        })
    }

    /// The manifest to read for `bucket/key` after the read conditionals, or the S3 error.
    async fn readable(
        &self,
        bucket: &str,
        key: &Key,
        conditions: Conditions<'_>,
        latest: bool,
    ) -> S3Result<Manifest> {
        let head = match latest {
            true => self.store.head_latest(key).await,
            false => self.store.head(key).await,
        };
        let head = match head {
            Ok(head) => head,
            Err(e) => {
                let err = missing_as(&self.store, e, || s3_error!(NoSuchKey));
                if *err.code() == s3s::S3ErrorCode::NoSuchKey {
                    self.ensure_bucket(bucket).await?;
                }
                return Err(err);
            }
        };
        conditions.check(&head.manifest)?;
        Ok(head.manifest)
    }

    /// The manifest to read for `bucket/key` after the read conditionals, and a body of
    /// its bytes `range(size)`. The first provider's manifest is followed; when no
    /// provider delivers its first bytes because a write replaced them, the newest one
    /// (every provider asked) is, its conditionals checked again.
    async fn read_body(
        &self,
        bucket: &str,
        key: &Key,
        conditions: Conditions<'_>,
        range: impl Fn(u64) -> S3Result<Range<u64>>,
    ) -> S3Result<(Manifest, Range<u64>, StreamingBlob)> {
        let mut latest = false;
        loop {
            let manifest = self.readable(bucket, key, conditions, latest).await?;
            let bytes = range(manifest.body.size)?;
            let (start, end) = (bytes.start, bytes.end);
            let store = self.store.clone();
            match body::verified(store, key.clone(), manifest.clone(), start, end).await {
                Ok(blob) => return Ok((manifest, bytes, blob)),
                Err(e) if !latest && e.bytes_mismatched() => latest = true,
                Err(e) => return Err(from_store(e)),
            }
        }
    }

    pub(super) async fn get_object_op(&self, input: GetObjectInput) -> S3Result<GetObjectOutput> {
        if input.part_number.is_some() {
            return Err(s3_error!(NotImplemented, "partNumber reads"));
        }
        let key = object_key(&input.bucket, &input.key)?;
        let conditions = Conditions {
            if_match: input.if_match.as_ref(),
            if_none_match: input.if_none_match.as_ref(),
            if_modified_since: input.if_modified_since.as_ref(),
            if_unmodified_since: input.if_unmodified_since.as_ref(),
        };
        let requested = input.range;
        let (manifest, range, blob) = self
            .read_body(&input.bucket, &key, conditions, |size| match requested {
                None => Ok(0..size),
                Some(range) => Ok(range.check(size)?),
            })
            .await?;
        let size = manifest.body.size;
        let content_range = requested.map(|_| {
            format!(
                "bytes {}-{}/{size}",
                range.start,
                range.end.saturating_sub(1)
            )
        });
        Ok(GetObjectOutput {
            accept_ranges: Some("bytes".into()),
            content_length: i64::try_from(range.end - range.start).ok(),
            content_range,
            content_type: Some(manifest.body.content_type.clone()).filter(|t| !t.is_empty()),
            e_tag: Some(ETag::Strong(etag::of(&manifest))),
            last_modified: Some(last_modified(&manifest)),
            metadata: metadata_of(&manifest),
            body: Some(blob),
            ..GetObjectOutput::default()
        })
    }

    pub(super) async fn head_object_op(
        &self,
        input: HeadObjectInput,
    ) -> S3Result<HeadObjectOutput> {
        let key = object_key(&input.bucket, &input.key)?;
        let conditions = Conditions {
            if_match: input.if_match.as_ref(),
            if_none_match: input.if_none_match.as_ref(),
            if_modified_since: input.if_modified_since.as_ref(),
            if_unmodified_since: input.if_unmodified_since.as_ref(),
        };
        let manifest = self
            .readable(&input.bucket, &key, conditions, false)
            .await?;
        Ok(HeadObjectOutput {
            accept_ranges: Some("bytes".into()),
            content_length: i64::try_from(manifest.body.size).ok(),
            content_type: Some(manifest.body.content_type.clone()).filter(|t| !t.is_empty()),
            e_tag: Some(ETag::Strong(etag::of(&manifest))),
            last_modified: Some(last_modified(&manifest)),
            metadata: metadata_of(&manifest),
            ..HeadObjectOutput::default()
        })
    }

    /// Deletes `bucket/key`; a key that does not exist is already deleted, as in S3.
    async fn delete_one(
        &self,
        bucket: &str,
        key: &str,
        if_match: Option<&ETagCondition>,
    ) -> S3Result<()> {
        let key = object_key(bucket, key)?;
        let condition = match if_match {
            Some(condition) => self.write_condition(&key, Some(condition), None).await?,
            None => match self.store.head(&key).await {
                Ok(head) => WriteCondition::IfSha256(head.sha256_hex()),
                Err(e) => {
                    let err = missing_as(&self.store, e, || s3_error!(NoSuchKey));
                    return if *err.code() == s3s::S3ErrorCode::NoSuchKey {
                        Ok(())
                    } else {
                        Err(err)
                    };
                }
            },
        };
        match self.store.remove_if(&key, &condition).await {
            Ok(_) => Ok(()),
            // Without If-Match the condition only avoids writing a tombstone for a key that
            // never existed; someone else's newer write or delete makes ours moot.
            Err(crate::store::StoreError::PreconditionFailed { .. }) if if_match.is_none() => {
                Ok(())
            }
            Err(e) => Err(from_store(e)),
        }
    }

    pub(super) async fn delete_object_op(
        &self,
        input: DeleteObjectInput,
    ) -> S3Result<DeleteObjectOutput> {
        self.ensure_bucket(&input.bucket).await?;
        self.delete_one(&input.bucket, &input.key, input.if_match.as_ref())
            .await?;
        Ok(DeleteObjectOutput::default())
    }

    pub(super) async fn delete_objects_op(
        &self,
        input: DeleteObjectsInput,
    ) -> S3Result<DeleteObjectsOutput> {
        self.ensure_bucket(&input.bucket).await?;
        let bucket = input.bucket.as_str();
        let quiet = input.delete.quiet.unwrap_or(false);
        let results: Vec<(String, Result<(), S3Error>)> =
            futures::stream::iter(input.delete.objects)
                .map(|object| async move {
                    let result = self.delete_one(bucket, &object.key, None).await;
                    (object.key, result)
                })
                .buffered(DELETES_IN_FLIGHT)
                .collect()
                .await;
        let mut deleted = Vec::new();
        let mut errors = Vec::new();
        for (key, result) in results {
            match result {
                Ok(()) if quiet => {}
                Ok(()) => deleted.push(DeletedObject {
                    key: Some(key),
                    ..DeletedObject::default()
                }),
                Err(e) => errors.push(Error {
                    code: Some(e.code().as_str().to_owned()),
                    key: Some(key),
                    message: e.message().map(ToOwned::to_owned),
                    version_id: None,
                }),
            }
        }
        Ok(DeleteObjectsOutput {
            deleted: Some(deleted),
            errors: Some(errors),
            ..DeleteObjectsOutput::default()
        })
    }

    pub(super) async fn copy_object_op(
        &self,
        input: CopyObjectInput,
    ) -> S3Result<CopyObjectOutput> {
        let CopySource::Bucket {
            bucket: source_bucket,
            key: source_key,
            version_id,
        } = &input.copy_source
        else {
            return Err(s3_error!(NotImplemented, "access points"));
        };
        if version_id.is_some() {
            return Err(s3_error!(NotImplemented, "versionId"));
        }
        self.ensure_bucket(&input.bucket).await?;
        let source = object_key(source_bucket, source_key)?;
        let conditions = Conditions {
            if_match: input.copy_source_if_match.as_ref(),
            if_none_match: input.copy_source_if_none_match.as_ref(),
            if_modified_since: input.copy_source_if_modified_since.as_ref(),
            if_unmodified_since: input.copy_source_if_unmodified_since.as_ref(),
        };
        let (manifest, _, blob) = self
            .read_body(source_bucket, &source, conditions, |size| Ok(0..size))
            .await?;
        let target = object_key(&input.bucket, &input.key)?;
        let replace = input
            .metadata_directive
            .as_ref()
            .is_some_and(|d| d.as_str() == MetadataDirective::REPLACE);
        if source == target && !replace {
            return Err(s3_error!(
                InvalidRequest,
                "copying an object onto itself needs the REPLACE metadata directive"
            ));
        }
        let described = if replace {
            Described {
                content_type: input.content_type,
                metadata: input.metadata,
                content_md5: None,
            }
        } else {
            Described {
                content_type: Some(manifest.body.content_type.clone()),
                metadata: metadata_of(&manifest),
                content_md5: None,
            }
        };
        let (report, etag) = self
            .write(
                &target,
                body::upload(blob),
                described,
                WriteCondition::Always,
                None,
            )
            .await?;
        let _ = report;
        Ok(CopyObjectOutput {
            copy_object_result: Some(CopyObjectResult {
                e_tag: Some(ETag::Strong(etag)),
                last_modified: Some(Timestamp::from(std::time::SystemTime::now())),
                ..CopyObjectResult::default()
            }),
            ..CopyObjectOutput::default()
        })
    }
}

/// The read conditionals of GetObject, HeadObject and CopyObject's source.
#[derive(Clone, Copy)]
struct Conditions<'a> {
    if_match: Option<&'a ETagCondition>,
    if_none_match: Option<&'a ETagCondition>,
    if_modified_since: Option<&'a Timestamp>,
    if_unmodified_since: Option<&'a Timestamp>,
}

impl Conditions<'_> {
    /// RFC 9110's order: If-Match, If-Unmodified-Since, If-None-Match, If-Modified-Since;
    /// a date condition is ignored when the matching ETag condition is present.
    fn check(&self, manifest: &Manifest) -> S3Result<()> {
        let etag = etag::of(manifest);
        let matches = |condition: &ETagCondition| match condition {
            ETagCondition::Any => true,
            ETagCondition::ETag(e) => e.value() == etag,
        };
        let modified = last_modified(manifest);
        let later = |since: &Timestamp| seconds(&modified) > seconds(since);
        if let Some(condition) = self.if_match {
            if !matches(condition) {
                return Err(s3_error!(PreconditionFailed));
            }
        } else if let Some(since) = self.if_unmodified_since {
            if later(since) {
                return Err(s3_error!(PreconditionFailed));
            }
        }
        if let Some(condition) = self.if_none_match {
            if matches(condition) {
                return Err(s3_error!(NotModified));
            }
        } else if let Some(since) = self.if_modified_since {
            if !later(since) {
                return Err(s3_error!(NotModified));
            }
        }
        Ok(())
    }
}

/// Whole unix seconds of a timestamp (HTTP dates have no finer resolution).
fn seconds(t: &Timestamp) -> i64 {
    time::OffsetDateTime::from(t.clone()).unix_timestamp()
}

fn content_type(given: Option<String>) -> S3Result<String> {
    let content_type = given.unwrap_or_else(|| DEFAULT_CONTENT_TYPE.to_owned());
    if content_type.len() > MAX_CONTENT_TYPE_LEN || content_type.chars().any(char::is_control) {
        return Err(s3_error!(
            InvalidArgument,
            "Content-Type must be at most {MAX_CONTENT_TYPE_LEN} bytes without control characters"
        ));
    }
    Ok(content_type)
}

fn metadata(given: Option<Metadata>) -> S3Result<BTreeMap<String, String>> {
    let metadata: BTreeMap<String, String> = given
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect();
    let bytes: usize = metadata.iter().map(|(k, v)| k.len() + v.len()).sum();
    if bytes > crate::manifest::MAX_METADATA_BYTES {
        return Err(s3_error!(MetadataTooLarge));
    }
    if metadata.iter().any(|(k, v)| {
        k.is_empty() || k.chars().any(char::is_control) || v.chars().any(char::is_control)
    }) {
        return Err(s3_error!(
            InvalidArgument,
            "metadata with control characters"
        ));
    }
    Ok(metadata)
}
