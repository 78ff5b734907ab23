//! The reliability suite: providers that are down, corrupt, stale, hung, panicking, or
//! killed mid-write, with disk providers loaded as `.so` files. Each scenario prints its
//! counts, and ends with `repair` then `verify` reporting every copy ok.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use mirra::config::Config;
use mirra::identity::Identity;
use mirra::loader::Loader;
use mirra::state::{RepairJournal, VersionsSeen};
use mirra::store::{GetOptions, Store, StoreParts};
use mirra_driver_api::Key;
use mirra_tests::cli::{MirraEnv, ProviderSpec};

/// A small deterministic generator, so a failing run can be replayed.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

#[test]
fn any_two_of_three_providers_down_every_get_succeeds() {
    let env = MirraEnv::initialized();
    let mut dice = Dice(11);
    let objects: Vec<(String, Vec<u8>)> = (0..4)
        .map(|i| (format!("obj/{i}"), dice.bytes((1 << 20) | (i * 777))))
        .collect();
    for (key, data) in &objects {
        env.run(&["put", env.file("in", data).to_str().unwrap(), key])
            .ok();
    }
    let mut gets = 0;
    for down in [
        ["disk-a", "disk-b"],
        ["disk-a", "disk-c"],
        ["disk-b", "disk-c"],
    ] {
        let providers: Vec<ProviderSpec> = env
            .default_disks()
            .into_iter()
            .map(|p| {
                if down.contains(&p.name.as_str()) {
                    p.with_chaos("down = true")
                } else {
                    p
                }
            })
            .collect();
        env.write_config("", &providers);
        for (key, data) in &objects {
            let out = env.run(&["get", key]).ok();
            assert!(out.stdout == *data, "{key} wrong with {down:?} down");
            gets += 1;
        }
    }
    println!("2-of-3 down: {gets} gets, {gets} correct");
    env.write_config("", &env.default_disks());
    println!(
        "repair then verify: {} copies ok",
        env.repair_then_verify_all_ok()
    );
}

fn open_store(env: &MirraEnv) -> Store {
    let mut config = Config::load(&env.config_path()).unwrap();
    config.driver_dirs = vec![mirra_tests::driver_dir()];
    let identity = Identity::load(&config.identity.key_file).unwrap();
    let state = env.home().join("state/mirra");
    Store::new(StoreParts {
        replicas: mirra::providers::open_replicas(&config, &Loader::default()).unwrap(),
        signer: identity.public_key(),
        identity: Some(identity.into()),
        versions: VersionsSeen::open(&state).unwrap(),
        journal: RepairJournal::open(&state).unwrap(),
        quorum: config.policy.write_quorum,
        chunk_size: config.policy.chunk_size,
        hedge_after: config.policy.hedge_after,
    })
}

#[test]
fn a_thousand_single_byte_corruptions_are_all_detected() {
    let env = MirraEnv::initialized();
    // disk-a is read first and its breaker never opens, so every read meets its damage;
    // hedging is pushed out of the way so no faster provider answers first.
    let disks: Vec<ProviderSpec> = env
        .default_disks()
        .into_iter()
        .enumerate()
        .map(|(i, p)| if i == 0 { p.with_priority(5) } else { p })
        .collect();
    env.write_config(
        "chunk_size = \"64KiB\"\nbreaker_failures = 1000000\nhedge_after = \"30s\"\n",
        &disks,
    );
    let mut dice = Dice(7);
    let objects: Vec<(Key, Vec<u8>)> = (0..10)
        .map(|i| {
            (
                Key::parse(&format!("c/{i}")).unwrap(),
                dice.bytes(200_000 + i * 1000),
            )
        })
        .collect();
    for (key, data) in &objects {
        env.run(&["put", env.file("in", data).to_str().unwrap(), key.as_str()])
            .ok();
    }
    let store = open_store(&env);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (mut detected, mut wrong) = (0, 0);
    let rounds = 1000;
    for _ in 0..rounds {
        let (key, data) = &objects[dice.below(objects.len() as u64) as usize];
        let path = env.provider_root("disk-a").join(key.as_str());
        let at = dice.below(data.len() as u64) as usize;
        let mut damaged = data.clone();
        damaged[at] ^= 1 << dice.below(8);
        std::fs::write(&path, &damaged).unwrap();
        let mut out = Vec::new();
        let report = runtime
            .block_on(store.get(key, GetOptions::default(), &mut out))
            .unwrap();
        if out != *data {
            wrong += 1;
        }
        if report.skipped.contains("disk-a") {
            detected += 1;
        }
        std::fs::write(&path, data).unwrap();
    }
    println!("corruptions: {rounds} injected, {detected} detected, {wrong} wrong bytes returned");
    assert_eq!((detected, wrong), (rounds, 0));
    println!(
        "repair then verify: {} copies ok",
        env.repair_then_verify_all_ok()
    );
}

#[test]
fn stale_copies_on_two_providers_never_win_over_a_newer_version() {
    let env = MirraEnv::initialized();
    env.run(&[
        "put",
        env.file("in", b"profile v1").to_str().unwrap(),
        "profile.json",
    ])
    .ok();
    let saved = env.home().join("saved");
    for provider in ["disk-b", "disk-c"] {
        let root = env.provider_root(provider);
        std::fs::create_dir_all(saved.join(provider)).unwrap();
        std::fs::copy(
            root.join("profile.json"),
            saved.join(provider).join("bytes"),
        )
        .unwrap();
        std::fs::copy(
            root.join(".mirra/manifests/profile.json.json"),
            saved.join(provider).join("manifest"),
        )
        .unwrap();
    }
    env.run(&[
        "put",
        env.file("in", b"profile v2").to_str().unwrap(),
        "profile.json",
    ])
    .ok();
    for provider in ["disk-b", "disk-c"] {
        let root = env.provider_root(provider);
        std::fs::copy(
            saved.join(provider).join("bytes"),
            root.join("profile.json"),
        )
        .unwrap();
        std::fs::copy(
            saved.join(provider).join("manifest"),
            root.join(".mirra/manifests/profile.json.json"),
        )
        .unwrap();
    }
    // A reader that has never seen v2, whose first provider is stale.
    std::fs::remove_dir_all(env.home().join("state")).unwrap();
    let providers: Vec<ProviderSpec> = env
        .default_disks()
        .into_iter()
        .map(|p| {
            if p.name == "disk-b" {
                p.with_priority(1)
            } else {
                p
            }
        })
        .collect();
    env.write_config("", &providers);
    // A fresh reader asks every provider and takes the highest (issue 15), so the one
    // provider still holding v2 is enough even though the first one is stale.
    let first_answer = env.run(&["get", "profile.json"]).ok().stdout;
    assert_eq!(
        first_answer, b"profile v2",
        "a fresh reader must take the newest version any provider answering in time holds"
    );
    std::fs::remove_dir_all(env.home().join("state")).unwrap();
    let latest = env.run(&["get", "--latest", "profile.json"]).ok().stdout;
    assert_eq!(
        latest, b"profile v2",
        "--latest must find the newest version"
    );
    let mut stale_returned = 0;
    for _ in 0..20 {
        if env.run(&["get", "profile.json"]).ok().stdout != b"profile v2" {
            stale_returned += 1;
        }
    }
    println!("stale on 2 of 3: --latest returned v2; 20 later gets, {stale_returned} stale");
    assert_eq!(
        stale_returned, 0,
        "a stale version was returned after v2 was seen"
    );
    println!(
        "repair then verify: {} copies ok",
        env.repair_then_verify_all_ok()
    );
    assert_eq!(
        std::fs::read(env.provider_root("disk-b").join("profile.json")).unwrap(),
        b"profile v2"
    );
}

fn fixture_provider(name: &str, mode: &str) -> ProviderSpec {
    ProviderSpec {
        name: name.to_owned(),
        priority: 1,
        driver: mirra_tests::cdylib("mirra_fixture_panic_driver")
            .display()
            .to_string(),
        config: format!("mode = {mode:?}\nhang_ms = 600000\n"),
        chaos: None,
    }
}

#[test]
fn a_hung_first_provider_costs_a_read_the_hedge_delay_not_the_timeout() {
    let env = MirraEnv::initialized();
    let data = vec![42u8; 3 << 20];
    env.run(&["put", env.file("in", &data).to_str().unwrap(), "movie.mp4"])
        .ok();
    let mut providers = vec![fixture_provider("hung", "hang")];
    providers.extend(env.default_disks());
    env.write_config("timeout = \"60s\"\nhedge_after = \"100ms\"\n", &providers);
    let mut latencies = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let out = env.run(&["get", "movie.mp4"]).ok();
        latencies.push(started.elapsed());
        assert!(out.stdout == data);
    }
    latencies.sort();
    println!("hung first provider: get latencies {latencies:?} (hedge 100ms, timeout 60s)");
    // Far below the 60 s timeout: the read hedged instead of waiting for the hung call.
    assert!(
        latencies[2] < Duration::from_secs(20),
        "median {:?}",
        latencies[2]
    );
}

#[test]
fn panicking_and_hanging_drivers_leave_the_host_serving_from_the_others() {
    let env = MirraEnv::initialized();
    for mode in ["panic", "hang"] {
        let mut providers = vec![fixture_provider("broken", mode)];
        providers.extend(env.default_disks());
        env.write_config("timeout = \"2s\"\nhedge_after = \"50ms\"\n", &providers);
        let key = format!("{mode}.txt");
        let out = env
            .run(&[
                "put",
                env.file("in", mode.as_bytes()).to_str().unwrap(),
                &key,
            ])
            .ok();
        let text = out.stdout_text();
        assert!(text.contains("broken  failed"), "{mode}: {text}");
        assert_eq!(env.run(&["get", &key]).ok().stdout, mode.as_bytes());
        let providers = env.run(&["providers", "--json"]);
        let rows: serde_json::Value = serde_json::from_slice(&providers.stdout).unwrap();
        assert_eq!(rows[0]["healthy"], false, "{rows}");
        println!(
            "{mode} driver: put reached 3 of 4, get verified, broken provider reported: {}",
            rows[0]["last_error"]
        );
    }
}

#[test]
fn a_top_provider_holding_bytes_newer_than_its_manifest_leaves_the_newer_version_readable() {
    let env = MirraEnv::initialized();
    let mut providers = env.default_disks();
    // disk-a is read first, so every reader follows its (old) manifest first.
    providers[0] = ProviderSpec::disk(&env, "disk-a").with_priority(1);
    env.write_config("", &providers);
    let (old, new) = ("the old version\n".repeat(40), "the new one\n".repeat(50));
    let (old, new) = (old.as_bytes(), new.as_bytes());

    env.interrupted_write_on("disk-a", "one.txt", old, new);
    let read = env.run(&["get", "one.txt"]);
    assert_eq!(read.code, 0, "get: {}", read.stderr);
    assert!(read.stdout == new, "get returned the wrong version");

    env.interrupted_write_on("disk-a", "tree/one.txt", old, new);
    let out = env.home().join("pulled");
    let pulled = env.run(&["get", "-r", "tree/", out.to_str().unwrap()]);
    assert_eq!(
        pulled.code,
        0,
        "get -r: {}{}",
        pulled.stdout_text(),
        pulled.stderr
    );
    assert!(std::fs::read(out.join("one.txt")).unwrap() == new);

    env.interrupted_write_on("disk-a", "served.txt", old, new);
    let served = mirra_tests::serve::Served::start(&env, &[]);
    let (status, body) = mirra_tests::serve::raw_request(&served.addr(), "GET", "/served.txt");
    assert_eq!(
        (status, body.as_bytes() == new),
        (200, true),
        "gateway: {body}"
    );

    // The premise: a reader asking only disk-a finds the old manifest over new bytes.
    drop(served);
    std::fs::remove_dir_all(env.home().join("state")).unwrap();
    env.write_config("", &[ProviderSpec::disk(&env, "disk-a")]);
    let broken = env.run(&["get", "one.txt"]);
    assert!(
        broken.code != 0 && broken.stderr.contains("disk-a: chunk 0 short"),
        "disk-a alone: exit {}, {}",
        broken.code,
        broken.stderr
    );
}

#[test]
fn puts_killed_at_random_points_never_leave_wrong_bytes() {
    let env = MirraEnv::initialized();
    let mut dice = Dice(99);
    let mut written: HashSet<Vec<u8>> = HashSet::new();
    // One complete put first, timed, so kills can land anywhere in a put's life.
    let first = dice.bytes(3 << 20);
    let started = Instant::now();
    env.run(&[
        "put",
        "-q",
        env.file("in", &first).to_str().unwrap(),
        "victim.bin",
    ])
    .ok();
    let put_time = started.elapsed().as_millis() as u64;
    // The first put's time is only a first guess: a loaded machine can make it much
    // slower or faster than later ones, so the kill window follows what actually
    // happens, shrinking after each put that finished in time and growing after each
    // kill, which settles at roughly four kills in five.
    let mut window = put_time * 3 / 2 + 1;
    written.insert(first);
    let (mut killed, mut completed, mut verified_gets) = (0, 1, 0);
    let runs = 50;
    for run in 0..runs {
        let len = (1 << 20) | dice.below(4 << 20) as usize;
        let data = dice.bytes(len);
        let file = env.file("in", &data);
        written.insert(data);
        let mut child = env
            .command(&["put", "-q", file.to_str().unwrap(), "victim.bin"])
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(dice.below(window)));
        match child.try_wait().unwrap() {
            Some(status) if status.success() => {
                completed += 1;
                window = (window * 4 / 5).max(2);
            }
            Some(status) => panic!("put {run} failed on its own: {status}"),
            None => {
                child.kill().unwrap();
                child.wait().unwrap();
                killed += 1;
                window += window / 20 + 1;
            }
        }
        let out = env.run(&["get", "victim.bin"]);
        assert_eq!(out.code, 0, "run {run}: get failed: {}", out.stderr);
        assert!(
            written.contains(&out.stdout),
            "run {run}: get returned bytes no put wrote"
        );
        verified_gets += 1;
    }
    println!("SIGKILL: {runs} puts (the first took {put_time} ms, kills drawn from a window that ended at {window} ms), {killed} killed, {completed} completed, {verified_gets} gets all verified, 0 wrong");
    // The window adapts so that most kills land mid-put; fewer than this means the
    // puts were not really interrupted and the test proved little.
    assert!(
        killed >= 5,
        "too few puts were killed mid-way ({killed} killed, {completed} completed)"
    );
    println!(
        "repair then verify: {} copies ok",
        env.repair_then_verify_all_ok()
    );
}
