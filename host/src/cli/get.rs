//! `mirra get KEY [-o FILE|-]`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use indicatif::ProgressBar;
use tokio::io::AsyncWriteExt;

use super::progress::transfer_bar;

use super::context::Globals;
use super::tree::{run_download, TreeFlags};
use crate::store::{immutable_key, GetOptions, GetReport, Store};
use crate::user_key::parse_user_key;

/// Read an object from whichever provider answers, verified.
#[derive(Debug, Args)]
pub struct GetCmd {
    /// The key to read; with -r, the prefix whose keys to read ("" for all).
    #[arg(required_unless_present = "sha256")]
    key: Option<String>,
    /// With -r: the directory to write the keys into.
    #[arg(requires = "recursive")]
    dir: Option<PathBuf>,
    /// Write every key under the prefix KEY into DIR, each verified before its rename.
    #[arg(short, long, requires = "dir", conflicts_with_all = ["output", "sha256", "latest"])]
    recursive: bool,
    #[command(flatten)]
    tree: TreeFlags,
    /// Where to write it: a file (written whole, then renamed into place) or `-` for
    /// stdout [default: stdout].
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Ask every provider and take the newest valid version.
    #[arg(long)]
    latest: bool,
    /// Verify against this public key (hex) instead of the configured one.
    #[arg(long, value_name = "HEX")]
    pubkey: Option<String>,
    /// Read a content-addressed object by its SHA-256 instead of a key.
    #[arg(long, value_name = "HEX", conflicts_with = "key")]
    sha256: Option<String>,
    /// Print a JSON report on stderr (stdout may hold the object).
    #[arg(long)]
    json: bool,
}

impl GetCmd {
    /// Reads the object and writes only verified bytes.
    pub async fn run(self, globals: &Globals) -> anyhow::Result<u8> {
        if let (true, Some(prefix), Some(dir)) = (self.recursive, &self.key, &self.dir) {
            anyhow::ensure!(
                !self.tree.follow_links && !self.tree.checksum,
                "get -r takes --transfers only"
            );
            return run_download(globals, prefix, dir, &self.tree, self.json).await;
        }
        anyhow::ensure!(!self.tree.any(), "--transfers applies only with -r");
        let key = match (&self.key, &self.sha256) {
            (_, Some(hex)) => immutable_key(hex)?,
            (Some(key), None) => parse_user_key(key)?,
            (None, None) => unreachable!("clap requires KEY or --sha256"),
        };
        let store = globals.open_store(self.pubkey.as_deref())?;
        let options = GetOptions {
            latest: self.latest,
        };
        let bar = transfer_bar(globals, None, &format!("get {key}"));
        let report = match self.output.as_deref() {
            Some(path) if path.as_os_str() != "-" => {
                get_to_file(&store, &key, options, path, &bar).await?
            }
            _ => {
                let mut stdout = bar.wrap_async_write(tokio::io::stdout());
                store.get(&key, options, &mut stdout).await?
            }
        };
        bar.finish_and_clear();
        if let Some(hex) = &self.sha256 {
            anyhow::ensure!(
                &report.sha256 == hex,
                "the object's manifest says sha256 {}, not {hex}",
                report.sha256
            );
        }
        if self.json {
            eprintln!("{}", serde_json::to_string_pretty(&report)?);
        } else if !report.skipped.0.is_empty() {
            tracing::warn!("verified copy read; skipped {}", report.skipped);
        }
        Ok(super::EXIT_OK)
    }
}

/// Writes to a temporary file beside `path` and renames it into place only once every
/// byte verified, so `path` never holds a partial or unverified object.
pub(super) async fn get_to_file(
    store: &Store,
    key: &mirra_driver_api::Key,
    options: GetOptions,
    path: &Path,
    bar: &ProgressBar,
) -> anyhow::Result<GetReport> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let temp = tempfile::Builder::new()
        .prefix(".mirra-get-")
        .tempfile_in(&dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    let (file, temp_path) = temp.into_parts();
    let file = tokio::fs::File::from_std(file);
    // A second handle on the same file, to fsync it after the buffered writer is done.
    let to_sync = file.try_clone().await?;
    let mut out = bar.wrap_async_write(tokio::io::BufWriter::with_capacity(1 << 20, file));
    let report = store.get(key, options, &mut out).await?;
    out.flush().await?;
    to_sync.sync_all().await?;
    temp_path
        .persist(path)
        .with_context(|| format!("renaming into {}", path.display()))?;
    Ok(report)
}
