//! Routing and handlers: objects under `/{key}`, and the three fixed endpoints.

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::body::{Body, HttpBody};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use http_body_util::Limited;
use mirra_driver_api::Key;
use percent_encoding::percent_decode_str;

use super::responses::{error, health_class, store_error};
use super::token::TokenError;
use super::{body, preconditions, Gateway};
use crate::health::BreakerState;
use crate::store::PutOptions;
use crate::user_key::parse_user_key;

type Shared = Arc<Gateway>;

/// The gateway's routes, with the access log around them.
/// With a Gaia hub, its routes sit beside these and CORS covers them all.
pub(super) fn router(gateway: Shared) -> Router {
    let mut routes = Router::new()
        .route("/_health", get(health))
        .route("/_metrics", get(metrics))
        .route("/.well-known/mirra/zonefile", get(zonefile));
    let gaia = gateway.gaia.is_some();
    if gaia {
        routes = routes.merge(crate::gaia::routes());
    }
    let router = routes
        .fallback(object)
        .layer(middleware::from_fn_with_state(gateway.clone(), access_log))
        .with_state(gateway);
    if gaia {
        router.layer(crate::gaia::cors::layer())
    } else {
        router
    }
}

/// Logs one line per request (never its headers: they may carry a token) and counts it.
async fn access_log(State(gateway): State<Shared>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    let status = response.status();
    gateway.metrics.request(method.as_str(), status.as_u16());
    // Streamed bodies carry their length in the header; the others know it exactly.
    let length = response
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        .or_else(|| HttpBody::size_hint(response.body()).exact());
    let bytes = length.map_or_else(|| "-".to_owned(), |n| n.to_string());
    tracing::info!(target: "mirra::access", %method, %path, status = status.as_u16(), %bytes, ms = started.elapsed().as_millis() as u64, "request");
    response
}

async fn health(State(gateway): State<Shared>) -> Response {
    let providers: Vec<serde_json::Value> = gateway
        .store
        .replicas()
        .iter()
        .map(|r| {
            let snapshot = r.health_record().snapshot();
            let mut row = serde_json::json!({ "name": r.name(), "breaker": snapshot.breaker });
            // Why it is failing, as a class: the error text itself is for the log.
            if let (true, Some(error)) = (snapshot.consecutive_failures > 0, &snapshot.last_error) {
                row["failing"] = health_class(error).into();
            }
            row
        })
        .collect();
    // Serving is possible while any provider's breaker lets calls through.
    let up = gateway
        .store
        .replicas()
        .iter()
        .any(|r| r.health_record().snapshot().breaker != BreakerState::Open);
    let status = if up {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = serde_json::json!({ "status": if up { "ok" } else { "unavailable" }, "providers": providers });
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string() + "\n",
    )
        .into_response()
}

async fn metrics(State(gateway): State<Shared>) -> Response {
    let cache = gateway.cache.as_ref().map(|c| c.stats());
    let text = gateway.metrics.render(gateway.store.replicas(), cache);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

async fn zonefile(State(gateway): State<Shared>) -> Response {
    match &gateway.zonefile {
        Some(text) => (
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            text.clone(),
        )
            .into_response(),
        None => error(StatusCode::NOT_FOUND, "this gateway has no zone file"),
    }
}

/// Everything else is an object key.
async fn object(State(gateway): State<Shared>, request: Request) -> Response {
    let key = match key_of(request.uri().path()) {
        Ok(Some(key)) => key,
        Ok(None) => return error(StatusCode::NOT_FOUND, "no key given: GET /{key}"),
        Err(reason) => return error(StatusCode::BAD_REQUEST, reason),
    };
    let method = request.method().clone();
    match method {
        Method::GET | Method::HEAD => {
            super::read::read(gateway, key, request.headers(), method == Method::HEAD).await
        }
        Method::PUT | Method::DELETE if gateway.options.writable => {
            write(gateway, key, request).await
        }
        Method::PUT | Method::DELETE => {
            let mut response = error(
                StatusCode::METHOD_NOT_ALLOWED,
                "this gateway is read-only; start it with --writable to accept writes",
            );
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            closing(response)
        }
        _ => {
            let allow = if gateway.options.writable {
                "GET, HEAD, PUT, DELETE"
            } else {
                "GET, HEAD"
            };
            let mut response = error(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("method {method} not allowed"),
            );
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(allow));
            closing(response)
        }
    }
}

/// The key a request path names: percent-decoded, then checked like a key typed on the
/// command line (so `..`, empty segments and `.mirra/` are refused with 400). `None` for
/// the root; else why the key is refused.
fn key_of(path: &str) -> Result<Option<Key>, String> {
    let raw = path.strip_prefix('/').unwrap_or(path);
    if raw.is_empty() {
        return Ok(None);
    }
    let decoded = percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| "the key is not UTF-8 once percent-decoded".to_owned())?;
    parse_user_key(&decoded)
        .map(Some)
        .map_err(|e| e.to_string())
}

async fn write(gateway: Shared, key: Key, request: Request) -> Response {
    if let Err(refusal) = authorize(&gateway, &key, request.headers()) {
        return closing(refusal.into_response());
    }
    let deleting = request.method() == Method::DELETE;
    let condition =
        match preconditions::write_condition(&gateway.store, &key, request.headers()).await {
            Ok(condition) => condition,
            Err(refusal) => return closing(refusal),
        };
    // A second write of a key already being written here gets 409 at once rather than
    // queueing behind it: the client decides whether to retry.
    let report = if deleting {
        gateway.store.remove_with(&key, &condition, true).await
    } else {
        let content_type = match request.headers().get(header::CONTENT_TYPE) {
            // Not silently replaced by a guess: the client asked for something else.
            Some(value) => match value.to_str() {
                Ok(text) => text.to_owned(),
                Err(_) => {
                    return closing(error(
                        StatusCode::BAD_REQUEST,
                        "the Content-Type header is not ASCII text",
                    ))
                }
            },
            None => mime_guess::from_path(key.as_str())
                .first_or_octet_stream()
                .to_string(),
        };
        let limit = gateway.options.max_body_bytes;
        let declared = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit) {
            return closing(error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the body is larger than the {limit}-byte limit"),
            ));
        }
        // A body without a declared length is cut at the limit; the put then fails with
        // the limit error, which becomes 413.
        let limited = Limited::new(
            request.into_body(),
            usize::try_from(limit).unwrap_or(usize::MAX),
        );
        let input = body::upload(gateway.clone(), Body::new(limited));
        let options = PutOptions {
            content_type,
            condition,
            fail_if_busy: true,
            ..PutOptions::default()
        };
        gateway.store.put_with(&key, input, &options).await
    };
    // Whatever the outcome, a new version may have landed: the next read asks again.
    gateway.forget_cached(&key);
    match report {
        Ok(report) => {
            let mut headers = HeaderMap::new();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            if !deleting {
                let etag = HeaderValue::from_str(&format!("\"{}\"", report.sha256))
                    .expect("hex is a valid header");
                headers.insert(header::ETAG, etag);
            }
            // Committed, but a concurrent writer elsewhere won the order: not a success.
            let status = match report.superseded_by {
                Some(winner) => {
                    headers.insert("x-mirra-superseded-by", HeaderValue::from(winner));
                    StatusCode::CONFLICT
                }
                None => StatusCode::OK,
            };
            let text = serde_json::to_string(&report).expect("reports serialize");
            (status, headers, text + "\n").into_response()
        }
        // The body may be partly unread: the connection cannot carry another request.
        Err(e) => closing(store_error(e)),
    }
}

/// Marks `response` as the last on its connection. For answers given before the request
/// body was read, so clients do not send the next request on a connection the server
/// is about to close.
fn closing(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// Checks the bearer token: 401 unless it is a valid, unexpired ES256K token signed by
/// the owner's key, 403 unless its scope covers `key`.
fn authorize(gateway: &Gateway, key: &Key, headers: &HeaderMap) -> Result<(), Refusal> {
    let unauthorized = |reason: &'static str, description: &str| Refusal {
        status: StatusCode::UNAUTHORIZED,
        reason,
        message: description.to_owned(),
    };
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Err(unauthorized(
            "",
            "writes need `Authorization: Bearer <token>`; mint one with `mirra token`",
        ));
    };
    let Some(token) = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
    else {
        return Err(unauthorized(
            "invalid_request",
            "the Authorization header is not a Bearer token",
        ));
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let claims = match gateway
        .tokens
        .verify(token.trim(), gateway.store.signer(), now)
    {
        Ok(claims) => claims,
        Err(e) => {
            let kind = match e {
                TokenError::Expired { .. } => "expired",
                TokenError::NotYetValid { .. } => "not yet valid",
                TokenError::Signature => "bad signature",
                TokenError::Algorithm(_) => "wrong algorithm",
                _ => "malformed",
            };
            tracing::warn!(key = %key, "write refused: token {kind}");
            return Err(unauthorized("invalid_token", &e.to_string()));
        }
    };
    if !claims.allows(key.as_str()) {
        tracing::warn!(key = %key, token = %claims.jti, scope = %claims.scope, "write refused: out of the token's scope");
        return Err(Refusal {
            status: StatusCode::FORBIDDEN,
            reason: "insufficient_scope",
            message: format!(
                "the token's scope {:?} does not cover {:?}",
                claims.scope,
                key.as_str()
            ),
        });
    }
    tracing::info!(key = %key, token = %claims.jti, "write authorized");
    Ok(())
}

/// A write refused for want of a valid token (401) or of scope (403), with the
/// `WWW-Authenticate` challenge of RFC 6750.
struct Refusal {
    status: StatusCode,
    /// The RFC 6750 error code, or empty when no token was offered.
    reason: &'static str,
    message: String,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut response = error(self.status, self.message);
        let challenge = match self.reason {
            "" => "Bearer realm=\"mirra\"".to_owned(),
            reason => format!("Bearer realm=\"mirra\", error=\"{reason}\""),
        };
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_str(&challenge).expect("ASCII"),
        );
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_percent_decoded_then_checked() {
        assert_eq!(
            key_of("/a/b%20c.txt").unwrap().unwrap().as_str(),
            "a/b c.txt"
        );
        assert_eq!(key_of("/caf%C3%A9").unwrap().unwrap().as_str(), "café");
        assert!(key_of("/").unwrap().is_none());
        for bad in [
            "/../etc/passwd",
            "/a/%2e%2e/b",
            "/..%2f..%2fetc",
            "/a//b",
            "/.mirra/manifests/x.json",
            "/%ff",
            "/a%00b",
            "/a%5cb",
        ] {
            assert!(key_of(bad).is_err(), "{bad} accepted");
        }
    }
}
