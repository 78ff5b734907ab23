//! GET and HEAD of an object, through the cache of verified reads when there is one.
//!
//! The response is built the same way whether the manifest and bytes came from the cache
//! or the providers: one function picks the status, headers, range and ETag from the
//! verified manifest, so a cached answer cannot differ from an uncached one but in speed.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use mirra_driver_api::Key;

use super::cache::{CachedObject, FillTicket, VerifiedBytes};
use super::range::{if_range_holds, none_match, parse_range, RangeRequest};
use super::responses::{error, store_error};
use super::{body, Gateway};
use crate::store::{ObjectHead, StoreError};

type Shared = Arc<Gateway>;

/// Where a request's manifest (and maybe bytes) came from.
struct Resolved {
    object: Arc<CachedObject>,
    /// Set when the providers were asked; the cache fill that follows uses it.
    fill: Option<Fill>,
}

/// A read through the store that may fill the cache.
struct Fill {
    ticket: FillTicket,
    started: Instant,
}

/// Why a response could not be built.
enum Failed {
    /// The store refused or failed the read.
    Store(StoreError),
    /// A manifest (cached, or the first provider's) whose bytes no provider delivers
    /// any more (the key was rewritten elsewhere): read the key again, asking every
    /// provider for the newest manifest.
    StaleEntry(StoreError),
    /// The memory budget for reads stayed spent: 503.
    Busy,
}

/// Answers GET (or HEAD when `head_only`) of `key`.
pub(super) async fn read(
    gateway: Shared,
    key: Key,
    headers: &HeaderMap,
    head_only: bool,
) -> Response {
    let mut latest = false;
    loop {
        let resolved = match resolve(&gateway, &key, latest).await {
            Ok(resolved) => resolved,
            Err(e) => return store_error(e),
        };
        match respond(&gateway, &key, headers, head_only, resolved, latest).await {
            Ok(response) => return response,
            Err(Failed::StaleEntry(_)) if !latest => {
                if let Some(cache) = &gateway.cache {
                    cache.forget(&key);
                }
                latest = true;
            }
            Err(Failed::StaleEntry(e) | Failed::Store(e)) => return store_error(e),
            Err(Failed::Busy) => return busy(),
        }
    }
}

/// The fresh cached entry of `key`, else its verified manifest from the store (cached
/// before it is returned). With `latest`, the cache is passed over and every provider
/// asked for the newest manifest.
async fn resolve(gateway: &Gateway, key: &Key, latest: bool) -> Result<Resolved, StoreError> {
    let head = |key| async move {
        match latest {
            true => gateway.store.head_latest(key).await,
            false => gateway.store.head(key).await,
        }
    };
    let Some(cache) = &gateway.cache else {
        let head = head(key).await?;
        return Ok(Resolved {
            object: Arc::new(CachedObject { head, bytes: None }),
            fill: None,
        });
    };
    let started = Instant::now();
    if !latest {
        if let Some(object) = cache.lookup_at(key, started) {
            return Ok(Resolved { object, fill: None });
        }
    }
    let ticket = cache.ticket(key);
    let head = match head(key).await {
        Ok(head) => head,
        Err(e) => {
            // Deleted or unreadable now: whatever is cached for it is not to be served.
            cache.forget(key);
            return Err(e);
        }
    };
    cache.insert_at(ticket, key, head.clone(), None, started);
    Ok(Resolved {
        object: Arc::new(CachedObject { head, bytes: None }),
        fill: Some(Fill { ticket, started }),
    })
}

async fn respond(
    gateway: &Shared,
    key: &Key,
    headers: &HeaderMap,
    head_only: bool,
    resolved: Resolved,
    latest: bool,
) -> Result<Response, Failed> {
    let from_cache = resolved.fill.is_none() && gateway.cache.is_some();
    let head = &resolved.object.head;
    let etag = format!("\"{}\"", head.sha256_hex());
    let header_text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let mut response_headers = object_headers(head, &etag);
    if header_text(header::IF_NONE_MATCH).is_some_and(|h| none_match(h, &etag)) {
        return Ok((StatusCode::NOT_MODIFIED, response_headers).into_response());
    }
    let size = head.size();
    let range_header = header_text(header::RANGE)
        .filter(|_| header_text(header::IF_RANGE).is_none_or(|h| if_range_holds(h, &etag)));
    let (status, start, end) = match parse_range(range_header, size) {
        RangeRequest::Full => (StatusCode::OK, 0, size),
        RangeRequest::Partial { start, end } => {
            let value = format!("bytes {start}-{}/{size}", end - 1);
            response_headers.insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&value).expect("ASCII"),
            );
            (StatusCode::PARTIAL_CONTENT, start, end)
        }
        RangeRequest::Unsatisfiable => {
            let mut response = error(
                StatusCode::RANGE_NOT_SATISFIABLE,
                format!("the range is outside the object's {size} bytes"),
            );
            let value = HeaderValue::from_str(&format!("bytes */{size}")).expect("ASCII");
            response.headers_mut().insert(header::CONTENT_RANGE, value);
            return Ok(response);
        }
    };
    response_headers.insert(header::CONTENT_LENGTH, HeaderValue::from(end - start));
    if head_only {
        return Ok((status, response_headers, Body::empty()).into_response());
    }
    // A manifest from the cache, or from the first provider to answer, whose bytes no
    // provider delivers: a write may have replaced them, so the newest is worth a look.
    let stale = |e: StoreError| match e {
        StoreError::NoValidCopy { .. } if !latest && (from_cache || e.bytes_mismatched()) => {
            Failed::StaleEntry(e)
        }
        e => Failed::Store(e),
    };
    let bytes = match &resolved.object.bytes {
        Some(bytes) => Some(bytes.bytes().clone()),
        None => match &gateway.cache {
            Some(cache) if cache.keeps_bytes_of(size) => {
                let fill = resolved.fill.as_ref().map(|f| (f.ticket, f.started));
                // A manifest-only hit fills under a ticket taken now: its bytes are read
                // against the cached manifest, so they are no newer than it.
                let (ticket, started) = fill.unwrap_or_else(|| (cache.ticket(key), Instant::now()));
                let whole = match whole_object(gateway, key, head).await {
                    Ok(whole) => whole,
                    Err(Failed::Store(e)) => return Err(stale(e)),
                    Err(other) => return Err(other),
                };
                cache.insert_at(ticket, key, head.clone(), Some(whole.clone()), started);
                Some(whole.bytes().clone())
            }
            _ => None,
        },
    };
    if let Some(bytes) = bytes {
        let part = bytes.slice(start as usize..end as usize);
        gateway.metrics.sent(part.len() as u64);
        return Ok((status, response_headers, Body::from(part)).into_response());
    }
    let reservation = reserve(gateway, key, head).await?;
    match body::verified(
        gateway.clone(),
        key.clone(),
        head.clone(),
        start,
        end,
        reservation,
    )
    .await
    {
        Ok(body) => Ok((status, response_headers, body).into_response()),
        Err(e) => Err(stale(e)),
    }
}

/// The whole object `head` describes, read and verified through the store.
async fn whole_object(
    gateway: &Gateway,
    key: &Key,
    head: &ObjectHead,
) -> Result<VerifiedBytes, Failed> {
    let _reservation = reserve(gateway, key, head).await?;
    let size = head.size();
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    let outcome = gateway
        .store
        .get_range(key, &head.manifest, 0, size, &mut bytes)
        .await;
    match &outcome {
        Ok(report) => gateway.metrics.read(report),
        Err(StoreError::NoValidCopy { failures, .. }) => {
            gateway.metrics.provider_failures(&failures.0)
        }
        Err(_) => {}
    }
    outcome.map_err(Failed::Store)?;
    // get_range verified every chunk; the whole-object hash is what lets the type vouch
    // for the bytes by itself.
    VerifiedBytes::check(&head.manifest, bytes).ok_or_else(|| {
        Failed::Store(StoreError::NoValidCopy {
            key: key.to_string(),
            failures: Default::default(),
        })
    })
}

/// Room in the memory budget for a read of `head`'s object, or the 503 saying there is
/// none.
async fn reserve(
    gateway: &Gateway,
    key: &Key,
    head: &ObjectHead,
) -> Result<super::budget::Reservation, Failed> {
    // The chunks the read holds, and the pipe between it and the response.
    let memory = gateway.store.range_memory(&head.manifest) + body::PIPE_BYTES as u64;
    match gateway.budget.reserve(memory).await {
        Some(reservation) => Ok(reservation),
        None => {
            tracing::warn!(key = %key, memory, "memory budget for reads spent; answering 503");
            Err(Failed::Busy)
        }
    }
}

fn busy() -> Response {
    let mut response = error(
        StatusCode::SERVICE_UNAVAILABLE,
        "the gateway is serving as many reads as its memory budget allows; retry shortly",
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

fn object_headers(head: &ObjectHead, etag: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::ETAG,
        HeaderValue::from_str(etag).expect("hex is a valid header"),
    );
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    let content_type = match head.content_type() {
        "" => HeaderValue::from_static("application/octet-stream"),
        // Validated at put time: no control characters.
        text => HeaderValue::from_str(text)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    };
    headers.insert(header::CONTENT_TYPE, content_type);
    headers.insert("x-mirra-version", HeaderValue::from(head.version()));
    headers
}
