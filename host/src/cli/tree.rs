//! What `put -r`, `get -r` and `sync` share: flags, the progress display, the summary.

use crate::printable::escape_controls;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::context::Globals;
use super::output::{human_size, print_json};
use crate::tree::{
    default_transfers, download_tree, execute_upload, plan_upload, Compare, DownloadOptions,
    Progress, TreePrefix, TreeSummary, UploadOptions, UploadPlan,
};

/// Flags for commands that move whole trees.
#[derive(Debug, Args, Default)]
pub struct TreeFlags {
    /// Files in flight at once [default: 4 per core, at most 16]. Small files to
    /// local-disk providers go in batches, up to 128 at once, whatever this says.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub transfers: Option<u16>,
    /// Follow symbolic links (otherwise they are skipped with a warning).
    #[arg(long)]
    pub follow_links: bool,
    /// Compare files by SHA-256 instead of size and modification time (reads every file
    /// whose size matches).
    #[arg(long)]
    pub checksum: bool,
}

impl TreeFlags {
    /// Whether any flag was given (they only apply with `-r`).
    pub fn any(&self) -> bool {
        self.transfers.is_some() || self.follow_links || self.checksum
    }

    fn transfers(&self) -> usize {
        self.transfers.map_or_else(default_transfers, usize::from)
    }

    fn upload_options(&self, delete: bool, content_type: Option<String>) -> UploadOptions {
        UploadOptions {
            transfers: self.transfers(),
            follow_links: self.follow_links,
            compare: if self.checksum {
                Compare::Checksum
            } else {
                Compare::SizeAndTime
            },
            delete,
            content_type,
        }
    }
}

/// One upload run as the CLI asked for it.
pub struct UploadRequest<'a> {
    /// The local directory.
    pub dir: &'a Path,
    /// The key prefix.
    pub prefix: &'a str,
    /// Tree flags.
    pub flags: &'a TreeFlags,
    /// `sync --delete`.
    pub delete: bool,
    /// `sync --dry-run`.
    pub dry_run: bool,
    /// `--content-type` for every file.
    pub content_type: Option<String>,
    /// `--json`.
    pub json: bool,
}

/// `put -r` and `sync`: plan, show or run the plan, print the summary.
pub async fn run_upload(globals: &Globals, request: UploadRequest<'_>) -> anyhow::Result<u8> {
    let prefix = TreePrefix::parse(request.prefix)?;
    let options = request
        .flags
        .upload_options(request.delete, request.content_type);
    let store = globals.open_store(None)?;
    let plan = plan_upload(&store, request.dir, &prefix, &options).await?;
    warn_skipped(&plan);
    if request.dry_run {
        print_plan(&plan, request.json)?;
        return Ok(super::EXIT_OK);
    }
    let progress = Bar::new(globals, plan.uploads.len(), plan.upload_bytes());
    let summary = execute_upload(&store, plan, &options, &progress).await;
    progress.finish();
    report(globals, &summary, request.json, "sent")
}

/// `get -r PREFIX DIR`.
pub async fn run_download(
    globals: &Globals,
    prefix: &str,
    dir: &Path,
    flags: &TreeFlags,
    json: bool,
) -> anyhow::Result<u8> {
    let prefix = TreePrefix::parse(prefix)?;
    let store = globals.open_store(None)?;
    // The total is set once the listing is done.
    let progress = Bar::new(globals, 0, 0);
    let summary = download_tree(
        &store,
        &prefix,
        dir,
        &DownloadOptions {
            transfers: flags.transfers(),
        },
        &progress,
    )
    .await?;
    progress.finish();
    report(globals, &summary, json, "received")
}

fn warn_skipped(plan: &UploadPlan) {
    for entry in &plan.skipped {
        tracing::warn!("skipped {}: {}", entry.path, entry.reason);
    }
    for entry in &plan.unreadable {
        tracing::warn!("cannot read {}: {}", entry.path, entry.reason);
    }
    if plan.deletes_withheld {
        tracing::warn!("some local entries could not be read, so nothing is deleted this run");
    }
}

#[derive(serde::Serialize)]
struct PlannedSend<'a> {
    key: &'a str,
    path: String,
    size: u64,
    reason: crate::tree::UploadReason,
}

#[derive(serde::Serialize)]
struct PlanView<'a> {
    dry_run: bool,
    send: Vec<PlannedSend<'a>>,
    delete: Vec<&'a str>,
    unchanged: usize,
    deletes_withheld: bool,
    skipped: &'a [crate::tree::SkippedEntry],
    unreadable: &'a [crate::tree::SkippedEntry],
}

fn print_plan(plan: &UploadPlan, json: bool) -> anyhow::Result<()> {
    let view = PlanView {
        dry_run: true,
        send: plan
            .uploads
            .iter()
            .map(|u| PlannedSend {
                key: u.key.as_str(),
                path: u.file.path.display().to_string(),
                size: u.file.size,
                reason: u.reason,
            })
            .collect(),
        delete: plan.deletes.iter().map(|k| k.as_str()).collect(),
        unchanged: plan.unchanged,
        deletes_withheld: plan.deletes_withheld,
        skipped: &plan.skipped,
        unreadable: &plan.unreadable,
    };
    if json {
        return print_json(&view);
    }
    for send in &view.send {
        let reason = serde_json::to_value(send.reason)?;
        println!(
            "would send   {}  ({}, {})",
            send.key,
            reason.as_str().unwrap_or_default(),
            human_size(send.size)
        );
    }
    for key in &view.delete {
        println!("would delete {key}");
    }
    println!(
        "dry run: {} to send ({}), {} to delete, {} unchanged, {} skipped",
        view.send.len(),
        human_size(plan.upload_bytes()),
        view.delete.len(),
        view.unchanged,
        view.skipped.len()
    );
    Ok(())
}

fn report(globals: &Globals, summary: &TreeSummary, json: bool, verb: &str) -> anyhow::Result<u8> {
    if json {
        print_json(summary)?;
    } else {
        for failure in &summary.failed {
            eprintln!(
                "mirra: failed {}: {}",
                failure.key,
                escape_controls(&failure.error.to_string())
            );
        }
        if !globals.quiet() {
            print_summary(summary, verb);
        }
    }
    Ok(if summary.complete() {
        super::EXIT_OK
    } else {
        super::EXIT_FAILED
    })
}

fn print_summary(summary: &TreeSummary, verb: &str) {
    let mut line = format!(
        "{verb} {} files ({}), {} unchanged",
        summary.sent,
        human_size(summary.sent_bytes),
        summary.unchanged
    );
    if summary.deleted > 0 {
        line.push_str(&format!(", {} deleted", summary.deleted));
    }
    line.push_str(&format!(
        ", {} failed, {} skipped",
        summary.failed.len(),
        summary.skipped.len()
    ));
    if !summary.unreadable.is_empty() {
        line.push_str(&format!(", {} unreadable", summary.unreadable.len()));
    }
    println!(
        "{line} in {:.1}s ({:.0} files/s)",
        summary.seconds,
        summary.files_per_second()
    );
    let width = summary
        .providers
        .iter()
        .map(|p| p.provider.len())
        .max()
        .unwrap_or(0);
    // For uploads a provider's count is what it committed; for downloads, what it served.
    let done = if verb == "sent" { "ok" } else { "served" };
    for tally in &summary.providers {
        match &tally.first_error {
            None => println!("  {:width$}  {} {done}", tally.provider, tally.ok),
            Some(why) => println!(
                "  {:width$}  {} {done}, {} failed (first: {})",
                tally.provider,
                tally.ok,
                tally.failed,
                escape_controls(why)
            ),
        }
    }
    if summary.providers.iter().any(|p| p.failed > 0) && verb == "sent" {
        println!("providers that missed a file are recorded; `mirra repair` completes them");
    }
}

/// The one progress display for a whole tree, drawn on stderr only when stdout is a
/// terminal and `-q` was not given.
struct Bar {
    bar: ProgressBar,
    done: AtomicUsize,
    files: AtomicUsize,
}

impl Bar {
    fn new(globals: &Globals, files: usize, bytes: u64) -> Self {
        let bar = ProgressBar::with_draw_target(Some(bytes), super::progress::draw_target(globals));
        bar.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] [{wide_bar}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta} {msg}")
                .expect("the template is valid")
                .progress_chars("=> "),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        let this = Self {
            bar,
            done: AtomicUsize::new(0),
            files: AtomicUsize::new(files),
        };
        this.show_files(0);
        this
    }

    fn show_files(&self, done: usize) {
        self.bar.set_message(format!(
            "{done}/{} files",
            self.files.load(Ordering::Relaxed)
        ));
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Progress for Bar {
    fn set_total(&self, files: usize, bytes: u64) {
        self.files.store(files, Ordering::Relaxed);
        self.bar.set_length(bytes);
        self.show_files(self.done.load(Ordering::Relaxed));
    }

    fn add_bytes(&self, bytes: u64) {
        self.bar.inc(bytes);
    }

    fn file_done(&self, _ok: bool) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        self.show_files(done);
    }
}
