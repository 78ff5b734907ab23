//! Who may do what: access keys from `[[s3.credentials]]` (SigV4 checked by s3s with the
//! secret looked up here), each optionally limited to buckets, key prefixes and reads;
//! anonymous reads of the buckets listed in `public_buckets`.

use std::collections::HashMap;
use std::sync::Arc;

use s3s::access::{S3Access, S3AccessContext};
use s3s::auth::{Credentials, S3Auth, SecretKey};
use s3s::dto::{CopyObjectInput, CopySource, ListObjectsInput, ListObjectsV2Input};
use s3s::path::S3Path;
use s3s::{s3_error, S3Request, S3Result};

use crate::config::{S3Config, S3Credential};

/// Operations that change nothing.
const READS: &[&str] = &[
    "GetObject",
    "HeadObject",
    "ListObjects",
    "ListObjectsV2",
    "HeadBucket",
    "GetBucketLocation",
    "ListBuckets",
    "ListParts",
    "ListMultipartUploads",
];

/// The access rules of one gateway, shared by the auth and access hooks.
#[derive(Clone)]
pub(crate) struct Rules(Arc<RulesInner>);

struct RulesInner {
    keys: HashMap<String, S3Credential>,
    public_buckets: Vec<String>,
}

impl Rules {
    pub(crate) fn new(config: &S3Config) -> Self {
        Self(Arc::new(RulesInner {
            keys: config
                .credentials
                .iter()
                .map(|c| (c.access_key.clone(), c.clone()))
                .collect(),
            public_buckets: config.public_buckets.clone(),
        }))
    }

    /// Whether the credentials of a request may see `bucket` at all (for ListBuckets).
    pub(crate) fn may_see_bucket(&self, credentials: Option<&Credentials>, bucket: &str) -> bool {
        match credentials.and_then(|c| self.0.keys.get(&c.access_key)) {
            Some(credential) => {
                bucket_allowed(credential, bucket) || prefix_bucket(credential, bucket)
            }
            None => false,
        }
    }

    fn credential(&self, credentials: Option<&Credentials>) -> Option<&S3Credential> {
        credentials.and_then(|c| self.0.keys.get(&c.access_key))
    }

    fn is_public(&self, bucket: &str) -> bool {
        self.0.public_buckets.iter().any(|b| b == bucket)
    }

    /// Whether the request's key (or anonymity) may touch object `key` of `bucket`.
    fn check_object(
        &self,
        credentials: Option<&Credentials>,
        bucket: &str,
        key: &str,
        read: bool,
    ) -> S3Result<()> {
        match self.credential(credentials) {
            None if read && self.is_public(bucket) => Ok(()),
            None => Err(s3_error!(AccessDenied, "this request must be signed")),
            Some(c) if bucket_allowed(c, bucket) || object_in_prefix(c, bucket, key) => Ok(()),
            Some(_) => Err(s3_error!(
                AccessDenied,
                "this access key may not use {bucket}/{key}"
            )),
        }
    }

    /// Whether a listing of `bucket` under `prefix` stays within what the key may read.
    fn check_listing(
        &self,
        credentials: Option<&Credentials>,
        bucket: &str,
        prefix: &str,
    ) -> S3Result<()> {
        match self.credential(credentials) {
            None if self.is_public(bucket) => Ok(()),
            None => Err(s3_error!(AccessDenied, "this request must be signed")),
            Some(c) if bucket_allowed(c, bucket) || object_in_prefix(c, bucket, prefix) => Ok(()),
            Some(_) => Err(s3_error!(
                AccessDenied,
                "this access key may not list {bucket}/{prefix}"
            )),
        }
    }
}

fn bucket_allowed(credential: &S3Credential, bucket: &str) -> bool {
    (credential.buckets.is_empty() && credential.prefixes.is_empty())
        || credential.buckets.iter().any(|b| b == bucket)
}

fn prefix_bucket(credential: &S3Credential, bucket: &str) -> bool {
    credential
        .prefixes
        .iter()
        .any(|p| p.split_once('/').is_some_and(|(b, _)| b == bucket))
}

fn object_in_prefix(credential: &S3Credential, bucket: &str, key: &str) -> bool {
    let full = format!("{bucket}/{key}");
    credential
        .prefixes
        .iter()
        .any(|p| full.starts_with(p.as_str()))
}

#[async_trait::async_trait]
impl S3Auth for Rules {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        match self.0.keys.get(access_key) {
            Some(credential) => Ok(SecretKey::from(credential.secret_key.as_str())),
            None => Err(s3_error!(InvalidAccessKeyId)),
        }
    }
}

#[async_trait::async_trait]
impl S3Access for Rules {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let read = READS.contains(&cx.s3_op().name());
        let credentials = cx.credentials();
        if let Some(c) = self.credential(credentials) {
            if c.read_only && !read {
                return Err(s3_error!(AccessDenied, "this access key is read-only"));
            }
        }
        match cx.s3_path() {
            S3Path::Root => match self.credential(credentials) {
                Some(_) => Ok(()),
                None => Err(s3_error!(AccessDenied, "this request must be signed")),
            },
            S3Path::Bucket { bucket } => {
                let listing = matches!(
                    cx.s3_op().name(),
                    "ListObjects" | "ListObjectsV2" | "HeadBucket" | "GetBucketLocation"
                );
                match self.credential(credentials) {
                    None if read && self.is_public(bucket) => Ok(()),
                    None => Err(s3_error!(AccessDenied, "this request must be signed")),
                    Some(c) if bucket_allowed(c, bucket) => Ok(()),
                    // Listings with a prefix limit are checked against the prefix below.
                    Some(c) if listing && prefix_bucket(c, bucket) => Ok(()),
                    Some(_) => Err(s3_error!(
                        AccessDenied,
                        "this access key may not use bucket {bucket}"
                    )),
                }
            }
            S3Path::Object { bucket, key } => self.check_object(credentials, bucket, key, read),
        }
    }

    async fn list_objects(&self, req: &mut S3Request<ListObjectsInput>) -> S3Result<()> {
        let prefix = req.input.prefix.as_deref().unwrap_or("");
        self.check_listing(req.credentials.as_ref(), &req.input.bucket, prefix)
    }

    async fn list_objects_v2(&self, req: &mut S3Request<ListObjectsV2Input>) -> S3Result<()> {
        let prefix = req.input.prefix.as_deref().unwrap_or("");
        self.check_listing(req.credentials.as_ref(), &req.input.bucket, prefix)
    }

    async fn copy_object(&self, req: &mut S3Request<CopyObjectInput>) -> S3Result<()> {
        match &req.input.copy_source {
            CopySource::Bucket { bucket, key, .. } => {
                self.check_object(req.credentials.as_ref(), bucket, key, true)
            }
            _ => Err(s3_error!(
                NotImplemented,
                "copy sources other than bucket/key"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credential(buckets: &[&str], prefixes: &[&str]) -> S3Credential {
        S3Credential {
            access_key: "k".into(),
            secret_key: "secret-secret".into(),
            buckets: buckets.iter().map(|s| s.to_string()).collect(),
            prefixes: prefixes.iter().map(|s| s.to_string()).collect(),
            read_only: false,
        }
    }

    #[test]
    fn limits_by_bucket_and_prefix() {
        let any = credential(&[], &[]);
        assert!(bucket_allowed(&any, "x"));
        let one = credential(&["photos"], &[]);
        assert!(bucket_allowed(&one, "photos") && !bucket_allowed(&one, "docs"));
        let prefixed = credential(&[], &["docs/public/"]);
        assert!(!bucket_allowed(&prefixed, "docs"));
        assert!(prefix_bucket(&prefixed, "docs"));
        assert!(object_in_prefix(&prefixed, "docs", "public/a.txt"));
        assert!(!object_in_prefix(&prefixed, "docs", "private/a.txt"));
        assert!(!object_in_prefix(&prefixed, "docsx", "public/a.txt"));
    }
}
