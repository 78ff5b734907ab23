//! `mirra doctor`: is this setup able to do its job? Config, key, every driver, every
//! provider reachable and writable.

use crate::printable::escape_controls;
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

use clap::Args;
use mirra_driver_api::Key;

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

/// Health check, then write, read back and delete a small probe object.
async fn probe(replica: &crate::replica::Replica) -> Result<String, String> {
    let started = std::time::Instant::now();
    replica
        .health()
        .await
        .map_err(|e| format!("unreachable: {e}"))?;
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let key = Key::parse(&format!(".mirra/doctor/probe-{nonce}")).map_err(|e| e.to_string())?;
    let payload = Arc::new(format!("mirra doctor probe {nonce}").into_bytes());
    replica
        .put(&key, payload.clone())
        .await
        .map_err(|e| format!("reachable, not writable: {e}"))?;
    let back = replica
        .read_range(&key, 0, payload.len() + 1, Vec::new())
        .await;
    let _ = replica.delete(&key).await;
    match back {
        Ok(data) if data == *payload => Ok(format!(
            "reachable, writable, readable ({} ms)",
            started.elapsed().as_millis()
        )),
        Ok(_) => Err("wrote a probe but read back different bytes".into()),
        Err(e) => Err(format!("wrote a probe but cannot read it: {e}")),
    }
}
