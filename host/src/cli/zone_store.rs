//! What `lookup` and `serve --zonefile` share: read a zone file, take its key, and open
//! a read-only store over the providers its URI records name. The work is done by
//! [`crate::providers`], [`crate::loader`] and [`crate::store`]; this only joins them.

use anyhow::Context;
use secp256k1::PublicKey;

use super::zone_source::{read_zonefile, Origin};
use crate::config::default_state_dir;
use crate::identity::parse_public_key;
use crate::loader::{Loader, SearchPath};
use crate::provider_order::thread_draws;
use crate::providers::{open_zone_replicas, RecordReport};
use crate::replica::Replica;
use crate::store::Store;
use crate::zonefile::ZoneFile;

/// A zone file read and its providers opened.
pub(super) struct OpenedZone {
    /// The zone file as given: a path, `-` or a URL.
    pub source: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// Where they came from.
    pub origin: Origin,
    /// Whose signature reads verify: `--pubkey` or the zone file's key.
    pub signer: PublicKey,
    /// Each URI record, in the order they are tried.
    pub records: Vec<RecordReport>,
    replicas: Vec<Replica>,
}

/// Reads the zone file at `source` (a path, `-` or an http(s) URL) and opens its URI
/// records under the address policy of its origin (lifted by `allow_local_targets`),
/// verifying against `pubkey` or else the zone file's key.
pub(super) async fn open_zone(
    source: &str,
    pubkey: Option<&str>,
    allow_local_targets: bool,
) -> anyhow::Result<OpenedZone> {
    let fetched = read_zonefile(source).await?;
    let policy = fetched.origin.policy(allow_local_targets);
    let zone = ZoneFile::parse(&fetched.bytes).with_context(|| format!("zone file {source}"))?;
    let key_text = match pubkey {
        Some(hex) => hex.to_owned(),
        None => zone.public_key_text().with_context(|| {
            format!("zone file {source} has no `pubkey TXT \"pubkey:data:<hex>\"` record; pass --pubkey")
        })?,
    };
    let signer = parse_public_key(&key_text)?;
    let drivers = Loader::default().drivers_by_scheme(&SearchPath::standard(&[]));
    let opened = open_zone_replicas(&zone, &policy, &drivers, thread_draws());
    Ok(OpenedZone {
        source: source.to_owned(),
        bytes: fetched.bytes,
        origin: fetched.origin,
        signer,
        records: opened.records,
        replicas: opened.replicas,
    })
}

impl OpenedZone {
    /// A read-only store over the opened providers, with this host's record of
    /// versions seen.
    ///
    /// # Errors
    /// No record could be opened (naming why for each), or the local state cannot be.
    pub fn into_store(self) -> anyhow::Result<Store> {
        if self.replicas.is_empty() {
            let why: Vec<String> = self
                .records
                .iter()
                .map(|r| format!("{}: {}", r.name, r.reason.as_deref().unwrap_or("skipped")))
                .collect();
            anyhow::bail!(
                "no URI record in {} can be read ({})",
                self.source,
                if why.is_empty() {
                    "it has none".to_owned()
                } else {
                    why.join("; ")
                }
            );
        }
        Store::read_only(self.replicas, self.signer, &default_state_dir())
            .context("opening the local record of versions seen")
    }
}
