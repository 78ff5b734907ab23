//! Zone files end to end: `mirra put` through a config, `mirra zonefile`, then `mirra
//! lookup` from a clean home (no config, no key) returning verified bytes, failing over
//! when providers are gone, and refusing a zone file whose key is not the signer's.
//! The http case runs a WebDAV server on 127.0.0.1 and stops it mid-test.

#[path = "common/dav_server.rs"]
mod dav_server;

use std::path::{Path, PathBuf};

use dav_server::DavServer;
use mirra::zonefile::{RecordData, ZoneFile};
use mirra_tests::cli::{MirraEnv, Run};
use serde_json::Value;

const KEY: &str = "profile/alice.json";

/// The public key of secp256k1's generator: valid, and nobody's signer here.
const OTHER_KEY: &str = "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798";

/// An initialized home whose disk providers are tried a, b, c (priorities 1, 2, 3;
/// weights 2, 3, 4), holding `data` under [`KEY`].
fn owner_with_object(data: &[u8]) -> MirraEnv {
    let owner = MirraEnv::initialized();
    let config = std::fs::read_to_string(owner.config_path()).unwrap();
    // Split on table headers only: the comments mention `[[provider]]` too.
    let mut parts = config.split("\n[[provider]]\n");
    let mut rewritten = parts.next().unwrap().to_owned();
    for (i, part) in parts.enumerate() {
        assert!(
            part.contains("priority = 10"),
            "default config layout changed: {part}"
        );
        rewritten.push_str("\n[[provider]]\n");
        // Weights 2, 3, 4, so the zone file test sees them carried from the config.
        let part = part.replacen("priority = 10", &format!("priority = {}", i + 1), 1);
        assert!(
            part.contains("weight = 1"),
            "default config layout changed: {part}"
        );
        rewritten.push_str(&part.replacen("weight = 1", &format!("weight = {}", i + 2), 1));
    }
    std::fs::write(owner.config_path(), rewritten).unwrap();
    let input = owner.file("alice.json", data);
    owner.run(&["put", input.to_str().unwrap(), KEY]).ok();
    owner
}

/// `mirra zonefile -o FILE` in `owner`'s home; returns the file's path and text.
fn write_zonefile(owner: &MirraEnv, extra: &[&str]) -> (PathBuf, String) {
    let path = owner.home().join("alice.zone");
    let mut args = vec!["zonefile", "-o", path.to_str().unwrap()];
    args.extend_from_slice(extra);
    owner.run(&args).ok();
    let text = std::fs::read_to_string(&path).unwrap();
    (path, text)
}

fn lookup(reader: &MirraEnv, zone: &Path, extra: &[&str]) -> Run {
    let mut args = vec!["lookup", zone.to_str().unwrap(), KEY];
    args.extend_from_slice(extra);
    reader.run(&args)
}

/// `mirra lookup ZONE KEY -o OUT --json`: the bytes read and the report.
fn lookup_to_file(reader: &MirraEnv, zone: &Path) -> (Vec<u8>, Value) {
    let out = reader.home().join("out.bin");
    let _ = std::fs::remove_file(&out);
    let run = lookup(reader, zone, &["-o", out.to_str().unwrap(), "--json"]).ok();
    let report: Value = serde_json::from_slice(&run.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", run.stdout_text()));
    (std::fs::read(&out).unwrap(), report)
}

/// `(name, status)` of each source in a lookup report, in the order tried.
fn statuses(report: &Value) -> Vec<(String, String)> {
    report["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_owned(),
                s["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn owner_public_key(owner: &MirraEnv) -> String {
    let shown = owner.run(&["keys", "show"]).ok().stdout_text();
    shown
        .split_whitespace()
        .find(|w| w.len() == 66 && w.bytes().all(|b| b.is_ascii_hexdigit()))
        .unwrap_or_else(|| panic!("no key in {shown}"))
        .to_owned()
}

#[test]
fn zonefile_lists_the_key_and_every_provider() {
    let owner = owner_with_object(b"{}");
    let (_, text) = write_zonefile(&owner, &["--origin", "alice.id"]);
    let zone = ZoneFile::parse(text.as_bytes()).unwrap();
    assert!(text.starts_with("$ORIGIN alice.id\n$TTL 3600\n"), "{text}");
    let key = zone.public_key_text().unwrap();
    assert_eq!(key, format!("pubkey:data:{}", owner_public_key(&owner)));
    let uris: Vec<(String, u16, u16, String)> = zone
        .uri_records()
        .map(|(name, u)| {
            (
                mirra::zonefile::relative_name(name, Some("alice.id")).to_owned(),
                u.priority,
                u.weight,
                u.target.clone(),
            )
        })
        .collect();
    let expected: Vec<(String, u16, u16, String)> = ["disk-a", "disk-b", "disk-c"]
        .iter()
        .enumerate()
        .map(|(i, p)| {
            (
                "_file".to_owned(),
                i as u16 + 1,
                i as u16 + 2,
                format!("file://{}/", owner.provider_root(p).display()),
            )
        })
        .collect();
    assert_eq!(uris, expected);
    // Written in canonical form: writing the parsed file again changes nothing.
    assert_eq!(zone.to_text(), text);
    // And to stdout without -o.
    assert_eq!(
        owner
            .run(&["zonefile", "--origin", "alice.id"])
            .ok()
            .stdout_text(),
        text
    );
}

#[test]
fn lookup_reads_verified_bytes_with_no_config_and_fails_over() {
    let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let owner = owner_with_object(&data);
    let (zone, _) = write_zonefile(&owner, &[]);
    let reader = MirraEnv::new();
    assert!(!reader.config_path().exists());

    let (got, report) = lookup_to_file(&reader, &zone);
    assert_eq!(got, data);
    assert_eq!(report["result"]["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(
        statuses(&report)[0],
        ("_file".to_owned(), "used".to_owned())
    );

    // To stdout, and with the zone file on stdin.
    let run = lookup(&reader, &zone, &[]).ok();
    assert_eq!(run.stdout, data);
    // A zone file on stdin is someone else's pointer: its file:// targets are refused
    // unless the reader says so.
    let zone_text = std::fs::read(&zone).unwrap();
    let refused = reader.run_with_stdin(&["lookup", "-", KEY], &zone_text);
    assert_ne!(refused.code, 0);
    assert!(refused.stdout.is_empty());
    assert!(
        refused.stderr.contains("file:// targets open local files"),
        "{}",
        refused.stderr
    );
    let run = reader
        .run_with_stdin(&["lookup", "--allow-local-targets", "-", KEY], &zone_text)
        .ok();
    assert_eq!(run.stdout, data);

    // The first URI's provider is gone: the next one serves, and the report says why.
    std::fs::remove_dir_all(owner.provider_root("disk-a")).unwrap();
    let (got, report) = lookup_to_file(&reader, &zone);
    assert_eq!(got, data);
    let tried = statuses(&report);
    assert_eq!(
        tried[0],
        ("_file".to_owned(), "failed".to_owned()),
        "{report:#}"
    );
    assert_eq!(
        tried[1],
        ("_file#2".to_owned(), "used".to_owned()),
        "{report:#}"
    );
    assert!(
        report["sources"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("disk-a"),
        "{report:#}"
    );

    // A corrupt copy on the next provider is skipped too; the last one still serves.
    let object = owner.provider_root("disk-b").join(KEY);
    let mut bytes = std::fs::read(&object).unwrap();
    bytes[1000] ^= 0xff;
    std::fs::write(&object, bytes).unwrap();
    let (got, report) = lookup_to_file(&reader, &zone);
    assert_eq!(got, data);
    assert_eq!(
        report["result"]["skipped"][0]["provider"], "_file#2",
        "{report:#}"
    );

    // Nothing left: a clear failure naming each record, and no output file.
    std::fs::remove_dir_all(owner.provider_root("disk-c")).unwrap();
    let out = reader.home().join("none.bin");
    let run = lookup(&reader, &zone, &["-o", out.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("_file#3"), "{}", run.stderr);
    assert!(!out.exists());
}

#[test]
fn lookup_refuses_a_zone_file_whose_key_is_not_the_signer() {
    let owner = owner_with_object(b"signed by the owner");
    let (zone, text) = write_zonefile(&owner, &[]);
    let owner_key = owner_public_key(&owner);
    let forged = owner.file(
        "forged.zone",
        text.replace(&owner_key, OTHER_KEY).as_bytes(),
    );
    let reader = MirraEnv::new();
    let out = reader.home().join("out.txt");
    let run = lookup(&reader, &forged, &["-o", out.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains(&format!("not the expected key {OTHER_KEY}")),
        "{}",
        run.stderr
    );
    assert!(!out.exists(), "no unverified byte may be written");
    // --pubkey names the real signer and overrides the zone file's key.
    let run = lookup(&reader, &forged, &["--pubkey", &owner_key]).ok();
    assert_eq!(run.stdout, b"signed by the owner");
    // And --pubkey with the wrong key refuses the genuine zone file.
    let run = lookup(&reader, &zone, &["--pubkey", OTHER_KEY]);
    assert_eq!(run.code, 1, "{}", run.stderr);
}

#[test]
fn empty_targets_and_unclaimed_schemes_are_skipped_with_a_warning() {
    let owner = owner_with_object(b"still resolves");
    let (_, text) = write_zonefile(&owner, &[]);
    // Blockstack's layout: empty https and http records, an unclaimed scheme first.
    let edited = text.replacen(
        "_file",
        "_https._tcp URI 0 1 \"\"\nhttp._tcp URI 0 1 \"\"\n_gopher URI 0 1 \"gopher+nothing://x/\"\n_file",
        1,
    );
    let zone = owner.file("edited.zone", edited.as_bytes());
    let reader = MirraEnv::new();
    let run = lookup(&reader, &zone, &[]).ok();
    assert_eq!(run.stdout, b"still resolves");
    for needle in [
        "_https._tcp",
        "http._tcp",
        "empty target",
        "_gopher",
        "no driver claims the scheme \"gopher+nothing\"",
    ] {
        assert!(
            run.stderr.contains(needle),
            "warning should name {needle:?}: {}",
            run.stderr
        );
    }

    // With nothing usable at all the lookup fails and says why.
    let useless = owner.file("useless.zone", b"pubkey TXT \"pubkey:data:0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798\"\n_https._tcp URI 10 1 \"\"\n");
    let run = lookup(&reader, &useless, &[]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("no URI record in") && run.stderr.contains("_https._tcp: empty target"),
        "{}",
        run.stderr
    );
}

#[test]
fn lookup_reports_zone_file_errors_with_their_position() {
    let reader = MirraEnv::new();
    let bad = reader.file("bad.zone", b"$TTL 3600\n$INCLUDE /etc/passwd\n");
    let run = lookup(&reader, &bad, &[]);
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("line 2, column 1: $INCLUDE is refused"),
        "{}",
        run.stderr
    );

    let no_key = reader.file("nokey.zone", b"_file URI 10 1 \"file:///nonexistent/\"\n");
    let run = lookup(&reader, &no_key, &[]);
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("has no `pubkey TXT"), "{}", run.stderr);

    let huge = reader.file("huge.zone", &vec![b';'; 64 * 1024 + 1]);
    let run = lookup(&reader, &huge, &[]);
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("larger than the 65536-byte limit"),
        "{}",
        run.stderr
    );
}

#[test]
fn http_provider_in_the_zone_file_serves_until_its_server_stops() {
    let mut server = DavServer::start_public();
    let owner = MirraEnv::initialized();
    let mut config = std::fs::read_to_string(owner.config_path()).unwrap();
    config.push_str(&format!(
        "\n[[provider]]\nname = \"web\"\ndriver = \"http\"\npriority = 1\nweight = 1\n[provider.config]\nbase_url = \"{}\"\nwebdav = true\n",
        server.base_url
    ));
    std::fs::write(owner.config_path(), config).unwrap();
    let data = b"served over http, verified".to_vec();
    let input = owner.file("alice.json", &data);
    owner.run(&["put", input.to_str().unwrap(), KEY]).ok();
    assert_eq!(
        std::fs::read(server.file(KEY)).unwrap(),
        data,
        "the put reached the WebDAV server"
    );

    let (zone, text) = write_zonefile(&owner, &[]);
    let parsed = ZoneFile::parse(text.as_bytes()).unwrap();
    let http = parsed
        .records()
        .find(|r| r.name == "_http._tcp")
        .unwrap_or_else(|| panic!("no _http._tcp record:\n{text}"));
    match &http.data {
        RecordData::Uri(uri) => assert_eq!(
            (uri.priority, uri.target.as_str()),
            (1, server.base_url.as_str())
        ),
        other => panic!("{other:?}"),
    }

    // The zone file itself can be fetched over http too.
    std::fs::write(server.file("alice.zone"), &text).unwrap();
    let zone_url = format!("{}alice.zone", server.base_url);
    let reader = MirraEnv::new();
    let run = reader.run(&["lookup", &zone_url, KEY, "--json"]).ok();
    assert_eq!(run.stdout, data);
    let report: Value = serde_json::from_str(&run.stderr[run.stderr.find('{').unwrap()..]).unwrap();
    assert_eq!(
        statuses(&report)[0],
        ("_http._tcp".to_owned(), "used".to_owned())
    );

    server.stop();
    let (got, report) = lookup_to_file(&reader, &zone);
    assert_eq!(got, data);
    let tried = statuses(&report);
    assert_eq!(
        tried[0],
        ("_http._tcp".to_owned(), "failed".to_owned()),
        "{report:#}"
    );
    assert_eq!(tried[1].1, "used", "{report:#}");
    // With the server down the zone file URL fails with a message naming it.
    let run = reader.run(&["lookup", &zone_url, KEY]);
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains(&zone_url), "{}", run.stderr);
}
