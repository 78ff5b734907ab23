//! The seed's story end to end: an owner mirrors to a local disk, an S3 server and a
//! WebDAV server; the S3 server goes down; reads carry on, verified; it comes back and
//! `repair` leaves every provider consistent. And a provider that accepts connections but
//! never answers costs a reader the hedge delay, not the timeout.

#[path = "common/dav_server.rs"]
mod dav_server;
#[path = "common/s3_server.rs"]
mod s3_server;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use dav_server::DavServer;
use mirra_tests::cli::{MirraEnv, ProviderSpec};
use s3_server::S3Server;

fn pattern(len: usize, seed: u32) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) ^ seed).to_le_bytes()[1])
        .collect()
}

fn providers(env: &MirraEnv, s3: &S3Server, dav: &DavServer) -> Vec<ProviderSpec> {
    vec![
        ProviderSpec {
            name: "aws".into(),
            priority: 1,
            driver: "s3".into(),
            config: s3.config("prefix = \"alice/\"\nconnect_timeout = \"1s\"\ntimeout = \"5s\"\n"),
            chaos: None,
        },
        ProviderSpec {
            name: "dav".into(),
            priority: 5,
            driver: "http".into(),
            config: dav.config("connect_timeout = \"1s\"\ntimeout = \"5s\"\n"),
            chaos: None,
        },
        ProviderSpec::disk(env, "disk-a").with_priority(10),
    ]
}

#[test]
fn reads_survive_an_s3_outage_and_repair_restores_every_provider() {
    let env = MirraEnv::initialized();
    let mut s3 = S3Server::start();
    let dav = DavServer::start();
    env.write_config(
        "timeout = \"10s\"\nhedge_after = \"200ms\"\n",
        &providers(&env, &s3, &dav),
    );
    let profile = br#"{"name":"jude","avatar":"img/avatar.png"}"#.to_vec();
    let image = pattern(6 << 20, 7);
    env.run(&["put", env.file("profile.json", &profile).to_str().unwrap()])
        .ok();
    env.run(&[
        "put",
        env.file("avatar.png", &image).to_str().unwrap(),
        "img/avatar.png",
    ])
    .ok();
    assert_eq!(
        std::fs::read(s3.object_file("alice/img/avatar.png")).unwrap(),
        image,
        "S3 holds the bytes as they are"
    );
    assert_eq!(
        std::fs::read(dav.file("img/avatar.png")).unwrap(),
        image,
        "WebDAV holds the bytes as they are"
    );

    s3.stop();
    let started = Instant::now();
    assert_eq!(env.run(&["get", "profile.json"]).ok().stdout, profile);
    assert!(env.run(&["get", "img/avatar.png"]).ok().stdout == image);
    println!("S3 down: both gets verified in {:?}", started.elapsed());
    // A write during the outage reaches the majority and is journaled for S3.
    let updated = br#"{"name":"jude","status":"S3 is down, still here"}"#.to_vec();
    let out = env
        .run(&["put", env.file("profile.json", &updated).to_str().unwrap()])
        .ok();
    let text = out.stdout_text();
    assert!(
        text.lines()
            .any(|l| l.trim_start().starts_with("aws ") && l.contains("failed")),
        "{text}"
    );

    s3.restart();
    let repair = env.run(&["repair"]).ok();
    let text = repair.stdout_text();
    assert!(text.contains("repaired profile.json  aws"), "{text}");
    let verify = env.run(&["verify"]);
    assert_eq!(verify.code, 0, "{}", verify.stdout_text());
    assert_eq!(
        std::fs::read(s3.object_file("alice/profile.json")).unwrap(),
        updated
    );
    assert_eq!(env.run(&["get", "profile.json"]).ok().stdout, updated);
}

/// A listener that accepts connections and never answers, for `lifetime`.
fn black_hole(lifetime: Duration) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        let until = Instant::now() + lifetime;
        while Instant::now() < until {
            match listener.accept() {
                Ok((stream, _)) => held.push(stream),
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    });
    url
}

#[test]
fn a_black_holed_first_provider_costs_the_hedge_delay_not_the_timeout() {
    let env = MirraEnv::initialized();
    let data = pattern(2 << 20, 3);
    env.run(&["put", env.file("iso", &data).to_str().unwrap()])
        .ok();
    let url = black_hole(Duration::from_secs(120));
    let mut specs = vec![ProviderSpec {
        name: "blackhole".into(),
        priority: 1,
        driver: "http".into(),
        config: format!("base_url = {url:?}\nconnect_timeout = \"30s\"\ntimeout = \"30s\"\n"),
        chaos: None,
    }];
    specs.extend(env.default_disks());
    env.write_config(
        "timeout = \"30s\"\nstall_timeout = \"30s\"\nhedge_after = \"100ms\"\n",
        &specs,
    );
    let mut latencies = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let out = env.run(&["get", "iso"]).ok();
        latencies.push(started.elapsed());
        assert!(out.stdout == data);
    }
    latencies.sort();
    println!("black-holed first provider: get latencies {latencies:?} (hedge 100ms, timeout 30s)");
    assert!(
        latencies[2] < Duration::from_secs(15),
        "median {:?}: the read waited for the black hole",
        latencies[2]
    );
}
