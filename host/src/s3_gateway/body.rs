//! Request bodies as store input, and response bodies of verified bytes.
//!
//! A read runs in its own task writing verified chunks into a small pipe that the
//! response streams. Its first bytes are awaited before answering, so a read that fails
//! at once is a proper S3 error; one that fails later ends the body with an error, which
//! makes hyper cut the connection: the client sees a truncated response (and retries),
//! never a complete one with wrong bytes.

use std::io;
use std::sync::Arc;

use bytes::Bytes;
use futures::{Stream, StreamExt, TryStreamExt};
use mirra_driver_api::Key;
use s3s::dto::StreamingBlob;
use tokio::sync::oneshot;
use tokio_util::io::{ReaderStream, StreamReader};

use crate::manifest::Manifest;
use crate::store::{Store, StoreError};

/// Bytes buffered between the read task and the response.
const PIPE_BYTES: usize = 256 * 1024;

/// A request body as an [`tokio::io::AsyncRead`] for [`Store::put_with`].
pub(crate) fn upload(body: StreamingBlob) -> impl tokio::io::AsyncRead + Unpin + Send {
    StreamReader::new(body.map_err(io::Error::other))
}

/// Bytes `start..end` of the object `manifest` describes, verified chunk by chunk; or the
/// error that stopped the read before its first byte.
pub(crate) async fn verified(
    store: Arc<Store>,
    key: Key,
    manifest: Manifest,
    start: u64,
    end: u64,
) -> Result<StreamingBlob, StoreError> {
    let (mut writer, reader) = tokio::io::duplex(PIPE_BYTES);
    let (done, outcome) = oneshot::channel::<Result<(), StoreError>>();
    tokio::spawn(async move {
        let result = store
            .get_range(&key, &manifest, start, end, &mut writer)
            .await
            .map(drop);
        // The outcome goes first, so the body knows it by the time it sees the end.
        let _ = done.send(result);
        drop(writer);
    });
    let mut pipe = ReaderStream::with_capacity(reader, 64 * 1024);
    let first = match pipe.next().await {
        Some(Ok(bytes)) => Some(bytes),
        Some(Err(e)) => return Err(StoreError::Output(e)),
        None => None,
    };
    let mut outcome = Some(outcome);
    if first.is_none() {
        match outcome.take().expect("not taken yet").await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err(StoreError::Output(io::Error::other("the read task ended"))),
        }
    }
    Ok(StreamingBlob::wrap(stream(first, pipe, outcome)))
}

type Pipe = ReaderStream<tokio::io::DuplexStream>;

fn stream(
    first: Option<Bytes>,
    pipe: Pipe,
    outcome: Option<oneshot::Receiver<Result<(), StoreError>>>,
) -> impl Stream<Item = io::Result<Bytes>> + Send + Sync {
    futures::stream::unfold(
        (first, pipe, outcome),
        |(mut first, mut pipe, mut outcome)| async move {
            let piece = match first.take() {
                Some(bytes) => Some(Ok(bytes)),
                None => pipe.next().await,
            };
            match piece {
                Some(Ok(bytes)) => Some((Ok(bytes), (None, pipe, outcome))),
                Some(Err(e)) => Some((Err(e), (None, pipe, None))),
                None => match outcome.take()?.await {
                    Ok(Ok(())) => None,
                    Ok(Err(e)) => {
                        tracing::warn!("cutting an S3 response: {e}");
                        // Let hyper flush the verified bytes it holds: it drops them
                        // when a body fails (see gateway::body).
                        tokio::task::yield_now().await;
                        Some((Err(io::Error::other(e)), (None, pipe, None)))
                    }
                    Err(_) => Some((
                        Err(io::Error::other("the read task ended without an outcome")),
                        (None, pipe, None),
                    )),
                },
            }
        },
    )
}

/// A whole small internal object (bucket and upload records) as bytes.
pub(crate) async fn read_small(
    store: &Store,
    key: &Key,
) -> Result<(Manifest, Vec<u8>), StoreError> {
    let head = store.head(key).await?;
    let mut out = Vec::new();
    store
        .get_range(key, &head.manifest, 0, head.manifest.body.size, &mut out)
        .await?;
    Ok((head.manifest, out))
}
