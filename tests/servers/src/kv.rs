//! A plain HTTP key-value store in memory: `PUT /key` stores the body, `GET` and `HEAD`
//! return it, `DELETE` removes it, `GET /` answers `ok`, and `GET /?prefix=P` lists the
//! keys starting with `P`, one `size<TAB>key` line each, sorted. The simplest store a third-party
//! driver could target; the driver-scaffold test writes its driver against it.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use percent_encoding::percent_decode_str;
use tokio::runtime::Runtime;

type Store = Arc<Mutex<BTreeMap<String, Bytes>>>;

/// Serves an empty key-value store on `listener`. Keys are the request paths,
/// percent-decoded, without the leading `/`. Dropping the runtime stops it.
pub fn serve_kv(listener: TcpListener) -> Runtime {
    let runtime = super::runtime();
    listener.set_nonblocking(true).expect("nonblocking");
    let store = Store::default();
    runtime.spawn(async move {
        let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let store = store.clone();
            let service = service_fn(move |request| handle(store.clone(), request));
            tokio::spawn(async move {
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    runtime
}

async fn handle(
    store: Store,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
    let key = decode(request.uri().path().trim_start_matches('/'));
    let reply = |status: StatusCode, body: Bytes| {
        let mut response = Response::new(Full::new(body));
        *response.status_mut() = status;
        Ok(response)
    };
    if key.is_empty() {
        let prefix = request
            .uri()
            .query()
            .and_then(|q| q.strip_prefix("prefix="))
            .map(decode);
        let Some(prefix) = prefix else {
            return reply(StatusCode::OK, Bytes::from_static(b"ok"));
        };
        let listing: String = store
            .lock()
            .unwrap()
            .iter()
            .filter(|(k, _)| k.starts_with(&prefix))
            .map(|(k, v)| format!("{}\t{k}\n", v.len()))
            .collect();
        return reply(StatusCode::OK, Bytes::from(listing));
    }
    let method = request.method().clone();
    match method {
        Method::PUT => match request.into_body().collect().await {
            Ok(body) => {
                store.lock().unwrap().insert(key, body.to_bytes());
                reply(StatusCode::NO_CONTENT, Bytes::new())
            }
            Err(_) => reply(StatusCode::BAD_REQUEST, Bytes::new()),
        },
        Method::GET | Method::HEAD => {
            let found = store.lock().unwrap().get(&key).cloned();
            match found {
                Some(body) if method == Method::GET => reply(StatusCode::OK, body),
                Some(body) => {
                    let mut response = Response::new(Full::new(Bytes::new()));
                    response.headers_mut().insert(
                        hyper::header::CONTENT_LENGTH,
                        body.len()
                            .to_string()
                            .parse()
                            .expect("a number is a header value"),
                    );
                    Ok(response)
                }
                None => reply(StatusCode::NOT_FOUND, Bytes::new()),
            }
        }
        Method::DELETE => match store.lock().unwrap().remove(&key) {
            Some(_) => reply(StatusCode::NO_CONTENT, Bytes::new()),
            None => reply(StatusCode::NOT_FOUND, Bytes::new()),
        },
        _ => reply(StatusCode::METHOD_NOT_ALLOWED, Bytes::new()),
    }
}
