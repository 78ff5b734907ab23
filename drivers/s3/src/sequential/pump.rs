//! The task that feeds one stream from its GET: reads the response body only as far
//! as readers want (plus read-ahead, within the window), reopens it with `If-Match`
//! when the connection breaks, and ends the stream when it is drained, idle, or the
//! object changed.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use object_store::aws::AmazonS3;
use object_store::{GetOptions, GetRange, ObjectStore};

use super::{SharedStream, IDLE};

/// A stream's feeder: the response body being read and what is needed to reopen it.
pub(super) struct Feed {
    pub source: Source,
    pub body: BoxStream<'static, object_store::Result<Bytes>>,
}

/// The stream fed and where its bytes come from (apart from the body, which is not
/// `Sync` and so cannot be borrowed across an await).
pub(super) struct Source {
    pub stream: Arc<SharedStream>,
    pub store: AmazonS3,
    /// The version the stream is pinned to; without one it cannot be resumed safely.
    pub etag: Option<String>,
}

impl Feed {
    pub async fn run(self) {
        let Self { source, mut body } = self;
        // Whether the current response delivered anything: a reopened one that breaks
        // before its first byte ends the stream instead of looping on a dead server.
        let mut progressed = false;
        while source.wait_for_demand().await {
            match body.next().await {
                Some(Ok(bytes)) => {
                    let wake = {
                        let mut state = source.stream.state();
                        if state.ended.is_some() {
                            return;
                        }
                        state.window.push(bytes);
                        state.window.serves_a_waiting_read()
                    };
                    progressed = true;
                    // Waking every reader on every piece (often 16 KiB) would cost more
                    // than the copy; each is woken once its bytes are all there.
                    if wake {
                        source.stream.progress.notify_waiters();
                    }
                }
                broken => {
                    if let Some(Err(e)) = &broken {
                        log::debug!("s3 stream of {} broke: {e}", source.stream.path);
                    }
                    if !source.stream.is_open() {
                        return;
                    }
                    if !progressed {
                        source
                            .stream
                            .end("the response broke before its first byte");
                        return;
                    }
                    match source.reopen().await {
                        Ok(reopened) => {
                            body = reopened;
                            progressed = false;
                        }
                        Err(reason) => {
                            source.stream.end(reason);
                            return;
                        }
                    }
                }
            }
        }
    }
}

impl Source {
    /// Waits until readers want bytes the stream does not hold yet; false once the
    /// stream has ended (or is ended here, drained or idle).
    async fn wait_for_demand(&self) -> bool {
        loop {
            let wait = {
                let state = self.stream.state();
                if state.ended.is_some() {
                    return false;
                }
                if state.window.drained() {
                    drop(state);
                    self.stream.end("read to the end");
                    return false;
                }
                if state.window.end() < state.window.pump_target() {
                    return true;
                }
                let idle_for = state.last_read.elapsed();
                if idle_for >= IDLE {
                    drop(state);
                    self.stream.end("nobody read it");
                    return false;
                }
                IDLE - idle_for
            };
            let _ = tokio::time::timeout(wait, self.stream.demand.notified()).await;
        }
    }

    /// The rest of the object from where the stream stopped, of the same version.
    async fn reopen(
        &self,
    ) -> Result<BoxStream<'static, object_store::Result<Bytes>>, &'static str> {
        let Some(etag) = &self.etag else {
            return Err("the response broke and had no ETag to resume by");
        };
        let from = self.stream.state().window.end();
        let options = GetOptions {
            range: Some(GetRange::Offset(from)),
            if_match: Some(etag.clone()),
            ..GetOptions::default()
        };
        match self.store.get_opts(&self.stream.path, options).await {
            // Compared as well: a server that ignores If-Match answers the new version.
            Ok(r) if r.meta.e_tag.as_ref() == Some(etag) && r.range.start == from => {
                log::debug!("s3 stream of {} resumed at {from}", self.stream.path);
                Ok(r.into_stream())
            }
            Ok(_) | Err(object_store::Error::Precondition { .. }) => {
                Err("the object changed under the stream")
            }
            Err(_) => Err("the response broke and could not be resumed"),
        }
    }
}
