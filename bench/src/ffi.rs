//! B5: the disk driver loaded from its `.so` against the same driver linked in, on
//! 4 KiB put+get (the store's small-object path), and on 4 KiB gets alone, where the
//! call itself is a larger share of the work.

use std::time::Instant;

use mirra_driver_api::{DriverLibrary, DriverResult, HostContext, Key, StorageDriver};
use mirra_driver_disk::DiskDriver;

use crate::measure::{interleaved, median, Sample};
use crate::report::{Detail, Row};
use crate::{toml_str, Bench};

/// Distinct keys cycled through, so puts replace existing files as in steady use.
const KEYS: usize = 64;

fn other(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

/// Runs B5 and adds its rows.
pub fn b5(b: &mut Bench) -> std::io::Result<()> {
    let library = DriverLibrary::load(&b.drivers.join("libmirra_driver_disk.so")).map_err(other)?;
    let loaded_root = b.fresh_dir("b5/loaded")?;
    let linked_root = b.fresh_dir("b5/linked")?;
    let loaded = library
        .open(
            HostContext::default(),
            &format!("root = {}", toml_str(&loaded_root)),
        )
        .map_err(other)?;
    let linked = DiskDriver::open(&linked_root).map_err(other)?;
    let drivers: [&dyn StorageDriver; 2] = [&loaded, &linked];
    let keys: Vec<Key> = (0..KEYS)
        .map(|i| Key::parse(&format!("b5/k{i:02}")).expect("valid key"))
        .collect();
    let data = vec![0x5a_u8; 4096];
    let mut buf = vec![0u8; 4096];
    for driver in drivers {
        for key in &keys {
            driver.put(key, &data).map_err(other)?;
        }
    }

    let put_get_ops = if b.quick { 150 } else { 500 };
    let put_get = interleaved(b.runs, 2, |i| {
        let driver = drivers[i];
        rate(put_get_ops, |n| {
            let key = &keys[n % KEYS];
            driver.put(key, &data)?;
            driver.read(key, 0, &mut buf).map(drop)
        })
    })?;
    let get_ops = if b.quick { 20_000 } else { 100_000 };
    let get_only = interleaved(b.runs, 2, |i| {
        let driver = drivers[i];
        rate(get_ops, |n| {
            driver.read(&keys[n % KEYS], 0, &mut buf).map(drop)
        })
    })?;

    let ops = |samples: &[Sample], n: usize| {
        median(
            &samples
                .iter()
                .map(|s| n as f64 / s.secs)
                .collect::<Vec<_>>(),
        )
    };
    for (label, samples, n) in [
        ("4 KiB put+get", &put_get, put_get_ops),
        ("4 KiB get", &get_only, get_ops),
    ] {
        for (i, who) in ["loaded .so", "linked rlib"].iter().enumerate() {
            let runs: Vec<String> = samples[i]
                .iter()
                .map(|s| format!("{:.0}", n as f64 / s.secs))
                .collect();
            b.details.push(Detail {
                id: "B5".into(),
                contender: format!("{label}, {who}"),
                command: format!("{n} × driver calls in a loop, one thread"),
                figures: format!(
                    "median {:.0} ops/s (runs: {})",
                    ops(&samples[i], n),
                    runs.join(", ")
                ),
            });
        }
        let (so, rlib) = (ops(&samples[0], n), ops(&samples[1], n));
        let gated = label.contains("put");
        b.rows.push(Row {
            id: "B5".into(),
            workload: format!(
                "{label}, loaded .so vs linked{}",
                if gated { "" } else { " (extra, no target)" }
            ),
            mirra: format!("{so:.0} ops/s"),
            reference: format!("in-process {rlib:.0} ops/s"),
            measured: format!("{:.3} × in-process", so / rlib),
            target: if gated {
                "≥ 0.95 × in-process".into()
            } else {
                "(none; shows the call cost alone)".into()
            },
            pass: so >= 0.95 * rlib || !gated,
        });
    }
    Ok(())
}

/// Calls `op` `n` times and returns the elapsed time as a sample.
fn rate(n: usize, mut op: impl FnMut(usize) -> DriverResult<()>) -> std::io::Result<Sample> {
    let started = Instant::now();
    for i in 0..n {
        op(i).map_err(other)?;
    }
    Ok(Sample {
        secs: started.elapsed().as_secs_f64(),
        max_rss_kib: 0,
    })
}
