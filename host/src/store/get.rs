//! Reading one object: chunk by chunk, each verified before it is released, failing over
//! between providers at the same offset.

use mirra_driver_api::Key;
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
    /// Providers skipped along the way, and why.
    pub skipped: Failures,
}

impl Store {
    /// Writes the verified bytes of `key` to `out`, chunk by chunk.
    ///
    /// Nothing reaches `out` that did not match its chunk's signed hash. A provider that
    /// errors, returns short or returns corrupt bytes is skipped and the read continues
    /// at the same chunk on the next one.
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
        let (manifest, source) = self.resolve_manifest(key, options.latest).await?;
        self.get_verified(key, &manifest, source, out).await
    }

    /// Streams the bytes `manifest` describes, starting with provider `first`.
    pub(crate) async fn get_verified(
        &self,
        key: &Key,
        manifest: &Manifest,
        first: usize,
        out: &mut (impl AsyncWrite + Unpin),
    ) -> Result<GetReport, StoreError> {
        let order: Vec<usize> = std::iter::once(first)
            .chain((0..self.replicas.len()).filter(|&i| i != first))
            .collect();
        let mut skipped = Failures::default();
        let mut current = 0;
        let mut buf = Vec::new();
        for index in 0..manifest.body.chunks.len() {
            let (offset, len) = manifest
                .chunk_range(index)
                .expect("index below chunk count");
            // Start where the last chunk came from; a provider that failed one chunk may
            // still hold the next, so every provider stays a candidate for every chunk.
            let mut verified = None;
            for attempt in 0..order.len() {
                let slot = (current + attempt) % order.len();
                let replica = &self.replicas[order[slot]];
                match replica
                    .read_range(key, offset, len as usize, std::mem::take(&mut buf))
                    .await
                {
                    Ok(data) if manifest.verify_chunk(index, &data) => {
                        current = slot;
                        verified = Some(data);
                        break;
                    }
                    Ok(data) if (data.len() as u64) < len => {
                        skipped.add(
                            replica.name(),
                            format!("chunk {index} short: {} of {len} bytes", data.len()),
                        );
                    }
                    Ok(_) => skipped.add(replica.name(), format!("chunk {index} corrupt")),
                    Err(e) => skipped.add(replica.name(), format!("chunk {index}: {e}")),
                }
                tracing::warn!(provider = replica.name(), key = %key, chunk = index, "provider failed a chunk; trying the next");
            }
            let Some(chunk) = verified else {
                return Err(StoreError::NoValidCopy {
                    key: key.to_string(),
                    failures: skipped,
                });
            };
            out.write_all(&chunk).await.map_err(StoreError::Output)?;
            buf = chunk;
        }
        out.flush().await.map_err(StoreError::Output)?;
        Ok(GetReport {
            key: key.to_string(),
            version: manifest.body.version,
            size: manifest.body.size,
            sha256: hex::encode(manifest.body.sha256),
            content_type: manifest.body.content_type.clone(),
            skipped,
        })
    }
}
