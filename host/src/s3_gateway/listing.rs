//! ListObjectsV2 and ListObjects: the store's listing of a bucket's prefix, grouped by
//! delimiter and cut into pages; ETag and date come from each listed object's manifest.

use futures::StreamExt;
use s3s::dto::*;
use s3s::{s3_error, S3Result};

use super::errors::from_store;
use super::etag;
use super::naming::{bucket_prefix, s3_key};
use super::service::{last_modified, MirraS3};
use crate::store::Store;

/// Largest page S3 returns, and the default.
const MAX_KEYS: i32 = 1000;
/// Manifests read at once to fill in a page.
const HEADS_IN_FLIGHT: usize = 16;

/// One page of a listing.
struct Page {
    objects: Vec<Object>,
    prefixes: Vec<CommonPrefix>,
    truncated: bool,
    /// The last key or common prefix on the page: where the next page starts.
    next: Option<String>,
}

/// A listing request, whatever the API version.
struct Query<'a> {
    bucket: &'a str,
    prefix: &'a str,
    delimiter: Option<&'a str>,
    after: Option<&'a str>,
    max_keys: i32,
}

impl MirraS3 {
    pub(super) async fn list_objects_v2_op(
        &self,
        input: ListObjectsV2Input,
    ) -> S3Result<ListObjectsV2Output> {
        self.ensure_bucket(&input.bucket).await?;
        let max_keys = max_keys(input.max_keys)?;
        let after = input
            .continuation_token
            .as_deref()
            .map(decode_token)
            .transpose()?
            .or_else(|| input.start_after.clone());
        let page = self
            .page(Query {
                bucket: &input.bucket,
                prefix: input.prefix.as_deref().unwrap_or(""),
                delimiter: input.delimiter.as_deref().filter(|d| !d.is_empty()),
                after: after.as_deref(),
                max_keys,
            })
            .await?;
        let key_count = i32::try_from(page.objects.len() + page.prefixes.len()).unwrap_or(i32::MAX);
        Ok(ListObjectsV2Output {
            name: Some(input.bucket),
            prefix: input.prefix,
            delimiter: input.delimiter,
            max_keys: Some(max_keys),
            key_count: Some(key_count),
            continuation_token: input.continuation_token,
            start_after: input.start_after,
            is_truncated: Some(page.truncated),
            next_continuation_token: page
                .truncated
                .then(|| page.next.map(|n| encode_token(&n)))
                .flatten(),
            contents: Some(page.objects),
            common_prefixes: Some(page.prefixes),
            ..ListObjectsV2Output::default()
        })
    }

    pub(super) async fn list_objects_op(
        &self,
        input: ListObjectsInput,
    ) -> S3Result<ListObjectsOutput> {
        self.ensure_bucket(&input.bucket).await?;
        let max_keys = max_keys(input.max_keys)?;
        let page = self
            .page(Query {
                bucket: &input.bucket,
                prefix: input.prefix.as_deref().unwrap_or(""),
                delimiter: input.delimiter.as_deref().filter(|d| !d.is_empty()),
                after: input.marker.as_deref(),
                max_keys,
            })
            .await?;
        Ok(ListObjectsOutput {
            name: Some(input.bucket),
            prefix: input.prefix,
            delimiter: input.delimiter.clone(),
            marker: input.marker,
            max_keys: Some(max_keys),
            is_truncated: Some(page.truncated),
            // S3 sends NextMarker only with a delimiter; clients use the last key otherwise.
            next_marker: page.truncated.then_some(page.next).flatten(),
            contents: Some(page.objects),
            common_prefixes: Some(page.prefixes),
            ..ListObjectsOutput::default()
        })
    }

    async fn page(&self, query: Query<'_>) -> S3Result<Page> {
        let listing_prefix = format!("{}{}", bucket_prefix(query.bucket), query.prefix);
        let summaries = self.store.list(&listing_prefix).await.map_err(from_store)?;
        let mut keys: Vec<String> = Vec::new();
        let mut prefixes: Vec<String> = Vec::new();
        let mut truncated = false;
        let mut next = None;
        for summary in &summaries {
            let Some(key) = s3_key(query.bucket, &summary.key) else {
                continue;
            };
            if let Some(after) = query.after {
                // A marker that is a common prefix also skips everything under it.
                let inside_marker_prefix = query
                    .delimiter
                    .is_some_and(|d| after.ends_with(d) && key.starts_with(after));
                if key <= after || inside_marker_prefix {
                    continue;
                }
            }
            let grouped = query.delimiter.and_then(|d| {
                let rest = &key[query.prefix.len()..];
                rest.find(d)
                    .map(|at| key[..query.prefix.len() + at + d.len()].to_owned())
            });
            if let Some(common) = &grouped {
                if prefixes.last() == Some(common) {
                    continue;
                }
            }
            if keys.len() + prefixes.len() >= query.max_keys as usize {
                truncated = true;
                break;
            }
            match grouped {
                Some(common) => {
                    next = Some(common.clone());
                    prefixes.push(common);
                }
                None => {
                    next = Some(key.to_owned());
                    keys.push(key.to_owned());
                }
            }
        }
        let objects = describe(&self.store, query.bucket, keys).await;
        Ok(Page {
            objects,
            prefixes: prefixes
                .into_iter()
                .map(|prefix| CommonPrefix {
                    prefix: Some(prefix),
                })
                .collect(),
            truncated,
            next,
        })
    }
}

/// Each key's size, ETag and date from its manifest; keys deleted meanwhile drop out.
async fn describe(store: &Store, bucket: &str, keys: Vec<String>) -> Vec<Object> {
    futures::stream::iter(keys)
        .map(|key| async move {
            let stored = super::naming::object_key(bucket, &key).ok()?;
            let head = store.head(&stored).await.ok()?;
            Some(Object {
                key: Some(key),
                size: i64::try_from(head.manifest.body.size).ok(),
                e_tag: Some(ETag::Strong(etag::of(&head.manifest))),
                last_modified: Some(last_modified(&head.manifest)),
                storage_class: Some(ObjectStorageClass::from_static(
                    ObjectStorageClass::STANDARD,
                )),
                ..Object::default()
            })
        })
        .buffered(HEADS_IN_FLIGHT)
        .filter_map(std::future::ready)
        .collect()
        .await
}

fn max_keys(given: Option<i32>) -> S3Result<i32> {
    match given {
        None => Ok(MAX_KEYS),
        Some(n) if n < 0 => Err(s3_error!(InvalidArgument, "max-keys must not be negative")),
        Some(n) => Ok(n.min(MAX_KEYS)),
    }
}

/// Continuation tokens are the hex of the last key listed: opaque to clients, and safe
/// in XML and URLs whatever the key holds.
fn encode_token(after: &str) -> String {
    hex::encode(after)
}

fn decode_token(token: &str) -> S3Result<String> {
    hex::decode(token)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| s3_error!(InvalidArgument, "not a continuation token of this server"))
}
