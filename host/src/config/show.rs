//! The effective config as TOML, for `mirra config show`: every default filled in, in
//! the file's own field names, with every secret replaced, so the output can be pasted
//! into a bug report. Values under sensitive-looking keys (the same rule as `Debug`),
//! `[[s3.credentials]]` secret keys and passwords inside URLs never appear.

use toml::{Table, Value};

use super::redact::{is_sensitive, HIDDEN};
use super::{format_duration, format_size, ChaosConfig, Config, ProviderConfig, WriteQuorum};

/// `config` with its defaults, as TOML text with secrets hidden.
pub fn effective_toml(config: &Config) -> String {
    let mut root = Table::new();
    root.insert(
        "driver_dirs".into(),
        strings(config.driver_dirs.iter().map(|d| d.display().to_string())),
    );
    let mut identity = Table::new();
    identity.insert(
        "key_file".into(),
        config.identity.key_file.display().to_string().into(),
    );
    root.insert("identity".into(), identity.into());
    let policy = &config.policy;
    let mut table = Table::new();
    let quorum = match policy.write_quorum {
        WriteQuorum::Count(n) => Value::Integer(n.get() as i64),
        other => other.to_string().into(),
    };
    table.insert("write_quorum".into(), quorum);
    table.insert("chunk_size".into(), format_size(policy.chunk_size).into());
    table.insert("timeout".into(), format_duration(policy.timeout).into());
    // TOML has no null: an unset hedge delay (follow each provider's latency) is left out.
    if let Some(hedge) = policy.hedge_after {
        table.insert("hedge_after".into(), format_duration(hedge).into());
    }
    table.insert(
        "stall_timeout".into(),
        format_duration(policy.stall_timeout).into(),
    );
    table.insert("retries".into(), i64::from(policy.retries).into());
    table.insert(
        "breaker_failures".into(),
        i64::from(policy.breaker_failures).into(),
    );
    table.insert(
        "breaker_cooldown".into(),
        format_duration(policy.breaker_cooldown).into(),
    );
    root.insert("policy".into(), table.into());
    let providers: Vec<Value> = config.providers.iter().map(provider).collect();
    root.insert("provider".into(), providers.into());
    root.insert("gaia".into(), gaia(config).into());
    root.insert("s3".into(), s3(config).into());
    toml::to_string(&root).expect("a table of plain values serializes to TOML")
}

fn provider(provider: &ProviderConfig) -> Value {
    let mut table = Table::new();
    table.insert("name".into(), provider.name.clone().into());
    table.insert("driver".into(), provider.driver.clone().into());
    table.insert("priority".into(), i64::from(provider.priority).into());
    table.insert("weight".into(), i64::from(provider.weight).into());
    table.insert("required".into(), provider.required.into());
    table.insert("config".into(), redacted_table(&provider.config).into());
    if let Some(chaos) = &provider.chaos {
        table.insert("chaos".into(), chaos_table(chaos).into());
    }
    table.into()
}

fn chaos_table(chaos: &ChaosConfig) -> Table {
    let mut table = Table::new();
    table.insert("down".into(), chaos.down.into());
    table.insert("fail_rate".into(), chaos.fail_rate.into());
    if let Some(latency) = chaos.latency {
        table.insert("latency".into(), format_duration(latency).into());
    }
    if let Some(bytes) = chaos.stall_after_bytes {
        table.insert("stall_after_bytes".into(), saturating_i64(bytes).into());
    }
    table.insert("corrupt_rate".into(), chaos.corrupt_rate.into());
    if let Some(seed) = chaos.seed {
        table.insert("seed".into(), saturating_i64(seed).into());
    }
    table
}

fn gaia(config: &Config) -> Table {
    let gaia = &config.gaia;
    let mut table = Table::new();
    table.insert("server_name".into(), gaia.server_name.clone().into());
    table.insert(
        "max_file_upload_size_megabytes".into(),
        saturating_i64(gaia.max_file_upload_size_megabytes).into(),
    );
    if let Some(prefix) = &gaia.read_url_prefix {
        table.insert("read_url_prefix".into(), redacted_text(prefix).into());
    }
    if let Some(whitelist) = &gaia.whitelist {
        table.insert("whitelist".into(), strings(whitelist.iter().cloned()));
    }
    table
}

fn s3(config: &Config) -> Table {
    let s3 = &config.s3;
    let mut table = Table::new();
    if let Some(region) = &s3.region {
        table.insert("region".into(), region.clone().into());
    }
    if let Some(domain) = &s3.domain {
        table.insert("domain".into(), domain.clone().into());
    }
    table.insert(
        "public_buckets".into(),
        strings(s3.public_buckets.iter().cloned()),
    );
    let credentials: Vec<Value> = s3
        .credentials
        .iter()
        .map(|credential| {
            let mut table = Table::new();
            // The key id names the credential, as in `Debug`; the secret never shows.
            table.insert("access_key".into(), credential.access_key.clone().into());
            table.insert("secret_key".into(), HIDDEN.into());
            table.insert(
                "buckets".into(),
                strings(credential.buckets.iter().cloned()),
            );
            table.insert(
                "prefixes".into(),
                strings(credential.prefixes.iter().cloned()),
            );
            table.insert("read_only".into(), credential.read_only.into());
            table.into()
        })
        .collect();
    table.insert("credentials".into(), credentials.into());
    table
}

/// A driver's table with values under sensitive keys hidden at any depth, and
/// passwords inside URL strings hidden too.
fn redacted_table(table: &Table) -> Table {
    table
        .iter()
        .map(|(key, value)| {
            let shown = if is_sensitive(key) {
                HIDDEN.into()
            } else {
                redacted_value(value)
            };
            (key.clone(), shown)
        })
        .collect()
}

fn redacted_value(value: &Value) -> Value {
    match value {
        Value::Table(table) => redacted_table(table).into(),
        Value::Array(items) => items.iter().map(redacted_value).collect::<Vec<_>>().into(),
        Value::String(text) => redacted_text(text).into(),
        other => other.clone(),
    }
}

/// `text` with the password of a `scheme://user:password@host` URL hidden.
fn redacted_text(text: &str) -> String {
    match reqwest::Url::parse(text) {
        Ok(mut url) if url.password().is_some() => {
            // `<` and `>` would be percent-encoded in a URL.
            let _ = url.set_password(Some("redacted"));
            url.to_string()
        }
        _ => text.to_owned(),
    }
}

fn strings(items: impl Iterator<Item = String>) -> Value {
    items.map(Value::from).collect::<Vec<_>>().into()
}

fn saturating_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const WITH_SECRETS: &str = r#"
[identity]
key_file = "/keys/alice"

[policy]
write_quorum = 2
hedge_after = "100ms"

[[provider]]
name = "aws"
driver = "s3"
weight = 3
[provider.config]
bucket = "alice-data"
endpoint = "https://bob:pa55word-in-url@s3.example.com/"
secret_access_key = "hunter2-secret-access"
[provider.config.nested]
session_token = "tok-nested-secret"

[[provider]]
name = "dav"
driver = "http"
[provider.config]
base_url = "https://dav.example.com/"
password = "dav-password-secret"

[[s3.credentials]]
access_key = "AKIDEXAMPLE"
secret_key = "s3-front-door-secret"
"#;

    #[test]
    fn secrets_never_appear_and_the_rest_does() {
        let config = Config::parse(WITH_SECRETS, Path::new("c.toml")).unwrap();
        let shown = effective_toml(&config);
        for secret in [
            "hunter2-secret-access",
            "tok-nested-secret",
            "dav-password-secret",
            "s3-front-door-secret",
            "pa55word-in-url",
        ] {
            assert!(!shown.contains(secret), "{secret} shown:\n{shown}");
        }
        for shown_value in [
            "alice-data",
            "AKIDEXAMPLE",
            "bob:redacted@s3.example.com",
            "weight = 3",
            "write_quorum = 2",
            "hedge_after = \"100ms\"",
            // Defaults the file left out.
            "timeout = \"30s\"",
            "chunk_size = \"4MiB\"",
            "server_name = \"gaia-0\"",
        ] {
            assert!(
                shown.contains(shown_value),
                "{shown_value} missing:\n{shown}"
            );
        }
    }

    #[test]
    fn a_config_without_secrets_reads_back_the_same() {
        let text = r#"
driver_dirs = ["/opt/drivers"]
[identity]
key_file = "/keys/alice"
[policy]
write_quorum = "all"
chunk_size = "1MiB"
breaker_cooldown = "2s"
[[provider]]
name = "a"
driver = "disk"
priority = 5
required = true
[provider.config]
root = "/data/a"
[provider.chaos]
latency = "10ms"
seed = 9
[[provider]]
name = "b"
driver = "disk"
[provider.config]
root = "/data/b"
[gaia]
whitelist = ["1Abc"]
"#;
        let config = Config::parse(text, Path::new("c.toml")).unwrap();
        let shown = effective_toml(&config);
        let again = Config::parse(&shown, Path::new("shown.toml"))
            .unwrap_or_else(|e| panic!("{e}\n{shown}"));
        assert_eq!(effective_toml(&again), shown);
        assert_eq!(
            format!("{:?}", again.policy),
            format!("{:?}", config.policy)
        );
        assert_eq!(again.providers[0].chaos, config.providers[0].chaos);
        assert_eq!(again.gaia, config.gaia);
    }
}
