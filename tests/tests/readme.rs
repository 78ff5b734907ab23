//! The README's main-job command and its five-minute tour run as written, in a
//! temporary HOME, with the binaries this build produced on PATH: the README cannot rot.

use std::path::Path;
use std::process::Command;

fn readme() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md")).unwrap()
}

/// The body of the first ```sh block after `heading`.
fn sh_block(text: &str, heading: &str) -> String {
    let from = text
        .find(heading)
        .unwrap_or_else(|| panic!("README has no {heading:?}"));
    let start = from + text[from..].find("```sh\n").expect("a sh block") + "```sh\n".len();
    let end = start + text[start..].find("```").unwrap();
    text[start..end].to_owned()
}

fn run_in_fresh_home(script: &str) -> (bool, String) {
    let home = tempfile::tempdir().unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"),
        home.path().join("README.md"),
    )
    .unwrap();
    let bin_dir = mirra_tests::mirra_bin().parent().unwrap().to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("bash")
        .args(["-euo", "pipefail", "-c", script])
        .current_dir(home.path())
        .env_clear()
        .env("HOME", home.path())
        .env("PATH", path)
        .output()
        .unwrap();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn the_main_job_command_works_on_the_embedded_default() {
    let block = sh_block(&readme(), "**Build and run the main job**");
    let command = block.trim();
    // The build itself already happened: this test runs on what it produced.
    let (_, after_build) = command
        .split_once("&& export PATH=\"$PWD/target/release:$PATH\" && ")
        .expect("the command builds, then puts mirra on PATH");
    let (ok, output) = run_in_fresh_home(after_build);
    assert!(ok, "the README's main job failed:\n{output}");
    for provider in ["disk-a", "disk-b", "disk-c"] {
        assert!(
            output.contains(provider),
            "{provider} missing from:\n{output}"
        );
    }
}

#[test]
fn the_five_minute_tour_runs_as_written() {
    let tour = sh_block(&readme(), "## A five-minute tour");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let script = tour.replace("127.0.0.1:8080", &format!("127.0.0.1:{port}"));
    let (ok, output) = run_in_fresh_home(&format!("mirra init >/dev/null\n{script}"));
    assert!(ok, "the README tour failed:\n{output}");
    for expected in [
        "disk-a is stale, as expected",
        "repaired profile.json  disk-a",
        "0 deficient",
        "still here",
    ] {
        assert!(
            output.contains(expected),
            "the tour did not print {expected:?}:\n{output}"
        );
    }
}
