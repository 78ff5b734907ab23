//! `mirra doctor`: is this setup able to do its job? Config, key, every driver, every
//! provider reachable and writable.

use crate::printable::escape_controls;
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

use clap::Args;
use mirra_driver_api::{Capabilities, ErrorKind, Key};

use super::context::Globals;
use super::output::print_json;
use crate::identity::Identity;
use crate::loader::{Loader, SearchPath};
use crate::providers::open_replicas;

/// Check the config, the key file, every driver and every provider.
#[derive(Debug, Args)]
pub struct DoctorCmd {
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(serde::Serialize)]
struct Finding {
    check: String,
    ok: bool,
    detail: String,
}

impl DoctorCmd {
    /// Runs every check, prints one line each, exits 1 if any failed.
    pub async fn run(self, globals: &Globals) -> anyhow::Result<u8> {
        let mut findings = Vec::new();
        let mut note = |check: String, result: Result<String, String>| {
            let (ok, detail) = match result {
                Ok(detail) => (true, detail),
                Err(detail) => (false, detail),
            };
            findings.push(Finding { check, ok, detail });
        };
        let path = globals.config_path();
        let config = match globals.load_config() {
            Ok(config) => {
                note(
                    "config".into(),
                    Ok(format!(
                        "{} ({} providers)",
                        path.display(),
                        config.providers.len()
                    )),
                );
                Some(config)
            }
            Err(e) => {
                note("config".into(), Err(format!("{e:#}")));
                None
            }
        };
        if let Some(config) = config {
            let key_file = &config.identity.key_file;
            let key = Identity::load(key_file)
                .map_err(|e| e.to_string())
                .and_then(|identity| {
                    let mode = std::fs::metadata(key_file)
                        .map_err(|e| e.to_string())?
                        .permissions()
                        .mode()
                        & 0o777;
                    Ok(format!(
                        "{} mode {mode:o}, public key {}",
                        key_file.display(),
                        identity.pubkey_hex()
                    ))
                });
            note("key".into(), key);
            let search = SearchPath::standard(&config.driver_dirs);
            let loader = Loader::default();
            let drivers: std::collections::BTreeSet<&str> =
                config.providers.iter().map(|p| p.driver.as_str()).collect();
            for driver in drivers {
                let loaded = search
                    .resolve(driver)
                    .and_then(|path| loader.load(&path))
                    .map(|lib| {
                        format!(
                            "{} {} from {}",
                            lib.info().name,
                            lib.info().version,
                            lib.path().display()
                        )
                    })
                    .map_err(|e| e.to_string());
                note(format!("driver {driver}"), loaded);
            }
            match open_replicas(&config, &loader) {
                Err(e) => note("providers".into(), Err(e.to_string())),
                Ok(replicas) => {
                    for replica in replicas {
                        note(
                            format!("provider {}", replica.name()),
                            probe(&replica).await,
                        );
                    }
                }
            }
        }
        let failed = findings.iter().filter(|f| !f.ok).count();
        if self.json {
            print_json(&findings)?;
        } else {
            for f in &findings {
                println!(
                    "{}  {:<24} {}",
                    if f.ok { "ok  " } else { "FAIL" },
                    f.check,
                    escape_controls(&f.detail)
                );
            }
            println!("{} checks, {failed} failed", findings.len());
        }
        Ok(if failed == 0 {
            super::EXIT_OK
        } else {
            super::EXIT_FAILED
        })
    }
}

/// Health check, then, as far as the driver's capabilities allow, write a probe the way
/// `mirra put` writes an object, read it back and delete it. Nothing is called that the
/// driver does not declare; without `DELETE` the probe goes to one fixed key, so repeated
/// runs leave one small object rather than one per run.
async fn probe(replica: &crate::replica::Replica) -> Result<String, String> {
    let started = std::time::Instant::now();
    replica
        .health()
        .await
        .map_err(|e| format!("unreachable: {e}"))?;
    let caps = replica.info().capabilities;
    let declared = format!("[{}]", caps.names().join(","));
    if !caps.contains(Capabilities::READ) {
        return Err(format!("reachable, but declares no read {declared}"));
    }
    if !caps.contains(Capabilities::WRITE) {
        let key = Key::parse(".mirra/doctor/probe").map_err(|e| e.to_string())?;
        return match replica.stat(&key).await {
            Ok(_) => Ok(format!("reachable, readable, read-only {declared}")),
            Err(e) if e.kind == ErrorKind::NotFound => {
                Ok(format!("reachable, readable, read-only {declared}"))
            }
            Err(e) => Err(format!("reachable, not readable: {e}")),
        };
    }
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let deletable = caps.contains(Capabilities::DELETE);
    let name = if deletable {
        format!(".mirra/doctor/probe-{nonce}")
    } else {
        ".mirra/doctor/probe".to_owned()
    };
    let key = Key::parse(&name).map_err(|e| e.to_string())?;
    let payload = Arc::new(format!("mirra doctor probe {nonce}").into_bytes());
    write_probe(replica, &key, payload.clone())
        .await
        .map_err(|e| format!("reachable, not writable: {e}"))?;
    let back = replica
        .read_range(&key, 0, payload.len() + 1, Vec::new())
        .await;
    if deletable {
        let _ = replica.delete(&key).await;
    }
    let streaming = if caps.contains(Capabilities::STREAMING_WRITE) {
        String::new()
    } else {
        format!(
            "; no streaming-write: objects up to {} MiB, buffered",
            crate::replica::BUFFERED_WRITE_LIMIT >> 20
        )
    };
    match back {
        Ok(data) if data == *payload => Ok(format!(
            "reachable, writable, readable ({} ms) {declared}{streaming}",
            started.elapsed().as_millis()
        )),
        Ok(_) => Err("wrote a probe but read back different bytes".into()),
        Err(e) => Err(format!("wrote a probe but cannot read it: {e}")),
    }
}

/// Writes through the same path as an object's bytes (streamed, or buffered to one
/// `put`; unsynced and flushed on a provider with `FLUSH`), then with `put` as a
/// manifest is written.
async fn write_probe(
    replica: &crate::replica::Replica,
    key: &Key,
    payload: Arc<Vec<u8>>,
) -> Result<(), mirra_driver_api::DriverError> {
    let mut writer = replica.begin_write(key)?;
    if let Err(e) = writer.write(payload.clone()).await {
        let _ = writer.abort().await;
        return Err(e);
    }
    writer.commit().await?;
    replica.flush().await?;
    replica.put(key, payload).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replica::capability_tests::replica;

    #[tokio::test]
    async fn the_probe_calls_only_what_the_driver_declares() {
        // WRITE without DELETE or STREAMING_WRITE: one fixed probe key, overwritten by
        // every run, written through put, never deleted.
        let (writable, driver) = replica(Capabilities::READ | Capabilities::WRITE);
        for _ in 0..3 {
            let detail = probe(&writable).await.unwrap();
            assert!(detail.contains("no streaming-write"), "{detail}");
        }
        let keys: Vec<String> = driver.objects.lock().unwrap().keys().cloned().collect();
        assert_eq!(keys, [".mirra/doctor/probe"]);
        let calls = driver.calls();
        assert!(
            calls
                .iter()
                .all(|c| !c.starts_with("delete") && !c.starts_with("begin_write")),
            "{calls:?}"
        );

        // READ only: nothing is written at all.
        let (read_only, driver) = replica(Capabilities::READ);
        let detail = probe(&read_only).await.unwrap();
        assert!(detail.contains("read-only"), "{detail}");
        assert!(
            driver.calls().iter().all(|c| c.starts_with("stat")),
            "{:?}",
            driver.calls()
        );

        // Nothing declared: a clear failure, no call.
        let (nothing, driver) = replica(Capabilities::NONE);
        let err = probe(&nothing).await.unwrap_err();
        assert!(err.contains("declares no read"), "{err}");
        assert!(driver.calls().is_empty());
    }
}
