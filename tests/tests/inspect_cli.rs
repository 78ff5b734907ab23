//! Commands that look at what you have without touching a provider: `mirra config show`
//! (secrets never printed), `mirra config check` (exit 0, or exit 2 with
//! `FILE:LINE:COLUMN: FIELD`) and `mirra zonefile check` (parse only, no network).

use mirra_tests::cli::MirraEnv;
use serde_json::Value;

const SECRETS: [&str; 5] = [
    "hunter2-provider-secret",
    "tok-session-secret",
    "dav-password-secret",
    "front-door-secret-key",
    "pa55-in-url",
];

/// An initialized home whose config also holds an S3 provider, a WebDAV provider and an
/// `[s3]` front door credential, each with a secret.
fn env_with_secrets() -> MirraEnv {
    let env = MirraEnv::initialized();
    let mut config = std::fs::read_to_string(env.config_path()).unwrap();
    config.push_str(&format!(
        r#"
[[provider]]
name = "aws"
driver = "s3"
weight = 7
[provider.config]
bucket = "alice-bucket"
endpoint = "https://bob:{url}@s3.example.com/"
secret_access_key = "{provider}"
session_token = "{session}"

[[provider]]
name = "dav"
driver = "http"
[provider.config]
base_url = "https://dav.example.com/"
password = "{dav}"

[[s3.credentials]]
access_key = "AKIDSHOWN"
secret_key = "{front}"
"#,
        url = SECRETS[4],
        provider = SECRETS[0],
        session = SECRETS[1],
        dav = SECRETS[2],
        front = SECRETS[3],
    ));
    std::fs::write(env.config_path(), config).unwrap();
    env
}

#[test]
fn config_show_prints_the_effective_config_and_never_a_secret() {
    let env = env_with_secrets();
    // Even with trace logging on, nothing secret reaches stdout or stderr.
    let run = env.run(&["-vvv", "config", "show"]).ok();
    let shown = run.stdout_text();
    for secret in SECRETS {
        assert!(!shown.contains(secret), "{secret} on stdout:\n{shown}");
        assert!(!run.stderr.contains(secret), "{secret} on stderr");
    }
    for expected in [
        "alice-bucket",
        "AKIDSHOWN",
        "weight = 7",
        "secret_access_key = \"<redacted>\"",
        // Defaults the file does not spell out.
        "breaker_failures = 3",
        "server_name = \"gaia-0\"",
    ] {
        assert!(shown.contains(expected), "{expected} missing:\n{shown}");
    }
}

#[test]
fn config_check_says_ok_or_names_file_line_and_field() {
    let env = env_with_secrets();
    let run = env.run(&["config", "check"]).ok();
    assert!(
        run.stdout_text().contains("ok (5 providers)"),
        "{}",
        run.stdout_text()
    );

    let config = std::fs::read_to_string(env.config_path()).unwrap();
    let typo = config.replacen("weight = 7", "wieght = 7", 1);
    let line = typo.lines().position(|l| l.starts_with("wieght")).unwrap() + 1;
    std::fs::write(env.config_path(), typo).unwrap();
    let run = env.run(&["config", "check"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let path = env.config_path().display().to_string();
    let want = format!("{path}:{line}:1: provider[3].wieght: unknown field");
    assert!(
        run.stderr.contains(&want),
        "want {want:?} in {}",
        run.stderr
    );
    for secret in SECRETS {
        assert!(!run.stderr.contains(secret), "{secret} in the error");
    }

    std::fs::remove_file(env.config_path()).unwrap();
    let run = env.run(&["config", "check"]);
    assert_eq!(
        run.code, 2,
        "a missing config is a usage error: {}",
        run.stderr
    );
    assert!(run.stderr.contains("cannot read config"), "{}", run.stderr);
}

const ZONE: &str = "$ORIGIN alice.id.\n\
pubkey TXT \"pubkey:data:0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798\"\n\
_https._tcp URI 10 1 \"https://192.0.2.1/alice/\"\n\
_file URI 5 1 \"file:///srv/alice/\"\n\
_gopher URI 10 3 \"gopher://192.0.2.2/\"\n\
_https._tcp URI 20 1 \"\"\n";

#[test]
fn zonefile_check_lists_records_in_reading_order_with_their_drivers() {
    // A reader's home: no config, no key.
    let env = MirraEnv::new();
    let path = env.file("alice.zone", ZONE.as_bytes());
    let run = env
        .run(&["zonefile", "check", path.to_str().unwrap(), "--json"])
        .ok();
    let report: Value = serde_json::from_slice(&run.stdout).unwrap();
    let records = report["records"].as_array().unwrap();
    let summary: Vec<(String, Value, Value)> = records
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_owned(),
                r["driver"].clone(),
                r["first_share_percent"].clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("_file".into(), "disk".into(), 100.0.into()),
            ("_gopher".into(), Value::Null, 75.0.into()),
            ("_https._tcp".into(), "http".into(), 25.0.into()),
            ("_https._tcp#2".into(), Value::Null, 100.0.into()),
        ],
        "{report:#}"
    );
    assert_eq!(
        records[1]["problem"], "no driver claims the scheme \"gopher\"",
        "{report:#}"
    );
    assert_eq!(records[3]["problem"], "empty target");
    assert_eq!(report["drivers_by_scheme"]["file"], "disk", "{report:#}");
    assert_eq!(report["drivers_by_scheme"]["dht+udp"], "dht", "{report:#}");
    assert!(report["pubkey"]
        .as_str()
        .unwrap()
        .starts_with("pubkey:data:02"));

    // From stdin, in words.
    let run = env
        .run_with_stdin(&["zonefile", "check", "-"], ZONE.as_bytes())
        .ok();
    let text = run.stdout_text();
    assert!(text.contains("1. _file priority 5 weight 1"), "{text}");
    assert!(text.contains("-> driver disk"), "{text}");
    assert!(
        text.contains("skipped: no driver claims the scheme \"gopher\""),
        "{text}"
    );

    // A broken one says where.
    let bad = env.file("bad.zone", b"_https._tcp URI 10 \"https://x/\"\n");
    let run = env.run(&["zonefile", "check", bad.to_str().unwrap()]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("line 1"), "{}", run.stderr);
}
