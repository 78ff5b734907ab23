//! One opened s3 provider: a bucket and prefix, reached through object_store.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use mirra_driver_api::runtime::DriverRuntime;
use mirra_driver_api::{
    DriverError, DriverResult, ErrorKind, Key, ListEntry, ListPage, ObjectMeta, ObjectWriter,
    StorageDriver,
};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::list::{PaginatedListOptions, PaginatedListStore};
use object_store::path::Path;
use object_store::{
    BackoffConfig, ClientOptions, GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutPayload,
    RetryConfig,
};

use crate::address_guard;
use crate::config::Settings;
use crate::errors::{http_status, map_error};
use crate::location;
use crate::sequential::{SequentialReads, Served, WINDOW_BYTES};
use crate::writer::S3Writer;

/// Runtime workers: enough to run a few part uploads beside the calling thread's request.
const WORKER_THREADS: usize = 2;

/// S3 lists at most 1,000 keys per request.
const MAX_LIST_PAGE: u32 = 1000;

/// What the driver and its writers share.
pub(crate) struct Backend {
    // Dropped before the runtime, so no connection task outlives it.
    pub store: AmazonS3,
    pub runtime: DriverRuntime,
    /// Empty or ending with `/`.
    pub prefix: String,
    pub part_size: usize,
    /// Streamed GETs serving sequential reads.
    pub reads: SequentialReads,
}

impl Backend {
    /// The S3 object path of `key` under the provider's prefix.
    pub fn path(&self, key: &Key) -> DriverResult<Path> {
        Path::parse(format!("{}{key}", self.prefix)).map_err(|e| {
            DriverError::invalid_input(format!("key {key} is not a valid S3 key: {e}"))
        })
    }
}

/// An opened s3 provider.
pub(crate) struct S3Driver {
    backend: Arc<Backend>,
    settings: Settings,
}

impl fmt::Debug for S3Driver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Driver")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl S3Driver {
    /// Builds the client; makes no request (a provider may be down when opened).
    pub fn open(settings: Settings) -> DriverResult<Self> {
        let runtime = DriverRuntime::new("s3", WORKER_THREADS)?;
        let endpoint = location::store_endpoint(&settings);
        let client = ClientOptions::new()
            .with_allow_http(endpoint.starts_with("http://"))
            .with_connect_timeout(settings.connect_timeout)
            .with_timeout(settings.timeout);
        let retry = RetryConfig {
            backoff: BackoffConfig {
                init_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(2),
                ..BackoffConfig::default()
            },
            max_retries: settings.max_retries,
            // Retrying stops once a call has taken `timeout`, so a dead endpoint fails
            // within about one timeout instead of object_store's default three minutes.
            retry_timeout: settings.timeout,
        };
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&settings.bucket)
            .with_region(&settings.region)
            .with_endpoint(&endpoint)
            .with_virtual_hosted_style_request(!settings.path_style)
            .with_client_options(client)
            .with_retry(retry);
        if let Some(policy) = &settings.policy {
            address_guard::check_endpoint(policy, &endpoint)?;
            builder = builder.with_http_connector(address_guard::PolicyConnector {
                policy: policy.clone(),
                connect_timeout: settings.connect_timeout,
                timeout: settings.timeout,
                allow_http: endpoint.starts_with("http://"),
            });
        }
        builder = match &settings.credentials {
            Some(c) => {
                let b = builder
                    .with_access_key_id(&c.key_id)
                    .with_secret_access_key(&c.secret);
                match &c.token {
                    Some(token) => b.with_token(token),
                    None => b,
                }
            }
            None => builder.with_skip_signature(true),
        };
        let store = {
            let _inside = runtime.enter();
            builder.build()
        }
        .map_err(|e| DriverError::invalid_input(format!("s3 config: {e}")))?;
        log::debug!("opened s3 provider {settings:?}");
        Ok(Self {
            backend: Arc::new(Backend {
                store,
                runtime,
                prefix: settings.prefix.clone(),
                part_size: settings.part_size,
                reads: SequentialReads::default(),
            }),
            settings,
        })
    }

    fn check_writable(&self, op: &str) -> DriverResult<()> {
        if self.settings.read_only {
            return Err(DriverError::new(
                ErrorKind::PermissionDenied,
                format!("s3 {op}: this provider was opened read-only from a URL"),
            ));
        }
        Ok(())
    }

    fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.backend.runtime.block_on(future)
    }

    /// Opens a stream of `path` from `offset` to the object's end and serves this read
    /// from it; later reads in its window join it. The stream is registered before the
    /// GET goes out, so reads arriving meanwhile wait for it rather than sending GETs.
    fn read_opening_stream(
        &self,
        path: &Path,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<Served, object_store::Error> {
        let stream = self.backend.reads.register(path, offset);
        let options = GetOptions {
            // A plain GET from the start: a range on an empty object would be a 416.
            range: (offset > 0).then_some(GetRange::Offset(offset)),
            ..GetOptions::default()
        };
        let store = &self.backend.store;
        let opened = self.block_on(store.get_opts(path, options));
        let response = match opened {
            Ok(response) => response,
            Err(e) => {
                stream.end("the GET failed");
                return Err(e);
            }
        };
        let size = response.meta.size;
        let etag = response.meta.e_tag.clone();
        self.backend.reads.saw_version(path, etag.as_deref());
        stream.start(
            &self.backend.runtime,
            store.clone(),
            response.into_stream(),
            size,
            etag,
        );
        Ok(self.block_on(stream.read_at(offset, buf, self.settings.timeout)))
    }

    /// One ranged GET for exactly this read.
    fn read_range(
        &self,
        key: &Key,
        path: &Path,
        offset: u64,
        buf: &mut [u8],
    ) -> DriverResult<usize> {
        let end = offset.saturating_add(buf.len() as u64);
        let reads = &self.backend.reads;
        reads.record_ranged(path, end);
        let options = GetOptions {
            range: Some(GetRange::Bounded(offset..end)),
            ..GetOptions::default()
        };
        let store = &self.backend.store;
        let result = self.block_on(async {
            let response = store.get_opts(path, options).await?;
            reads.saw_version(path, response.meta.e_tag.as_deref());
            let mut stream = response.into_stream();
            let mut filled = 0;
            while let Some(chunk) = stream.next().await {
                let chunk = chunk?;
                let n = chunk.len().min(buf.len() - filled);
                buf[filled..filled + n].copy_from_slice(&chunk[..n]);
                filled += n;
                if filled == buf.len() {
                    break;
                }
            }
            Ok::<_, object_store::Error>(filled)
        });
        result.or_else(|e| self.read_error(key, e))
    }

    fn read_error(&self, key: &Key, e: object_store::Error) -> DriverResult<usize> {
        if http_status(&e) == Some(416) {
            // The offset is at or past the end (or the object is empty). The object
            // exists, unless it vanished meanwhile, which stat will say.
            return self.stat(key).map(|_| 0);
        }
        Err(map_error(e, "get", key.as_str()))
    }
}

impl StorageDriver for S3Driver {
    fn stat(&self, key: &Key) -> DriverResult<ObjectMeta> {
        let path = self.backend.path(key)?;
        let meta = self
            .block_on(self.backend.store.head(&path))
            .map_err(|e| map_error(e, "head", key.as_str()))?;
        Ok(ObjectMeta { size: meta.size })
    }

    fn read(&self, key: &Key, offset: u64, buf: &mut [u8]) -> DriverResult<usize> {
        if buf.is_empty() {
            // Still answer NotFound for a missing key.
            self.stat(key)?;
            return Ok(0);
        }
        let path = self.backend.path(key)?;
        let reads = &self.backend.reads;
        let len = buf.len() as u64;
        let stall = self.settings.timeout;
        if let Some(stream) = reads.stream_for(&path, offset, len) {
            if let Served::Read(n) = self.block_on(stream.read_at(offset, buf, stall)) {
                return Ok(n);
            }
        } else if len <= WINDOW_BYTES && reads.starts_stream(&path, offset) {
            match self.read_opening_stream(&path, offset, buf) {
                Ok(Served::Read(n)) => return Ok(n),
                Ok(Served::Fallback) => {}
                Err(e) => return self.read_error(key, e),
            }
        }
        self.read_range(key, &path, offset, buf)
    }

    fn put(&self, key: &Key, data: &[u8]) -> DriverResult<()> {
        self.check_writable("put")?;
        if data.len() > self.backend.part_size {
            // Large objects go through multipart, as a single PUT caps at 5 GiB.
            let mut writer = self.begin_write(key)?;
            writer.write(data)?;
            return writer.commit();
        }
        let path = self.backend.path(key)?;
        let payload = PutPayload::from(data.to_vec());
        let put = self.block_on(self.backend.store.put(&path, payload));
        // Streams of the old version would serve stale bytes; one opened meanwhile too.
        self.backend.reads.forget(&path);
        put.map(drop).map_err(|e| map_error(e, "put", key.as_str()))
    }

    fn begin_write(&self, key: &Key) -> DriverResult<Box<dyn ObjectWriter>> {
        self.check_writable("begin_write")?;
        let path = self.backend.path(key)?;
        Ok(Box::new(S3Writer::new(
            Arc::clone(&self.backend),
            path,
            key.to_string(),
        )))
    }

    fn delete(&self, key: &Key) -> DriverResult<()> {
        self.check_writable("delete")?;
        let path = self.backend.path(key)?;
        let store = &self.backend.store;
        // S3 answers 204 for a missing key too; the contract says NotFound.
        let deleted = self.block_on(async {
            store.head(&path).await?;
            store.delete(&path).await
        });
        self.backend.reads.forget(&path);
        deleted.map_err(|e| map_error(e, "delete", key.as_str()))
    }

    fn list(&self, prefix: &str, cursor: Option<&str>, limit: u32) -> DriverResult<ListPage> {
        let root = &self.backend.prefix;
        let limit = limit.clamp(1, MAX_LIST_PAGE) as usize;
        // The cursor is the last key of the previous page, sent as StartAfter: every
        // S3 implementation honours it, and it survives a restarted listing.
        let options = PaginatedListOptions {
            offset: cursor.map(|c| format!("{root}{c}")),
            max_keys: Some(limit),
            ..PaginatedListOptions::default()
        };
        let full_prefix = format!("{root}{prefix}");
        let page = self
            .block_on(
                self.backend
                    .store
                    .list_paginated(Some(&full_prefix), options),
            )
            .map_err(|e| map_error(e, "list", prefix))?;
        let mut entries: Vec<ListEntry> = page
            .result
            .objects
            .into_iter()
            .filter_map(|meta| {
                let key = meta.location.as_ref().strip_prefix(root.as_str())?;
                (!key.is_empty() && key.starts_with(prefix)).then(|| ListEntry {
                    key: key.to_owned(),
                    size: meta.size,
                })
            })
            .collect();
        entries.sort_by(|a, b| a.key.cmp(&b.key));
        let more = page.page_token.is_some() || entries.len() > limit;
        entries.truncate(limit);
        let next_cursor = match entries.last() {
            Some(last) if more => Some(last.key.clone()),
            _ => None,
        };
        Ok(ListPage {
            entries,
            next_cursor,
        })
    }

    fn public_url(&self, key: &Key) -> DriverResult<String> {
        Ok(location::public_url(&self.settings, key.as_str()))
    }

    fn health(&self) -> DriverResult<()> {
        let options = PaginatedListOptions {
            max_keys: Some(1),
            ..PaginatedListOptions::default()
        };
        let root = &self.backend.prefix;
        self.block_on(self.backend.store.list_paginated(Some(root), options))
            .map(drop)
            .map_err(|e| map_error(e, "list", root))
    }
}
