//! The kit against the driver as the host sees it: built fresh with cargo, loaded from
//! its `.so`, opened through the ABI.
//!
//! `cargo test` does not rebuild a crate's cdylib, so a test that loads a `.so` from
//! `target/` may test a stale library. [`run_library`] builds it first (a no-op when it
//! is fresh), with the profile and target directory of the running test.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{run_all_with, Limits, Summary};
use crate::{DriverLibrary, HostContext};

/// Builds the cdylib of the crate at `manifest_dir` (the directory holding its
/// `Cargo.toml`) with the running test's profile, honouring `CARGO_TARGET_DIR`, and
/// returns the path of the `.so`.
///
/// # Errors
/// Cargo's output when the build fails, or a message when it built no cdylib.
pub fn build_library(manifest_dir: &Path) -> Result<PathBuf, String> {
    let manifest = manifest_dir.join("Cargo.toml");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .args(["build", "--lib", "--message-format=json-render-diagnostics"])
        .arg("--manifest-path")
        .arg(&manifest);
    match current_profile().as_deref() {
        None | Some("debug") => {}
        Some("release") => {
            command.arg("--release");
        }
        Some(other) => {
            command.args(["--profile", other]);
        }
    }
    let output = command
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "cargo build of {} failed:\n{}",
            manifest.display(),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let wanted = manifest
        .canonicalize()
        .unwrap_or(manifest.clone())
        .display()
        .to_string();
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|line| {
            line.contains(r#""reason":"compiler-artifact""#)
                && line.contains(&format!(r#""manifest_path":"{wanted}""#))
                && line.contains(r#""cdylib""#)
        })
        .find_map(shared_object)
        .ok_or_else(|| format!("cargo built no cdylib for {}", manifest.display()))
}

/// The `.so` among an artifact message's `filenames`.
fn shared_object(line: &str) -> Option<PathBuf> {
    let list = line.split_once(r#""filenames":["#)?.1.split_once(']')?.0;
    list.split('"')
        .find(|name| name.ends_with(".so"))
        .map(PathBuf::from)
}

/// The cargo profile the running test binary was built with, from its path
/// (`<target>/<profile>/deps/<test>`).
fn current_profile() -> Option<String> {
    let exe = std::env::current_exe().ok()?;
    let deps = exe.parent()?;
    if deps.file_name()? != "deps" {
        return None;
    }
    Some(deps.parent()?.file_name()?.to_str()?.to_owned())
}

/// Builds the driver crate at `manifest_dir`, loads its `.so` the way the host does,
/// opens a provider with `config_toml` and runs the whole kit on it with the
/// capabilities the library declares.
///
/// # Panics
/// When the build, the load or the open fails, or as [`run_all`](super::run_all) does.
pub fn run_library(manifest_dir: &Path, config_toml: &str) -> Summary {
    run_library_with(manifest_dir, config_toml, Limits::default())
}

/// [`run_library`] for a store with small limits.
///
/// # Panics
/// As for [`run_library`].
pub fn run_library_with(manifest_dir: &Path, config_toml: &str, limits: Limits) -> Summary {
    let path = build_library(manifest_dir).unwrap_or_else(|e| panic!("{e}"));
    let library =
        DriverLibrary::load(&path).unwrap_or_else(|e| panic!("load {}: {e}", path.display()));
    let driver = library
        .open(HostContext::default(), config_toml)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    run_all_with(&driver, library.info().capabilities, limits)
}

#[cfg(test)]
mod tests {
    use super::shared_object;

    #[test]
    fn finds_the_shared_object_in_an_artifact_message() {
        let line = r#"{"reason":"compiler-artifact","filenames":["/t/debug/libx.so","/t/debug/libx.rlib"],"fresh":true}"#;
        assert_eq!(
            shared_object(line).unwrap().to_str(),
            Some("/t/debug/libx.so")
        );
        assert!(shared_object(r#"{"filenames":["/t/x.rlib"]}"#).is_none());
    }
}
