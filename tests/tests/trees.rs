//! Whole trees through the `mirra` binary: `put -r`, `get -r` and `sync` against the
//! three default disk providers, including a killed run, a provider down and keys that
//! would leave the target directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use mirra_tests::cli::{MirraEnv, Run};

/// Deterministic bytes, so a mismatch is reproducible.
fn bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

fn write(root: &Path, rel: &str, data: &[u8]) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, data).unwrap();
}

/// Every regular file under `root` by `/`-separated relative path, with its bytes.
fn read_tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    fn visit(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                visit(root, &path, out);
            } else {
                let rel = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_owned();
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    visit(root, root, &mut out);
    out
}

/// The JSON summary a tree command printed.
fn summary(run: &Run) -> serde_json::Value {
    serde_json::from_slice(&run.stdout)
        .unwrap_or_else(|e| panic!("{e}: stdout {:?}, stderr {}", run.stdout_text(), run.stderr))
}

fn count(value: &serde_json::Value, field: &str) -> u64 {
    value[field]
        .as_u64()
        .unwrap_or_else(|| panic!("no {field} in {value}"))
}

/// The provider row named `name` in a summary.
fn provider<'a>(value: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    value["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["provider"] == name)
        .unwrap_or_else(|| panic!("no {name} in {value}"))
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Manifests (`*.json`) stored on a disk provider.
fn manifests_on(env: &MirraEnv, name: &str) -> usize {
    fn visit(dir: &Path) -> usize {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return 0;
        };
        entries
            .map(|e| e.unwrap().path())
            .map(|p| {
                if p.is_dir() {
                    visit(&p)
                } else {
                    usize::from(p.extension().is_some_and(|e| e == "json"))
                }
            })
            .sum()
    }
    visit(&env.provider_root(name).join(".mirra/manifests"))
}

/// A tree with nested folders, unicode names, an empty file and a 20 MiB file.
fn sample_tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("README.md", b"# site\n".to_vec()),
        ("empty", Vec::new()),
        ("big/iso.bin", bytes(20 << 20, 1)),
        ("a/b/c/deep.txt", bytes(5000, 2)),
        ("фото/снимок 1.jpg", bytes(70_000, 3)),
        ("日本語/ファイル.txt", "こんにちは".as_bytes().to_vec()),
        ("emoji/🦀 crab.rs", b"fn main() {}".to_vec()),
        ("a/b/sibling", bytes(4 << 20, 4)),
    ];
    for (rel, data) in &files {
        write(root, rel, data);
    }
    files
        .into_iter()
        .map(|(rel, data)| (rel.to_owned(), data))
        .collect()
}

#[test]
fn a_tree_round_trips_and_a_second_sync_sends_nothing() {
    let env = MirraEnv::initialized();
    let src = env.home().join("src");
    let expected = sample_tree(&src);

    let put = summary(
        &env.run(&["put", "-r", path_str(&src), "site", "--json"])
            .ok(),
    );
    assert_eq!(count(&put, "sent"), expected.len() as u64, "{put}");
    assert_eq!(
        count(&put, "sent_bytes"),
        expected.values().map(|d| d.len() as u64).sum::<u64>()
    );
    for name in ["disk-a", "disk-b", "disk-c"] {
        assert_eq!(
            count(provider(&put, name), "ok"),
            expected.len() as u64,
            "{put}"
        );
    }
    let listing = env.run(&["ls", "site"]).ok().stdout_text();
    assert!(
        listing.contains("site/фото/снимок 1.jpg") && listing.contains("site/empty"),
        "{listing}"
    );

    let out = env.home().join("out");
    let got = summary(
        &env.run(&["get", "-r", "site", path_str(&out), "--json"])
            .ok(),
    );
    assert_eq!(count(&got, "sent"), expected.len() as u64, "{got}");
    assert_eq!(read_tree(&out), expected, "the tree read back differs");
    let leftovers: Vec<_> = read_tree(&out)
        .into_keys()
        .filter(|k| k.contains(".mirra-get-"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");

    // Nothing changed: neither the source nor the copy (which got the recorded times)
    // has anything to send.
    for dir in [&src, &out] {
        let again = summary(&env.run(&["sync", path_str(dir), "site", "--json"]).ok());
        assert_eq!(count(&again, "sent"), 0, "{again}");
        assert_eq!(count(&again, "unchanged"), expected.len() as u64, "{again}");
    }
    // A second get -r finds every file in place.
    let again = summary(
        &env.run(&["get", "-r", "site", path_str(&out), "--json"])
            .ok(),
    );
    assert_eq!(
        (count(&again, "sent"), count(&again, "unchanged")),
        (0, expected.len() as u64),
        "{again}"
    );
}

#[test]
fn sync_sends_only_the_changed_file_and_deletes_only_the_removed_one() {
    let env = MirraEnv::initialized();
    let src = env.home().join("src");
    for i in 0..20 {
        write(
            &src,
            &format!("docs/{i:02}.txt"),
            &bytes(1000 + i, i as u64),
        );
    }
    env.run(&["sync", path_str(&src), "docs", "--json"]).ok();

    // Same size, new bytes and a new time: only the time can tell (default mode).
    let changed = src.join("docs/07.txt");
    std::fs::write(&changed, bytes(1007, 999)).unwrap();
    let later = SystemTime::now() + Duration::from_secs(10);
    std::fs::File::options()
        .write(true)
        .open(&changed)
        .unwrap()
        .set_modified(later)
        .unwrap();
    std::fs::remove_file(src.join("docs/13.txt")).unwrap();

    let plan = summary(
        &env.run(&[
            "sync",
            path_str(&src),
            "docs",
            "--delete",
            "--dry-run",
            "--json",
        ])
        .ok(),
    );
    let sent: Vec<&str> = plan["send"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["key"].as_str().unwrap())
        .collect();
    assert_eq!(sent, ["docs/docs/07.txt"], "{plan}");
    assert_eq!(
        plan["delete"],
        serde_json::json!(["docs/docs/13.txt"]),
        "{plan}"
    );
    assert_eq!(count(&plan, "unchanged"), 18);
    assert_eq!(
        env.run(&["ls", "docs"]).ok().stdout_text().lines().count(),
        20,
        "a dry run changes nothing"
    );

    let done = summary(
        &env.run(&["sync", path_str(&src), "docs", "--delete", "--json"])
            .ok(),
    );
    assert_eq!(
        (
            count(&done, "sent"),
            count(&done, "deleted"),
            count(&done, "unchanged")
        ),
        (1, 1, 18),
        "{done}"
    );
    let deleted = env.run(&["get", "docs/docs/13.txt"]);
    assert_ne!(deleted.code, 0);
    assert!(deleted.stderr.contains("deleted"), "{}", deleted.stderr);
    assert_eq!(
        env.run(&["get", "docs/docs/07.txt"]).ok().stdout,
        bytes(1007, 999)
    );

    let settled = summary(
        &env.run(&["sync", path_str(&src), "docs", "--delete", "--json"])
            .ok(),
    );
    assert_eq!(
        (count(&settled, "sent"), count(&settled, "deleted")),
        (0, 0),
        "{settled}"
    );
    // --checksum reads the files and agrees.
    let hashed = summary(
        &env.run(&["sync", path_str(&src), "docs", "--checksum", "--json"])
            .ok(),
    );
    assert_eq!(
        (count(&hashed, "sent"), count(&hashed, "unchanged")),
        (0, 19),
        "{hashed}"
    );
}

#[test]
fn a_killed_put_completes_when_run_again() {
    let env = MirraEnv::initialized();
    let src = env.home().join("src");
    let total = 400;
    for i in 0..total {
        write(
            &src,
            &format!("d{}/f{i:03}", i % 7),
            &bytes(3000 + i, i as u64),
        );
    }
    let mut child = env
        .command(&["put", "-r", path_str(&src), "--transfers", "2", "--json"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while manifests_on(&env, "disk-c") < 40 {
        assert!(Instant::now() < deadline, "the first run made no progress");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the first run finished before it could be killed"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // Commits go provider by provider (disk-a, disk-b, disk-c): a manifest on disk-b
    // means the key reached the 2-of-3 quorum.
    let (on_a, on_b) = (manifests_on(&env, "disk-a"), manifests_on(&env, "disk-b"));
    assert!(
        on_a < total,
        "killed too late to test anything ({on_a} manifests)"
    );

    let rerun = summary(&env.run(&["put", "-r", path_str(&src), "--json"]).ok());
    let (sent, unchanged) = (count(&rerun, "sent"), count(&rerun, "unchanged"));
    assert_eq!(sent + unchanged, total as u64, "{rerun}");
    assert_eq!(
        unchanged, on_b as u64,
        "exactly the keys that reached quorum are not sent again: {rerun}"
    );

    let done = summary(&env.run(&["sync", path_str(&src), "", "--json"]).ok());
    assert_eq!(count(&done, "sent"), 0, "{done}");
    let out = env.home().join("out");
    env.run(&["get", "-r", "", path_str(&out)]).ok();
    assert_eq!(read_tree(&out), read_tree(&src));
    env.repair_then_verify_all_ok();
}

#[test]
fn a_provider_down_is_reported_and_repair_completes_it() {
    let env = MirraEnv::initialized();
    let src = env.home().join("src");
    for i in 0..12 {
        write(
            &src,
            &format!("photos/{i}.jpg"),
            &bytes(10_000 + i, i as u64),
        );
    }
    let mut providers = env.default_disks();
    providers[2] = std::mem::replace(
        &mut providers[2],
        mirra_tests::cli::ProviderSpec::disk(&env, "disk-c"),
    )
    .with_chaos("down = true");
    env.write_config("write_quorum = \"majority\"", &providers);

    let put = env.run(&["put", "-r", path_str(&src), "p", "--json"]).ok();
    let report = summary(&put);
    assert_eq!(
        count(&report, "sent"),
        12,
        "quorum (2 of 3) was met for every file: {report}"
    );
    let down = provider(&report, "disk-c");
    assert_eq!(
        (count(down, "ok"), count(down, "failed")),
        (0, 12),
        "{report}"
    );
    assert!(
        down["first_error"].as_str().is_some_and(|e| !e.is_empty()),
        "{report}"
    );
    assert_eq!(count(provider(&report, "disk-a"), "ok"), 12);
    let text = env
        .run(&["put", "-r", path_str(&src), "p"])
        .ok()
        .stdout_text();
    assert!(
        text.contains("disk-c") && text.contains("0 ok"),
        "nothing to send, still one line per provider: {text}"
    );

    env.write_config("write_quorum = \"majority\"", &env.default_disks());
    assert_eq!(manifests_on(&env, "disk-c"), 0);
    env.repair_then_verify_all_ok();
    assert_eq!(manifests_on(&env, "disk-c"), 12);
}

#[test]
fn get_r_refuses_a_key_that_would_leave_the_directory() {
    let env = MirraEnv::initialized();
    let src = env.home().join("src");
    write(&src, "sub/secret.txt", b"top secret");
    write(&src, "plain.txt", b"plain");
    env.run(&["put", "-r", path_str(&src), "t"]).ok();

    let out = env.home().join("out");
    let outside = env.home().join("outside");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, out.join("sub")).unwrap();

    let run = env.run(&["get", "-r", "t", path_str(&out), "--json"]);
    assert_eq!(run.code, 1, "a refused key fails the run: {}", run.stderr);
    let report = summary(&run);
    let failed = report["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 1, "{report}");
    assert_eq!(failed[0]["key"], "t/sub/secret.txt");
    assert!(
        failed[0]["error"]
            .as_str()
            .unwrap()
            .contains("symbolic link"),
        "{report}"
    );
    assert_eq!(
        std::fs::read_dir(&outside).unwrap().count(),
        0,
        "nothing may be written through the link"
    );
    assert_eq!(
        std::fs::read(out.join("plain.txt")).unwrap(),
        b"plain",
        "the other keys are still written"
    );
}

#[test]
fn invalid_names_and_special_files_are_reported_and_skipped() {
    let env = MirraEnv::initialized();
    let src = env.home().join("src");
    write(&src, "ok.txt", b"fine");
    write(&src, "back\\slash.txt", b"no");
    write(&src, "line\nbreak.txt", b"no");
    let fifo = src.join("pipe");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    std::os::unix::fs::symlink(src.join("ok.txt"), src.join("link.txt")).unwrap();

    let run = env.run(&["put", "-r", path_str(&src), "--json"]).ok();
    let report = summary(&run);
    assert_eq!(count(&report, "sent"), 1, "{report}");
    let skipped: Vec<String> = report["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| format!("{} {}", s["path"], s["reason"]))
        .collect();
    assert_eq!(skipped.len(), 4, "{skipped:?}");
    assert!(
        skipped
            .iter()
            .any(|s| s.contains("back\\\\slash.txt") && s.contains("backslash")),
        "{skipped:?}"
    );
    assert!(
        skipped
            .iter()
            .any(|s| s.contains("break.txt") && s.contains("not a valid key")),
        "{skipped:?}"
    );
    assert!(
        skipped
            .iter()
            .any(|s| s.contains("pipe") && s.contains("special file")),
        "{skipped:?}"
    );
    assert!(
        skipped
            .iter()
            .any(|s| s.contains("link.txt") && s.contains("symbolic link")),
        "{skipped:?}"
    );
    assert!(
        run.stderr.contains("skipped"),
        "a warning on stderr: {}",
        run.stderr
    );
    assert_eq!(
        env.run(&["ls"]).ok().stdout_text().lines().count(),
        1,
        "only ok.txt is stored, nothing renamed"
    );

    let followed = summary(
        &env.run(&["put", "-r", path_str(&src), "--follow-links", "--json"])
            .ok(),
    );
    assert_eq!(
        count(&followed, "sent"),
        1,
        "the link, followed: {followed}"
    );
    assert_eq!(env.run(&["get", "link.txt"]).ok().stdout, b"fine");
}

#[test]
fn tree_flags_and_paths_are_checked() {
    let env = MirraEnv::initialized();
    let file = env.file("single", b"x");
    let run = env.run(&["put", "-r", path_str(&file)]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("not a directory"), "{}", run.stderr);
    let run = env.run(&["put", path_str(&file), "--transfers", "4"]);
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("only with -r"), "{}", run.stderr);
    let run = env.run(&["sync", path_str(env.home()), "../up"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let _: PathBuf = file;
}
