//! Small puts in batches: concurrent writes of small objects to providers that flush
//! (local disks) share their blocking calls.
//!
//! Every driver call is a hand-off to the blocking pool and back. For a 4 KiB object on
//! a local disk those hand-offs (about twenty per object, three providers), not the disk,
//! were most of a put's cost. Here the small puts waiting at one moment go together, in
//! four calls per provider: write every object's bytes (unsynced) and read its current
//! manifest; stage the signed manifests and flush; commit bytes and manifests; flush and
//! read the manifests back, the commits provider after provider in each object's commit
//! order (a call per provider in turn), as for a single put. (Committing in the same call
//! as the first flush was tried and is slower: renames landing while the other
//! providers' `syncfs` of the same file system runs make those wait for them.) The next
//! batch starts as soon as one reaches its last flush, so its writes overlap that flush.
//!
//! Every rule of [`Store::put_with`] holds per object: the key's write lock is held from
//! before the read until the manifest is everywhere; the condition and the next version
//! are decided from the manifests read after the bytes were written; commits go in turn,
//! the providers holding the newest version last; nothing becomes visible before it is
//! durable, and nothing is reported before the commit is; and a manifest read back that
//! outranks this write makes it superseded, exactly as after a single put.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use futures::future::join_all;
use mirra_driver_api::{Capabilities, DriverResult, Key, ObjectWriter, StorageDriver};
use tokio::sync::oneshot;

use super::attempt::{Attempt, WriteProblem};
use super::put::{new_body, ProviderOutcome, PutOptions, PutReport};
use super::{Store, StoreError};
use crate::manifest::{manifest_key, ChunkHasher, Manifest, MAX_MANIFEST_BYTES};
use crate::replica::read_whole;
use crate::write_lock::WriteLock;

/// Objects up to this size are written in batches (when every provider can flush).
pub(crate) const SMALL_PUT: usize = 256 << 10;
/// At most this many objects...
const MAX_OBJECTS: usize = 64;
/// ...and about this many bytes go in one batch.
const MAX_BYTES: usize = 4 << 20;
/// Batches writing, staging and committing at once, when enough puts wait. Batches at
/// their last flush do not count: the next one starts as a batch reaches it.
const BATCHES_AT_ONCE: usize = 2;

/// What every provider must declare for its writes to be batched: streamed, unsynced
/// writes made durable by one flush, and ranged reads of the manifests.
fn batchable() -> Capabilities {
    Capabilities::READ
        | Capabilities::RANGE_READ
        | Capabilities::WRITE
        | Capabilities::STREAMING_WRITE
        | Capabilities::FLUSH
}

/// One small put, read whole, with its key's lock held.
pub(crate) struct SmallPut {
    pub(crate) key: Key,
    pub(crate) data: Vec<u8>,
    pub(crate) options: PutOptions,
    pub(crate) _lock: WriteLock,
}

struct Queued {
    put: SmallPut,
    reply: oneshot::Sender<Result<PutReport, StoreError>>,
}

/// Small puts waiting for a batch, and how many batches are in their first part.
#[derive(Default)]
pub(crate) struct PutBatcher {
    queue: Mutex<Queue>,
}

#[derive(Default)]
struct Queue {
    waiting: VecDeque<Queued>,
    /// Batches writing, staging or committing: not yet at their last flush.
    filling: usize,
}

impl Queue {
    /// Whether another batch is to start now. A second one at once only for a backlog:
    /// otherwise the puts arriving while one batch runs go together in the next, fewer
    /// calls each, and sooner overall.
    fn starts_another(&mut self) -> bool {
        let start = !self.waiting.is_empty()
            && (self.filling == 0
                || (self.filling < BATCHES_AT_ONCE && self.waiting.len() >= MAX_OBJECTS / 2));
        if start {
            self.filling += 1;
        }
        start
    }
}

impl PutBatcher {
    fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `queued`; `true` when the caller is to start a batch task for it.
    fn push(&self, queued: Queued) -> bool {
        let mut queue = self.queue();
        queue.waiting.push_back(queued);
        queue.starts_another()
    }

    /// The puts for a batch task just started, or `None` (and one batch fewer) when an
    /// earlier one took them all.
    fn take(&self) -> Option<Vec<Queued>> {
        let mut queue = self.queue();
        if queue.waiting.is_empty() {
            queue.filling -= 1;
            return None;
        }
        let mut batch = Vec::new();
        let mut bytes = 0;
        while let Some(next) = queue.waiting.front() {
            let size = next.put.data.len();
            if !batch.is_empty() && (batch.len() == MAX_OBJECTS || bytes + size > MAX_BYTES) {
                break;
            }
            bytes += size;
            batch.extend(queue.waiting.pop_front());
        }
        Some(batch)
    }

    /// A batch reached its last flush; `true` when the caller is to start the next
    /// batch, decided under the lock, so a put queued meanwhile either is taken by it or
    /// starts a task itself.
    fn filled(&self) -> bool {
        let mut queue = self.queue();
        queue.filling -= 1;
        queue.starts_another()
    }
}

/// Ends a batch task that stopped before its last flush (a panic, a runtime shutting
/// down): the puts still waiting are answered with an error (their replies dropped)
/// rather than left with no task to take them.
struct TaskGuard<'a> {
    batcher: &'a PutBatcher,
    filling: bool,
}

impl Drop for TaskGuard<'_> {
    fn drop(&mut self) {
        if self.filling {
            let mut queue = self.batcher.queue();
            queue.filling -= 1;
            queue.waiting.clear();
        }
    }
}

/// One object's writes on one provider, as the batch goes.
type Writer = Box<dyn ObjectWriter>;

/// One object of a batch as the provider calls need it.
struct Job {
    key: Key,
    /// Where its manifest goes.
    manifest: Key,
    data: Vec<u8>,
}

/// An object's bytes on one provider, and the manifest to stage beside them.
struct ToStage {
    object: usize,
    bytes: Writer,
    key: Key,
    json: Arc<Vec<u8>>,
}

/// An object's bytes and manifest on one provider, durable and ready to commit.
struct Ready {
    bytes: Writer,
    manifest: Writer,
}

/// An object of the batch once its manifest is signed.
struct Signed {
    manifest: Manifest,
    json: Arc<Vec<u8>>,
    order: Vec<usize>,
}

impl Store {
    /// Whether small puts go in batches: every provider is a local-disk-like driver (see
    /// [`batchable`]); one slow network provider would hold back a whole batch.
    pub(crate) fn batches_small_puts(&self) -> bool {
        !self.replicas.is_empty() && self.replicas.iter().all(|r| r.can(batchable()))
    }

    /// The size up to which a put is batched, when this store batches small puts: the
    /// size up to which callers may as well read an object whole before putting it.
    pub fn small_put_limit(&self) -> Option<u64> {
        self.batches_small_puts().then_some(SMALL_PUT as u64)
    }

    /// Writes `put` in the next batch and returns its report once its batch is done.
    pub(crate) async fn put_small(&self, put: SmallPut) -> Result<PutReport, StoreError> {
        let (reply, answer) = oneshot::channel();
        if self.batcher.push(Queued { put, reply }) {
            self.start_batch();
        }
        answer.await.unwrap_or_else(|_| {
            Err(StoreError::State(
                "the batch writing this object stopped (see the log)".into(),
            ))
        })
    }

    /// Starts a task writing the next batch. A task of its own: a caller that stops
    /// waiting (a client gone) does not stop the other puts of its batch halfway.
    fn start_batch(&self) {
        let store = self.clone();
        tokio::spawn(async move {
            let mut guard = TaskGuard {
                batcher: &store.batcher,
                filling: true,
            };
            if let Some(batch) = store.batcher.take() {
                store.write_batch(batch, &mut guard).await;
            } else {
                guard.filling = false;
            }
        });
    }

    async fn write_batch(&self, mut batch: Vec<Queued>, guard: &mut TaskGuard<'_>) {
        let identity = match self.identity() {
            Ok(identity) => identity,
            Err(_) => {
                for queued in batch {
                    let _ = queued.reply.send(Err(StoreError::ReadOnly));
                }
                self.let_next_start(guard);
                return;
            }
        };
        let providers = self.replicas.len();
        let jobs: Arc<Vec<Job>> = Arc::new(
            batch
                .iter_mut()
                .map(|q| Job {
                    key: q.put.key.clone(),
                    manifest: Key::parse(&manifest_key(q.put.key.as_str()))
                        .expect("manifest keys of valid keys are valid"),
                    data: std::mem::take(&mut q.put.data),
                })
                .collect(),
        );

        // 1. Every object's bytes, unsynced, and the manifest each provider holds now.
        let per_provider = self
            .each_provider(
                |jobs: &Arc<Vec<Job>>| {
                    let jobs = jobs.clone();
                    move |d: &dyn StorageDriver| {
                        Ok(jobs
                            .iter()
                            .map(|job| {
                                let written = write_unsynced(d, &job.key, &job.data);
                                (written, read_whole(d, &job.manifest, MAX_MANIFEST_BYTES))
                            })
                            .collect::<Vec<_>>())
                    }
                },
                &jobs,
            )
            .await;
        let mut written: Vec<Vec<Result<Writer, WriteProblem>>> =
            (0..batch.len()).map(|_| Vec::new()).collect();
        let mut current: Vec<Vec<DriverResult<Vec<u8>>>> =
            (0..batch.len()).map(|_| Vec::new()).collect();
        for (r, answer) in per_provider.into_iter().enumerate() {
            match answer {
                Ok(answers) => {
                    for (i, (bytes, manifest)) in answers.into_iter().enumerate() {
                        if let Err(e) = &bytes {
                            self.replicas[r].record_error(e);
                        }
                        written[i].push(bytes.map_err(WriteProblem::Bytes));
                        current[i].push(manifest);
                    }
                }
                Err(e) => {
                    for i in 0..batch.len() {
                        written[i].push(Err(WriteProblem::Bytes(e.clone())));
                        current[i].push(Err(e.clone()));
                    }
                }
            }
        }

        // 2. Per object: its condition, its version, its commit order, its manifest.
        let decided: Vec<Result<Signed, StoreError>> = batch
            .iter()
            .zip(current)
            .zip(jobs.iter())
            .map(|((queued, reads), job)| {
                let key = &queued.put.key;
                let fetched: Vec<_> = reads
                    .into_iter()
                    .enumerate()
                    .map(|(r, read)| self.judge_manifest_read(&self.replicas[r], key, read))
                    .collect();
                let options = &queued.put.options;
                let (version, order) =
                    self.version_and_commit_order(key, &options.condition, &fetched)?;
                let mut hasher = ChunkHasher::new(self.chunk_size);
                hasher.update(&job.data);
                let manifest =
                    new_body(key, version, hasher, self.chunk_size, options).sign(identity);
                let json = Arc::new(manifest.to_json());
                Ok(Signed {
                    manifest,
                    json,
                    order,
                })
            })
            .collect();

        // 3. Stage the manifests beside the bytes (dropping refused writes' bytes), and
        // make both durable before anything becomes visible.
        let mut outcome: Vec<Vec<Result<(), WriteProblem>>> = (0..batch.len())
            .map(|_| (0..providers).map(|_| Ok(())).collect())
            .collect();
        let mut staging: Vec<Vec<ToStage>> = (0..providers).map(|_| Vec::new()).collect();
        let mut dropped: Vec<Vec<Writer>> = (0..providers).map(|_| Vec::new()).collect();
        for (i, per_provider) in written.into_iter().enumerate() {
            for (r, writer) in per_provider.into_iter().enumerate() {
                match (writer, &decided[i]) {
                    (Ok(bytes), Ok(s)) => staging[r].push(ToStage {
                        object: i,
                        bytes,
                        key: jobs[i].manifest.clone(),
                        json: s.json.clone(),
                    }),
                    (Ok(w), Err(_)) => dropped[r].push(w),
                    (Err(problem), _) => outcome[i][r] = Err(problem),
                }
            }
        }
        let staged = join_all(
            self.replicas
                .iter()
                .zip(staging.into_iter().zip(dropped))
                .map(|(replica, (stage, drop))| {
                    let items: Vec<usize> = stage.iter().map(|s| s.object).collect();
                    let call = replica.call_once("stage", replica.settings().timeout, move |d| {
                        Ok(stage_and_flush(d, stage, drop))
                    });
                    async move { (items, call.await) }
                }),
        )
        .await;
        // Per provider: (object, bytes writer, manifest writer) ready to commit.
        let mut ready: Vec<Vec<(usize, Ready)>> = Vec::new();
        for (r, (items, answer)) in staged.into_iter().enumerate() {
            let mut on_provider = Vec::new();
            match answer {
                Ok(answers) => {
                    for (i, answer) in answers {
                        match answer {
                            Ok(both) => on_provider.push((i, both)),
                            Err(problem) => {
                                record(&self.replicas[r], &problem);
                                outcome[i][r] = Err(problem);
                            }
                        }
                    }
                }
                Err(e) => {
                    for i in items {
                        outcome[i][r] = Err(WriteProblem::Manifest(e.clone()));
                    }
                }
            }
            ready.push(on_provider);
        }

        // 4. Commit in turn: in round k, each object commits on the k-th provider of its
        // order. Objects with the same order (all new keys) go provider after provider.
        for round in 0..providers {
            let mut calls = Vec::new();
            for (r, on_provider) in ready.iter_mut().enumerate() {
                let (now, later): (Vec<_>, Vec<_>) = std::mem::take(on_provider)
                    .into_iter()
                    .partition(|(i, _)| decided[*i].as_ref().is_ok_and(|s| s.order[round] == r));
                *on_provider = later;
                if now.is_empty() {
                    continue;
                }
                let replica = &self.replicas[r];
                let items: Vec<usize> = now.iter().map(|c| c.0).collect();
                let call = replica.call_once("commit", replica.settings().timeout, move |_| {
                    Ok(commit_all(now))
                });
                calls.push(async move { (r, items, call.await) });
            }
            for (r, items, answer) in join_all(calls).await {
                match answer {
                    Ok(answers) => {
                        for (i, answer) in answers {
                            if let Err(problem) = answer {
                                record(&self.replicas[r], &problem);
                                outcome[i][r] = Err(problem);
                            }
                        }
                    }
                    Err(e) => {
                        for i in items {
                            outcome[i][r] = Err(WriteProblem::Commit(e.clone()));
                        }
                    }
                }
            }
        }

        // 5. Make the commits durable, and read every signed object's manifest back.
        // The next batch need not wait for this: its writes go on meanwhile, and its
        // own flush comes after this one.
        self.let_next_start(guard);
        let read_back: Arc<Vec<Key>> =
            Arc::new(jobs.iter().map(|job| job.manifest.clone()).collect());
        let flushed = self
            .each_provider(
                |keys: &Arc<Vec<Key>>| {
                    let keys = keys.clone();
                    move |d: &dyn StorageDriver| {
                        let flushed = d.flush();
                        let reads: Vec<_> = keys
                            .iter()
                            .map(|key| read_whole(d, key, MAX_MANIFEST_BYTES))
                            .collect();
                        Ok((flushed, reads))
                    }
                },
                &read_back,
            )
            .await;
        let mut back: Vec<Vec<DriverResult<Vec<u8>>>> =
            (0..batch.len()).map(|_| Vec::new()).collect();
        for (r, answer) in flushed.into_iter().enumerate() {
            let (flushed, reads) = match answer {
                Ok(answer) => answer,
                Err(e) => (
                    Err(e.clone()),
                    (0..batch.len()).map(|_| Err(e.clone())).collect(),
                ),
            };
            if let Err(e) = &flushed {
                self.replicas[r].record_error(e);
                for per_provider in &mut outcome {
                    if per_provider[r].is_ok() {
                        per_provider[r] = Err(WriteProblem::Flush(e.clone()));
                    }
                }
            }
            for (i, read) in reads.into_iter().enumerate() {
                back[i].push(read);
            }
        }

        // 6. Settle each object as a single put would (its state recorded with the
        // others'), and answer it.
        let signed_writes: Vec<(&Key, u64, Vec<Attempt<()>>)> = batch
            .iter()
            .zip(&decided)
            .zip(outcome)
            .filter_map(|((queued, decided), outcome)| {
                let signed = decided.as_ref().ok()?;
                let attempts = outcome
                    .into_iter()
                    .enumerate()
                    .map(|(replica, result)| Attempt { replica, result })
                    .collect();
                Some((&queued.put.key, signed.manifest.body.version, attempts))
            })
            .collect();
        let mut settled = self.settle_all(signed_writes).into_iter();
        for ((queued, decided), reads) in batch.into_iter().zip(decided).zip(back) {
            let answer = match decided {
                Err(e) => Err(e),
                Ok(signed) => {
                    let providers = settled.next().expect("one settled per signed write");
                    self.superseded(&queued.put, &signed, providers, reads, identity)
                        .await
                }
            };
            // The lock goes with `queued`, after the answer: the manifest is on every
            // provider it reached by now.
            let _ = queued.reply.send(answer);
        }
    }

    /// Marks the batch of `guard` as past its filling part, and starts the next batch
    /// when puts wait.
    fn let_next_start(&self, guard: &mut TaskGuard<'_>) {
        guard.filling = false;
        if self.batcher.filled() {
            self.start_batch();
        }
    }

    /// Runs `make(input)` on every provider at once, one blocking call each.
    async fn each_provider<I, F, T>(
        &self,
        make: impl Fn(&I) -> F,
        input: &I,
    ) -> Vec<DriverResult<T>>
    where
        T: Send + 'static,
        F: FnOnce(&dyn StorageDriver) -> DriverResult<T> + Send + 'static,
    {
        join_all(
            self.replicas
                .iter()
                .map(|replica| replica.call_once("batch", replica.settings().timeout, make(input))),
        )
        .await
    }

    /// The end of one object's put once settled: whether a manifest read back outranks
    /// it (only then are the providers read again, as after a single put).
    async fn superseded(
        &self,
        put: &SmallPut,
        signed: &Signed,
        providers: Result<Vec<ProviderOutcome>, StoreError>,
        reads: Vec<DriverResult<Vec<u8>>>,
        identity: &crate::identity::Identity,
    ) -> Result<PutReport, StoreError> {
        let ours = &signed.manifest;
        let mut report = PutReport {
            key: put.key.to_string(),
            version: ours.body.version,
            size: ours.body.size,
            sha256: hex::encode(ours.body.sha256),
            providers: providers?,
            superseded_by: None,
        };
        // Our own bytes read back need no verifying: we signed them.
        let outranked = reads.into_iter().enumerate().any(|(r, read)| match read {
            Ok(bytes) if bytes == *signed.json => false,
            read => self
                .judge_manifest_read(&self.replicas[r], &put.key, read)
                .is_ok_and(|theirs| theirs.outranks(ours)),
        });
        if outranked {
            self.after_commit(&put.key, ours, identity)
                .await?
                .apply(&mut report);
        }
        Ok(report)
    }
}

/// Counts a write problem's driver error against the provider, as a single call's
/// would be.
fn record(replica: &crate::replica::Replica, problem: &WriteProblem) {
    if let Some(e) = problem.driver_error() {
        replica.record_error(e);
    }
}

/// Begins an unsynced write of `key` and writes `data`; aborted on failure.
fn write_unsynced(d: &dyn StorageDriver, key: &Key, data: &[u8]) -> DriverResult<Writer> {
    let mut writer = d.begin_unsynced_write(key)?;
    match writer.write(data) {
        Ok(()) => Ok(writer),
        Err(e) => {
            let _ = writer.abort();
            Err(e)
        }
    }
}

/// Drops the writes in `drop`, stages each manifest beside its bytes, and flushes; every
/// object's bytes and manifest writers come back uncommitted, or why not.
fn stage_and_flush(
    d: &dyn StorageDriver,
    stage: Vec<ToStage>,
    drop: Vec<Writer>,
) -> Vec<(usize, Result<Ready, WriteProblem>)> {
    for writer in drop {
        let _ = writer.abort();
    }
    let mut staged: Vec<_> = stage
        .into_iter()
        .map(|s| match write_unsynced(d, &s.key, &s.json) {
            Ok(manifest) => (
                s.object,
                Ok(Ready {
                    bytes: s.bytes,
                    manifest,
                }),
            ),
            Err(e) => {
                let _ = s.bytes.abort();
                (s.object, Err(WriteProblem::Manifest(e)))
            }
        })
        .collect();
    if let Err(e) = d.flush() {
        for (_, result) in &mut staged {
            if result.is_ok() {
                *result = Err(WriteProblem::Flush(e.clone()));
            }
        }
    }
    staged
}

/// Commits each object's bytes and then its manifest; the manifest is aborted when the
/// bytes fail.
fn commit_all(ready: Vec<(usize, Ready)>) -> Vec<(usize, Result<(), WriteProblem>)> {
    ready
        .into_iter()
        .map(|(i, Ready { bytes, manifest })| {
            let result = match bytes.commit() {
                Ok(()) => manifest.commit().map_err(WriteProblem::Manifest),
                Err(e) => {
                    let _ = manifest.abort();
                    Err(WriteProblem::Commit(e))
                }
            };
            (i, result)
        })
        .collect()
}
