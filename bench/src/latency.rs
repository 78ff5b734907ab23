//! B4: what a dead first provider costs a read. Three stores over the same two disk
//! providers, read in turn: one with nothing else (the normal latency), one whose first
//! provider is an http endpoint refusing connections (a closed port), and one whose first
//! provider is black-holed (a listener that never accepts: the connection is made by the
//! kernel, the request is never answered).

use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mirra::config::Config;
use mirra::identity::Identity;
use mirra::loader::Loader;
use mirra::providers::open_replicas;
use mirra::state::{RepairJournal, VersionsSeen};
use mirra::store::{GetOptions, Store, StoreParts};
use mirra_driver_api::Key;

use crate::measure::{median, percentile};
use crate::report::{Detail, Row};
use crate::{toml_str, Bench};

/// The configured hedge delay.
const HEDGE_MS: u64 = 50;
/// The object read, small enough that the read itself is quick.
const OBJECT_BYTES: usize = 64 << 10;

fn other(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

struct Scenario {
    name: &'static str,
    store: Store,
    /// Per run, each get's latency in ms.
    runs: Vec<Vec<f64>>,
}

/// Runs B4 and adds its rows.
pub fn b4(b: &mut Bench) -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(b4_async(b))
}

async fn b4_async(b: &mut Bench) -> std::io::Result<()> {
    let identity = Arc::new(Identity::load(&b.key_file).map_err(other)?);
    let state = b.fresh_dir("b4/state")?;
    let roots = [b.fresh_dir("b4/a")?, b.fresh_dir("b4/b")?];
    let disk = b.drivers.join("libmirra_driver_disk.so");
    let http = b.drivers.join("libmirra_driver_http.so");
    let disks: String = roots
        .iter()
        .enumerate()
        .map(|(i, root)| {
            format!("[[provider]]\nname = \"disk-{i}\"\ndriver = {}\npriority = 10\n[provider.config]\nroot = {}\n\n", toml_str(&disk), toml_str(root))
        })
        .collect();
    let dead = |name: &str, port: u16| {
        format!(
            "[[provider]]\nname = \"{name}\"\ndriver = {}\npriority = 1\n[provider.config]\nbase_url = \"http://127.0.0.1:{port}/\"\n\
             connect_timeout = \"1s\"\ntimeout = \"1s\"\n\n",
            toml_str(&http)
        )
    };
    // A port that was just free refuses connections; a bound listener that never calls
    // accept() takes them and never answers.
    let refusing_port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let black_hole = TcpListener::bind("127.0.0.1:0")?;
    let black_hole_port = black_hole.local_addr()?.port();
    let loader = Loader::default();
    let open = |providers: &str| open_store(&loader, &b.key_file, &identity, &state, providers);

    let normal = open(&disks)?;
    let key = Key::parse("b4/object").map_err(other)?;
    let data: Vec<u8> = (0..OBJECT_BYTES).map(|i| (i * 31 % 251) as u8).collect();
    normal
        .put(&key, &data[..], "application/octet-stream")
        .await
        .map_err(other)?;
    let mut scenarios = vec![
        Scenario {
            name: "normal",
            store: normal,
            runs: Vec::new(),
        },
        Scenario {
            name: "first refusing",
            store: open(&format!("{}{disks}", dead("refusing", refusing_port)))?,
            runs: Vec::new(),
        },
        Scenario {
            name: "first black-holed",
            store: open(&format!("{}{disks}", dead("blackhole", black_hole_port)))?,
            runs: Vec::new(),
        },
    ];

    // Until the dead provider's breaker opens, every read pays for asking it; those reads
    // are reported apart, the targets are about the steady state after.
    let warm_up_limit = Duration::from_secs(if b.quick { 8 } else { 15 });
    let mut warm_up = Vec::new();
    for scenario in &scenarios[1..] {
        let started = Instant::now();
        let mut latencies = Vec::new();
        while !scenario.store.replicas()[0].health_record().is_open()
            && started.elapsed() < warm_up_limit
        {
            latencies.push(timed_get(&scenario.store, &key).await?);
        }
        let open = scenario.store.replicas()[0].health_record().is_open();
        warm_up.push(format!(
            "{}: breaker {} after {} reads in {:.2} s (slowest {:.1} ms)",
            scenario.name,
            if open { "open" } else { "still closed" },
            latencies.len(),
            started.elapsed().as_secs_f64(),
            latencies.iter().copied().fold(0.0, f64::max)
        ));
    }

    let per_run = if b.quick { 60 } else { 200 };
    for _ in 0..b.runs {
        for scenario in &mut scenarios {
            scenario.runs.push(Vec::with_capacity(per_run));
        }
        for _ in 0..per_run {
            for scenario in &mut scenarios {
                let ms = timed_get(&scenario.store, &key).await?;
                scenario.runs.last_mut().expect("pushed above").push(ms);
            }
        }
    }
    drop(black_hole);

    let stat =
        |s: &Scenario, p: f64| median(&s.runs.iter().map(|r| percentile(r, p)).collect::<Vec<_>>());
    let (normal_p50, normal_p99) = (stat(&scenarios[0], 50.0), stat(&scenarios[0], 99.0));
    let hedge = HEDGE_MS as f64;
    for scenario in &scenarios {
        let all: Vec<String> = scenario
            .runs
            .iter()
            .map(|r| format!("{:.2}/{:.2}", percentile(r, 50.0), percentile(r, 99.0)))
            .collect();
        b.details.push(Detail {
            id: "B4".into(),
            contender: format!("get, {}", scenario.name),
            command: format!(
                "Store::get of a {} KiB object, hedge_after = {HEDGE_MS}ms",
                OBJECT_BYTES >> 10
            ),
            figures: format!(
                "p50 {:.2} ms, p99 {:.2} ms (per run p50/p99: {})",
                stat(scenario, 50.0),
                stat(scenario, 99.0),
                all.join(", ")
            ),
        });
    }
    for (scenario, warm) in scenarios[1..].iter().zip(&warm_up) {
        let (p50, p99) = (stat(scenario, 50.0), stat(scenario, 99.0));
        let added = p50 - normal_p50;
        let p99_limit = hedge + 2.0 * normal_p99;
        b.rows.push(Row {
            id: "B4".into(),
            workload: format!("get, {}", scenario.name),
            mirra: format!("p50 {p50:.2} ms, p99 {p99:.2} ms"),
            reference: format!(
                "normal p50 {normal_p50:.2} ms, p99 {normal_p99:.2} ms; warm-up: {warm}"
            ),
            measured: format!("+{added:.2} ms median; p99 {p99:.1} ms vs {p99_limit:.1} ms"),
            target: format!("≤ +2 ms median; p99 ≤ hedge ({HEDGE_MS} ms) + 2 × normal p99"),
            pass: added <= 2.0 && p99 <= p99_limit,
        });
    }
    Ok(())
}

async fn timed_get(store: &Store, key: &Key) -> std::io::Result<f64> {
    let started = Instant::now();
    store
        .get(key, GetOptions::default(), &mut tokio::io::sink())
        .await
        .map_err(other)?;
    Ok(started.elapsed().as_secs_f64() * 1000.0)
}

fn open_store(
    loader: &Loader,
    key_file: &Path,
    identity: &Arc<Identity>,
    state: &Path,
    providers: &str,
) -> std::io::Result<Store> {
    let text = format!(
        "[identity]\nkey_file = {}\n\n[policy]\nwrite_quorum = 1\nhedge_after = \"{HEDGE_MS}ms\"\n\n{providers}",
        toml_str(key_file)
    );
    let config = Config::parse(&text, Path::new("b4.toml")).map_err(other)?;
    let replicas = open_replicas(&config, loader).map_err(other)?;
    Ok(Store::new(StoreParts {
        replicas,
        signer: identity.public_key(),
        identity: Some(identity.clone()),
        versions: VersionsSeen::open(state).map_err(other)?,
        journal: RepairJournal::open(state).map_err(other)?,
        quorum: config.policy.write_quorum,
        chunk_size: config.policy.chunk_size,
        hedge_after: config.policy.hedge_after,
    }))
}
