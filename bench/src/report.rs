//! The results table, the machine it ran on, and `docs/benchmarks.md`.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::measure::{median_rss_mib, median_secs, Sample};
use crate::Bench;

/// One target of the table.
pub struct Row {
    /// `B1`, `B4 refusing`, ...
    pub id: String,
    /// What ran.
    pub workload: String,
    /// mirra's median figure, with its unit.
    pub mirra: String,
    /// The reference it is compared with.
    pub reference: String,
    /// The measured ratio (or figure) the target is about.
    pub measured: String,
    /// The target, as the issue states it.
    pub target: String,
    /// Whether the target holds.
    pub pass: bool,
}

/// One contender's runs.
pub struct Detail {
    /// Which row it belongs to.
    pub id: String,
    /// Who ran.
    pub contender: String,
    /// The command, as run (paths shortened).
    pub command: String,
    /// Median and per-run figures.
    pub figures: String,
}

impl Detail {
    /// A contender timed as a child process: median seconds, each run, median peak RSS.
    pub fn timed(id: &str, contender: &str, command: &str, samples: &[Sample]) -> Self {
        let runs: Vec<String> = samples.iter().map(|s| format!("{:.3}", s.secs)).collect();
        let rss = match samples.iter().any(|s| s.max_rss_kib > 0) {
            true => format!("; peak RSS {:.1} MiB", median_rss_mib(samples)),
            false => String::new(),
        };
        Self {
            id: id.into(),
            contender: contender.into(),
            command: command.into(),
            figures: format!(
                "median {:.3} s (runs: {}){rss}",
                median_secs(samples),
                runs.join(", ")
            ),
        }
    }
}

/// Facts about the machine, taken at the start.
pub struct Machine {
    facts: Vec<(&'static str, String)>,
}

impl Machine {
    /// Reads /proc, `findmnt`, `git` and the peers' versions.
    pub fn probe(work: &Path) -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let field = |name: &str| {
            cpuinfo
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split(':').nth(1))
                .map(|v| v.trim().to_owned())
                .unwrap_or_default()
        };
        let flags = field("flags");
        let sha = if flags.split(' ').any(|f| f == "sha_ni") {
            "SHA-NI"
        } else {
            "no SHA-NI"
        };
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0);
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let ram_kib: u64 = meminfo
            .lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let fs = output(
            Command::new("findmnt")
                .args(["-no", "FSTYPE,SOURCE,OPTIONS", "-T"])
                .arg(work),
        );
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
            .to_owned();
        let commit = output(Command::new("git").args(["rev-parse", "--short", "HEAD"]));
        let dirty =
            !output(Command::new("git").args(["status", "--porcelain", "--untracked-files=no"]))
                .is_empty();
        let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        let load: Vec<&str> = load.split_whitespace().take(3).collect();
        let facts = vec![
            ("CPU", format!("{} ({sha})", field("model name"))),
            ("cores", cores.to_string()),
            (
                "RAM",
                format!("{:.1} GiB", ram_kib as f64 / (1 << 20) as f64),
            ),
            ("file system", fs),
            ("kernel", kernel),
            (
                "date",
                output(Command::new("date").args(["-u", "+%Y-%m-%d %H:%M UTC"])),
            ),
            (
                "git commit",
                format!(
                    "{commit}{}",
                    if dirty {
                        " (+ uncommitted changes in the tree)"
                    } else {
                        ""
                    }
                ),
            ),
            ("load average at start", load.join(" ")),
            (
                "rclone",
                output(Command::new("rclone").arg("version"))
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_owned(),
            ),
            ("openssl", output(Command::new("openssl").arg("version"))),
        ];
        Self { facts }
    }
}

fn output(cmd: &mut Command) -> String {
    cmd.output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

/// The results as a Markdown table.
pub fn table(rows: &[Row]) -> String {
    let mut out = String::from("| id | workload | mirra | reference | measured | target | result |\n|---|---|---|---|---|---|---|\n");
    for r in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            r.id,
            r.workload,
            r.mirra,
            r.reference,
            r.measured,
            r.target,
            if r.pass { "PASS" } else { "MISS" }
        );
    }
    out
}

/// The whole of `docs/benchmarks.md`.
pub fn document(
    bench: &Bench,
    machine: &Machine,
    table: &str,
    elapsed: Duration,
    notes: &str,
) -> String {
    let mut doc = String::new();
    let mode = if bench.quick {
        "quick mode (`bench/run.sh --quick`: small inputs, 3 runs)"
    } else {
        "full mode (`bench/run.sh`)"
    };
    let _ = writeln!(doc, "# Benchmarks\n");
    let _ = writeln!(
        doc,
        "Written by `bench/run.sh` in {mode}; do not edit by hand (the notes at the end come from \
         `bench/notes.md`). Every figure is the median of {} paired, interleaved runs: each run \
         times every contender once, in an order that rotates from run to run, with `sync` \
         (untimed) before each one so no contender pays for another's write-back. Inputs are \
         pseudo-random, generated into a scratch directory on the file system under test and \
         deleted afterwards. Everything talks over 127.0.0.1. The whole run took {:.0} s.\n",
        bench.runs,
        elapsed.as_secs_f64()
    );
    let _ = writeln!(doc, "## Machine\n\n| | |\n|---|---|");
    for (name, value) in &machine.facts {
        let _ = writeln!(doc, "| {name} | {} |", value.replace('|', "\\|"));
    }
    let _ = writeln!(doc, "\n## Results\n\n{table}");
    let _ = writeln!(
        doc,
        "## Contenders\n\n| id | contender | command | figures |\n|---|---|---|---|"
    );
    for d in &bench.details {
        let _ = writeln!(
            doc,
            "| {} | {} | `{}` | {} |",
            d.id,
            d.contender,
            d.command.replace('|', "\\|"),
            d.figures
        );
    }
    if !notes.trim().is_empty() {
        let _ = writeln!(doc, "\n{}", notes.trim_end());
    }
    doc
}
