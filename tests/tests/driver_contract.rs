//! The host side of the driver contract, through the `mirra` binary: what `providers`
//! reports for a failing health check.

use mirra_tests::cdylib;
use mirra_tests::cli::{MirraEnv, ProviderSpec};

#[test]
fn providers_reports_a_failing_health_check_as_down() {
    let env = MirraEnv::initialized();
    let so = cdylib("mirra_fixture_panic_driver");
    let mut providers = env.default_disks();
    providers.push(ProviderSpec {
        name: "suspended".into(),
        priority: 20,
        driver: so.display().to_string(),
        config: "mode = \"unhealthy\"\n".into(),
        chaos: None,
    });
    env.write_config("", &providers);
    let run = env.run(&["providers"]);
    let out = run.stdout_text();
    assert_eq!(run.code, 1, "{out}\n{}", run.stderr);
    let line = out
        .lines()
        .find(|l| l.starts_with("suspended "))
        .unwrap_or_else(|| panic!("no suspended row in:\n{out}"));
    assert!(
        line.contains("down: ") && line.contains("the account is suspended"),
        "{line}"
    );
    assert!(!line.ends_with(" up"), "{line}");
    for disk in ["disk-a", "disk-b", "disk-c"] {
        let row = out.lines().find(|l| l.starts_with(disk)).unwrap();
        assert!(row.ends_with(" up"), "{row}");
    }

    let json = env.run(&["providers", "--json"]);
    let rows: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let row = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "suspended")
        .unwrap();
    assert_eq!(row["healthy"], false);
    assert!(
        row["health_error"].as_str().unwrap().contains("suspended"),
        "{row}"
    );
}

#[test]
fn driver_api_packages_for_crates_io_without_warnings() {
    let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap();
    let target = tempfile::tempdir().unwrap();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // --no-verify: the crate's build is checked by every other test; this checks the
    // package itself (metadata, readme, no path-only dependency).
    let out = std::process::Command::new(cargo)
        .args([
            "package",
            "-p",
            "mirra-driver-api",
            "--no-verify",
            "--allow-dirty",
            "--offline",
        ])
        .current_dir(workspace)
        .env("CARGO_TARGET_DIR", target.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("warning"), "{stderr}");
    let packaged = target.path().join("package");
    let krate = std::fs::read_dir(&packaged)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .find(|n| n.starts_with("mirra-driver-api-") && n.ends_with(".crate"));
    assert!(krate.is_some(), "no .crate in {}", packaged.display());
}
