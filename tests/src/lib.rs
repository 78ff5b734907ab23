//! Fixtures shared by the end-to-end tests: the built driver libraries and `mirra`
//! binary, found through cargo's own build output so `CARGO_TARGET_DIR` is honoured.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub mod cli;
pub mod serve;

/// What `cargo build --workspace` produced: cdylibs by package name, binaries by name.
struct Artifacts {
    cdylibs: HashMap<String, PathBuf>,
    binaries: HashMap<String, PathBuf>,
}

fn artifacts() -> &'static Artifacts {
    static ARTIFACTS: OnceLock<Artifacts> = OnceLock::new();
    ARTIFACTS.get_or_init(build_workspace)
}

/// Builds every workspace library and binary once per test process. Cargo releases its
/// build lock before running tests, so this nested build is safe, and cheap when fresh.
fn build_workspace() -> Artifacts {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args([
            "build",
            "--workspace",
            "--message-format=json-render-diagnostics",
        ])
        .args(profile_args())
        .current_dir(workspace)
        .output()
        .expect("cannot run cargo to build the driver libraries");
    assert!(
        output.status.success(),
        "cargo build --workspace failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut artifacts = Artifacts {
        cdylibs: HashMap::new(),
        binaries: HashMap::new(),
    };
    for line in output
        .stdout
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
    {
        let Ok(msg) = serde_json::from_slice::<serde_json::Value>(line) else {
            continue;
        };
        if msg["reason"] != "compiler-artifact" {
            continue;
        }
        let name = msg["target"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let kinds = msg["target"]["kind"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if kinds.iter().any(|k| k == "cdylib") {
            let so = msg["filenames"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|f| f.as_str())
                .find(|f| f.ends_with(".so"));
            if let Some(so) = so {
                artifacts.cdylibs.insert(name.clone(), PathBuf::from(so));
            }
        }
        if kinds.iter().any(|k| k == "bin") {
            if let Some(exe) = msg["executable"].as_str() {
                artifacts.binaries.insert(name, PathBuf::from(exe));
            }
        }
    }
    artifacts
}

/// The cargo profile this test binary was built with, from its path
/// (`<target>/<profile>/deps/<test>`): `debug` unless the tests run with `--release` or
/// `--profile`. Libraries and binaries are built with the same profile, so a release
/// test run never loads the debug build's leftovers.
pub fn profile() -> String {
    let exe = std::env::current_exe().expect("the test binary's path");
    let deps = exe.parent().expect("the test binary's directory");
    match deps.parent().and_then(Path::file_name) {
        Some(profile) if deps.file_name().is_some_and(|d| d == "deps") => {
            profile.to_string_lossy().into_owned()
        }
        _ => "debug".into(),
    }
}

/// The cargo arguments that select [`profile`].
pub fn profile_args() -> Vec<String> {
    match profile().as_str() {
        "debug" => Vec::new(),
        "release" => vec!["--release".into()],
        other => vec!["--profile".into(), other.into()],
    }
}

/// Builds the cdylib of a crate outside the workspace (its own `[workspace]`, or a
/// scaffolded driver) into the workspace's target directory with [`profile`], so the
/// dependencies it shares with the workspace are not rebuilt, and returns the `.so`.
/// Offline: every dependency is one the workspace build already fetched.
pub fn build_standalone(manifest_dir: &Path, lib_name: &str) -> PathBuf {
    let profile_dir = mirra_bin()
        .parent()
        .expect("the profile directory")
        .to_path_buf();
    let target_dir = profile_dir.parent().expect("the target directory");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args(["build", "--lib", "--offline"])
        .args(profile_args())
        .current_dir(manifest_dir)
        .env("CARGO_TARGET_DIR", target_dir)
        .output()
        .expect("cannot run cargo");
    assert!(
        output.status.success(),
        "cargo build in {} failed:\n{}",
        manifest_dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let so = profile_dir.join(format!("lib{lib_name}.so"));
    assert!(so.is_file(), "cargo built no {}", so.display());
    so
}

/// The built shared library of the crate whose `[lib] name` is `lib_name`
/// (e.g. `mirra_driver_disk`).
pub fn cdylib(lib_name: &str) -> PathBuf {
    let found = artifacts().cdylibs.get(lib_name).cloned();
    found.unwrap_or_else(|| panic!("cargo built no cdylib named {lib_name}"))
}

/// The directory holding the driver libraries, for `MIRRA_DRIVER_PATH`.
pub fn driver_dir() -> PathBuf {
    cdylib("mirra_driver_disk")
        .parent()
        .expect("cdylib has a directory")
        .to_path_buf()
}

/// The built `mirra` binary.
pub fn mirra_bin() -> PathBuf {
    let found = artifacts().binaries.get("mirra").cloned();
    found.unwrap_or_else(|| panic!("cargo built no binary named mirra"))
}
