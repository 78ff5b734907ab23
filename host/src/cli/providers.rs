//! `mirra providers`.

use clap::Args;
use futures::future::join_all;

use super::context::Globals;
use super::output::print_json;

/// Show each provider's driver, capabilities and health.
#[derive(Debug, Args)]
pub struct ProvidersCmd {
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(serde::Serialize)]
struct ProviderRow {
    name: String,
    driver: String,
    driver_version: String,
    priority: u16,
    capabilities: Vec<&'static str>,
    healthy: bool,
    /// Why the health check just run failed, when it did.
    health_error: Option<String>,
    #[serde(flatten)]
    health: crate::health::HealthSnapshot,
}

impl ProvidersCmd {
    /// Runs each provider's health check and prints what it found.
    pub async fn run(self, globals: &Globals) -> anyhow::Result<u8> {
        let store = globals.open_store(None)?;
        let checks = join_all(store.replicas().iter().map(|r| r.health())).await;
        let rows: Vec<ProviderRow> = store
            .replicas()
            .iter()
            .zip(checks)
            .map(|(r, health)| ProviderRow {
                name: r.name().to_owned(),
                driver: r.info().name.clone(),
                driver_version: r.info().version.clone(),
                priority: r.settings().priority,
                capabilities: r.info().capabilities.names(),
                healthy: health.is_ok(),
                health_error: health.err().map(|e| e.to_string()),
                health: r.health_record().snapshot(),
            })
            .collect();
        if self.json {
            print_json(&rows)?;
        } else {
            for row in &rows {
                // The check just run decides, not the breaker's record: a failure
                // the breaker does not count (Unsupported, InvalidInput) is still down.
                let state = match &row.health_error {
                    Some(e) => format!("down: {e}"),
                    None => "up".into(),
                };
                let latency = row
                    .health
                    .latency_ewma_ms
                    .map(|ms| format!("{ms:.1} ms"))
                    .unwrap_or_else(|| "-".into());
                println!(
                    "{}  {} {}  priority {}  breaker {:?}  latency {latency}  [{}]  {state}",
                    row.name,
                    row.driver,
                    row.driver_version,
                    row.priority,
                    row.health.breaker,
                    row.capabilities.join(",")
                );
            }
        }
        let all_up = rows.iter().all(|r| r.healthy);
        Ok(if all_up {
            super::EXIT_OK
        } else {
            super::EXIT_FAILED
        })
    }
}
