//! Progress bars: bytes, rate and ETA on stderr, only on a terminal, never with `-q`,
//! and only for transfers that last over a second.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::context::Globals;

/// Transfers quicker than this never draw a bar.
const SHOW_AFTER: Duration = Duration::from_secs(1);

/// Where bars may draw: stderr when stdout is a terminal and `-q` was not given.
pub fn draw_target(globals: &Globals) -> ProgressDrawTarget {
    if globals.quiet() || !std::io::stdout().is_terminal() || !std::io::stderr().is_terminal() {
        ProgressDrawTarget::hidden()
    } else {
        ProgressDrawTarget::stderr()
    }
}

/// A byte-counting bar of `total` bytes (unknown: `None`), hidden until a second has
/// passed, then drawn where [`draw_target`] allows.
pub fn transfer_bar(globals: &Globals, total: Option<u64>, label: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::hidden());
    let template = if total.is_some() {
        "{msg} [{elapsed_precise}] [{wide_bar}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}"
    } else {
        "{msg} [{elapsed_precise}] {bytes} {binary_bytes_per_sec}"
    };
    bar.set_style(
        ProgressStyle::with_template(template)
            .expect("the template is valid")
            .progress_chars("=> "),
    );
    bar.set_message(label.to_owned());
    let target = draw_target(globals);
    if !target.is_hidden() {
        let delayed = bar.clone();
        tokio::spawn(async move {
            tokio::time::sleep(SHOW_AFTER).await;
            if !delayed.is_finished() {
                delayed.set_draw_target(ProgressDrawTarget::stderr());
                delayed.enable_steady_tick(Duration::from_millis(200));
            }
        });
    }
    bar
}
