//! The hub's endpoints: `GET /hub_info`, `POST /store/{address}/{path}`,
//! `DELETE /delete/{address}/{path}`, `POST /list-files/{address}` and
//! `POST /revoke-all/{address}`. Each checks in Gaia's order (revocation, token, scopes,
//! preconditions, size) and then makes one store call.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::Router;
use futures::stream::{self, StreamExt};
use http_body_util::{BodyExt, Limited};
use serde::Deserialize;

use super::absence::proves_absent;
use super::address::is_address_text;
use super::conditions::{condition, etag_of};
use super::errors::GaiaError;
use super::paths::{bucket_prefix, file_key};
use super::token::{self, HubToken};
use super::Hub;
use crate::gateway::{body, Gateway};
use crate::store::{PutOptions, WriteCondition};

type Shared = Arc<Gateway>;
type Reply = Result<Response, GaiaError>;

/// Names per list-files page.
const PAGE_SIZE: usize = 100;
/// Largest list-files or revoke-all request body, as in Gaia.
const MAX_JSON_BODY: usize = 4096;
/// Objects headed at once for a `stat` listing.
const STATS_IN_FLIGHT: usize = 8;

/// The hub's routes, for a gateway built with a [`Hub`].
pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/hub_info", get(hub_info))
        .route("/hub_info/", get(hub_info))
        .route("/store/{*tail}", post(store))
        .route("/delete/{*tail}", delete(remove))
        .route("/list-files/{address}", post(list_files))
        .route("/revoke-all/{address}", post(revoke_all))
}

fn hub(gateway: &Gateway) -> &Hub {
    gateway
        .gaia()
        .expect("Gaia routes are mounted only on a gateway with a hub")
}

/// The read URL prefix: the configured one, else this gateway as the client reached it.
fn read_url_prefix(hub: &Hub, headers: &HeaderMap) -> String {
    if let Some(prefix) = &hub.config().read_url_prefix {
        return prefix.clone();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic()))
        .unwrap_or("localhost");
    format!("http://{host}/")
}

async fn hub_info(State(gateway): State<Shared>, headers: HeaderMap) -> Response {
    let hub = hub(&gateway);
    let info = serde_json::json!({
        "challenge_text": hub.challenge(),
        "latest_auth_version": "v1",
        "max_file_upload_size_megabytes": hub.config().max_file_upload_size_megabytes,
        "read_url_prefix": read_url_prefix(hub, &headers),
    });
    json(StatusCode::OK, &info)
}

fn json(status: StatusCode, value: &serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The token on `headers`, checked for writing `address`: signature, challenge, expiry,
/// bucket, whitelist and revocation. Scopes are the caller's to check for its path.
async fn authorize(
    gateway: &Gateway,
    address: &str,
    headers: &HeaderMap,
) -> Result<HubToken, GaiaError> {
    let hub = hub(gateway);
    let header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let refused = |e: &dyn std::fmt::Display| {
        tracing::warn!(%address, "Gaia request refused: {e}");
        GaiaError::unauthorized(e.to_string())
    };
    let token = token::verify(header, hub.challenge(), now()).map_err(|e| refused(&e))?;
    if token.address != address {
        return Err(refused(&format_args!(
            "the token is for bucket {}, not {address}",
            token.address
        )));
    }
    if let Some(whitelist) = &hub.config().whitelist {
        let listed = |a: &String| whitelist.iter().any(|w| w == a);
        if !listed(&token.address) && !token.associated_by.as_ref().is_some_and(listed) {
            return Err(refused(&format_args!(
                "bucket {address} is not on this hub's whitelist"
            )));
        }
    }
    let oldest = hub
        .revocations
        .oldest(gateway.store(), address)
        .await
        .map_err(GaiaError::from_store)?;
    token.check_revocation(oldest).map_err(|e| refused(&e))?;
    Ok(token)
}

/// The route tail after `prefix`, still percent-encoded, as the client sent it.
fn tail<'a>(request: &'a Request, prefix: &str) -> &'a str {
    request
        .uri()
        .path()
        .strip_prefix(prefix)
        .unwrap_or_default()
}

async fn store(State(gateway): State<Shared>, request: Request) -> Reply {
    let raw_tail = tail(&request, "/store/").to_owned();
    let (address, key) = file_key(&raw_tail).map_err(|e| GaiaError::bad_path(e.to_string()))?;
    let path = &key.as_str()[address.len() + 1..];
    let (parts, request_body) = request.into_parts();
    let headers = parts.headers;
    let token = authorize(&gateway, &address, &headers).await?;
    token
        .scopes
        .check_write(path)
        .map_err(|e| GaiaError::unauthorized(e.to_string()))?;
    let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let condition = condition(text(header::IF_MATCH), text(header::IF_NONE_MATCH))
        .map_err(GaiaError::precondition)?;
    let hub = hub(&gateway);
    let limit = hub.max_upload_bytes();
    let declared = text(header::CONTENT_LENGTH).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(GaiaError::too_large(format!(
            "the upload is larger than this hub's {} MB limit",
            hub.config().max_file_upload_size_megabytes
        )));
    }
    let content_type = text(header::CONTENT_TYPE)
        .filter(|t| !t.is_empty())
        .unwrap_or("application/octet-stream")
        .to_owned();
    let public_url = format!(
        "{}{address}/{}",
        read_url_prefix(hub, &headers),
        raw_tail.split_once('/').map_or("", |(_, p)| p)
    );
    // More bytes than the limit (a body without a declared length) fail the put with
    // the limit error, which the store error maps to 413; nothing is committed.
    let allowed = declared.map_or(limit, |n| n.min(limit));
    let limited = Limited::new(request_body, usize::try_from(allowed).unwrap_or(usize::MAX));
    let input = body::upload(gateway.clone(), Body::new(limited));
    let options = PutOptions {
        content_type,
        condition,
        fail_if_busy: true,
        ..PutOptions::default()
    };
    let report = gateway.store().put_with(&key, input, &options).await;
    // Whatever the outcome, a new version may have landed: the next read asks again.
    gateway.forget_cached(&key);
    let report = report.map_err(GaiaError::from_store)?;
    let reply = serde_json::json!({ "publicURL": public_url, "etag": etag_of(&report.sha256) });
    Ok(json(StatusCode::ACCEPTED, &reply))
}

async fn remove(State(gateway): State<Shared>, request: Request) -> Reply {
    let (address, key) =
        file_key(tail(&request, "/delete/")).map_err(|e| GaiaError::bad_path(e.to_string()))?;
    let path = &key.as_str()[address.len() + 1..];
    let token = authorize(&gateway, &address, request.headers()).await?;
    token
        .scopes
        .check_delete(path)
        .map_err(|e| GaiaError::unauthorized(e.to_string()))?;
    // Gaia answers 404 for a file that is not there; the store would tombstone it.
    if let Err(e) = gateway.store().head(&key).await {
        let providers = gateway.store().replicas().len();
        if proves_absent(&e, providers, hub(&gateway).required_writes()) {
            return Err(GaiaError::new(
                StatusCode::NOT_FOUND,
                "DoesNotExist",
                format!("{key}: no such file"),
            ));
        }
        return Err(GaiaError::from_store(e));
    }
    // Gaia's delete is unconditional: a write racing it may be deleted, as on Gaia.
    let removed = gateway
        .store()
        .remove_with(&key, &WriteCondition::Always, true)
        .await;
    gateway.forget_cached(&key);
    removed.map_err(GaiaError::from_store)?;
    Ok(StatusCode::ACCEPTED.into_response())
}

/// A small JSON request body, or 400.
async fn json_body<T: serde::de::DeserializeOwned>(body: Body) -> Result<T, GaiaError> {
    let bytes: Bytes = Limited::new(body, MAX_JSON_BODY)
        .collect()
        .await
        .map_err(|_| GaiaError::bad_input("the request body is unreadable or over 4096 bytes"))?
        .to_bytes();
    serde_json::from_slice(&bytes)
        .map_err(|e| GaiaError::bad_input(format!("the request body: {e}")))
}

#[derive(Deserialize)]
struct ListRequest {
    page: Option<String>,
    #[serde(default)]
    stat: bool,
}

async fn list_files(
    State(gateway): State<Shared>,
    axum::extract::Path(address): axum::extract::Path<String>,
    request: Request,
) -> Reply {
    if !is_address_text(&address) {
        return Err(GaiaError::bad_path(format!(
            "invalid bucket address {address:?}"
        )));
    }
    authorize(&gateway, &address, request.headers()).await?;
    let query: ListRequest = json_body(request.into_body()).await?;
    let prefix = bucket_prefix(&address);
    let listed = gateway
        .store()
        .list(&prefix)
        .await
        .map_err(GaiaError::from_store)?;
    let after = query.page.unwrap_or_default();
    // Listings come sorted by key, so the last name of a page is the next page's cursor.
    let names: Vec<(String, String)> = listed
        .into_iter()
        .filter_map(|s| {
            let name = s.key.strip_prefix(&prefix)?.to_owned();
            (name > after).then_some((s.key, name))
        })
        .take(PAGE_SIZE + 1)
        .collect();
    let more = names.len() > PAGE_SIZE;
    let page: Vec<(String, String)> = names.into_iter().take(PAGE_SIZE).collect();
    let next = more.then(|| page.last().map(|(_, n)| n.clone())).flatten();
    let entries: Vec<serde_json::Value> = if query.stat {
        stream::iter(page)
            .map(|(key, name)| stat_entry(gateway.clone(), key, name))
            .buffered(STATS_IN_FLIGHT)
            .filter_map(std::future::ready)
            .collect()
            .await
    } else {
        page.into_iter().map(|(_, name)| name.into()).collect()
    };
    let reply = serde_json::json!({ "entries": entries, "page": next });
    Ok(json(StatusCode::ACCEPTED, &reply))
}

/// A `stat` listing entry; `None` when the file went away since it was listed.
async fn stat_entry(gateway: Shared, key: String, name: String) -> Option<serde_json::Value> {
    let key = crate::user_key::parse_user_key(&key).ok()?;
    let head = gateway.store().head(&key).await.ok()?;
    gateway.observed(&key, &head);
    let content_type = match head.content_type() {
        "" => "application/octet-stream",
        text => text,
    };
    Some(serde_json::json!({
        "name": name,
        "etag": etag_of(&head.sha256_hex()),
        "contentLength": head.size(),
        "lastModifiedDate": head.created().saturating_mul(1000),
        "contentType": content_type,
    }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RevokeRequest {
    oldest_valid_timestamp: serde_json::Value,
}

async fn revoke_all(
    State(gateway): State<Shared>,
    axum::extract::Path(address): axum::extract::Path<String>,
    request: Request,
) -> Reply {
    if !is_address_text(&address) {
        return Err(GaiaError::bad_path(format!(
            "invalid bucket address {address:?}"
        )));
    }
    authorize(&gateway, &address, request.headers()).await?;
    let query: RevokeRequest = json_body(request.into_body()).await?;
    let timestamp = query
        .oldest_valid_timestamp
        .as_f64()
        .filter(|t| t.is_finite() && *t >= 0.0)
        .ok_or_else(|| {
            GaiaError::new(
                StatusCode::BAD_REQUEST,
                "ValidationError",
                "oldestValidTimestamp must be a number of seconds since the epoch",
            )
        })? as u64;
    let in_force = hub(&gateway)
        .revocations
        .raise(gateway.store(), &address, timestamp)
        .await;
    // The record is an object too, readable through the gateway.
    if let Ok(record) = super::revocations::record_key(&address) {
        gateway.forget_cached(&record);
    }
    let in_force = in_force.map_err(GaiaError::from_store)?;
    tracing::info!(%address, oldest_valid = in_force, "revoke-all");
    Ok(json(
        StatusCode::ACCEPTED,
        &serde_json::json!({ "status": "success" }),
    ))
}
