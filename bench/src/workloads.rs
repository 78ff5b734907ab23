//! The rows that run the real `mirra` binary beside `cp`, `cat`, `openssl` and `rclone`:
//! B1 (put), B2 (get), B3 (many small objects), B6 (peak memory), B7 (S3).

use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::measure::{interleaved, max_rss_mib, median_rss_mib, median_secs, Sample};
use crate::report::{Detail, Row};
use crate::s3::S3Server;
use crate::{generate, remove, Bench, MIB};

/// Bytes of the B1/B2 input.
fn big_size(b: &Bench) -> u64 {
    if b.quick {
        64 * MIB
    } else {
        1 << 30
    }
}

/// The three disk provider roots every CLI row uses, fresh.
fn fresh_providers(b: &Bench) -> io::Result<Vec<PathBuf>> {
    (0..3)
        .map(|i| b.fresh_dir(&format!("providers/p{i}")))
        .collect()
}

/// Removes `dir`, syncs, and waits out the minute in which ext4 without a journal (this
/// machine's) still skips the deleted inodes, one scan each, when it allocates new ones:
/// otherwise the next row's file creations pay for this clean-up.
fn remove_and_settle(dir: &Path) -> io::Result<()> {
    remove(dir)?;
    crate::measure::settle_disk();
    std::thread::sleep(std::time::Duration::from_secs(61));
    Ok(())
}

fn provider_roots(b: &Bench) -> Vec<PathBuf> {
    (0..3)
        .map(|i| b.work.join(format!("providers/p{i}")))
        .collect()
}

fn sh(script: &str, args: &[&Path]) -> Command {
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(script);
    cmd.args(args);
    cmd
}

fn check_size(path: &Path, size: u64) -> io::Result<()> {
    let found = std::fs::metadata(path)?.len();
    if found != size {
        return Err(io::Error::other(format!(
            "{}: {found} bytes, expected {size}",
            path.display()
        )));
    }
    Ok(())
}

/// B1: put one large file to three disk providers, against three parallel `cp` (with and
/// without fsync), `openssl dgst -sha256`, and `rclone copy` to three local remotes.
pub fn b1(b: &mut Bench) -> io::Result<()> {
    let size = big_size(b);
    let input = b.work.join("in/big.bin");
    std::fs::create_dir_all(b.work.join("in"))?;
    generate(&input, size)?;
    let config = b.disk_config("disk3", &provider_roots(b))?;
    let names = [
        "3 × cp ∥ + fsync",
        "3 × cp ∥",
        "openssl dgst -sha256",
        "mirra put",
        "rclone copy × 3 in turn",
    ];
    let samples = interleaved(b.runs, names.len(), |i| {
        let outs: Vec<PathBuf> = (0..3)
            .map(|k| b.work.join(format!("out/{i}-{k}")))
            .collect();
        for out in &outs {
            remove(out)?;
            std::fs::create_dir_all(out)?;
        }
        let o: Vec<&Path> = outs.iter().map(PathBuf::as_path).collect();
        let sample = match i {
            0 => b.time(
                &mut sh(
                    "(cp \"$0\" \"$1/f\" && sync \"$1/f\") & (cp \"$0\" \"$2/f\" && sync \"$2/f\") & \
                     (cp \"$0\" \"$3/f\" && sync \"$3/f\") & wait",
                    &[&input, o[0], o[1], o[2]],
                ),
                None,
            )?,
            1 => b.time(&mut sh("cp \"$0\" \"$1/f\" & cp \"$0\" \"$2/f\" & cp \"$0\" \"$3/f\" & wait", &[&input, o[0], o[1], o[2]]), None)?,
            2 => b.time(Command::new("openssl").args(["dgst", "-sha256"]).arg(&input), None)?,
            3 => {
                fresh_providers(b)?;
                let sample = b.time(b.mirra_cmd(&config).arg("put").arg(&input).arg("big"), None)?;
                for root in provider_roots(b) {
                    check_size(&root.join("big"), size)?;
                }
                sample
            }
            _ => {
                let conf = b.work.join("rclone.conf");
                b.time(
                    &mut sh(
                        "rclone --config \"$4\" -q copy \"$0\" \"l1:$1\" && rclone --config \"$4\" -q copy \"$0\" \"l2:$2\" && \
                         rclone --config \"$4\" -q copy \"$0\" \"l3:$3\"",
                        &[&input, o[0], o[1], o[2], &conf],
                    ),
                    None,
                )?
            }
        };
        if i != 2 && i != 3 {
            for out in &o {
                let copied = if i == 4 {
                    out.join("big.bin")
                } else {
                    out.join("f")
                };
                check_size(&copied, size)?;
            }
        }
        for out in &outs {
            remove(out)?;
        }
        Ok(sample)
    })?;
    let label = Bench::size_label(size);
    let commands = [
        "(cp IN d1/f && sync d1/f) & … × 3; wait".to_owned(),
        "cp IN d1/f & … × 3; wait".to_owned(),
        "openssl dgst -sha256 IN".to_owned(),
        "mirra put IN big (3 disk providers)".to_owned(),
        "rclone copy IN l1:d1 && … l2:d2 && … l3:d3".to_owned(),
    ];
    for (i, name) in names.iter().enumerate() {
        b.details
            .push(Detail::timed("B1", name, &commands[i], &samples[i]));
    }
    let [cp_sync, cp, openssl, mirra, rclone] = [0, 1, 2, 3, 4].map(|i| median_secs(&samples[i]));
    let limit = cp_sync.max(openssl);
    let gib_s = |secs: f64| size as f64 / secs / f64::from(1u32 << 30);
    b.rows.push(Row {
        id: "B1".into(),
        workload: format!("put {label} to 3 disk providers"),
        mirra: format!("{mirra:.2} s ({:.2} GiB/s)", gib_s(mirra)),
        reference: format!(
            "limit {limit:.2} s = max(3 × cp ∥ + fsync {cp_sync:.2} s, openssl {openssl:.2} s); without fsync cp takes {cp:.2} s"
        ),
        measured: format!("{:.2} × limit", mirra / limit),
        target: "≤ 1.25 × limit".into(),
        pass: mirra <= 1.25 * limit,
    });
    b.rows.push(Row {
        id: "B1".into(),
        workload: format!("put {label} to 3 disk providers"),
        mirra: format!("{mirra:.2} s"),
        reference: format!("rclone copy × 3 in turn {rclone:.2} s (no fsync)"),
        measured: format!("{:.2} × rclone", mirra / rclone),
        target: "≤ 0.5 × rclone".into(),
        pass: mirra <= 0.5 * rclone,
    });
    b.put_rss_small = median_rss_mib(&samples[3]);
    Ok(())
}

/// B2: get the B1 object to /dev/null, verified, against `cat` and `openssl` of one
/// provider's copy of it.
pub fn b2(b: &mut Bench) -> io::Result<()> {
    let size = big_size(b);
    let input = b.work.join("in/big.bin");
    std::fs::create_dir_all(b.work.join("in"))?;
    generate(&input, size)?;
    let config = b.disk_config("disk3", &provider_roots(b))?;
    fresh_providers(b)?;
    b.run(b.mirra_cmd(&config).arg("put").arg(&input).arg("big"))?;
    let copy = provider_roots(b)[0].join("big");
    let names = [
        "cat > /dev/null",
        "openssl dgst -sha256",
        "mirra get > /dev/null",
    ];
    let samples = interleaved(b.runs, names.len(), |i| match i {
        0 => b.time(Command::new("cat").arg(&copy), None),
        1 => b.time(
            Command::new("openssl").args(["dgst", "-sha256"]).arg(&copy),
            None,
        ),
        _ => b.time(b.mirra_cmd(&config).args(["get", "big"]), None),
    })?;
    let commands = [
        "cat P0/big > /dev/null",
        "openssl dgst -sha256 P0/big",
        "mirra get big > /dev/null",
    ];
    for (i, name) in names.iter().enumerate() {
        b.details
            .push(Detail::timed("B2", name, commands[i], &samples[i]));
    }
    let [cat, openssl, mirra] = [0, 1, 2].map(|i| median_secs(&samples[i]));
    let limit = cat.max(openssl);
    b.rows.push(Row {
        id: "B2".into(),
        workload: format!("get {}, verified", Bench::size_label(size)),
        mirra: format!(
            "{mirra:.2} s ({:.2} GiB/s)",
            size as f64 / mirra / f64::from(1u32 << 30)
        ),
        reference: format!("limit {limit:.2} s = max(cat {cat:.2} s, openssl {openssl:.2} s)"),
        measured: format!("{:.2} × limit", mirra / limit),
        target: "≤ 1.15 × limit".into(),
        pass: mirra <= 1.15 * limit,
    });
    b.get_rss_small = median_rss_mib(&samples[2]);
    Ok(())
}

/// B3: a tree of many 4 KiB files to three providers: `mirra put -r` against
/// `rclone copy` of the tree to three local remotes in turn.
pub fn b3(b: &mut Bench) -> io::Result<()> {
    let count: usize = if b.quick { 1000 } else { 10_000 };
    let tree = b.work.join("in/tree");
    if !tree
        .join(format!("d{:03}/f{:05}", (count - 1) / 100, count - 1))
        .exists()
    {
        remove(&tree)?;
        for i in 0..count {
            let dir = tree.join(format!("d{:03}", i / 100));
            if i % 100 == 0 {
                std::fs::create_dir_all(&dir)?;
            }
            generate(&dir.join(format!("f{i:05}")), 4096)?;
        }
    }
    let conf = b.work.join("rclone.conf");
    let names = ["mirra put -r", "rclone copy × 3 in turn"];
    // Every run writes to directories of its own, and nothing is deleted until the row
    // is done: on ext4 without a journal (this machine's), creating files within a minute
    // of deleting many scans the deleted inodes (`recently_deleted`), which made each run
    // pay for the clean-up of the one before it.
    let run = std::cell::Cell::new(0);
    let samples = interleaved(b.runs, names.len(), |i| {
        run.set(run.get() + 1);
        let fresh = |what: &str| -> io::Result<Vec<PathBuf>> {
            (0..3)
                .map(|k| b.fresh_dir(&format!("b3/run{}/{what}{k}", run.get())))
                .collect()
        };
        let sample = match i {
            0 => {
                let config = b.disk_config("disk3", &fresh("p")?)?;
                b.time(
                    b.mirra_cmd(&config).args(["put", "-r"]).arg(&tree).arg("t"),
                    None,
                )?
            }
            _ => {
                let outs = fresh("tree")?;
                let o: Vec<&Path> = outs.iter().map(PathBuf::as_path).collect();
                let sample = b.time(
                    &mut sh(
                        "rclone --config \"$4\" -q copy \"$0\" \"l1:$1\" && rclone --config \"$4\" -q copy \"$0\" \"l2:$2\" && \
                         rclone --config \"$4\" -q copy \"$0\" \"l3:$3\"",
                        &[&tree, o[0], o[1], o[2], &conf],
                    ),
                    None,
                )?;
                for out in &outs {
                    check_size(
                        &out.join(format!("d{:03}/f{:05}", (count - 1) / 100, count - 1)),
                        4096,
                    )?;
                }
                sample
            }
        };
        Ok(sample)
    })?;
    let commands = [
        "mirra put -r TREE t (3 disk providers)",
        "rclone copy TREE l1:d1 && … l2:d2 && … l3:d3",
    ];
    for (i, name) in names.iter().enumerate() {
        b.details
            .push(Detail::timed("B3", name, commands[i], &samples[i]));
    }
    let [mirra, rclone] = [0, 1].map(|i| count as f64 / median_secs(&samples[i]));
    b.rows.push(Row {
        id: "B3".into(),
        workload: format!("{count} × 4 KiB objects to 3 providers"),
        mirra: format!("{mirra:.0} objects/s"),
        reference: format!("rclone {rclone:.0} objects/s (no fsync)"),
        measured: format!("{:.2} × rclone", mirra / rclone),
        target: "≥ 3 × rclone".into(),
        pass: mirra >= 3.0 * rclone,
    });
    remove_and_settle(&b.work.join("b3"))?;
    Ok(())
}

/// B6: peak RSS of put and get of a large generated input, against the B1/B2 figures.
pub fn b6(b: &mut Bench) -> io::Result<()> {
    let size = if b.quick { 256 * MIB } else { 4 << 30 };
    // The small figures come from B1/B2; measure them here when those did not run.
    if b.put_rss_small == 0.0 || b.get_rss_small == 0.0 {
        b1(b)?;
        b2(b)?;
    }
    remove(&b.work.join("in/big.bin"))?;
    let input = b.work.join("in/huge.bin");
    generate(&input, size)?;
    let config = b.disk_config("disk3", &provider_roots(b))?;
    let samples = interleaved(b.runs, 2, |i| match i {
        0 => {
            fresh_providers(b)?;
            b.time(
                b.mirra_cmd(&config).arg("put").arg(&input).arg("huge"),
                None,
            )
        }
        _ => {
            if !provider_roots(b)[0].join("huge").exists() {
                b.run(b.mirra_cmd(&config).arg("put").arg(&input).arg("huge"))?;
            }
            b.time(b.mirra_cmd(&config).args(["get", "huge"]), None)
        }
    })?;
    remove(&input)?;
    remove(&b.work.join("providers"))?;
    let label = Bench::size_label(size);
    b.details.push(Detail::timed(
        "B6",
        &format!("mirra put {label}"),
        "mirra put IN huge (3 disk providers)",
        &samples[0],
    ));
    b.details.push(Detail::timed(
        "B6",
        &format!("mirra get {label}"),
        "mirra get huge > /dev/null",
        &samples[1],
    ));
    let small = Bench::size_label(big_size(b));
    for (op, large, small_rss) in [
        ("put", &samples[0], b.put_rss_small),
        ("get", &samples[1], b.get_rss_small),
    ] {
        let peak = max_rss_mib(large);
        let growth = (peak - small_rss) / small_rss;
        b.rows.push(Row {
            id: "B6".into(),
            workload: format!("{op} {label}: peak RSS"),
            mirra: format!("{peak:.1} MiB"),
            reference: format!("{small_rss:.1} MiB for {small} (B1/B2)"),
            measured: format!("{:+.1} %", growth * 100.0),
            target: "≤ 64 MiB and within 10 %".into(),
            pass: peak <= 64.0 && growth.abs() <= 0.10,
        });
    }
    Ok(())
}

/// B7: put and get of a large object through one S3 server, mirra against rclone.
pub fn b7(b: &mut Bench) -> io::Result<()> {
    let size = big_size(b);
    let input = b.work.join("in/big.bin");
    std::fs::create_dir_all(b.work.join("in"))?;
    generate(&input, size)?;
    remove(&b.work.join("s3"))?;
    let server = S3Server::start(&b.work.join("s3"))?;
    let providers = format!(
        "[[provider]]\nname = \"s3\"\ndriver = \"s3\"\n[provider.config]\n{}",
        server.mirra_config()
    );
    let config = b.write_config("s3", "all", &providers)?;
    write_rclone_config(b, Some(&server))?;
    let rclone_key = format!("s3:{}/rclone-big", crate::s3::BUCKET);
    let put = interleaved(b.runs, 2, |i| {
        server.clear()?;
        match i {
            0 => b.time(b.mirra_cmd(&config).arg("put").arg(&input).arg("big"), None),
            _ => b.time(
                b.rclone_cmd().arg("copyto").arg(&input).arg(&rclone_key),
                None,
            ),
        }
    })?;
    server.clear()?;
    b.run(b.mirra_cmd(&config).arg("put").arg(&input).arg("big"))?;
    b.run(b.rclone_cmd().arg("copyto").arg(&input).arg(&rclone_key))?;
    let get = interleaved(b.runs, 2, |i| match i {
        0 => b.time(b.mirra_cmd(&config).args(["get", "big"]), None),
        _ => b.time(b.rclone_cmd().arg("cat").arg(&rclone_key), None),
    })?;
    drop(server);
    remove(&b.work.join("s3"))?;
    let label = Bench::size_label(size);
    b.details.push(Detail::timed(
        "B7",
        "mirra put",
        "mirra put IN big (one s3 provider)",
        &put[0],
    ));
    b.details.push(Detail::timed(
        "B7",
        "rclone copyto",
        "rclone copyto IN s3:bench/rclone-big",
        &put[1],
    ));
    b.details.push(Detail::timed(
        "B7",
        "mirra get",
        "mirra get big > /dev/null",
        &get[0],
    ));
    b.details.push(Detail::timed(
        "B7",
        "rclone cat",
        "rclone cat s3:bench/rclone-big > /dev/null",
        &get[1],
    ));
    let mib_s = |samples: &[Sample]| size as f64 / MIB as f64 / median_secs(samples);
    for (op, ours, theirs) in [("put", &put[0], &put[1]), ("get", &get[0], &get[1])] {
        let (m, r) = (mib_s(ours), mib_s(theirs));
        b.rows.push(Row {
            id: "B7".into(),
            workload: format!("{op} {label} via the local S3 server"),
            mirra: format!("{m:.0} MiB/s"),
            reference: format!("rclone {r:.0} MiB/s"),
            measured: format!("{:.2} × rclone", m / r),
            target: "≥ 1.0 × rclone".into(),
            pass: m >= r,
        });
    }
    Ok(())
}

/// rclone's config: three local remotes, plus the S3 server when one runs.
pub fn write_rclone_config(b: &Bench, server: Option<&S3Server>) -> io::Result<()> {
    let mut text =
        String::from("[l1]\ntype = local\n\n[l2]\ntype = local\n\n[l3]\ntype = local\n\n");
    if let Some(server) = server {
        text.push_str(&server.rclone_config("s3"));
    }
    std::fs::write(b.work.join("rclone.conf"), text)
}
