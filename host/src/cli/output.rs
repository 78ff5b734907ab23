//! Printing results: `--json` for scripts, aligned text for people.

use crate::printable::escape_controls;
use serde::Serialize;

use crate::store::PutReport;

/// Prints `value` as pretty JSON on stdout.
pub fn print_json(value: &impl Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// `1536` → `1.5 KiB`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// The per-provider lines of a put or rm.
pub fn print_write_report(verb: &str, report: &PutReport) {
    println!(
        "{verb} {} version {} ({}, sha256 {})",
        report.key,
        report.version,
        human_size(report.size),
        report.sha256
    );
    let width = report
        .providers
        .iter()
        .map(|p| p.provider.len())
        .max()
        .unwrap_or(0);
    if let Some(winner) = report.superseded_by {
        println!(
            "  superseded: a concurrent write won as version {winner}; the key holds that write"
        );
    }
    for outcome in &report.providers {
        match &outcome.error {
            None => println!("  {:width$}  ok", outcome.provider),
            Some(reason) => println!(
                "  {:width$}  failed: {}",
                outcome.provider,
                escape_controls(reason)
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_people_write_them() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(64 << 20), "64.0 MiB");
    }
}
