//! Reading one object: chunk by chunk, each verified before it is released, failing over
//! between providers at the same offset, and hedging a slow provider with the next one.

use futures::stream::{FuturesUnordered, StreamExt};
use mirra_driver_api::{DriverResult, Key};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::{Failures, Store, StoreError};
use crate::manifest::Manifest;

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
    /// Providers that failed a chunk along the way, and why.
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
        let (manifest, _) = self.resolve_manifest(key, options.latest).await?;
        self.get_verified(key, &manifest, out).await
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
        let mut spare = Vec::new();
        for index in 0..manifest.body.chunks.len() {
            let fetched = self
                .fetch_chunk(
                    key,
                    manifest,
                    index,
                    &order,
                    current,
                    std::mem::take(&mut spare),
                    &mut skipped,
                )
                .await;
            let Some(chunk) = fetched else {
                return Err(StoreError::NoValidCopy {
                    key: key.to_string(),
                    failures: skipped,
                });
            };
            current = chunk.slot;
            hedged += u32::from(chunk.hedged);
            out.write_all(&chunk.data)
                .await
                .map_err(StoreError::Output)?;
            spare = chunk.data;
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
                        Ok(data) => return Some(FetchedChunk { data, slot, hedged: launched > 1 && slot != start % order.len() }),
                        Err(reason) => {
                            if answered {
                                replica.health_record().record_failure(&reason);
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
