//! CORS as Gaia answers it, so apps in browsers can write to the hub and read files from
//! any origin: origin `*`, the hub's methods and request headers (plus `x-hiro-product`,
//! which Hiro's libraries send), `ETag` exposed, preflights cached for a day.

use std::time::Duration;

use axum::http::{header, HeaderName, Method};
use tower_http::cors::{Any, CorsLayer};

/// How long browsers may cache a preflight answer.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(86_400);

/// The CORS layer for every route of a gateway serving Gaia.
pub fn layer() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([
            Method::DELETE,
            Method::POST,
            Method::GET,
            Method::OPTIONS,
            Method::HEAD,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_MATCH,
            header::IF_NONE_MATCH,
            HeaderName::from_static("x-hiro-product"),
        ])
        .expose_headers([header::ETAG])
        .max_age(PREFLIGHT_MAX_AGE)
}
