//! The one chunk loop every read goes through: whole objects (`get`, `repair`) and byte
//! ranges (the gateways) alike. Chunks are fetched a few ahead of the one being written,
//! each raced across providers by [`super::hedge::race`] and verified against the signed
//! manifest before a byte of it is released; a provider that fails a chunk is skipped and
//! the read continues at the same chunk on the next one.

use std::collections::VecDeque;

use futures::stream::{FuturesOrdered, StreamExt};
use mirra_driver_api::{DriverError, ErrorKind, Key};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::hedge::{self, Failed};
use super::{Failures, ProviderFailure, Store, StoreError, Verdict};
use crate::manifest::Manifest;

/// Bytes of chunks a read fetches ahead of the one it is writing out.
const READ_AHEAD_BYTES: u64 = 12 << 20;
/// At most this many chunks ahead, however small the chunks.
const MAX_READ_AHEAD: u64 = 4;
/// Chunks up to this size are hedged in ranged reads (a second read of a small chunk is
/// cheap); larger ones are read from one provider at a time.
const HEDGED_CHUNK_MAX: u64 = 1 << 20;

/// When a slow provider's chunk is also asked of the next provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hedging {
    /// Every chunk (a whole read, where time matters more than a second read).
    EveryChunk,
    /// Only chunks up to [`HEDGED_CHUNK_MAX`]: a server's ranged read of one byte costs
    /// one chunk read, not one per provider a hedge woke up (a hedged call that lost
    /// still runs to completion holding its buffer).
    SmallChunks,
}

impl Hedging {
    fn hedges(self, chunk_len: u64) -> bool {
        self == Self::EveryChunk || chunk_len <= HEDGED_CHUNK_MAX
    }
}

/// Which bytes of which version to read, from which providers.
pub(crate) struct ChunkRead<'a> {
    pub(crate) key: &'a Key,
    pub(crate) manifest: &'a Manifest,
    /// First byte to release.
    pub(crate) start: u64,
    /// One past the last byte to release; clamped to the object.
    pub(crate) end: u64,
    /// Provider indices, in the order each chunk asks them.
    pub(crate) order: Vec<usize>,
    pub(crate) hedging: Hedging,
}

/// What a chunk loop did, whether or not it delivered every byte.
#[derive(Debug, Clone, Default)]
pub(crate) struct ChunksRead {
    /// Bytes written to the output.
    pub(crate) bytes: u64,
    /// Chunks delivered.
    pub(crate) chunks: u32,
    /// Chunks won by a provider asked because the one before it was slow, with no
    /// provider failing the chunk.
    pub(crate) hedged: u32,
    /// Chunks delivered by another provider after at least one failed them.
    pub(crate) failovers: u32,
    /// Every provider failure, one per chunk a provider failed, in chunk order.
    pub(crate) failures: Vec<ProviderFailure>,
}

/// Why a chunk loop stopped early. The output holds the verified bytes before the stop.
#[derive(Debug)]
pub(crate) enum ChunksFailed {
    /// No provider delivered a chunk intact; `failures` says what each did with it,
    /// `read` what came before it.
    Unreadable {
        read: ChunksRead,
        failures: Vec<ProviderFailure>,
    },
    /// The signed manifest's chunks end before the byte at `offset` (no valid manifest
    /// does that; a read must not go past its chunks either way).
    Uncovered { offset: u64 },
    /// `order` named no provider.
    NoProvider,
    /// Writing to the output failed.
    Output(std::io::Error),
}

impl ChunksFailed {
    /// The store error for a read of `key` that stopped here.
    pub(crate) fn into_store_error(self, key: &Key) -> StoreError {
        match self {
            Self::Unreadable { failures, .. } => StoreError::NoValidCopy {
                key: key.to_string(),
                failures: Failures(failures),
            },
            Self::Uncovered { offset } => StoreError::ManifestGap {
                key: key.to_string(),
                offset,
            },
            Self::NoProvider => StoreError::NoValidCopy {
                key: key.to_string(),
                failures: Failures::default(),
            },
            Self::Output(e) => StoreError::Output(e),
        }
    }
}

/// Why one provider's answer for one chunk was not used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ChunkProblem {
    /// Fewer bytes than the chunk holds.
    Short { index: usize, got: usize, want: u64 },
    /// The right length, the wrong hash.
    Corrupt { index: usize },
    /// The driver call failed; its kind is kept.
    Driver { index: usize, error: DriverError },
}

impl std::fmt::Display for ChunkProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Short { index, got, want } => {
                write!(f, "chunk {index} short: {got} of {want} bytes")
            }
            Self::Corrupt { index } => write!(f, "chunk {index} corrupt"),
            Self::Driver { index, error } => write!(f, "chunk {index}: {error}"),
        }
    }
}

/// A chunk that is short, corrupt or gone while its manifest is there is a corrupt
/// copy; a provider that failed the read did not answer.
impl From<&ChunkProblem> for Verdict {
    fn from(problem: &ChunkProblem) -> Self {
        match problem {
            ChunkProblem::Driver { error, .. } if error.kind != ErrorKind::NotFound => {
                Self::Unreachable(problem.to_string())
            }
            _ => Self::Corrupt(problem.to_string()),
        }
    }
}

/// One chunk: what its race ended with, and how many chunk-sized buffers it held.
struct Fetched {
    data: Option<Vec<u8>>,
    position: usize,
    slot: usize,
    failed: Vec<Failed<ChunkProblem>>,
}

impl Store {
    /// How many chunks of `manifest` a read holds at once: enough to keep a remote
    /// provider's next requests in flight while one chunk is verified and written,
    /// bounded in bytes so a large chunk size does not multiply memory.
    pub(crate) fn read_ahead(manifest: &Manifest) -> u64 {
        let chunk = manifest.body.chunk_size.max(1);
        let chunks = (manifest.body.chunks.len() as u64).max(1);
        (READ_AHEAD_BYTES / chunk)
            .clamp(1, MAX_READ_AHEAD)
            .min(chunks)
    }

    /// The most memory a ranged read ([`Hedging::SmallChunks`]) holds for chunks of
    /// `manifest` at once: the chunks read ahead, each once, or once per provider when
    /// small chunks are hedged. What a server reserves from its memory budget.
    pub fn range_memory(&self, manifest: &Manifest) -> u64 {
        let chunk = manifest.body.chunk_size.min(manifest.body.size);
        let copies = match Hedging::SmallChunks.hedges(chunk) {
            true => self.replicas.len().max(1) as u64,
            false => 1,
        };
        chunk * copies * Self::read_ahead(manifest)
    }

    /// Writes the verified bytes `read.start..read.end` to `out`, fetching only the
    /// chunks that cover them, a few chunks ahead of the one being written.
    ///
    /// # Errors
    /// When a chunk no provider can deliver intact, or the output fails; `out` then holds
    /// a verified prefix of the range and nothing else.
    pub(crate) async fn read_chunks(
        &self,
        read: ChunkRead<'_>,
        out: &mut (impl AsyncWrite + Unpin),
    ) -> Result<ChunksRead, ChunksFailed> {
        let manifest = read.manifest;
        let end = read.end.min(manifest.body.size);
        let start = read.start.min(end);
        let mut report = ChunksRead::default();
        if start < end && read.order.is_empty() {
            return Err(ChunksFailed::NoProvider);
        }
        if start == end {
            out.flush().await.map_err(ChunksFailed::Output)?;
            return Ok(report);
        }
        let covered = (manifest.body.chunks.len() as u64).saturating_mul(manifest.body.chunk_size);
        if end > covered {
            return Err(ChunksFailed::Uncovered {
                offset: covered.max(start),
            });
        }
        let chunk_size = manifest.body.chunk_size.max(1);
        let (first, last) = (
            (start / chunk_size) as usize,
            ((end - 1) / chunk_size) as usize,
        );
        let depth = Self::read_ahead(manifest) as usize;
        // The slot (in `order`) of the provider that delivered the last chunk: later
        // chunks ask it first, so a read stays with a provider that answers.
        let mut current = 0;
        let fetch = |index: usize, start_slot: usize, buf: Vec<u8>| {
            self.fetch_chunk(&read, index, start_slot, buf)
        };
        // Chunks in flight, in order, and those already verified but not yet written.
        let mut in_flight = FuturesOrdered::new();
        let mut ready = VecDeque::new();
        let mut spares: Vec<Vec<u8>> = Vec::new();
        let mut launched = first;
        for index in first..=last {
            while launched <= last && in_flight.len() + ready.len() < depth {
                in_flight.push_back(fetch(launched, current, spares.pop().unwrap_or_default()));
                launched += 1;
            }
            let fetched = match ready.pop_front() {
                Some(done) => done,
                None => in_flight
                    .next()
                    .await
                    .expect("the chunk being written was launched"),
            };
            let failed_over = !fetched.failed.is_empty();
            let failures = fetched.failed.into_iter().map(|f| {
                let provider = self.replicas[f.replica].name();
                tracing::warn!(provider, key = %read.key, reason = %f.error, "provider failed a chunk; trying the next");
                ProviderFailure {
                    provider: provider.to_owned(),
                    verdict: Verdict::from(&f.error),
                }
            });
            let Some(data) = fetched.data else {
                return Err(ChunksFailed::Unreadable {
                    read: report,
                    failures: failures.collect(),
                });
            };
            report.failures.extend(failures);
            report.chunks += 1;
            // A chunk that came from a later provider after a failure is a failover, even
            // if a hedge was also in flight; only a hedge that beat a healthy provider
            // counts as one.
            report.hedged += u32::from(fetched.position > 0 && !failed_over);
            report.failovers += u32::from(failed_over);
            current = fetched.slot;
            let (offset, len) = manifest
                .chunk_range(index)
                .expect("chunks up to `last` are inside the object");
            let from = (start.max(offset) - offset) as usize;
            let to = (end.min(offset + len) - offset) as usize;
            // Write this verified chunk while the chunks after it are read and verified:
            // reading, hashing and writing overlap instead of taking turns. Chunks
            // verified meanwhile wait in `ready` for their turn.
            let mut write = std::pin::pin!(out.write_all(&data[from..to]));
            loop {
                tokio::select! {
                    written = &mut write => {
                        written.map_err(ChunksFailed::Output)?;
                        break;
                    }
                    Some(done) = in_flight.next(), if !in_flight.is_empty() => ready.push_back(done),
                }
            }
            report.bytes += (to - from) as u64;
            spares.push(data);
        }
        out.flush().await.map_err(ChunksFailed::Output)?;
        Ok(report)
    }

    /// Chunk `index`, verified, raced across the providers in `order` starting at slot
    /// `start`: bad bytes count against the provider that sent them, and a verified
    /// chunk for it.
    async fn fetch_chunk(
        &self,
        read: &ChunkRead<'_>,
        index: usize,
        start: usize,
        buf: Vec<u8>,
    ) -> Fetched {
        let (key, manifest, order) = (read.key, read.manifest, &read.order);
        let (offset, len) = manifest
            .chunk_range(index)
            .expect("the loop reads only chunks inside the object");
        // The order rotated to begin at `start`.
        let rotated: Vec<usize> = (0..order.len())
            .map(|step| order[(start + step) % order.len()])
            .collect();
        let hedges = read.hedging.hedges(len);
        let mut spare = Some(buf);
        let raced = hedge::race(
            &rotated,
            |replica| hedges.then(|| self.hedge_delay(&self.replicas[replica])),
            |replica| {
                let replica = &self.replicas[replica];
                let buf = spare.take().unwrap_or_default();
                async move {
                    let answer = replica.read_range(key, offset, len as usize, buf).await;
                    // Driver errors were already counted by the replica; bad bytes are
                    // only known here, and count against the provider too.
                    let verdict = judge(manifest, index, len, answer);
                    match &verdict {
                        Ok(_) => replica.health_record().record_verified(),
                        Err(ChunkProblem::Driver { .. }) => {}
                        Err(problem) => replica
                            .health_record()
                            .record_bad_answer(&problem.to_string()),
                    }
                    verdict
                }
            },
        )
        .await;
        let (data, position) = match raced.won {
            Some(won) => (Some(won.value), won.position),
            None => (None, 0),
        };
        Fetched {
            data,
            position,
            slot: (start + position) % order.len().max(1),
            failed: raced.failed,
        }
    }
}

/// The chunk's bytes if they verify, else why not.
fn judge(
    manifest: &Manifest,
    index: usize,
    len: u64,
    answer: Result<Vec<u8>, DriverError>,
) -> Result<Vec<u8>, ChunkProblem> {
    match answer {
        Ok(data) if manifest.verify_chunk(index, &data) => Ok(data),
        Ok(data) if (data.len() as u64) < len => Err(ChunkProblem::Short {
            index,
            got: data.len(),
            want: len,
        }),
        Ok(_) => Err(ChunkProblem::Corrupt { index }),
        Err(error) => Err(ChunkProblem::Driver { index, error }),
    }
}
