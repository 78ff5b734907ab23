//! Running an upload plan: `transfers` files through [`Store::put_with`] at once, then
//! the tombstones.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use futures::stream::{self, StreamExt};
use tokio::io::{AsyncRead, ReadBuf};

use super::plan::{PlannedUpload, UploadOptions, UploadPlan};
use super::summary::{FileFailure, Tallies, TreeSummary};
use super::Progress;
use crate::store::{PutOptions, PutReport, Store, StoreError};

/// Small files in flight at once when the store batches small puts: two full batches.
const SMALL_FILES_AT_ONCE: usize = 128;

/// Sends every planned file, `options.transfers` at once, then writes the planned
/// tombstones. Per-file failures (quorum not met, unreadable file) are collected in the
/// summary; the other files carry on.
pub async fn execute_upload(
    store: &Store,
    plan: UploadPlan,
    options: &UploadOptions,
    progress: &dyn Progress,
) -> TreeSummary {
    let started = Instant::now();
    let mut tallies = Tallies::new(store.replicas().iter().map(|r| r.name().to_owned()));
    let mut summary = TreeSummary {
        files: plan.files_seen,
        unchanged: plan.unchanged,
        deletes_withheld: plan.deletes_withheld,
        skipped: plan.skipped,
        unreadable: plan.unreadable,
        ..TreeSummary::default()
    };
    // Each file is one verified put; many at once is what overlaps one file's hashing and
    // signing with another's provider I/O and fsyncs. Small files that the store writes
    // in batches go many more at once: the batches fill from them, and each is held in
    // memory whole anyway.
    let small = store.small_put_limit();
    let (batched, streamed): (Vec<_>, Vec<_>) = plan
        .uploads
        .into_iter()
        .partition(|upload| small.is_some_and(|limit| upload.file.size <= limit));
    let batched = stream::iter(
        batched
            .into_iter()
            .map(|upload| send_one(store, upload, small, options, progress)),
    )
    .buffer_unordered(SMALL_FILES_AT_ONCE);
    let streamed = stream::iter(
        streamed
            .into_iter()
            .map(|upload| send_one(store, upload, None, options, progress)),
    )
    .buffer_unordered(options.transfers.max(1));
    let mut puts = stream::select(batched, streamed);
    while let Some((key, result)) = puts.next().await {
        progress.file_done(result.is_ok());
        match result {
            // Committed, but a concurrent write elsewhere holds the key: not in sync.
            Ok(report) if report.superseded_by.is_some() => {
                tally_report(&mut tallies, &report);
                summary.failed.push(FileFailure {
                    key,
                    error: superseded(&report),
                });
            }
            Ok(report) => {
                summary.sent += 1;
                summary.sent_bytes += report.size;
                tally_report(&mut tallies, &report);
            }
            Err(error) => {
                if let SendError::Store(e) = &error {
                    tallies.failed_write(e);
                }
                summary.failed.push(FileFailure {
                    key,
                    error: error.to_string(),
                });
            }
        }
    }
    drop(puts);
    let mut removes = stream::iter(
        plan.deletes
            .into_iter()
            .map(|key| async move { (key.to_string(), store.remove(&key).await) }),
    )
    .buffer_unordered(options.transfers.max(1));
    while let Some((key, result)) = removes.next().await {
        match result {
            Ok(report) if report.superseded_by.is_some() => {
                tally_report(&mut tallies, &report);
                summary.failed.push(FileFailure {
                    key,
                    error: format!("delete: {}", superseded(&report)),
                });
            }
            Ok(report) => {
                summary.deleted += 1;
                tally_report(&mut tallies, &report);
            }
            Err(e) => {
                tallies.failed_write(&e);
                summary.failed.push(FileFailure {
                    key,
                    error: format!("delete: {e}"),
                });
            }
        }
    }
    drop(removes);
    summary.providers = tallies.into_vec();
    summary.seconds = started.elapsed().as_secs_f64();
    summary
}

fn superseded(report: &PutReport) -> String {
    format!(
        "written as version {}, but superseded by version {} from a concurrent writer",
        report.version,
        report.superseded_by.unwrap_or_default()
    )
}

fn tally_report(tallies: &mut Tallies, report: &PutReport) {
    for outcome in &report.providers {
        match &outcome.error {
            None => tallies.ok(&outcome.provider),
            Some(reason) => tallies.failed(&outcome.provider, reason),
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum SendError {
    #[error("{0}")]
    Open(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Puts one file; `read_whole` is the size up to which it is read whole first (a small
/// file the store batches), `None` to stream it.
async fn send_one(
    store: &Store,
    upload: PlannedUpload,
    read_whole: Option<u64>,
    options: &UploadOptions,
    progress: &dyn Progress,
) -> (String, Result<PutReport, SendError>) {
    let key = upload.key.to_string();
    let opened = match read_whole {
        // One blocking call for the whole file instead of one per open and read.
        Some(limit) => {
            let path = upload.file.path.clone();
            tokio::task::spawn_blocking(move || read_small(&path, limit))
                .await
                .unwrap_or_else(|e| Err(std::io::Error::other(e)))
        }
        _ => tokio::fs::File::open(&upload.file.path)
            .await
            .map(Input::File),
    };
    let input = match opened {
        Ok(input) => input,
        Err(e) => {
            return (
                key,
                Err(SendError::Open(format!(
                    "opening {}: {e}",
                    upload.file.path.display()
                ))),
            )
        }
    };
    let content_type = options.content_type.clone().unwrap_or_else(|| {
        mime_guess::from_path(&upload.file.rel)
            .first_or_octet_stream()
            .to_string()
    });
    // The time recorded is the one seen before reading: if the file changes while it is
    // read, its new time differs from the manifest's and the next sync sends it again.
    let put_options = PutOptions {
        content_type,
        mtime_ns: upload.file.mtime_ns,
        ..PutOptions::default()
    };
    let input: Pin<Box<dyn AsyncRead + Send + '_>> = match input {
        Input::Whole(bytes) => Box::pin(std::io::Cursor::new(bytes)),
        // Small reads for small files: the store reads in its own pieces anyway.
        Input::File(file) => {
            let capacity = usize::try_from(upload.file.size)
                .unwrap_or(usize::MAX)
                .clamp(8 << 10, 1 << 20);
            Box::pin(tokio::io::BufReader::with_capacity(capacity, file))
        }
    };
    let input = Counting {
        inner: input,
        progress,
    };
    let result = store
        .put_with(&upload.key, input, &put_options)
        .await
        .map_err(SendError::from);
    (key, result)
}

/// A file to put: read whole already (small), or opened.
enum Input {
    Whole(Vec<u8>),
    File(tokio::fs::File),
}

/// The file at `path` read whole when it holds at most `limit` bytes, else (it grew
/// since the walk) opened for streaming.
fn read_small(path: &std::path::Path, limit: u64) -> std::io::Result<Input> {
    use std::io::{Read, Seek};
    let mut file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    (&mut file).take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 <= limit {
        return Ok(Input::Whole(bytes));
    }
    file.rewind()?;
    Ok(Input::File(tokio::fs::File::from_std(file)))
}

/// Reports bytes to the progress display as the store reads them.
struct Counting<'p, R> {
    inner: R,
    progress: &'p dyn Progress,
}

impl<R: AsyncRead + Unpin> AsyncRead for Counting<'_, R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        let read = buf.filled().len() - before;
        if read > 0 {
            self.progress.add_bytes(read as u64);
        }
        polled
    }
}
