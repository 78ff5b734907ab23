//! mirra's benchmarks (issue #8): mirra against the hardware's own limit (`cp`, `cat`,
//! `openssl dgst -sha256`) and against `rclone`, paired and interleaved, as ratios.
//!
//! B8 and B9 (issue 18) put `mirra serve` against nginx under `wrk` and under 16 PUT
//! clients.
//!
//! `bench/run.sh` builds everything and calls this binary; it writes the table to stdout
//! and rewrites `docs/benchmarks.md`. The CLI-shaped rows (B1–B3, B6, B7) run the real
//! `mirra` binary as a user would; B4 and B5 need the library (a store with a dead first
//! provider; a driver loaded from its `.so` beside the same driver linked in).

mod ffi;
mod gateway;
mod latency;
mod measure;
mod report;
mod s3;
mod workloads;

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use report::{Detail, Row};

const MIB: u64 = 1 << 20;
/// GNU time, for peak RSS.
const TIME: &str = "/usr/bin/time";

/// Everything the workloads share: where things are, how hard to push, what was found.
pub struct Bench {
    /// Smaller inputs and fewer runs.
    pub quick: bool,
    /// Paired runs per workload.
    pub runs: usize,
    /// The release `mirra` binary.
    pub mirra: PathBuf,
    /// Where the driver `.so` files are.
    pub drivers: PathBuf,
    /// Scratch space on the file system under test; emptied at the end.
    pub work: PathBuf,
    /// The owner's key every config uses.
    pub key_file: PathBuf,
    /// One row per target.
    pub rows: Vec<Row>,
    /// One entry per contender.
    pub details: Vec<Detail>,
    /// Median peak RSS of `mirra put` in B1, MiB (B6 compares against it).
    pub put_rss_small: f64,
    /// Median peak RSS of `mirra get` in B2, MiB.
    pub get_rss_small: f64,
    log: PathBuf,
}

impl Bench {
    /// `mirra --config CONFIG -q` with a private HOME/XDG tree and the drivers found.
    pub fn mirra_cmd(&self, config: &Path) -> Command {
        let home = self.work.join("home");
        // Peak RSS comes from /usr/bin/time, not from this process's wait4: a child
        // spawned from here starts with this (large) process's high-water mark, which
        // exec keeps in ru_maxrss; /usr/bin/time's own is a few hundred KiB.
        let mut cmd = Command::new(TIME);
        cmd.args(["-f", "%M", "-o"])
            .arg(self.work.join("rss.txt"))
            .arg(&self.mirra);
        cmd.env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .env("XDG_STATE_HOME", home.join(".local/state"))
            .env("XDG_CACHE_HOME", home.join(".cache"))
            .env("MIRRA_DRIVER_PATH", &self.drivers)
            .env_remove("RUST_LOG")
            .arg("--config")
            .arg(config)
            .arg("-q");
        cmd
    }

    /// `rclone --config <ours> -q`.
    pub fn rclone_cmd(&self) -> Command {
        let mut cmd = Command::new("rclone");
        // The AWS SDK inside rclone refuses to start when AWS_CA_BUNDLE names a bundle
        // its plain-http transport cannot use; the server is http on 127.0.0.1 anyway.
        cmd.env_remove("AWS_CA_BUNDLE")
            .arg("--config")
            .arg(self.work.join("rclone.conf"))
            .arg("-q");
        cmd
    }

    /// Flushes dirty pages, then times `cmd` (stdout to `stdout` or /dev/null).
    pub fn time(&self, cmd: &mut Command, stdout: Option<&Path>) -> io::Result<measure::Sample> {
        measure::settle_disk();
        let mut sample = measure::run_timed(cmd, stdout, &self.log)?;
        sample.max_rss_kib = match cmd.get_program() == TIME {
            true => std::fs::read_to_string(self.work.join("rss.txt"))
                .ok()
                .and_then(|text| text.lines().last().and_then(|l| l.trim().parse().ok()))
                .unwrap_or(0),
            false => 0,
        };
        Ok(sample)
    }

    /// Runs `cmd` untimed, failing on a non-zero exit.
    pub fn run(&self, cmd: &mut Command) -> io::Result<()> {
        measure::run_timed(cmd, None, &self.log).map(drop)
    }

    /// Writes a config with one disk provider per root and returns its path.
    pub fn disk_config(&self, name: &str, roots: &[PathBuf]) -> io::Result<PathBuf> {
        let providers: String = roots
            .iter()
            .enumerate()
            .map(|(i, root)| {
                format!(
                    "[[provider]]\nname = \"disk-{i}\"\ndriver = \"disk\"\n[provider.config]\nroot = {}\n\n",
                    toml_str(root)
                )
            })
            .collect();
        self.write_config(name, "majority", &providers)
    }

    /// Writes a config with `quorum` and the given `[[provider]]` text.
    pub fn write_config(&self, name: &str, quorum: &str, providers: &str) -> io::Result<PathBuf> {
        let text = format!(
            "[identity]\nkey_file = {}\n\n[policy]\nwrite_quorum = \"{quorum}\"\nchunk_size = \"4MiB\"\n\n{providers}",
            toml_str(&self.key_file)
        );
        let path = self.work.join(format!("{name}.toml"));
        std::fs::write(&path, text)?;
        Ok(path)
    }

    /// A fresh, empty directory under the work dir.
    pub fn fresh_dir(&self, rel: &str) -> io::Result<PathBuf> {
        let dir = self.work.join(rel);
        remove(&dir)?;
        std::fs::create_dir_all(&dir)?;
        Ok(dir)
    }

    /// The size label used in tables: "1 GiB", "64 MiB".
    pub fn size_label(bytes: u64) -> String {
        if bytes >= 1 << 30 && bytes % (1 << 30) == 0 {
            format!("{} GiB", bytes >> 30)
        } else {
            format!("{} MiB", bytes / MIB)
        }
    }
}

/// Removes a file or a directory tree; a missing one is fine.
pub fn remove(path: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// A TOML string literal for a path.
pub fn toml_str(path: &Path) -> String {
    format!("{:?}", path.to_string_lossy())
}

/// Writes `size` bytes of pseudo-random data to `path` (incompressible, not sparse, so
/// no layer below can shortcut it), reusing it when it already has that size.
pub fn generate(path: &Path, size: u64) -> io::Result<()> {
    if std::fs::metadata(path).is_ok_and(|m| m.len() == size) {
        return Ok(());
    }
    let mut file = io::BufWriter::with_capacity(MIB as usize, std::fs::File::create(path)?);
    let mut state = 0x9e37_79b9_7f4a_7c15_u64 ^ size;
    let mut block = vec![0u8; MIB as usize];
    let mut left = size;
    while left > 0 {
        for word in block.chunks_exact_mut(8) {
            // xorshift64: fast and good enough to defeat compression and dedup.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes());
        }
        let n = left.min(MIB) as usize;
        file.write_all(&block[..n])?;
        left -= n as u64;
    }
    file.flush()
}

struct Args {
    quick: bool,
    mirra: PathBuf,
    drivers: PathBuf,
    work: PathBuf,
    doc: PathBuf,
    notes: Option<PathBuf>,
    only: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut quick = false;
    let (mut mirra, mut drivers, mut work, mut doc, mut notes, mut only) =
        (None, None, None, None, None, None);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--quick" => quick = true,
            "--mirra" => mirra = Some(PathBuf::from(value()?)),
            "--drivers" => drivers = Some(PathBuf::from(value()?)),
            "--work" => work = Some(PathBuf::from(value()?)),
            "--doc" => doc = Some(PathBuf::from(value()?)),
            "--notes" => notes = Some(PathBuf::from(value()?)),
            "--only" => only = Some(value()?),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let usage = "usage: mirra-bench [--quick] --mirra BIN --drivers DIR --work DIR --doc FILE [--notes FILE] [--only B1,B4]";
    Ok(Args {
        quick,
        mirra: mirra.ok_or(usage)?,
        drivers: drivers.ok_or(usage)?,
        work: work.ok_or(usage)?,
        doc: doc.ok_or(usage)?,
        notes,
        only,
    })
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> io::Result<()> {
    let started = Instant::now();
    std::fs::create_dir_all(&args.work)?;
    let work = args.work.canonicalize()?;
    let machine = report::Machine::probe(&work);
    let key_file = work.join("home/key");
    if !key_file.exists() {
        mirra::identity::Identity::generate()
            .save(&key_file, false)
            .map_err(io::Error::other)?;
    }
    let mut bench = Bench {
        quick: args.quick,
        runs: if args.quick { 3 } else { 5 },
        mirra: args.mirra.canonicalize()?,
        drivers: args.drivers.canonicalize()?,
        log: work.join("last-command.log"),
        work,
        key_file,
        rows: Vec::new(),
        details: Vec::new(),
        put_rss_small: 0.0,
        get_rss_small: 0.0,
    };
    workloads::write_rclone_config(&bench, None)?;
    let wanted = |id: &str| {
        args.only
            .as_deref()
            .is_none_or(|only| only.split(',').any(|o| o.eq_ignore_ascii_case(id)))
    };
    let step =
        |id: &str, f: &dyn Fn(&mut Bench) -> io::Result<()>, bench: &mut Bench| -> io::Result<()> {
            if wanted(id) {
                let t = Instant::now();
                eprintln!("== {id} ...");
                let before = bench.rows.len();
                f(bench)?;
                eprintln!("== {id} done in {:.0} s", t.elapsed().as_secs_f64());
                eprint!("{}", report::table(&bench.rows[before..]));
            }
            Ok(())
        };
    step("B1", &|b| workloads::b1(b), &mut bench)?;
    step("B2", &|b| workloads::b2(b), &mut bench)?;
    step("B3", &|b| workloads::b3(b), &mut bench)?;
    step("B4", &|b| latency::b4(b), &mut bench)?;
    step("B5", &|b| ffi::b5(b), &mut bench)?;
    step("B6", &|b| workloads::b6(b), &mut bench)?;
    step("B7", &|b| workloads::b7(b), &mut bench)?;
    step("B8", &|b| gateway::b8(b), &mut bench)?;
    step("B9", &|b| gateway::b9(b), &mut bench)?;
    let elapsed = started.elapsed();
    let table = report::table(&bench.rows);
    println!("{table}");
    let notes = match &args.notes {
        Some(path) => std::fs::read_to_string(path).unwrap_or_default(),
        None => String::new(),
    };
    let doc = report::document(&bench, &machine, &table, elapsed, &notes);
    std::fs::write(&args.doc, doc)?;
    eprintln!(
        "wrote {} ({:.0} s in all)",
        args.doc.display(),
        elapsed.as_secs_f64()
    );
    Ok(())
}
