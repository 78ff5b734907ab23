//! Writing one object to every provider at once, from one pass over the input.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::BufMut;
use futures::future::join_all;
use mirra_driver_api::{Capabilities, DriverError, Key};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc;

use super::attempt::{Attempt, WriteProblem};
use super::put_batch::{SmallPut, SMALL_PUT};
use super::{Failures, Store, StoreError, Verdict};
use crate::manifest::{manifest_key, ChunkHasher, Manifest, ManifestBody};
use crate::replica::{Replica, ReplicaWriter};
use crate::state::JournalEntry;

/// Input is read and fanned out in pieces of this size.
const PIECE: usize = 1 << 20;
/// Pieces queued per provider: memory stays at `providers × QUEUE × PIECE` whatever the
/// input size, and the slowest provider sets the pace.
const QUEUE: usize = 4;

/// What happened on one provider.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ProviderOutcome {
    /// The provider's name.
    pub provider: String,
    /// `None` when bytes and manifest both committed, else why not.
    pub error: Option<String>,
}

/// A successful put.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PutReport {
    /// The key written.
    pub key: String,
    /// The new version.
    pub version: u64,
    /// Bytes written.
    pub size: u64,
    /// SHA-256 of the object, hex.
    pub sha256: String,
    /// Per provider, in priority order.
    pub providers: Vec<ProviderOutcome>,
    /// Set when a concurrent write won the order over this one: the version that did.
    pub superseded_by: Option<u64>,
}

/// What a put records besides the bytes.
#[derive(Debug, Clone, Default)]
pub struct PutOptions {
    /// MIME type recorded in the manifest (may be empty).
    pub content_type: String,
    /// The source file's modification time in unix nanoseconds, recorded in the manifest
    /// so a later sync can skip the file while its size and time are unchanged.
    pub mtime_ns: Option<u64>,
    /// What must hold of the key's newest version for the write to go ahead.
    pub condition: WriteCondition,
    /// Fail with [`StoreError::Busy`] instead of waiting when another write of the same
    /// key is in flight (front doors answer 409 Conflict).
    pub fail_if_busy: bool,
    /// The S3 ETag to record in the manifest. A cell rather than a value because a front
    /// door learns the MD5 of a body only as the store reads it: whatever the cell holds
    /// once the input has ended is signed (empty: no ETag).
    pub etag: Arc<OnceLock<String>>,
    /// User metadata recorded (signed) in the manifest.
    pub metadata: BTreeMap<String, String>,
}

/// What must hold of a key's newest version for a write to go ahead: HTTP's `If-Match`
/// and `If-None-Match: *`, checked by the store so every front door means the same.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum WriteCondition {
    /// Write whatever the key holds.
    #[default]
    Always,
    /// Only when the key has no live version (never written, or deleted).
    IfAbsent,
    /// Only when the newest live version's SHA-256 (lowercase hex) is this.
    IfSha256(String),
    /// Only when the newest version (live or a tombstone) has this number.
    IfVersion(u64),
}

enum Piece {
    Data(Arc<Vec<u8>>),
    /// The input ended cleanly: hand the writer back for its commit.
    End,
}

impl Store {
    /// Streams `input` to every provider and signs a manifest for it as the next version
    /// of `key`. Succeeds once the write quorum and every required provider committed
    /// both bytes and manifest; providers that missed it go into the repair journal.
    ///
    /// # Errors
    /// `QuorumNotMet`/`RequiredFailed` naming each failed provider, or an input error.
    pub async fn put(
        &self,
        key: &Key,
        input: impl AsyncRead + Unpin,
        content_type: &str,
    ) -> Result<PutReport, StoreError> {
        let options = PutOptions {
            content_type: content_type.to_owned(),
            ..PutOptions::default()
        };
        self.put_with(key, input, &options).await
    }

    /// [`Store::put`] recording everything in `options` in the manifest.
    ///
    /// # Errors
    /// As for [`Store::put`].
    pub async fn put_with(
        &self,
        key: &Key,
        mut input: impl AsyncRead + Unpin,
        options: &PutOptions,
    ) -> Result<PutReport, StoreError> {
        let identity = self.identity()?;
        self.check_write(
            key,
            &options.content_type,
            options.mtime_ns,
            &options.metadata,
        )?;
        // Held until the manifest is on every provider: writers of this key on this
        // machine take turns, so each gets its own, higher version.
        let lock = self.write_lock(key, options.fail_if_busy).await?;
        // A small object is read whole and written with the other small puts of the
        // moment (see `put_batch`), when every provider allows it.
        let mut head = Vec::new();
        if self.batches_small_puts() {
            let limit = SMALL_PUT as u64 + 1;
            (&mut input)
                .take(limit)
                .read_to_end(&mut head)
                .await
                .map_err(StoreError::Input)?;
            if head.len() <= SMALL_PUT {
                let put = SmallPut {
                    key: key.clone(),
                    data: head,
                    options: options.clone(),
                    _lock: lock,
                };
                return self.put_small(put).await;
            }
        }
        let input = std::io::Cursor::new(head).chain(input);
        // Checked before the bytes go out, so a refused write costs nothing (a write
        // without a condition cannot be refused, and skips this round of reads)...
        let early = match options.condition {
            WriteCondition::Always => 0,
            _ => self.next_version_if(key, &options.condition).await?,
        };

        let all: Vec<usize> = (0..self.replicas.len()).collect();
        let (hashed, written) = self.stream_to_replicas(&all, key, input).await;
        // ...and again right before the commit, which narrows the window in which a
        // writer on another machine can slip in to the commit itself.
        let checked = match hashed {
            Ok(hasher) => self
                .next_version_and_commit_order(key, &options.condition)
                .await
                .map(|(version, order)| (hasher, version.max(early), order)),
            Err(e) => Err(e),
        };
        let (hasher, version, order) = match checked {
            Ok(checked) => checked,
            Err(e) => {
                abort_all(written).await;
                return Err(e);
            }
        };

        let body = new_body(key, version, hasher, self.chunk_size, options);
        let manifest = body.sign(identity);
        // Commit in `order`, then report per provider in provider order.
        let mut written = written;
        written.sort_by_key(|w| order.iter().position(|&i| i == w.replica));
        let committed = self.commit_in_turn(key, &manifest, written).await;
        let providers = self.settle(key, version, committed)?;
        let mut report = PutReport {
            key: key.to_string(),
            version,
            size: manifest.body.size,
            sha256: hex::encode(manifest.body.sha256),
            providers,
            superseded_by: None,
        };
        self.after_commit(key, &manifest, identity)
            .await?
            .apply(&mut report);
        drop(lock);
        Ok(report)
    }

    /// How many providers must commit a write for it to succeed.
    pub(crate) fn quorum_needed(&self) -> usize {
        self.quorum.required(self.replicas.len())
    }

    /// Reads `input` once and streams it to the providers at `targets` in parallel.
    /// Returns the hasher over what was read and, per target, its writer with every byte
    /// written but nothing committed.
    pub(crate) async fn stream_to_replicas(
        &self,
        targets: &[usize],
        key: &Key,
        input: impl AsyncRead + Unpin,
    ) -> (Result<ChunkHasher, StoreError>, Vec<Attempt<ReplicaWriter>>) {
        let (senders, tasks): (Vec<_>, Vec<_>) = targets
            .iter()
            .map(|&index| {
                let (tx, rx) = mpsc::channel::<Piece>(QUEUE);
                let task = tokio::spawn(stream_to(self.replicas[index].clone(), key.clone(), rx));
                (tx, task)
            })
            .unzip();
        let hashed = fan_out(input, self.chunk_size, &senders).await;
        if hashed.is_ok() {
            for tx in &senders {
                let _ = tx.send(Piece::End).await;
            }
        }
        drop(senders);
        let written = join_all(tasks)
            .await
            .into_iter()
            .zip(targets)
            .map(|(joined, &replica)| Attempt {
                replica,
                result: joined.unwrap_or_else(|e| Err(WriteProblem::Task(e.to_string()))),
            })
            .collect();
        (hashed, written)
    }

    /// Commits the bytes and then writes the manifest on one provider after another.
    ///
    /// The bytes were streamed to all providers at once; only this short last step goes
    /// in turn, so a crash at any moment leaves at most one provider whose bytes are newer
    /// than its manifest, and every other provider holds a complete, verifiable version.
    ///
    /// On providers with `FLUSH` the bytes were written unsynced; the manifest is staged
    /// the same way beside them and one flush makes both durable before either becomes
    /// visible, and a second flush after the commits makes those durable before the
    /// write is reported. Concurrent writes share these flushes (see
    /// [`crate::flush_group`]), so a burst of small objects costs a few syncs per
    /// provider instead of several per object.
    pub(crate) async fn commit_in_turn(
        &self,
        key: &Key,
        manifest: &Manifest,
        written: Vec<Attempt<ReplicaWriter>>,
    ) -> Vec<Attempt<()>> {
        let storage_key =
            Key::parse(&manifest_key(key.as_str())).expect("manifest keys of valid keys are valid");
        let json = Arc::new(manifest.to_json());
        let (storage_key, json) = (&storage_key, &json);
        let staged = join_all(written.into_iter().map(|writer| {
            writer.then(|index, writer| async move {
                let replica = &self.replicas[index];
                if !replica.can(Capabilities::FLUSH) {
                    return Ok((writer, None));
                }
                let staged = async {
                    let mut staged = replica
                        .begin_write(storage_key)
                        .map_err(WriteProblem::Manifest)?;
                    staged
                        .write(json.clone())
                        .await
                        .map_err(WriteProblem::Manifest)?;
                    replica.flush().await.map_err(WriteProblem::Flush)?;
                    Ok(staged)
                };
                match staged.await {
                    Ok(staged) => Ok((writer, Some(staged))),
                    Err(problem) => {
                        let _ = writer.abort().await;
                        Err(problem)
                    }
                }
            })
        }))
        .await;
        let mut committed = Vec::with_capacity(staged.len());
        for attempt in staged {
            let attempt = attempt
                .then(|index, (writer, staged)| async move {
                    match staged {
                        Some(staged) => writer
                            .commit_then(staged)
                            .await
                            .map_err(WriteProblem::Commit),
                        None => {
                            writer.commit().await.map_err(WriteProblem::Commit)?;
                            self.replicas[index]
                                .put(storage_key, json.clone())
                                .await
                                .map_err(WriteProblem::Manifest)
                        }
                    }
                })
                .await;
            committed.push(attempt);
        }
        join_all(committed.into_iter().map(|attempt| {
            attempt.then(|index, ()| async move {
                self.replicas[index]
                    .flush()
                    .await
                    .map_err(WriteProblem::Flush)
            })
        }))
        .await
    }

    /// Applies the write policy to the attempts (one per provider), records the version
    /// as seen and journals the providers that missed it. Returns each provider's
    /// outcome, in provider order.
    pub(crate) fn settle(
        &self,
        key: &Key,
        version: u64,
        attempts: Vec<Attempt<()>>,
    ) -> Result<Vec<ProviderOutcome>, StoreError> {
        self.settle_all(vec![(key, version, attempts)])
            .pop()
            .expect("one write, one result")
    }

    /// [`settle`](Self::settle) for many writes of different keys (a batch), with one
    /// transaction for their journal entries and one for their versions.
    pub(crate) fn settle_all(
        &self,
        writes: Vec<(&Key, u64, Vec<Attempt<()>>)>,
    ) -> Vec<Result<Vec<ProviderOutcome>, StoreError>> {
        let judged: Vec<(&Key, u64, Judged)> = writes
            .into_iter()
            .map(|(key, version, attempts)| (key, version, self.judge(attempts)))
            .collect();
        let entries: Vec<JournalEntry<'_>> = judged
            .iter()
            .flat_map(|(key, _, judged)| {
                judged.outcomes.iter().map(|outcome| JournalEntry {
                    provider: &outcome.provider,
                    key: key.as_str(),
                    missed: outcome.error.is_some(),
                })
            })
            .collect();
        let seen: Vec<(&str, u64)> = judged
            .iter()
            .filter(|(_, _, judged)| judged.committed() > 0)
            .map(|(key, version, _)| (key.as_str(), *version))
            .collect();
        let recorded = self
            .journal
            .update(&entries)
            .and_then(|()| self.versions.record_all(&self.signer, &seen))
            .map_err(|e| e.to_string());
        let needed = self.quorum.required(self.replicas.len());
        judged
            .into_iter()
            .map(|(key, _, judged)| match &recorded {
                Ok(()) => judged.verdict(key, needed),
                Err(e) => Err(StoreError::State(e.clone())),
            })
            .collect()
    }

    /// What the write policy makes of one write's attempts, before anything is recorded.
    fn judge(&self, mut attempts: Vec<Attempt<()>>) -> Judged {
        attempts.sort_by_key(|a| a.replica);
        let mut judged = Judged::default();
        for attempt in attempts {
            let replica = &self.replicas[attempt.replica];
            let provider = replica.name();
            if let Err(problem) = &attempt.result {
                let verdict = Verdict::Unreachable(problem.to_string());
                if replica.settings().required {
                    judged.required_failed.add(provider, verdict.clone());
                }
                judged.failures.add(provider, verdict);
            }
            judged.outcomes.push(ProviderOutcome {
                provider: provider.to_owned(),
                error: attempt.result.err().map(|problem| problem.to_string()),
            });
        }
        judged
    }
}

/// One write's attempts as the write policy sees them.
#[derive(Default)]
struct Judged {
    outcomes: Vec<ProviderOutcome>,
    failures: Failures,
    required_failed: Failures,
}

impl Judged {
    fn committed(&self) -> usize {
        self.outcomes.len() - self.failures.0.len()
    }

    /// Each provider's outcome, or why the write failed as a whole.
    fn verdict(self, key: &Key, needed: usize) -> Result<Vec<ProviderOutcome>, StoreError> {
        let committed = self.committed();
        if committed < needed {
            return Err(StoreError::QuorumNotMet {
                key: key.to_string(),
                needed,
                committed,
                failures: self.failures,
            });
        }
        if !self.required_failed.0.is_empty() {
            return Err(StoreError::RequiredFailed {
                key: key.to_string(),
                failures: self.required_failed,
            });
        }
        Ok(self.outcomes)
    }
}

/// The manifest body of a new live version of `key` holding what `hasher` saw.
pub(crate) fn new_body(
    key: &Key,
    version: u64,
    hasher: ChunkHasher,
    chunk_size: u64,
    options: &PutOptions,
) -> ManifestBody {
    let (sha256, chunks, size) = hasher.finish();
    ManifestBody {
        key: key.to_string(),
        version,
        size,
        sha256,
        chunk_size,
        chunks,
        content_type: options.content_type.clone(),
        created: unix_now(),
        mtime_ns: options.mtime_ns,
        etag: options.etag.get().cloned(),
        metadata: options.metadata.clone(),
        deleted: false,
    }
}

/// Reads `input` once, hashing it and handing each piece to every live provider.
async fn fan_out(
    mut input: impl AsyncRead + Unpin,
    chunk_size: u64,
    senders: &[mpsc::Sender<Piece>],
) -> Result<ChunkHasher, StoreError> {
    let mut hasher = ChunkHasher::new(chunk_size);
    let mut live: Vec<bool> = vec![true; senders.len()];
    // Pieces handed out, oldest first. Once every writer dropped its handle, a piece's
    // buffer is reused: its pages stay mapped and warm instead of being allocated,
    // faulted in and unmapped again for every MiB of input.
    let mut handed_out: VecDeque<Arc<Vec<u8>>> = VecDeque::new();
    loop {
        let mut piece = match handed_out.front().map(Arc::strong_count) {
            Some(1) => handed_out
                .pop_front()
                .and_then(|p| Arc::try_unwrap(p).ok())
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        // Read into spare capacity, never zeroed first: a 4 KiB object then touches
        // 4 KiB of its buffer, not a whole piece.
        piece.clear();
        piece.reserve_exact(PIECE);
        while piece.len() < PIECE {
            let room = PIECE - piece.len();
            let mut room = (&mut piece).limit(room);
            if input.read_buf(&mut room).await.map_err(StoreError::Input)? == 0 {
                break;
            }
        }
        if piece.is_empty() {
            return Ok(hasher);
        }
        let piece = Arc::new(piece);
        // Hand the piece out first, so the writers' I/O overlaps this hashing.
        let sends = senders.iter().zip(live.iter()).map(|(tx, alive)| {
            let piece = piece.clone();
            async move { *alive && tx.send(Piece::Data(piece)).await.is_ok() }
        });
        live = join_all(sends).await;
        hasher.update(&piece);
        handed_out.push_back(piece);
        // Bounded: pieces still held by a slow writer are dropped from the pool.
        if handed_out.len() > 2 * QUEUE + 2 {
            handed_out.pop_front();
        }
    }
}

/// One provider's side of a put: begin, write every piece, and on `End` return the
/// writer uncommitted; abort if the input stops without `End`.
async fn stream_to(
    replica: Replica,
    key: Key,
    mut rx: mpsc::Receiver<Piece>,
) -> Result<ReplicaWriter, WriteProblem> {
    if !replica.can(Capabilities::WRITE) {
        return Err(WriteProblem::Bytes(DriverError::unsupported("write")));
    }
    let mut writer = replica.begin_write(&key).map_err(WriteProblem::Bytes)?;
    while let Some(piece) = rx.recv().await {
        match piece {
            Piece::Data(data) => {
                if let Err(e) = writer.write(data).await {
                    let _ = writer.abort().await;
                    return Err(WriteProblem::Bytes(e));
                }
            }
            Piece::End => return Ok(writer),
        }
    }
    let _ = writer.abort().await;
    Err(WriteProblem::InputEnded)
}

pub(crate) async fn abort_all(written: Vec<Attempt<ReplicaWriter>>) {
    join_all(
        written
            .into_iter()
            .filter_map(|w| w.result.ok())
            .map(ReplicaWriter::abort),
    )
    .await;
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
#[path = "put_tests.rs"]
mod tests;
