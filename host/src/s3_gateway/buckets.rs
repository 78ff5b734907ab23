//! Buckets as signed records on the providers (`.mirra/s3/buckets/<name>`), so every
//! gateway process and every machine of the owner sees the same buckets.

use s3s::auth::Credentials;
use s3s::dto::*;
use s3s::{s3_error, S3Error, S3Result};

use super::errors::{from_store, provably_absent};
use super::naming::{bucket_prefix, bucket_record, check_bucket, BUCKETS_PREFIX};
use super::service::{last_modified, MirraS3};
use crate::manifest::Manifest;
use crate::store::{PutOptions, Store, StoreError, WriteCondition};

/// Content type of bucket records, so `mirra ls` shows what they are.
const RECORD_TYPE: &str = "application/x-mirra-s3-bucket";

impl MirraS3 {
    /// The bucket's record, or `NoSuchBucket`.
    pub(super) async fn ensure_bucket(&self, bucket: &str) -> S3Result<Manifest> {
        let record = bucket_record(bucket)?;
        match self.store.head(&record).await {
            Ok(head) => Ok(head.manifest),
            Err(e) => Err(missing_as(&self.store, e, || s3_error!(NoSuchBucket))),
        }
    }

    pub(super) async fn create_bucket_op(
        &self,
        input: CreateBucketInput,
    ) -> S3Result<CreateBucketOutput> {
        let record = bucket_record(&input.bucket)?;
        let options = PutOptions {
            content_type: RECORD_TYPE.into(),
            condition: WriteCondition::IfAbsent,
            ..PutOptions::default()
        };
        match self.store.put_with(&record, &[][..], &options).await {
            Ok(_) => Ok(CreateBucketOutput {
                location: Some(format!("/{}", input.bucket)),
            }),
            // One owner per store: a bucket that exists is always "yours".
            Err(StoreError::PreconditionFailed { .. }) => Err(s3_error!(BucketAlreadyOwnedByYou)),
            Err(e) => Err(from_store(e)),
        }
    }

    pub(super) async fn delete_bucket_op(
        &self,
        input: DeleteBucketInput,
    ) -> S3Result<DeleteBucketOutput> {
        let manifest = self.ensure_bucket(&input.bucket).await?;
        let objects = self
            .store
            .list(&bucket_prefix(&input.bucket))
            .await
            .map_err(from_store)?;
        if !objects.is_empty() {
            return Err(s3_error!(BucketNotEmpty));
        }
        let record = bucket_record(&input.bucket)?;
        // Conditional on the record we saw, so a concurrent re-create is not deleted.
        self.store
            .remove_if(&record, &WriteCondition::IfVersion(manifest.body.version))
            .await
            .map_err(from_store)?;
        Ok(DeleteBucketOutput::default())
    }

    pub(super) async fn list_buckets_op(
        &self,
        credentials: Option<&Credentials>,
    ) -> S3Result<ListBucketsOutput> {
        let records = self.store.list(BUCKETS_PREFIX).await.map_err(from_store)?;
        let mut buckets = Vec::new();
        for record in records {
            let Some(name) = record.key.strip_prefix(BUCKETS_PREFIX) else {
                continue;
            };
            if check_bucket(name).is_err() || !self.rules.may_see_bucket(credentials, name) {
                continue;
            }
            let Ok(manifest) = self.ensure_bucket(name).await else {
                continue;
            };
            buckets.push(Bucket {
                name: Some(name.to_owned()),
                creation_date: Some(last_modified(&manifest)),
                bucket_region: None,
            });
        }
        Ok(ListBucketsOutput {
            buckets: Some(buckets),
            owner: Some(Owner {
                display_name: Some("mirra".into()),
                id: Some("mirra".into()),
            }),
            ..ListBucketsOutput::default()
        })
    }
}

/// `missing()` when the store says the key has no live version (or the providers that
/// answered prove it has none), else the store's error.
pub(super) fn missing_as(
    store: &Store,
    err: StoreError,
    missing: impl FnOnce() -> S3Error,
) -> S3Error {
    if provably_absent(store, &err) {
        return missing();
    }
    let converted = from_store(err);
    if *converted.code() == s3s::S3ErrorCode::NoSuchKey {
        missing()
    } else {
        converted
    }
}
