//! `mirra sync DIR PREFIX`.

use std::path::PathBuf;

use clap::Args;

use super::context::Globals;
use super::tree::{run_upload, TreeFlags, UploadRequest};

/// Make PREFIX mirror DIR: send new and changed files only.
#[derive(Debug, Args)]
pub struct SyncCmd {
    /// The local directory.
    dir: PathBuf,
    /// The key prefix its files go under ("" for the top level).
    prefix: String,
    #[command(flatten)]
    flags: TreeFlags,
    /// Delete (with signed tombstones) keys under PREFIX that have no local file.
    #[arg(long)]
    delete: bool,
    /// Print what would be sent and deleted, and change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Content type for every file [default: guessed from each name].
    #[arg(long)]
    content_type: Option<String>,
    /// Print the summary (or with --dry-run the plan) as JSON.
    #[arg(long)]
    json: bool,
}

impl SyncCmd {
    /// Plans, then sends what differs; exits 1 if any file failed.
    pub async fn run(self, globals: &Globals) -> anyhow::Result<u8> {
        run_upload(
            globals,
            UploadRequest {
                dir: &self.dir,
                prefix: &self.prefix,
                flags: &self.flags,
                delete: self.delete,
                dry_run: self.dry_run,
                content_type: self.content_type,
                json: self.json,
            },
        )
        .await
    }
}
