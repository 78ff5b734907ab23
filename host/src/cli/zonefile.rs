//! `mirra zonefile [--origin NAME] [-o FILE]`: the zone file readers need, from the
//! config; `mirra zonefile check FILE|-` is in `zonefile_check.rs`.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};
use mirra_driver_api::Key;

use super::context::Globals;
use super::zonefile_check::ZonefileCheckCmd;
use crate::replica::Replica;
use crate::store::Store;
use crate::zonefile::{quote_string, uri_owner_for_scheme, ZoneFile};

/// A key no object needs to have: its public URL, minus the key, is the provider's base.
const PROBE_KEY: &str = "mirra-zonefile-probe";

/// Write a zone file: the owner's public key and a URI record per provider with a
/// public URL, with the priority and weight from the config; or check one.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ZonefileCmd {
    #[command(subcommand)]
    check: Option<ZonefileSubcommand>,
    /// The zone's name, written as `$ORIGIN` (e.g. `alice.id`) [default: none, record
    /// names stay relative as in Blockstack's files].
    #[arg(long, value_name = "NAME")]
    origin: Option<String>,
    /// The `$TTL`, in seconds.
    #[arg(long, default_value_t = 3600, value_name = "SECONDS")]
    ttl: u32,
    /// Write to FILE (replaced whole) instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum ZonefileSubcommand {
    /// Parse a zone file and list its records in the order readers try them, with the
    /// driver each scheme maps to; no network.
    Check(ZonefileCheckCmd),
}

impl ZonefileCmd {
    /// Opens every provider, asks each for its public URL and writes the zone file.
    pub async fn run(self, globals: &Globals) -> anyhow::Result<u8> {
        if let Some(ZonefileSubcommand::Check(check)) = self.check {
            return check.run().await;
        }
        let store = globals.open_store(None)?;
        let text = zone_text(&store, self.origin.as_deref(), self.ttl).await?;
        match self.output.as_deref() {
            Some(path) if path.as_os_str() != "-" => write_file(path, text.as_bytes())?,
            _ => print!("{text}"),
        }
        Ok(super::EXIT_OK)
    }
}

/// The zone file for `store`: its signer's key and a URI record per provider with a
/// public URL, in canonical layout. Also served by `mirra serve`.
pub(super) async fn zone_text(
    store: &Store,
    origin: Option<&str>,
    ttl: u32,
) -> anyhow::Result<String> {
    let mut text = String::new();
    if let Some(origin) = origin {
        text.push_str(&format!("$ORIGIN {origin}\n"));
    }
    text.push_str(&format!("$TTL {ttl}\n"));
    let key = hex::encode(store.signer().serialize());
    text.push_str(&format!("pubkey TXT \"pubkey:data:{key}\"\n"));
    let mut providers = 0;
    for replica in store.replicas() {
        let Some(base) = base_url(replica).await else {
            continue;
        };
        let scheme = base.split(':').next().unwrap_or_default();
        let settings = replica.settings();
        text.push_str(&format!(
            "{} URI {} {} {}\n",
            uri_owner_for_scheme(scheme),
            settings.priority,
            settings.weight,
            quote_string(base.as_bytes())
        ));
        providers += 1;
    }
    if providers == 0 {
        tracing::warn!("no provider has a public URL: readers of this zone file can find no copy");
    }
    // Going through the parser checks --origin and gives the canonical layout.
    let zone = ZoneFile::parse_with_limit(text.as_bytes(), usize::MAX)
        .context("invalid --origin or --ttl")?;
    Ok(zone.to_text())
}

/// The URL `replica` serves its objects under, or `None` (with a warning) when the
/// driver has none or gives a URL that does not end in the key.
async fn base_url(replica: &Replica) -> Option<String> {
    let probe = Key::parse(PROBE_KEY).expect("the probe key is valid");
    match replica.public_url(&probe).await {
        Ok(url) => match url.strip_suffix(PROBE_KEY) {
            Some(base) => Some(base.to_owned()),
            None => {
                tracing::warn!(
                    "provider {}: its public URL {url:?} does not end in the key; left out",
                    replica.name()
                );
                None
            }
        },
        Err(e) => {
            tracing::warn!("provider {}: no public URL ({e}); left out", replica.name());
            None
        }
    }
}

/// Writes `data` to a temporary file beside `path`, then renames it into place.
fn write_file(path: &Path, data: &[u8]) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut temp = tempfile::Builder::new()
        .prefix(".mirra-zonefile-")
        .tempfile_in(&dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    temp.write_all(data)?;
    // A zone file is published: readable by all, like any file a user writes.
    temp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o644))?;
    temp.as_file().sync_all()?;
    temp.persist(path)
        .with_context(|| format!("renaming into {}", path.display()))?;
    Ok(())
}
