//! Tests for config parsing and its error messages.

use super::*;
use std::num::NonZeroUsize;

const FILE: &str = "/home/a/.config/mirra/config.toml";

/// The design document's example config, verbatim.
const DESIGN_EXAMPLE: &str = r#"[identity]
key_file = "~/.local/share/mirra/key"      # secp256k1, mode 0600

[policy]
write_quorum = "majority"                  # a number, "all" or "majority"
chunk_size = "4MiB"
timeout = "30s"
hedge_after = "250ms"

[[provider]]
name = "laptop"
driver = "disk"                            # bare name -> libmirra_driver_disk.so, or a path
priority = 10                              # lower is tried first, as in RFC 7553
weight = 1
[provider.config]                          # passed to the driver verbatim
root = "~/.local/share/mirra/providers/laptop"

[[provider]]
name = "aws"
driver = "s3"
[provider.config]
endpoint = "https://s3.us-east-1.amazonaws.com"
region = "us-east-1"
bucket = "alice-data"
prefix = "mirra/"
path_style = false
public_url = "https://alice-data.s3.amazonaws.com/mirra/"
# credentials: access_key_id / secret_access_key here, else the standard AWS env and files
[provider.chaos]                           # optional, for tests and demos
down = false
"#;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new(FILE))
}

fn error(text: &str) -> String {
    parse(text)
        .expect_err("config should be refused")
        .to_string()
}

const MINIMAL_PROVIDER: &str = "[[provider]]\nname = \"a\"\ndriver = \"disk\"\n";

#[test]
fn design_example_parses() {
    let config = parse(DESIGN_EXAMPLE).unwrap();
    assert_eq!(
        config.identity.key_file,
        home_dir().join(".local/share/mirra/key")
    );
    assert_eq!(config.policy.write_quorum, WriteQuorum::Majority);
    assert_eq!(config.policy.chunk_size, 4 << 20);
    assert_eq!(config.policy.timeout, Duration::from_secs(30));
    assert_eq!(config.policy.hedge_after, Some(Duration::from_millis(250)));
    assert_eq!(config.providers.len(), 2);
    let laptop = &config.providers[0];
    assert_eq!(
        (laptop.name.as_str(), laptop.priority, laptop.weight),
        ("laptop", 10, 1)
    );
    assert_eq!(laptop.driver_ref(), DriverRef::Name("disk"));
    // Passed verbatim: the driver, not the host, expands `~` in its own settings.
    assert_eq!(
        laptop.config["root"].as_str(),
        Some("~/.local/share/mirra/providers/laptop")
    );
    let aws = &config.providers[1];
    assert_eq!(
        (aws.priority, aws.weight, aws.required),
        (DEFAULT_PRIORITY, DEFAULT_WEIGHT, false)
    );
    assert_eq!(aws.chaos, Some(ChaosConfig::default()));
    assert_eq!(config.required_writes(), 2);
    assert_eq!(
        config.provider("aws").map(|p| p.driver.as_str()),
        Some("s3")
    );
}

#[test]
fn defaults_fill_a_minimal_config() {
    let config = parse(MINIMAL_PROVIDER).unwrap();
    assert_eq!(config.identity.key_file, default_data_dir().join("key"));
    assert_eq!(config.policy.chunk_size, DEFAULT_CHUNK_SIZE);
    assert_eq!(config.policy.timeout, DEFAULT_TIMEOUT);
    assert_eq!(config.policy.hedge_after, None);
    assert_eq!(config.policy.write_quorum, WriteQuorum::Majority);
    assert!(config.driver_dirs.is_empty());
    assert!(config.providers[0].config.is_empty());
    assert_eq!(config.providers[0].chaos, None);
}

#[test]
fn quorum_chunk_size_and_driver_dirs_forms() {
    let text = format!(
        "driver_dirs = [\"~/drivers\", \"/opt/mirra\"]\n[policy]\nwrite_quorum = 1\nchunk_size = 65536\n{MINIMAL_PROVIDER}"
    );
    let config = parse(&text).unwrap();
    assert_eq!(
        config.policy.write_quorum,
        WriteQuorum::Count(NonZeroUsize::new(1).unwrap())
    );
    assert_eq!(config.policy.chunk_size, 65536);
    assert_eq!(
        config.driver_dirs,
        vec![home_dir().join("drivers"), PathBuf::from("/opt/mirra")]
    );
    let text = format!("[policy]\nwrite_quorum = \"all\"\n{MINIMAL_PROVIDER}");
    assert_eq!(parse(&text).unwrap().policy.write_quorum, WriteQuorum::All);
}

#[test]
fn unknown_field_names_file_line_column_and_field() {
    let text = "[[provider]]\nname = \"a\"\ndriver = \"disk\"\n\n[[provider]]\nname = \"b\"\ndriver = \"disk\"\nprioirty = 3\n";
    let message = error(text);
    assert!(
        message.starts_with(&format!(
            "{FILE}:8:1: provider[1].prioirty: unknown field `prioirty`"
        )),
        "{message}"
    );
    assert!(message.contains("expected one of"), "{message}");
}

#[test]
fn unknown_top_level_and_nested_fields_are_refused() {
    let message = error(&format!("colour = \"red\"\n{MINIMAL_PROVIDER}"));
    assert!(
        message.starts_with(&format!("{FILE}:1:1: colour: unknown field")),
        "{message}"
    );
    let message = error(&format!(
        "[policy]\ntimeout = \"1s\"\nretires = 3\n{MINIMAL_PROVIDER}"
    ));
    assert!(
        message.starts_with(&format!("{FILE}:3:1: policy.retires: unknown field")),
        "{message}"
    );
    let message = error(&format!(
        "{MINIMAL_PROVIDER}[provider.chaos]\ndown = true\nexplode = true\n"
    ));
    assert!(
        message.starts_with(&format!(
            "{FILE}:6:1: provider[0].chaos.explode: unknown field"
        )),
        "{message}"
    );
}

#[test]
fn wrong_type_names_the_field() {
    let message = error(&format!("{MINIMAL_PROVIDER}priority = \"high\"\n"));
    assert!(
        message.starts_with(&format!("{FILE}:4:12: provider[0].priority: invalid type")),
        "{message}"
    );
    let message = error(&format!("{MINIMAL_PROVIDER}required = 1\n"));
    assert!(
        message.starts_with(&format!("{FILE}:4:12: provider[0].required: invalid type")),
        "{message}"
    );
}

#[test]
fn bad_duration_and_size_name_the_field() {
    let message = error(&format!(
        "[policy]\ntimeout = \"30 parsecs\"\n{MINIMAL_PROVIDER}"
    ));
    assert!(
        message.starts_with(&format!("{FILE}:2:11: policy.timeout: invalid duration")),
        "{message}"
    );
    let message = error(&format!(
        "[policy]\nhedge_after = \"250\"\n{MINIMAL_PROVIDER}"
    ));
    assert!(
        message.starts_with(&format!("{FILE}:2:15: policy.hedge_after:")),
        "{message}"
    );
    assert!(message.contains("add a unit"), "{message}");
    let message = error(&format!(
        "[policy]\nchunk_size = \"4 MeB\"\n{MINIMAL_PROVIDER}"
    ));
    assert!(
        message.starts_with(&format!("{FILE}:2:14: policy.chunk_size: invalid size")),
        "{message}"
    );
    let message = error(&format!("[policy]\nchunk_size = 10\n{MINIMAL_PROVIDER}"));
    assert!(
        message.contains("policy.chunk_size: chunk_size must be between"),
        "{message}"
    );
}

#[test]
fn bad_quorum_values_are_refused() {
    let message = error(&format!(
        "[policy]\nwrite_quorum = \"most\"\n{MINIMAL_PROVIDER}"
    ));
    assert!(
        message.starts_with(&format!("{FILE}:2:16: policy.write_quorum:")),
        "{message}"
    );
    let message = error(&format!("[policy]\nwrite_quorum = 0\n{MINIMAL_PROVIDER}"));
    assert!(
        message.contains("policy.write_quorum: write_quorum must be at least 1"),
        "{message}"
    );
}

#[test]
fn quorum_larger_than_provider_count_is_refused() {
    let message = error(&format!("[policy]\nwrite_quorum = 2\n{MINIMAL_PROVIDER}"));
    assert_eq!(
        message,
        format!("{FILE}:2:16: policy.write_quorum: write_quorum is 2 but only 1 provider(s) are configured")
    );
}

#[test]
fn duplicate_provider_names_are_refused() {
    let text = format!("{MINIMAL_PROVIDER}\n{MINIMAL_PROVIDER}");
    let message = error(&text);
    assert_eq!(
        message,
        format!("{FILE}:6:8: provider[1].name: duplicate provider name \"a\" (also provider[0])")
    );
}

#[test]
fn zero_providers_is_refused() {
    let message = error("[policy]\ntimeout = \"1s\"\n");
    assert!(
        message.starts_with(&format!("{FILE}:1:1: provider: no providers configured")),
        "{message}"
    );
}

#[test]
fn bad_provider_names_are_refused() {
    for name in ["", "Laptop", "a b", "a/b", "é"] {
        let message = error(&format!(
            "[[provider]]\nname = {name:?}\ndriver = \"disk\"\n"
        ));
        assert!(
            message.starts_with(&format!(
                "{FILE}:2:8: provider[0].name: invalid provider name"
            )),
            "{message}"
        );
    }
}

#[test]
fn chaos_ranges_are_checked() {
    let ok = format!(
        "{MINIMAL_PROVIDER}[provider.chaos]\ndown = true\nfail_rate = 0.5\nlatency = \"100ms\"\n\
         stall_after_bytes = 1024\ncorrupt_rate = 0.01\nseed = 7\n"
    );
    let chaos = parse(&ok).unwrap().providers[0].chaos.clone().unwrap();
    assert_eq!(
        chaos,
        ChaosConfig {
            down: true,
            fail_rate: 0.5,
            latency: Some(Duration::from_millis(100)),
            stall_after_bytes: Some(1024),
            corrupt_rate: 0.01,
            seed: Some(7),
        }
    );
    let message = error(&format!(
        "{MINIMAL_PROVIDER}[provider.chaos]\nfail_rate = 1.5\n"
    ));
    assert!(
        message.starts_with(&format!(
            "{FILE}:5:13: provider[0].chaos.fail_rate: must be between"
        )),
        "{message}"
    );
    let message = error(&format!(
        "{MINIMAL_PROVIDER}[provider.chaos]\nstall_after_bytes = -1\n"
    ));
    assert!(
        message.contains("provider[0].chaos.stall_after_bytes:"),
        "{message}"
    );
}

#[test]
fn syntax_errors_have_a_location() {
    let message = error("[policy\n");
    assert!(message.starts_with(&format!("{FILE}:1:")), "{message}");
}

#[test]
fn load_reports_missing_file() {
    let err = Config::load(Path::new("/nonexistent/mirra/config.toml")).unwrap_err();
    assert!(matches!(err, ConfigError::Read { .. }));
    assert!(
        err.to_string().contains("/nonexistent/mirra/config.toml"),
        "{err}"
    );
}

#[test]
fn load_reads_a_file_and_locates_typos_in_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, DESIGN_EXAMPLE).unwrap();
    assert_eq!(Config::load(&path).unwrap().providers.len(), 2);
    std::fs::write(
        &path,
        DESIGN_EXAMPLE.replace("priority = 10", "prioirty = 10"),
    )
    .unwrap();
    let message = Config::load(&path).unwrap_err().to_string();
    let expected = format!(
        "{}:13:1: provider[0].prioirty: unknown field `prioirty`",
        path.display()
    );
    assert!(message.starts_with(&expected), "{message}");
}

#[test]
fn driver_config_round_trips_as_toml() {
    let text = format!(
        "{MINIMAL_PROVIDER}[provider.config]\nroot = \"/x\"\nsize = 3\nflag = true\n\
         [provider.config.nested]\nlist = [1, 2]\n"
    );
    let config = parse(&text).unwrap();
    let driver_text = config.providers[0].driver_config_toml();
    let back: toml::Table = toml::from_str(&driver_text).unwrap();
    assert_eq!(back, config.providers[0].config);
}

#[test]
fn driver_paths_are_recognised() {
    let mut provider = parse(MINIMAL_PROVIDER).unwrap().providers.remove(0);
    provider.driver = "~/drivers/libmirra_driver_x.so".into();
    assert_eq!(
        provider.driver_ref(),
        DriverRef::Path(home_dir().join("drivers/libmirra_driver_x.so"))
    );
    provider.driver = "./libx.so".into();
    assert_eq!(
        provider.driver_ref(),
        DriverRef::Path(PathBuf::from("./libx.so"))
    );
}

#[test]
fn debug_hides_provider_secrets() {
    let text = format!(
        "{MINIMAL_PROVIDER}[provider.config]\nbucket = \"visible\"\naccess_key_id = \"AKIAHIDDEN\"\n\
         secret_access_key = \"s3cr3t\"\n"
    );
    let shown = format!("{:?}", parse(&text).unwrap());
    assert!(shown.contains("visible"), "{shown}");
    assert!(
        !shown.contains("AKIAHIDDEN") && !shown.contains("s3cr3t"),
        "{shown}"
    );
}

#[test]
fn default_config_text_parses_back() {
    let text = default_config_text(
        Path::new("/data/mirra/key"),
        Path::new("/data/mirra/providers"),
    );
    let config = parse(&text).unwrap();
    assert_eq!(config.identity.key_file, PathBuf::from("/data/mirra/key"));
    assert_eq!(config.policy.write_quorum, WriteQuorum::Majority);
    let names: Vec<_> = config.providers.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["disk-a", "disk-b", "disk-c"]);
    for provider in &config.providers {
        assert_eq!(provider.driver_ref(), DriverRef::Name("disk"));
        let root = format!("/data/mirra/providers/{}", provider.name);
        assert_eq!(provider.config["root"].as_str(), Some(root.as_str()));
    }
    assert_eq!(config.required_writes(), 2);
    assert!(text.contains('#'), "the default config explains itself");
}

#[test]
fn default_config_text_escapes_odd_paths() {
    let text = default_config_text(Path::new("/d\"q/key"), Path::new("/p\\s"));
    let config = parse(&text).unwrap();
    assert_eq!(config.identity.key_file, PathBuf::from("/d\"q/key"));
    assert_eq!(
        config.providers[0].config["root"].as_str(),
        Some("/p\\s/disk-a")
    );
}

#[test]
fn driver_paths_are_anchored_to_the_config_file_not_the_working_directory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(
        &path,
        "driver_dirs = [\"drivers\", \"/opt/mirra\"]\n\
         [[provider]]\nname = \"a\"\ndriver = \"./libmirra_driver_x.so\"\n\
         [[provider]]\nname = \"b\"\ndriver = \"~/d/libmirra_driver_y.so\"\n\
         [[provider]]\nname = \"c\"\ndriver = \"disk\"\n",
    )
    .unwrap();
    let config = Config::load(&path).unwrap();
    assert_eq!(
        config.driver_dirs,
        [dir.path().join("drivers"), PathBuf::from("/opt/mirra")]
    );
    assert_eq!(
        Path::new(&config.providers[0].driver),
        dir.path().join("./libmirra_driver_x.so")
    );
    assert_eq!(
        Path::new(&config.providers[1].driver),
        home_dir().join("d/libmirra_driver_y.so")
    );
    assert_eq!(config.providers[2].driver, "disk");
}

#[test]
fn a_readable_config_with_credentials_is_worth_a_warning() {
    let path = Path::new("/x/config.toml");
    let with_secret = Config::parse(
        &format!("{MINIMAL_PROVIDER}[provider.config]\nsecret_access_key = \"s3cr3t\"\n"),
        path,
    )
    .unwrap();
    let warning = file_safety::exposure_warning(&with_secret, path, 0o100644).unwrap();
    assert!(
        warning.contains("mode 644") && warning.contains("chmod 600"),
        "{warning}"
    );
    assert!(!warning.contains("s3cr3t"), "{warning}");
    assert!(file_safety::exposure_warning(&with_secret, path, 0o100600).is_none());
    let without = Config::parse(MINIMAL_PROVIDER, path).unwrap();
    assert!(file_safety::exposure_warning(&without, path, 0o100644).is_none());
}

#[test]
fn private_files_are_0600_even_when_replacing_a_looser_one() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, "old").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    write_private(&path, "new").unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
}
