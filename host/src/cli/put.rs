//! `mirra put FILE [KEY]`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use super::condition::{exit_status, ConditionFlags};
use super::context::Globals;
use super::output::{print_json, print_write_report};
use super::progress::transfer_bar;
use super::tree::{run_upload, TreeFlags, UploadRequest};
use crate::store::{immutable_key, PutOptions};
use crate::tree::unix_nanos;
use crate::user_key::parse_user_key;

/// Mirror a file (or stdin, or with -r a directory) to every provider.
#[derive(Debug, Args)]
pub struct PutCmd {
    /// The file to store; `-` reads stdin; with -r, a directory.
    file: PathBuf,
    /// The key to store it under [default: the file's name]; with -r, the prefix the
    /// directory's files go under [default: none, the top level].
    key: Option<String>,
    /// Store every regular file under the directory, skipping files whose newest
    /// manifest already matches (so an interrupted run resumes).
    #[arg(short, long, conflicts_with = "immutable")]
    recursive: bool,
    #[command(flatten)]
    tree: TreeFlags,
    #[command(flatten)]
    condition: ConditionFlags,
    /// Store it content-addressed: the key is its SHA-256, printed on success.
    #[arg(long, conflicts_with = "key")]
    immutable: bool,
    /// Content type recorded in the manifest [default: guessed from the name].
    #[arg(long)]
    content_type: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

impl PutCmd {
    /// Streams the input to every provider and reports each one's outcome.
    pub async fn run(self, globals: &Globals) -> anyhow::Result<u8> {
        anyhow::ensure!(
            !(self.condition.any() && (self.recursive || self.immutable)),
            "--if-match and --if-none-match apply to one key, not with -r or --immutable"
        );
        let condition = self.condition.condition()?;
        if self.recursive {
            let request = UploadRequest {
                dir: &self.file,
                prefix: self.key.as_deref().unwrap_or(""),
                flags: &self.tree,
                delete: false,
                dry_run: false,
                content_type: self.content_type.clone(),
                json: self.json,
            };
            return run_upload(globals, request).await;
        }
        anyhow::ensure!(
            !self.tree.any(),
            "--transfers, --follow-links and --checksum apply only with -r"
        );
        let stdin = self.file.as_os_str() == "-";
        let key = match (&self.key, self.immutable) {
            (_, true) => None,
            (Some(key), false) => Some(parse_user_key(key)?),
            (None, false) if stdin => anyhow::bail!("reading stdin needs a KEY: mirra put - KEY"),
            (None, false) => {
                let name = self
                    .file
                    .file_name()
                    .and_then(|n| n.to_str())
                    .context("the file name is not UTF-8; give a KEY")?;
                Some(parse_user_key(name)?)
            }
        };
        let content_type = self.content_type.clone().unwrap_or_else(|| {
            let name = key
                .as_ref()
                .map(|k| k.to_string())
                .unwrap_or_else(|| self.file.display().to_string());
            mime_guess::from_path(name)
                .first_or_octet_stream()
                .to_string()
        });
        let store = globals.open_store(None)?;
        let size = (!stdin)
            .then(|| std::fs::metadata(&self.file).map(|m| m.len()).ok())
            .flatten();
        let bar = transfer_bar(globals, size, &format!("put {}", self.file.display()));
        let report = match key {
            Some(key) => {
                let input = bar.wrap_async_read(open_input(&self.file).await?);
                // A file's time is recorded so a later `sync` sees it unchanged.
                let mtime_ns = match stdin {
                    true => None,
                    false => std::fs::metadata(&self.file)
                        .ok()
                        .and_then(|m| m.modified().ok())
                        .and_then(unix_nanos),
                };
                store
                    .put_with(
                        &key,
                        input,
                        &PutOptions {
                            content_type,
                            mtime_ns,
                            condition,
                            ..PutOptions::default()
                        },
                    )
                    .await?
            }
            None => {
                // The address is the content's hash, needed before the first byte is sent:
                // hash a file in a first pass, or spool stdin to a temporary file.
                let (path, _spool) = if stdin {
                    spool_stdin().await?
                } else {
                    (self.file.clone(), None)
                };
                let hex = hash_file(&path).await?;
                let input = bar.wrap_async_read(open_input(&path).await?);
                store
                    .put(&immutable_key(&hex)?, input, &content_type)
                    .await?
            }
        };
        bar.finish_and_clear();
        if self.json {
            print_json(&report)?;
        } else if !globals.quiet() {
            print_write_report("put", &report);
        }
        Ok(exit_status(&report))
    }
}

async fn open_input(path: &Path) -> anyhow::Result<Box<dyn AsyncRead + Unpin + Send>> {
    if path.as_os_str() == "-" {
        return Ok(Box::new(tokio::io::stdin()));
    }
    let file = tokio::fs::File::open(path)
        .await
        .with_context(|| format!("opening {}", path.display()))?;
    Ok(Box::new(tokio::io::BufReader::with_capacity(1 << 20, file)))
}

async fn hash_file(path: &Path) -> anyhow::Result<String> {
    let mut file = tokio::fs::File::open(path)
        .await
        .with_context(|| format!("opening {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).await?;
        if n == 0 {
            return Ok(hex::encode(hasher.finalize()));
        }
        hasher.update(&buf[..n]);
    }
}

async fn spool_stdin() -> anyhow::Result<(PathBuf, Option<tempfile::TempPath>)> {
    let spool = tempfile::NamedTempFile::new().context("creating a spool file for stdin")?;
    let (file, path) = spool.into_parts();
    let mut out = tokio::fs::File::from_std(file);
    tokio::io::copy(&mut tokio::io::stdin(), &mut out)
        .await
        .context("reading stdin")?;
    out.flush().await?;
    Ok((path.to_path_buf(), Some(path)))
}
