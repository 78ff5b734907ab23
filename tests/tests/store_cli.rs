//! The verified store end to end: the `mirra` binary, three disk providers loaded as
//! `.so` files, and providers that lose, corrupt, forge and roll back data.

use std::path::Path;

use mirra_tests::cli::MirraEnv;

/// Deterministic, non-repeating test bytes.
fn bytes(len: usize, seed: u8) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1du64 ^ u64::from(seed);
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

fn manifest_path(root: &Path, key: &str) -> std::path::PathBuf {
    root.join(".mirra/manifests").join(format!("{key}.json"))
}

#[test]
fn round_trips_empty_small_and_64mib_from_files_and_stdin() {
    let env = MirraEnv::initialized();
    for (name, data) in [
        ("empty", Vec::new()),
        ("small.txt", b"hello, mirra\n".to_vec()),
        ("big.bin", bytes(64 << 20, 1)),
    ] {
        let file = env.file(name, &data);
        env.run(&["put", file.to_str().unwrap()]).ok();
        let out = env.run(&["get", name]).ok();
        assert!(
            out.stdout == data,
            "{name}: stdout differs ({} vs {} bytes)",
            out.stdout.len(),
            data.len()
        );
        let copy = env.home().join(format!("{name}.copy"));
        env.run(&["get", name, "-o", copy.to_str().unwrap()]).ok();
        assert!(
            std::fs::read(&copy).unwrap() == data,
            "{name}: -o file differs"
        );
        for provider in ["disk-a", "disk-b", "disk-c"] {
            let stored = std::fs::read(env.provider_root(provider).join(name)).unwrap();
            assert!(stored == data, "{name}: {provider} holds different bytes");
        }
    }
    let piped = bytes(3 << 20, 2);
    env.run_with_stdin(&["put", "-", "from/stdin.bin"], &piped)
        .ok();
    let out = env.run(&["get", "from/stdin.bin", "-o", "-"]).ok();
    assert!(out.stdout == piped, "stdin round trip differs");
}

#[test]
fn reads_survive_a_lost_provider_directory() {
    let env = MirraEnv::initialized();
    let data = bytes(9 << 20, 3);
    env.run(&["put", env.file("photo.jpg", &data).to_str().unwrap()])
        .ok();
    std::fs::remove_dir_all(env.provider_root("disk-a")).unwrap();
    let out = env.run(&["get", "photo.jpg"]).ok();
    assert!(out.stdout == data, "wrong bytes after losing disk-a");
}

#[test]
fn a_flipped_byte_is_caught_and_the_corrupt_provider_named() {
    let env = MirraEnv::initialized();
    // disk-a is read first, so its corrupt chunk is met and skipped.
    let config = std::fs::read_to_string(env.config_path()).unwrap();
    std::fs::write(
        env.config_path(),
        config.replacen("priority = 10", "priority = 5", 1),
    )
    .unwrap();
    let data = bytes(10 << 20, 4);
    env.run(&["put", env.file("iso.img", &data).to_str().unwrap()])
        .ok();
    let target = env.provider_root("disk-a").join("iso.img");
    let mut corrupt = std::fs::read(&target).unwrap();
    corrupt[5 << 20] ^= 0x01;
    std::fs::write(&target, &corrupt).unwrap();

    let out = env.run(&["get", "iso.img", "--json", "-q"]).ok();
    assert!(out.stdout == data, "corrupt bytes were returned");
    let report: serde_json::Value =
        serde_json::from_str(&out.stderr).unwrap_or_else(|e| panic!("{e}: {}", out.stderr));
    let skipped = report["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 1, "{report}");
    assert_eq!(skipped[0]["provider"], "disk-a");
    assert!(
        skipped[0]["reason"]
            .as_str()
            .unwrap()
            .contains("chunk 1 corrupt"),
        "{report}"
    );
}

#[test]
fn every_copy_corrupt_fails_naming_each_provider() {
    let env = MirraEnv::initialized();
    env.run(&[
        "put",
        env.file("doc.txt", b"the original text").to_str().unwrap(),
    ])
    .ok();
    std::fs::write(
        env.provider_root("disk-a").join("doc.txt"),
        b"the 0riginal text",
    )
    .unwrap();
    std::fs::remove_file(env.provider_root("disk-b").join("doc.txt")).unwrap();
    std::fs::write(env.provider_root("disk-c").join("doc.txt"), b"short").unwrap();
    let out = env.run(&["get", "doc.txt"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stdout.is_empty(), "unverified bytes reached stdout");
    for expected in [
        "disk-a: chunk 0 corrupt",
        "disk-b: chunk 0: not found",
        "disk-c: chunk 0 short",
    ] {
        assert!(
            out.stderr.contains(expected),
            "missing {expected:?} in: {}",
            out.stderr
        );
    }
    let dest = env.home().join("never.txt");
    let out = env.run(&["get", "doc.txt", "-o", dest.to_str().unwrap()]);
    assert_eq!(out.code, 1);
    assert!(!dest.exists(), "-o left a file behind after a failed read");
    let leftovers: Vec<_> = std::fs::read_dir(env.home())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(".mirra-get-"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left behind");
}

#[test]
fn a_manifest_signed_by_another_key_is_refused() {
    let owner = MirraEnv::initialized();
    owner
        .run(&[
            "put",
            owner
                .file("profile.json", b"{\"name\":\"alice\"}")
                .to_str()
                .unwrap(),
        ])
        .ok();
    // A forger with their own key writes over every provider's copy and manifest.
    let forger = MirraEnv::initialized();
    forger
        .run(&[
            "put",
            forger
                .file("profile.json", b"{\"name\":\"mallory\"}")
                .to_str()
                .unwrap(),
        ])
        .ok();
    for provider in ["disk-a", "disk-b", "disk-c"] {
        let (from, to) = (
            forger.provider_root(provider),
            owner.provider_root(provider),
        );
        std::fs::copy(from.join("profile.json"), to.join("profile.json")).unwrap();
        std::fs::copy(
            manifest_path(&from, "profile.json"),
            manifest_path(&to, "profile.json"),
        )
        .unwrap();
    }
    let out = owner.run(&["get", "profile.json"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        !out.stdout_text().contains("mallory"),
        "forged bytes returned"
    );
    assert!(
        out.stderr.contains("signed by") || out.stderr.contains("signer"),
        "{}",
        out.stderr
    );
}

#[test]
fn an_older_signed_version_copied_back_is_never_returned() {
    let env = MirraEnv::initialized();
    env.run(&[
        "put",
        env.file("site.html", b"version one").to_str().unwrap(),
    ])
    .ok();
    let saved = env.home().join("saved");
    std::fs::create_dir(&saved).unwrap();
    let root_a = env.provider_root("disk-a");
    std::fs::copy(root_a.join("site.html"), saved.join("bytes")).unwrap();
    std::fs::copy(manifest_path(&root_a, "site.html"), saved.join("manifest")).unwrap();

    env.run(&[
        "put",
        env.file("site.html", b"version two").to_str().unwrap(),
    ])
    .ok();
    assert_eq!(env.run(&["get", "site.html"]).ok().stdout, b"version two");

    // Every provider is rolled back to the old, validly signed version.
    for provider in ["disk-a", "disk-b", "disk-c"] {
        let root = env.provider_root(provider);
        std::fs::copy(saved.join("bytes"), root.join("site.html")).unwrap();
        std::fs::copy(saved.join("manifest"), manifest_path(&root, "site.html")).unwrap();
    }
    for latest in [false, true] {
        let mut args = vec!["get", "site.html"];
        if latest {
            args.push("--latest");
        }
        let out = env.run(&args);
        assert_eq!(
            out.code,
            1,
            "rollback accepted (latest={latest}): {}",
            out.stdout_text()
        );
        assert!(out.stdout.is_empty());
        assert!(out.stderr.contains("rollback refused"), "{}", out.stderr);
    }
}

#[test]
fn an_unmet_write_quorum_fails_naming_the_failed_providers() {
    let env = MirraEnv::initialized();
    let config = std::fs::read_to_string(env.config_path()).unwrap();
    std::fs::write(
        env.config_path(),
        config.replace("write_quorum = \"majority\"", "write_quorum = \"all\""),
    )
    .unwrap();
    // disk-b's root becomes a plain file: the driver cannot open it.
    let root_b = env.provider_root("disk-b");
    std::fs::remove_dir_all(&root_b).unwrap();
    std::fs::write(&root_b, b"not a directory").unwrap();
    let out = env.run(&["put", env.file("a.txt", b"abc").to_str().unwrap()]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout_text(), out.stderr);
    assert!(
        out.stderr.contains("write quorum not met: 2 of 3"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("disk-b:"), "{}", out.stderr);

    // With a majority it succeeds and says which provider missed it.
    std::fs::write(env.config_path(), config).unwrap();
    let out = env
        .run(&["put", env.file("a.txt", b"abc").to_str().unwrap()])
        .ok();
    let text = out.stdout_text();
    assert!(
        text.contains("disk-a  ok") && text.contains("disk-b  failed"),
        "{text}"
    );
    assert_eq!(env.run(&["get", "a.txt"]).ok().stdout, b"abc");
}

#[test]
fn bad_keys_are_refused_before_any_provider_sees_them() {
    let env = MirraEnv::initialized();
    let file = env.file("x", b"x");
    for bad in [
        "../escape",
        "/etc/passwd",
        "a//b",
        "a/./b",
        "a\\b",
        ".mirra/manifests/x.json",
        "trailing/",
    ] {
        let out = env.run(&["put", file.to_str().unwrap(), bad]);
        assert_eq!(out.code, 2, "{bad:?} accepted: {}", out.stderr);
        assert!(
            out.stderr.contains("invalid key"),
            "{bad:?}: {}",
            out.stderr
        );
        let out = env.run(&["get", bad]);
        assert_eq!(out.code, 2, "get {bad:?}: {}", out.stderr);
    }
    for provider in ["disk-a", "disk-b", "disk-c"] {
        let entries = std::fs::read_dir(env.provider_root(provider))
            .unwrap()
            .count();
        assert_eq!(entries, 0, "{provider} was written to");
    }
}

#[test]
fn a_config_typo_names_the_file_line_and_field() {
    let env = MirraEnv::initialized();
    let config = std::fs::read_to_string(env.config_path()).unwrap();
    let typo = config.replacen("priority = 10", "prioirty = 10", 1);
    let line = typo
        .lines()
        .position(|l| l.starts_with("prioirty"))
        .unwrap()
        + 1;
    std::fs::write(env.config_path(), typo).unwrap();
    let out = env.run(&["ls"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    let expected = format!("{}:{line}:", env.config_path().display());
    assert!(
        out.stderr.contains(&expected),
        "expected {expected:?} in {}",
        out.stderr
    );
    assert!(out.stderr.contains("prioirty"), "{}", out.stderr);
}

#[test]
fn rm_leaves_a_tombstone_ls_and_stat_agree() {
    let env = MirraEnv::initialized();
    env.run(&["put", env.file("keep.txt", b"keep").to_str().unwrap()])
        .ok();
    env.run(&["put", env.file("gone.txt", b"gone").to_str().unwrap()])
        .ok();
    env.run(&["rm", "gone.txt"]).ok();
    let out = env.run(&["get", "gone.txt"]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("deleted (version 2)"), "{}", out.stderr);
    assert!(
        !env.provider_root("disk-a").join("gone.txt").exists(),
        "bytes not deleted"
    );

    let listing: serde_json::Value =
        serde_json::from_slice(&env.run(&["ls", "--json"]).ok().stdout).unwrap();
    let keys: Vec<&str> = listing
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["keep.txt"]);
    assert_eq!(listing[0]["replicas"], 3);

    std::fs::remove_file(env.provider_root("disk-c").join("keep.txt")).unwrap();
    let out = env.run(&["stat", "keep.txt", "--json"]);
    assert_eq!(out.code, 1, "stat should report the deficient provider");
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let states: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["ok", "ok", "bad_bytes"]);
}

#[test]
fn immutable_objects_are_addressed_by_their_hash() {
    let env = MirraEnv::initialized();
    let data = bytes(100_000, 5);
    let out = env
        .run(&[
            "put",
            "--immutable",
            "--json",
            env.file("blob", &data).to_str().unwrap(),
        ])
        .ok();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let sha = report["sha256"].as_str().unwrap().to_owned();
    let out = env.run(&["get", "--sha256", &sha]).ok();
    assert!(out.stdout == data);
    let out = env.run(&["get", "--sha256", "00"]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("not a SHA-256"), "{}", out.stderr);
}

#[test]
fn init_refuses_to_overwrite_and_keys_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let env = MirraEnv::initialized();
    let key_file = env.home().join("data/mirra/key");
    assert_eq!(
        std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let before = std::fs::read(&key_file).unwrap();
    let out = env.run(&["init"]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("--force"), "{}", out.stderr);
    assert_eq!(std::fs::read(&key_file).unwrap(), before, "key changed");
    let shown = env.run(&["keys", "show"]).ok().stdout_text();
    let mut lines = shown.lines();
    let hex = lines.next().unwrap();
    assert_eq!(hex.len(), 66);
    assert_eq!(lines.next().unwrap(), format!("pubkey:data:{hex}"));
}
