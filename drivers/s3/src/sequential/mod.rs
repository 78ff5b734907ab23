//! Sequential reads of one key served from one streamed GET instead of a ranged GET
//! per read.
//!
//! The host reads a large object in chunks, several in flight, each a driver `read` at
//! the next offset. A read at offset 0, or at the offset where an earlier read of the
//! same key ended, opens a GET from that offset to the object's end; reads that fall in
//! its window (`[base, base + WINDOW_BYTES)`, `base` being the first byte not yet
//! served) wait for their bytes from it, in whatever order they arrive. Any other read
//! is a ranged GET, as before.
//!
//! A stream is one response, so it holds one version of the object. It is pinned to
//! the ETag of that response: when the connection breaks mid-object it is reopened
//! from where it stopped with `If-Match`, and the new response's ETag is compared too
//! (not every server honours `If-Match`); a changed object ends the stream, and the
//! reads waiting on it fall back to ranged GETs, each of which is a single response
//! too. No read's bytes ever come from two versions; the host verifies every chunk
//! against the manifest, so a chunk of another version is refused there.
//!
//! Memory: a stream holds at most `WINDOW_BYTES` (24 MiB) plus one network piece, and a
//! provider keeps at most `MAX_STREAMS` (4) streams, so at most 96 MiB is buffered
//! per provider. A stream is closed, and serves no more reads, when nobody has read
//! it for `IDLE` (5 s), when its object is written or deleted through this provider,
//! and when a later GET of its key is answered with another ETag (another writer
//! replaced the object). A stale stream so serves at most `IDLE` after its last read,
//! and nothing once this provider has seen the newer version.

mod pump;
mod window;

use std::collections::VecDeque;
use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::stream::BoxStream;
use object_store::aws::AmazonS3;
use object_store::path::Path;
use tokio::sync::Notify;

use mirra_driver_api::runtime::DriverRuntime;

use window::Window;
pub(crate) use window::WINDOW_BYTES;

/// Streams one provider keeps open at once; opening another closes the one read
/// least recently.
const MAX_STREAMS: usize = 4;

/// A stream not read for this long is closed.
pub(crate) const IDLE: Duration = Duration::from_secs(5);

/// Offsets where recent ranged reads ended, remembered to spot a sequential reader.
const RECENT_READS: usize = 32;

/// The open streams of one provider, and where its recent ranged reads ended.
#[derive(Default)]
pub(crate) struct SequentialReads {
    streams: Mutex<Vec<Arc<SharedStream>>>,
    recent: Mutex<VecDeque<(Path, u64)>>,
}

/// How a read went that was offered to a stream.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Served {
    /// The stream filled this many bytes (0: the read starts at the object's end).
    Read(usize),
    /// The stream could not serve it (ended, changed object, stalled): read it with a
    /// ranged GET.
    Fallback,
}

impl SequentialReads {
    /// The open stream that can serve `len` bytes at `offset` of `path`, if any.
    pub fn stream_for(&self, path: &Path, offset: u64, len: u64) -> Option<Arc<SharedStream>> {
        let mut streams = lock(&self.streams);
        streams.retain(|s| s.is_open());
        streams
            .iter()
            .find(|s| &s.path == path && s.state().window.admits(offset, len))
            .cloned()
    }

    /// Whether a read at `offset` of `path` looks like the start or the continuation of
    /// a sequential read, and should open a stream.
    pub fn starts_stream(&self, path: &Path, offset: u64) -> bool {
        if offset == 0 {
            return true;
        }
        let mut recent = lock(&self.recent);
        match recent
            .iter()
            .position(|(p, end)| p == path && *end == offset)
        {
            Some(at) => {
                recent.remove(at);
                true
            }
            None => false,
        }
    }

    /// Remembers that a ranged read of `path` ended at `end`.
    pub fn record_ranged(&self, path: &Path, end: u64) {
        let mut recent = lock(&self.recent);
        if recent.len() == RECENT_READS {
            recent.pop_front();
        }
        recent.push_back((path.clone(), end));
    }

    /// A new stream of `path` from `offset`, registered before its GET is sent, so
    /// reads arriving meanwhile wait for it instead of sending GETs of their own.
    pub fn register(&self, path: &Path, offset: u64) -> Arc<SharedStream> {
        let stream = Arc::new(SharedStream::new(path.clone(), offset));
        let mut streams = lock(&self.streams);
        streams.retain(|s| s.is_open());
        if streams.len() >= MAX_STREAMS {
            let oldest = streams
                .iter()
                .enumerate()
                .min_by_key(|(_, s)| s.state().last_read)
                .map(|(i, _)| i)
                .expect("the list is full");
            streams.swap_remove(oldest).end("closed to open another");
        }
        streams.push(Arc::clone(&stream));
        stream
    }

    /// Closes every stream of `path`: the object was written or deleted through this
    /// provider, so what they hold is stale.
    pub fn forget(&self, path: &Path) {
        lock(&self.streams).retain(|s| {
            if &s.path == path {
                s.end("the object was written");
                false
            } else {
                true
            }
        });
        lock(&self.recent).retain(|(p, _)| p != path);
    }

    /// Ends every stream of `path` that holds a version other than `etag`: a response
    /// just showed the object has changed since they opened, so what they hold is
    /// stale (another writer replaced it, not through this provider).
    pub fn saw_version(&self, path: &Path, etag: Option<&str>) {
        let Some(etag) = etag else { return };
        lock(&self.streams).retain(|s| {
            let stale =
                &s.path == path && s.state().etag.as_deref().is_some_and(|held| held != etag);
            if stale {
                s.end("the object changed");
            }
            !stale
        });
    }

    /// Streams open now (for tests).
    #[cfg(test)]
    fn open_streams(&self) -> usize {
        let mut streams = lock(&self.streams);
        streams.retain(|s| s.is_open());
        streams.len()
    }
}

/// One streamed GET, shared by the readers it serves and the task that feeds it.
pub(crate) struct SharedStream {
    path: Path,
    state: Mutex<StreamState>,
    /// Signalled by the pump when bytes arrive or the stream ends.
    progress: Notify,
    /// Signalled by readers when they want more bytes or freed room.
    demand: Notify,
}

struct StreamState {
    window: Window,
    /// Why the stream ended; `None` while it can still serve reads.
    ended: Option<&'static str>,
    last_read: Instant,
    /// The version the stream's response holds, once it has arrived.
    etag: Option<String>,
}

impl SharedStream {
    fn new(path: Path, offset: u64) -> Self {
        Self {
            path,
            state: Mutex::new(StreamState {
                window: Window::new(offset),
                ended: None,
                last_read: Instant::now(),
                etag: None,
            }),
            progress: Notify::new(),
            demand: Notify::new(),
        }
    }

    fn state(&self) -> MutexGuard<'_, StreamState> {
        lock(&self.state)
    }

    fn is_open(&self) -> bool {
        self.state().ended.is_none()
    }

    /// Starts feeding the stream from `body`, the response of its GET (whose object
    /// is `size` bytes, version `etag`), on `runtime`.
    pub fn start(
        self: &Arc<Self>,
        runtime: &DriverRuntime,
        store: AmazonS3,
        body: BoxStream<'static, object_store::Result<Bytes>>,
        size: u64,
        etag: Option<String>,
    ) {
        {
            let mut state = self.state();
            state.window.set_size(size);
            state.etag.clone_from(&etag);
        }
        let feed = pump::Feed {
            source: pump::Source {
                stream: Arc::clone(self),
                store,
                etag,
            },
            body,
        };
        runtime.spawn(feed.run());
    }

    /// Ends the stream: held bytes are dropped and waiting readers fall back.
    pub fn end(&self, reason: &'static str) {
        {
            let mut state = self.state();
            if state.ended.is_none() {
                log::debug!("s3 stream of {} ended: {reason}", self.path);
                state.ended = Some(reason);
            }
            state.window.clear();
        }
        self.progress.notify_waiters();
        self.demand.notify_one();
    }

    /// Fills `buf` with the object's bytes from `offset`, waiting for them to arrive.
    /// Gives up (falls back) when the stream ends, the read leaves its window, or no
    /// byte arrives for `stall`.
    pub async fn read_at(&self, offset: u64, buf: &mut [u8], stall: Duration) -> Served {
        let len = buf.len() as u64;
        // Where this read ends, once it waits (the pump wakes readers by it).
        let mut waiting_until = None;
        loop {
            // Registered before the state is checked, so no wake-up is lost between.
            let mut arrived = pin!(self.progress.notified());
            arrived.as_mut().enable();
            {
                let mut state = self.state();
                if let Some(end) = waiting_until.take() {
                    state.window.stop_waiting(end);
                }
                if state.ended.is_some() {
                    return Served::Fallback;
                }
                state.last_read = Instant::now();
                if state.window.reads_past_end(offset) {
                    return Served::Read(0);
                }
                if !state.window.admits(offset, len) {
                    return Served::Fallback;
                }
                if state.window.holds(offset, len) {
                    let n = state.window.take(offset, buf);
                    drop(state);
                    // Room was freed: the pump may read on.
                    self.demand.notify_one();
                    return Served::Read(n);
                }
                waiting_until = Some(state.window.want(offset, len));
            }
            self.demand.notify_one();
            if tokio::time::timeout(stall, arrived).await.is_err() {
                self.end("no bytes arrived within the timeout");
                return Served::Fallback;
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain bookkeeping behind, still usable.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(s: &str) -> Path {
        Path::from(s)
    }

    #[test]
    fn a_read_where_a_ranged_read_ended_starts_a_stream_once() {
        let reads = SequentialReads::default();
        let p = path("a/big");
        assert!(reads.starts_stream(&p, 0), "offset 0 always starts one");
        assert!(!reads.starts_stream(&p, 4096));
        reads.record_ranged(&p, 4096);
        assert!(!reads.starts_stream(&path("a/other"), 4096));
        assert!(reads.starts_stream(&p, 4096));
        assert!(!reads.starts_stream(&p, 4096), "used up");
        reads.record_ranged(&p, 8192);
        reads.forget(&p);
        assert!(!reads.starts_stream(&p, 8192), "forgotten after a write");
    }

    #[test]
    fn at_most_max_streams_stay_open_and_the_least_recent_goes() {
        let reads = SequentialReads::default();
        let first = reads.register(&path("k0"), 0);
        for i in 1..=MAX_STREAMS {
            reads.register(&path(&format!("k{i}")), 0);
        }
        assert_eq!(reads.open_streams(), MAX_STREAMS);
        assert!(!first.is_open(), "the least recently read was closed");
        assert!(reads.stream_for(&path("k0"), 0, 10).is_none());
        assert!(reads.stream_for(&path("k1"), 0, 10).is_some());
        assert!(reads.stream_for(&path("k1"), WINDOW_BYTES, 10).is_none());
        reads.forget(&path("k1"));
        assert!(reads.stream_for(&path("k1"), 0, 10).is_none());
        assert_eq!(reads.open_streams(), MAX_STREAMS - 1);
    }

    #[test]
    fn a_response_of_another_version_ends_the_streams_of_the_old_one() {
        let reads = SequentialReads::default();
        let old = reads.register(&path("k"), 0);
        old.state().etag = Some("\"v1\"".into());
        let other_key = reads.register(&path("j"), 0);
        other_key.state().etag = Some("\"v1\"".into());
        let unanswered = reads.register(&path("k"), 4096);
        reads.saw_version(&path("k"), Some("\"v1\""));
        assert!(old.is_open(), "the same version stays");
        reads.saw_version(&path("k"), None);
        assert!(old.is_open(), "a response without an ETag proves nothing");
        reads.saw_version(&path("k"), Some("\"v2\""));
        assert!(!old.is_open(), "a stream of the old version ends");
        assert!(other_key.is_open(), "another key's stream stays");
        assert!(
            unanswered.is_open(),
            "a stream whose response is pending stays"
        );
    }

    #[test]
    fn an_ended_stream_sends_its_readers_elsewhere() {
        let stream = SharedStream::new(path("k"), 0);
        stream.state().window.set_size(10);
        stream.end("test");
        let runtime = DriverRuntime::new("test", 1).unwrap();
        let mut buf = [0u8; 4];
        let served = runtime.block_on(stream.read_at(0, &mut buf, Duration::from_secs(5)));
        assert_eq!(served, Served::Fallback);
    }

    #[test]
    fn a_reader_waits_for_bytes_fed_later() {
        let runtime = DriverRuntime::new("test", 1).unwrap();
        let stream = Arc::new(SharedStream::new(path("k"), 0));
        stream.state().window.set_size(6);
        let feeder = Arc::clone(&stream);
        std::thread::scope(|s| {
            s.spawn(move || {
                // Feed once the reader waits: then its wish is recorded.
                while feeder.state().window.pump_target() == 0 {
                    std::thread::yield_now();
                }
                feeder.state().window.push(Bytes::from_static(b"abcdef"));
                feeder.progress.notify_waiters();
            });
            let mut buf = [0u8; 4];
            let served = runtime.block_on(stream.read_at(2, &mut buf, Duration::from_secs(30)));
            assert_eq!(served, Served::Read(4));
            assert_eq!(&buf, b"cdef");
        });
    }
}
