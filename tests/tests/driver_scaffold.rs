//! A third-party driver, written from `mirra driver new` outside the workspace, builds
//! with cargo as its own project and works in `mirra` with no change to mirra: the kv
//! driver (tests/fixtures/kv-driver) over a plain HTTP key-value store.

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use mirra_driver_api::{testkit, Capabilities, DriverLibrary, HostContext};
use mirra_tests::cli::MirraEnv;
use mirra_tests::{build_standalone, mirra_bin};

fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
}

fn lines(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            std::fs::read_to_string(e.unwrap().path())
                .unwrap()
                .lines()
                .count()
        })
        .sum()
}

/// `mirra driver new kv`, then the fixture's sources over the scaffold's: what a third
/// party does after scaffolding. Returns the crate's directory.
fn scaffold_kv(into: &Path) -> PathBuf {
    let dir = into.join("mirra-driver-kv");
    let api = workspace().join("driver-api");
    let out = Command::new(mirra_bin())
        .args(["driver", "new", "kv"])
        .arg(&dir)
        .arg("--api-path")
        .arg(&api)
        .output()
        .expect("run mirra driver new");
    assert!(
        out.status.success(),
        "mirra driver new failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let scaffold_lines = lines(&dir.join("src"));
    let fixture = workspace().join("tests/fixtures/kv-driver");
    for file in ["lib.rs", "config.rs", "driver.rs"] {
        std::fs::copy(fixture.join("src").join(file), dir.join("src").join(file)).unwrap();
    }
    let extra = std::fs::read_to_string(fixture.join("dependencies.toml")).unwrap();
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    assert!(manifest.contains("\n[dependencies]\n"), "{manifest}");
    std::fs::write(
        dir.join("Cargo.toml"),
        manifest.replacen(
            "\n[dependencies]\n",
            &format!("\n[dependencies]\n{extra}"),
            1,
        ),
    )
    .unwrap();
    // The workspace's lock pins the same versions, so the build reuses its artifacts.
    std::fs::copy(workspace().join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    let driver_lines = lines(&dir.join("src"));
    println!("kv driver: {driver_lines} lines in src/ (the scaffold had {scaffold_lines})");
    assert!(
        driver_lines < 300,
        "a writable HTTP key-value driver should stay small, it has {driver_lines} lines"
    );
    dir
}

#[test]
fn a_driver_scaffolded_outside_the_workspace_builds_and_serves_mirra() {
    let work = tempfile::tempdir().unwrap();
    let crate_dir = scaffold_kv(work.path());
    let so = build_standalone(&crate_dir, "mirra_driver_kv");

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let _server = mirra_test_servers::serve_kv(listener);
    let config = format!("endpoint = {endpoint:?}\nprefix = \"alice/\"\n");

    // The library as the host loads it passes the kit for what it declares; without
    // STREAMING_WRITE, the host's buffered writes are what `mirra put` uses.
    let library = DriverLibrary::load(&so).unwrap();
    let caps = library.info().capabilities;
    assert!(caps.contains(Capabilities::WRITE) && !caps.contains(Capabilities::STREAMING_WRITE));
    let driver = library.open(HostContext::default(), &config).unwrap();
    let summary = testkit::run_all(&driver, caps);
    assert!(
        summary.passed.contains(&"atomic_write_visibility"),
        "{summary:?}"
    );

    // Dropped into a driver directory and named by its bare name, it needs nothing else.
    let drivers = work.path().join("drivers");
    std::fs::create_dir(&drivers).unwrap();
    let installed = drivers.join("libmirra_driver_kv.so");
    std::fs::copy(&so, &installed).unwrap();
    std::fs::set_permissions(&installed, std::fs::Permissions::from_mode(0o755)).unwrap();

    let env = MirraEnv::initialized();
    let key_file = env.home().join("data/mirra/key");
    std::fs::write(
        env.config_path(),
        format!(
            "driver_dirs = [{:?}]\n\n[identity]\nkey_file = {:?}\n\n[policy]\n\n\
             [[provider]]\nname = \"kv-main\"\ndriver = \"kv\"\n[provider.config]\n{config}",
            drivers.display().to_string(),
            key_file.display().to_string()
        ),
    )
    .unwrap();

    let doctor = env.run(&["doctor"]);
    assert_eq!(
        doctor.code,
        0,
        "{}\n{}",
        doctor.stdout_text(),
        doctor.stderr
    );
    assert!(
        doctor.stdout_text().contains("no streaming-write"),
        "{}",
        doctor.stdout_text()
    );

    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let file = env.file("photo.bin", &data);
    env.run(&["put", file.to_str().unwrap(), "pics/photo.bin"])
        .ok();
    let out = env.run(&["get", "pics/photo.bin"]).ok();
    assert!(
        out.stdout == data,
        "get returned {} bytes",
        out.stdout.len()
    );
    let verify = env.run(&["verify", "--json"]).ok();
    let rows: serde_json::Value = serde_json::from_slice(&verify.stdout).unwrap();
    assert!(
        rows.as_array().unwrap().iter().all(|r| r["state"] == "ok"),
        "{rows}"
    );
    // The bytes really live in the key-value store, under the provider's prefix.
    let key = mirra_driver_api::Key::parse("alice/pics/photo.bin").unwrap();
    let direct = library
        .open(HostContext::default(), &format!("endpoint = {endpoint:?}"))
        .unwrap();
    assert_eq!(testkit::read_all(&direct, &key).unwrap(), data);

    env.run(&["rm", "pics/photo.bin"]).ok();
    let gone = env.run(&["get", "pics/photo.bin"]);
    assert_ne!(gone.code, 0, "a removed key still reads");
}

/// The body of the first ```sh block after `heading` in `text`.
fn sh_block(text: &str, heading: &str) -> String {
    let from = text
        .find(heading)
        .unwrap_or_else(|| panic!("no {heading:?}"));
    let start = from + text[from..].find("```sh\n").expect("a sh block") + "```sh\n".len();
    let end = start + text[start..].find("```").unwrap();
    text[start..end].to_owned()
}

#[test]
fn the_driver_guide_walkthrough_runs_as_written() {
    let guide = std::fs::read_to_string(workspace().join("docs/drivers.md")).unwrap();
    let mut script = sh_block(&guide, "## Walkthrough");
    // Built with this test's profile, into its target directory, offline: the same
    // commands, without a cold release build of every dependency.
    let bin_dir = mirra_bin().parent().unwrap().to_path_buf();
    let profile = bin_dir.file_name().unwrap().to_string_lossy().into_owned();
    if profile != "release" {
        script = script
            .replace(
                "cargo build --release",
                &format!("cargo build {}", mirra_tests::profile_args().join(" ")),
            )
            .replace("/release/", &format!("/{profile}/"));
    }
    let home = tempfile::tempdir().unwrap();
    let real_home = PathBuf::from(std::env::var_os("HOME").unwrap_or_default());
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| real_home.join(".cargo"));
    let rustup_home = std::env::var_os("RUSTUP_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| real_home.join(".rustup"));
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("bash")
        .args(["-euo", "pipefail", "-c"])
        .arg(format!("mirra init >/dev/null\n{script}"))
        .current_dir(home.path())
        .env_clear()
        .env("HOME", home.path())
        .env("PATH", path)
        .env("CARGO_HOME", cargo_home)
        .env("RUSTUP_HOME", rustup_home)
        .env("CARGO_TARGET_DIR", bin_dir.parent().unwrap())
        .env("CARGO_NET_OFFLINE", "true")
        .env("MIRRA_SRC", workspace())
        .envs(std::env::var_os("RUSTUP_TOOLCHAIN").map(|t| ("RUSTUP_TOOLCHAIN", t)))
        .output()
        .unwrap();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "the walkthrough failed:\n{text}");
    assert!(text.contains("hello-main  hello 0.1.0"), "{text}");
}
