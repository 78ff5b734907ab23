//! `examples/outage.sh` tells the seed's story end to end and must stay green.

use std::path::Path;
use std::process::Command;

#[test]
fn the_outage_walk_through_runs_green() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/outage.sh");
    let bin_dir = mirra_tests::mirra_bin().parent().unwrap().to_path_buf();
    for tool in ["mirra-s3-server", "mirra-dav-server"] {
        assert!(
            bin_dir.join(tool).exists(),
            "{tool} was not built into {}",
            bin_dir.display()
        );
    }
    let out = Command::new("bash")
        .arg(&script)
        .env("MIRRA_BIN_DIR", &bin_dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "outage.sh failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    for line in [
        "avatar.png: identical",
        "avatar.png over HTTP: identical",
        "repaired profile.json  s3",
        "0 deficient",
        "S3 holds the new profile",
    ] {
        assert!(
            stdout.contains(line),
            "outage.sh did not say {line:?}:\n{stdout}"
        );
    }
}
