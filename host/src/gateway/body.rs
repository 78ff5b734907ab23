//! Response bodies of verified bytes, and request bodies as an input for puts.
//!
//! A read runs in its own task and writes verified chunks into an in-memory pipe; the
//! response body reads the pipe. The first bytes are awaited before the status is
//! chosen, so a read that fails at its first chunk still gets a proper 502. A read that
//! fails later makes the body end with an error, once the verified bytes before it are
//! flushed, which makes hyper cut the connection: the client sees a truncated response,
//! never a complete one with wrong bytes.

use std::io;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use futures::StreamExt;
use mirra_driver_api::Key;
use tokio::io::DuplexStream;
use tokio::sync::oneshot;
use tokio_util::io::ReaderStream;

use super::budget::Reservation;
use super::Gateway;
use crate::store::{ObjectHead, RangeReport, StoreError};

/// Bytes buffered between the read task and the response: enough to keep the socket
/// busy while the next chunk is fetched, small next to a chunk.
pub(super) const PIPE_BYTES: usize = 256 * 1024;

type Outcome = Result<RangeReport, StoreError>;

/// A body streaming bytes `start..end` of `head`'s object, once its first bytes
/// verified; or the error that stopped the read before any byte. `reservation` is held
/// until the read has let go of its chunks.
pub(crate) async fn verified(
    gateway: Arc<Gateway>,
    key: Key,
    head: ObjectHead,
    start: u64,
    end: u64,
    reservation: Reservation,
) -> Result<Body, StoreError> {
    let (mut writer, reader) = tokio::io::duplex(PIPE_BYTES);
    let (done, outcome) = oneshot::channel::<Outcome>();
    let reading = gateway.clone();
    let read_key = key.clone();
    tokio::spawn(async move {
        let result = reading
            .store
            .get_range(&read_key, &head.manifest, start, end, &mut writer)
            .await;
        // Counted here, not in the body: hyper stops polling a body once its declared
        // length is sent, so the body may never see the end of a successful read.
        match &result {
            Ok(report) => reading.metrics.read(report),
            Err(StoreError::NoValidCopy { failures, .. }) => {
                reading.metrics.provider_failures(&failures.0)
            }
            Err(_) => {}
        }
        // The outcome goes first, so the body knows it by the time it sees the end.
        let _ = done.send(result);
        drop(writer);
        // The chunk buffers are gone with the read: give their bytes back to the budget.
        drop(reservation);
    });
    let mut pipe = ReaderStream::with_capacity(reader, 64 * 1024);
    let first = match pipe.next().await {
        Some(Ok(bytes)) => Some(bytes),
        Some(Err(e)) => return Err(StoreError::Output(e)),
        None => None,
    };
    let mut outcome = Some(outcome);
    if first.is_none() {
        // Nothing was written: either the range is empty or the first chunk failed.
        let result = outcome.take().expect("outcome not taken yet").await;
        match result {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                return Err(StoreError::Output(io::Error::other(
                    "the read task ended without an outcome",
                )))
            }
        }
    }
    let state = Streaming {
        gateway,
        key: key.to_string(),
        first,
        pipe,
        outcome,
    };
    Ok(Body::from_stream(futures::stream::unfold(
        state,
        Streaming::next,
    )))
}

struct Streaming {
    gateway: Arc<Gateway>,
    key: String,
    first: Option<Bytes>,
    pipe: ReaderStream<DuplexStream>,
    outcome: Option<oneshot::Receiver<Outcome>>,
}

impl Streaming {
    async fn next(mut self) -> Option<(io::Result<Bytes>, Self)> {
        let piece = match self.first.take() {
            Some(bytes) => Some(Ok(bytes)),
            None => self.pipe.next().await,
        };
        match piece {
            Some(Ok(bytes)) => {
                self.gateway.metrics.sent(bytes.len() as u64);
                Some((Ok(bytes), self))
            }
            Some(Err(e)) => {
                self.outcome = None;
                Some((Err(e), self))
            }
            None => {
                let outcome = self.outcome.take()?.await;
                match outcome {
                    Ok(Ok(_)) => None,
                    Ok(Err(e)) => {
                        self.gateway.metrics.aborted();
                        tracing::warn!(key = %self.key, "cutting the response: {e}");
                        // hyper drops what it has buffered but not yet written when a
                        // body fails. Verified chunks often arrive together with the
                        // failure, so without a pause to let hyper flush, the client
                        // would see the connection closed before the status line and
                        // could not resume from the verified prefix with a Range.
                        tokio::task::yield_now().await;
                        Some((Err(io::Error::other(e)), self))
                    }
                    Err(_) => Some((
                        Err(io::Error::other("the read task ended without an outcome")),
                        self,
                    )),
                }
            }
        }
    }
}

/// A request body as an [`tokio::io::AsyncRead`], counting the bytes received.
pub(crate) fn upload(
    gateway: Arc<Gateway>,
    body: Body,
) -> impl tokio::io::AsyncRead + Unpin + Send {
    let stream = body.into_data_stream().map(move |piece| match piece {
        Ok(bytes) => {
            gateway.metrics.received(bytes.len() as u64);
            Ok(bytes)
        }
        Err(e) => Err(io::Error::other(e)),
    });
    tokio_util::io::StreamReader::new(stream)
}
