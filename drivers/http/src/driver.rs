//! One opened http provider: a base URL, read with GET/HEAD, written through WebDAV.

use std::io::Read;
use std::sync::Arc;

use mirra_driver_api::{
    DriverError, DriverResult, ErrorKind, Key, ListPage, ObjectMeta, ObjectWriter, StorageDriver,
};
use reqwest::blocking::{Body, Client, RequestBuilder, Response};
use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, RANGE};
use reqwest::{Method, StatusCode};

use crate::address_guard;
use crate::config::{self, Auth, Settings};
use crate::errors::{io_error, status_error, transport_error};
use crate::webdav;
use crate::writer::SpoolWriter;

/// Bodies up to this size are PUT before checking the parent collection: they fit in
/// the socket buffers, so a 409 for a missing parent is always read.
const OPTIMISTIC_PUT_LIMIT: usize = 64 * 1024;

/// What the driver and its writers share.
pub(crate) struct Remote {
    pub client: Client,
    pub settings: Settings,
}

impl Remote {
    /// A request to `path` under the base URL, authenticated as configured.
    pub fn request(&self, method: Method, path: &str) -> DriverResult<RequestBuilder> {
        let url = self.settings.url_of(path)?;
        let request = self.client.request(method, url);
        Ok(match &self.settings.auth {
            Auth::None => request,
            Auth::Basic { username, password } => request.basic_auth(username, Some(password)),
            Auth::Bearer(token) => request.bearer_auth(token),
        })
    }

    /// Sends `request`, mapping a transport failure.
    pub fn send(&self, request: RequestBuilder, op: &str, key: &str) -> DriverResult<Response> {
        request.send().map_err(|e| transport_error(e, op, key))
    }

    /// PUTs a body built by `body` (called again for the retry), creating missing
    /// parent collections when the server answers 409 Conflict (RFC 4918 9.7.1).
    pub fn put_with_parents(
        &self,
        key: &Key,
        body: &dyn Fn() -> DriverResult<Body>,
    ) -> DriverResult<()> {
        let status = self.put_once(key, body()?)?;
        if status.is_success() {
            return Ok(());
        }
        if status != StatusCode::CONFLICT && status != StatusCode::NOT_FOUND {
            return Err(status_error(status, "PUT", key.as_str()));
        }
        webdav::make_parents(self, key)?;
        let status = self.put_once(key, body()?)?;
        if status.is_success() {
            Ok(())
        } else {
            Err(status_error(status, "PUT", key.as_str()))
        }
    }

    fn put_once(&self, key: &Key, body: Body) -> DriverResult<StatusCode> {
        let request = self.request(Method::PUT, key.as_str())?.body(body);
        Ok(self.send(request, "PUT", key.as_str())?.status())
    }

    /// Refuses writes unless WebDAV is on and the provider was not opened from a URL.
    pub fn check_writable(&self, op: &str) -> DriverResult<()> {
        if self.settings.read_only {
            return Err(DriverError::new(
                ErrorKind::PermissionDenied,
                format!("http {op}: this provider was opened read-only from a URL"),
            ));
        }
        if !self.settings.webdav {
            return Err(DriverError::new(
                ErrorKind::Unsupported,
                format!("http {op} needs `webdav = true` in the provider config"),
            ));
        }
        Ok(())
    }
}

/// An opened http provider.
pub(crate) struct HttpDriver {
    remote: Arc<Remote>,
}

impl HttpDriver {
    /// Builds the client; makes no request (a provider may be down when opened).
    pub fn open(settings: Settings) -> DriverResult<Self> {
        let mut builder = Client::builder()
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.timeout)
            .user_agent(concat!("mirra-driver-http/", env!("CARGO_PKG_VERSION")));
        if let Some(policy) = &settings.policy {
            // An address literal never reaches the resolver: check it here.
            address_guard::check_url(policy, &settings.base_url).map_err(|why| {
                DriverError::new(ErrorKind::PermissionDenied, why).with_retryable(false)
            })?;
            builder = address_guard::restrict(builder, policy);
        }
        let client = builder
            .build()
            .map_err(|e| DriverError::other(format!("cannot build the http client: {e}")))?;
        log::debug!("opened http provider {settings:?}");
        Ok(Self {
            remote: Arc::new(Remote { client, settings }),
        })
    }

    /// The size from a ranged GET of the first byte, for servers whose HEAD does not
    /// say `Content-Length`.
    fn size_from_range(&self, key: &Key) -> DriverResult<u64> {
        let request = self
            .remote
            .request(Method::GET, key.as_str())?
            .header(RANGE, "bytes=0-0");
        let response = self.remote.send(request, "GET", key.as_str())?;
        let status = response.status();
        if status == StatusCode::RANGE_NOT_SATISFIABLE {
            return Ok(0);
        }
        if !status.is_success() {
            return Err(status_error(status, "GET", key.as_str()));
        }
        let total = response
            .headers()
            .get(CONTENT_RANGE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit('/').next())
            .and_then(|t| t.trim().parse().ok());
        total.or_else(|| content_length(&response)).ok_or_else(|| {
            DriverError::other(format!("http stat {key}: the server does not say its size"))
        })
    }
}

fn content_length(response: &Response) -> Option<u64> {
    response
        .headers()
        .get(CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Fills `buf` from `body` until it is full or the body ends.
fn fill(body: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match body.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

impl StorageDriver for HttpDriver {
    fn stat(&self, key: &Key) -> DriverResult<ObjectMeta> {
        let request = self.remote.request(Method::HEAD, key.as_str())?;
        let response = self.remote.send(request, "HEAD", key.as_str())?;
        if !response.status().is_success() {
            return Err(status_error(response.status(), "HEAD", key.as_str()));
        }
        let size = match content_length(&response) {
            Some(size) => size,
            None => self.size_from_range(key)?,
        };
        Ok(ObjectMeta { size })
    }

    fn read(&self, key: &Key, offset: u64, buf: &mut [u8]) -> DriverResult<usize> {
        if buf.is_empty() {
            self.stat(key)?;
            return Ok(0);
        }
        let last = offset.saturating_add(buf.len() as u64 - 1);
        let request = self
            .remote
            .request(Method::GET, key.as_str())?
            .header(RANGE, format!("bytes={offset}-{last}"));
        let mut response = self.remote.send(request, "GET", key.as_str())?;
        let read_err = |e| io_error(e, "GET", key.as_str());
        match response.status() {
            StatusCode::PARTIAL_CONTENT => fill(&mut response, buf).map_err(read_err),
            // The server ignored Range: skip to the offset in the full body.
            StatusCode::OK => {
                let skipped =
                    std::io::copy(&mut (&mut response).take(offset), &mut std::io::sink())
                        .map_err(read_err)?;
                if skipped < offset {
                    return Ok(0);
                }
                fill(&mut response, buf).map_err(read_err)
            }
            // The object exists and `offset` is at or past its end (or it is empty).
            StatusCode::RANGE_NOT_SATISFIABLE => Ok(0),
            status => Err(status_error(status, "GET", key.as_str())),
        }
    }

    fn put(&self, key: &Key, data: &[u8]) -> DriverResult<()> {
        self.remote.check_writable("put")?;
        if data.len() > OPTIMISTIC_PUT_LIMIT {
            // A server refusing a large body with 409 may close the connection before
            // the client reads the 409; check the parent first instead.
            webdav::ensure_parent(&self.remote, key)?;
        }
        self.remote
            .put_with_parents(key, &|| Ok(Body::from(data.to_vec())))
    }

    fn begin_write(&self, key: &Key) -> DriverResult<Box<dyn ObjectWriter>> {
        self.remote.check_writable("begin_write")?;
        Ok(Box::new(SpoolWriter::new(
            Arc::clone(&self.remote),
            key.clone(),
        )?))
    }

    fn delete(&self, key: &Key) -> DriverResult<()> {
        self.remote.check_writable("delete")?;
        let request = self.remote.request(Method::DELETE, key.as_str())?;
        let response = self.remote.send(request, "DELETE", key.as_str())?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(status_error(response.status(), "DELETE", key.as_str()))
        }
    }

    fn list(&self, prefix: &str, cursor: Option<&str>, limit: u32) -> DriverResult<ListPage> {
        if self.remote.settings.read_only || !self.remote.settings.webdav {
            return Err(DriverError::new(
                ErrorKind::Unsupported,
                "http list needs a WebDAV server and `webdav = true`",
            ));
        }
        // WebDAV has no paged listing: walk the tree under the prefix, then page here.
        let mut entries = webdav::walk(&self.remote, prefix)?;
        entries.sort_by(|a, b| a.key.cmp(&b.key));
        if let Some(cursor) = cursor {
            entries.retain(|e| e.key.as_str() > cursor);
        }
        Ok(ListPage::first_of(entries, limit.max(1) as usize))
    }

    fn public_url(&self, key: &Key) -> DriverResult<String> {
        Ok(config::join(&self.remote.settings.public_url, key.as_str())?.into())
    }

    fn health(&self) -> DriverResult<()> {
        let request = self.remote.request(Method::HEAD, "")?;
        let response = self.remote.send(request, "HEAD", "/")?;
        match response.status().as_u16() {
            // Any answer short of these means the server is up.
            401 | 403 | 500.. => Err(status_error(response.status(), "HEAD", "/")),
            _ => Ok(()),
        }
    }
}
