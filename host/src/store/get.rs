//! Reading one object: chunk by chunk, each verified before it is released, failing over
//! between providers at the same offset, and hedging a slow provider with the next one.

use std::collections::VecDeque;

use futures::stream::{FuturesOrdered, FuturesUnordered, StreamExt};
use mirra_driver_api::{DriverResult, Key};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::{Failures, Store, StoreError};
use crate::manifest::Manifest;

/// Bytes of chunks a read fetches ahead of the one it is writing out.
const READ_AHEAD_BYTES: usize = 12 << 20;
/// At most this many chunks ahead, however small the chunks.
const MAX_READ_AHEAD: usize = 4;

/// How a read chooses its manifest.
#[derive(Debug, Clone, Copy, Default)]
pub struct GetOptions {
    /// Ask every provider and follow the newest valid manifest, instead of the first.
    pub latest: bool,
}

/// A successful read.
#[derive(Debug, Clone, serde::Serialize)]
pub struct GetReport {
    /// The key read.
    pub key: String,
    /// The version returned.
    pub version: u64,
    /// Bytes returned.
    pub size: u64,
    /// SHA-256 of the object, hex.
    pub sha256: String,
    /// The content type recorded at put time.
    pub content_type: String,
    /// Providers that failed along the way (for the manifest or a chunk), and why.
    pub skipped: Failures,
    /// Chunks for which a second provider was asked because the first was slow.
    pub hedged: u32,
}

impl Store {
    /// Writes the verified bytes of `key` to `out`, chunk by chunk.
    ///
    /// Nothing reaches `out` that did not match its chunk's signed hash. A provider that
    /// errors, stalls, returns short or returns corrupt bytes is skipped and the read
    /// continues at the same chunk on the next one.
    ///
    /// # Errors
    /// `NoValidCopy` naming each provider's failure, `Deleted`, or an output error. On
    /// error `out` may hold a verified prefix of the object.
    pub async fn get(
        &self,
        key: &Key,
        options: GetOptions,
        out: &mut (impl AsyncWrite + Unpin),
    ) -> Result<GetReport, StoreError> {
        let (manifest, served_by, manifest_failures) =
            self.resolve_manifest_reporting(key, options.latest).await?;
        // Ask first the provider that just served the manifest: it answered, while the
        // first in read order may be the one that did not (a black-holed provider would
        // otherwise cost a second hedge delay, on the first chunk).
        let mut order = self.read_order();
        order.retain(|&i| i != served_by);
        order.insert(0, served_by);
        let mut report = self.get_verified_from(key, &manifest, order, out).await?;
        // Providers that failed before the first chunk count as skipped too.
        let chunk_failures = std::mem::replace(&mut report.skipped, manifest_failures);
        for failure in chunk_failures.0 {
            report.skipped.add(&failure.provider, failure.reason);
        }
        Ok(report)
    }

    /// Streams the bytes `manifest` describes to `out`.
    pub(crate) async fn get_verified(
        &self,
        key: &Key,
        manifest: &Manifest,
        out: &mut (impl AsyncWrite + Unpin),
    ) -> Result<GetReport, StoreError> {
        self.get_verified_from(key, manifest, self.read_order(), out)
            .await
    }

    /// Streams the bytes `manifest` describes to `out`, asking only the providers in
    /// `order` (indices into the replicas), in that order.
    pub(crate) async fn get_verified_from(
        &self,
        key: &Key,
        manifest: &Manifest,
        order: Vec<usize>,
        out: &mut (impl AsyncWrite + Unpin),
    ) -> Result<GetReport, StoreError> {
        let mut skipped = Failures::default();
        let mut hedged = 0;
        let mut current = 0;
        let count = manifest.body.chunks.len();
        // Chunks read ahead of the one being written: enough to keep a remote provider's
        // next requests in flight while this chunk is verified and written, bounded in
        // bytes so a large chunk size does not multiply memory.
        let chunk_bytes = usize::try_from(manifest.body.chunk_size).unwrap_or(usize::MAX);
        let depth = (READ_AHEAD_BYTES / chunk_bytes.max(1)).clamp(1, MAX_READ_AHEAD);
        let fetch = |index: usize, start: usize, buf: Vec<u8>| {
            let order = &order;
            async move {
                let mut failed = Failures::default();
                let chunk = self
                    .fetch_chunk(key, manifest, index, order, start, buf, &mut failed)
                    .await;
                (chunk, failed)
            }
        };
        // Chunks in flight, in order, and those already verified but not yet written.
        let mut in_flight = FuturesOrdered::new();
        let mut ready = VecDeque::new();
        let mut spares: Vec<Vec<u8>> = Vec::new();
        let mut launched = 0;
        for _ in 0..count {
            while launched < count && in_flight.len() + ready.len() < depth {
                in_flight.push_back(fetch(launched, current, spares.pop().unwrap_or_default()));
                launched += 1;
            }
            let (fetched, failed) = match ready.pop_front() {
                Some(done) => done,
                None => in_flight
                    .next()
                    .await
                    .expect("the chunk being written was launched"),
            };
            for failure in failed.0 {
                skipped.add(&failure.provider, failure.reason);
            }
            let Some(chunk) = fetched else {
                return Err(StoreError::NoValidCopy {
                    key: key.to_string(),
                    failures: skipped,
                });
            };
            current = chunk.slot;
            hedged += u32::from(chunk.hedged);
            // Write this verified chunk while the chunks after it are read and verified:
            // reading, hashing and writing overlap instead of taking turns. Only verified
            // bytes are written; chunks verified meanwhile wait in `ready` for their turn.
            let mut write = std::pin::pin!(out.write_all(&chunk.data));
            loop {
                tokio::select! {
                    written = &mut write => {
                        written.map_err(StoreError::Output)?;
                        break;
                    }
                    Some(done) = in_flight.next(), if !in_flight.is_empty() => ready.push_back(done),
                }
            }
            spares.push(chunk.data);
        }
        out.flush().await.map_err(StoreError::Output)?;
        Ok(GetReport {
            key: key.to_string(),
            version: manifest.body.version,
            size: manifest.body.size,
            sha256: hex::encode(manifest.body.sha256),
            content_type: manifest.body.content_type.clone(),
            skipped,
            hedged,
        })
    }

    /// One verified chunk, asking providers in `order` from slot `start` on. While the
    /// provider asked last has not answered within its hedge delay, the next one is
    /// asked too; the first answer that verifies wins and the others are dropped (their
    /// driver calls finish on the blocking pool and are discarded).
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn fetch_chunk(
        &self,
        key: &Key,
        manifest: &Manifest,
        index: usize,
        order: &[usize],
        start: usize,
        buf: Vec<u8>,
        skipped: &mut Failures,
    ) -> Option<FetchedChunk> {
        let (offset, len) = manifest.chunk_range(index)?;
        let mut in_flight = FuturesUnordered::new();
        let mut launched = 0;
        let mut spare = Some(buf);
        let mut launch = |launched: &mut usize, in_flight: &mut FuturesUnordered<_>| {
            let slot = (start + *launched) % order.len();
            *launched += 1;
            let replica = &self.replicas[order[slot]];
            let read =
                replica.read_range(key, offset, len as usize, spare.take().unwrap_or_default());
            in_flight.push(async move { (slot, read.await) });
        };
        if order.is_empty() {
            return None;
        }
        launch(&mut launched, &mut in_flight);
        loop {
            let last = &self.replicas[order[(start + launched - 1) % order.len()]];
            let hedge = tokio::time::sleep(self.hedge_delay(last));
            tokio::select! {
                Some((slot, result)) = in_flight.next() => {
                    let replica = &self.replicas[order[slot]];
                    // Driver errors were already counted by the replica; bad bytes are
                    // only known here, and count against the provider too.
                    let answered = result.is_ok();
                    match judge(manifest, index, len, result) {
                        Ok(data) => {
                            replica.health_record().record_verified();
                            return Some(FetchedChunk { data, slot, hedged: launched > 1 && slot != start % order.len() });
                        }
                        Err(reason) => {
                            if answered {
                                replica.health_record().record_bad_answer(&reason);
                            }
                            tracing::warn!(provider = replica.name(), key = %key, chunk = index, %reason, "provider failed a chunk; trying the next");
                            skipped.add(replica.name(), reason);
                        }
                    }
                    if in_flight.is_empty() {
                        if launched == order.len() {
                            return None;
                        }
                        launch(&mut launched, &mut in_flight);
                    }
                }
                () = hedge, if launched < order.len() => {
                    tracing::debug!(provider = last.name(), key = %key, chunk = index, "slow provider; hedging with the next");
                    launch(&mut launched, &mut in_flight);
                }
            }
        }
    }
}

/// A verified chunk, the slot in the read order it came from, and whether a hedge won.
pub(crate) struct FetchedChunk {
    pub(crate) data: Vec<u8>,
    pub(crate) slot: usize,
    pub(crate) hedged: bool,
}

/// The chunk's bytes if they verify, else why not.
fn judge(
    manifest: &Manifest,
    index: usize,
    len: u64,
    result: DriverResult<Vec<u8>>,
) -> Result<Vec<u8>, String> {
    match result {
        Ok(data) if manifest.verify_chunk(index, &data) => Ok(data),
        Ok(data) if (data.len() as u64) < len => Err(format!(
            "chunk {index} short: {} of {len} bytes",
            data.len()
        )),
        Ok(_) => Err(format!("chunk {index} corrupt")),
        Err(e) => Err(format!("chunk {index}: {e}")),
    }
}
