//! Timing child processes (wall time and peak RSS), interleaving contenders, statistics.

use std::fs::File;
use std::io;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

/// One timed run of one contender.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    /// Wall-clock seconds.
    pub secs: f64,
    /// Peak resident set of the process, KiB (0 when not measured).
    pub max_rss_kib: u64,
}

/// Runs `cmd` to completion and returns its wall time and peak RSS, read from the
/// child's own `rusage` through `wait4` (so concurrent children of the bench do not mix).
///
/// Stdout goes to `stdout` (or /dev/null); stderr to `log`, shown when the command fails.
pub fn run_timed(cmd: &mut Command, stdout: Option<&Path>, log: &Path) -> io::Result<Sample> {
    let out = match stdout {
        Some(path) => File::create(path)?,
        None => File::create("/dev/null")?,
    };
    let err = File::create(log)?;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err));
    let started = Instant::now();
    let child = cmd
        .spawn()
        .map_err(|e| io::Error::new(e.kind(), format!("{cmd:?}: {e}")))?;
    let pid = libc::pid_t::try_from(child.id()).map_err(io::Error::other)?;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to overwrite.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our own unreaped child; status and usage point to live locals.
    // std's Child is never waited on afterwards, so there is no double reap.
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let secs = started.elapsed().as_secs_f64();
    drop(child);
    if reaped != pid {
        return Err(io::Error::last_os_error());
    }
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        let stderr = std::fs::read_to_string(log).unwrap_or_default();
        let tail: String = stderr
            .lines()
            .rev()
            .take(15)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n");
        return Err(io::Error::other(format!(
            "{cmd:?} failed (wait status {status}):\n{tail}"
        )));
    }
    let max_rss_kib = u64::try_from(usage.ru_maxrss).unwrap_or(0);
    Ok(Sample { secs, max_rss_kib })
}

/// Flushes dirty pages so one contender's write-back does not land in the next one's time.
pub fn settle_disk() {
    // SAFETY: sync(2) takes no arguments and cannot fail.
    unsafe { libc::sync() };
}

/// Runs each of `contenders` `runs` times, paired and interleaved: every run times each
/// contender once, and the order rotates from run to run so none always goes first
/// (warm caches, write-back of the previous contender). `run(i)` runs contender `i` once
/// and returns its sample; it does its own untimed preparation.
pub fn interleaved(
    runs: usize,
    contenders: usize,
    mut run: impl FnMut(usize) -> io::Result<Sample>,
) -> io::Result<Vec<Vec<Sample>>> {
    let mut samples = vec![Vec::with_capacity(runs); contenders];
    for r in 0..runs {
        for k in 0..contenders {
            let i = (r + k) % contenders;
            samples[i].push(run(i)?);
        }
    }
    Ok(samples)
}

/// The median of `values` (mean of the middle two for an even count); 0 when empty.
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// The `p`-th percentile (0..=100) of `values`, nearest rank; 0 when empty.
pub fn percentile(values: &[f64], p: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Median seconds of `samples`.
pub fn median_secs(samples: &[Sample]) -> f64 {
    median(&samples.iter().map(|s| s.secs).collect::<Vec<_>>())
}

/// Largest peak RSS of `samples`, MiB.
pub fn max_rss_mib(samples: &[Sample]) -> f64 {
    samples.iter().map(|s| s.max_rss_kib).max().unwrap_or(0) as f64 / 1024.0
}

/// Median peak RSS of `samples`, MiB.
pub fn median_rss_mib(samples: &[Sample]) -> f64 {
    median(
        &samples
            .iter()
            .map(|s| s.max_rss_kib as f64 / 1024.0)
            .collect::<Vec<_>>(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_percentiles() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&[]), 0.0);
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&values, 50.0), 50.0);
        assert_eq!(percentile(&values, 99.0), 99.0);
        assert_eq!(percentile(&values, 100.0), 100.0);
    }

    #[test]
    fn interleaving_rotates_the_order() {
        let mut order = Vec::new();
        let samples = interleaved(3, 3, |i| {
            order.push(i);
            Ok(Sample {
                secs: i as f64,
                max_rss_kib: 0,
            })
        })
        .unwrap();
        assert_eq!(order, vec![0, 1, 2, 1, 2, 0, 2, 0, 1]);
        assert!(samples.iter().all(|s| s.len() == 3));
    }

    #[test]
    fn a_child_is_timed_and_its_rss_read() {
        let dir = std::env::temp_dir();
        let log = dir.join(format!("mirra-bench-test-{}.log", std::process::id()));
        let sample = run_timed(&mut Command::new("true"), None, &log).unwrap();
        assert!(sample.max_rss_kib > 0);
        assert!(run_timed(&mut Command::new("false"), None, &log).is_err());
        let _ = std::fs::remove_file(log);
    }
}
