//! Counters for `/_metrics`, rendered in the Prometheus text exposition format (0.0.4).
//!
//! A handful of counters behind atomics and two small maps; no metrics crate, since the
//! format is a few lines of text and the label sets are tiny.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use super::cache::CacheStats;
use crate::health::BreakerState;
use crate::replica::Replica;
use crate::store::{ProviderFailure, RangeReport};

/// Everything the gateway counts.
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(&'static str, u16), u64>>,
    provider_errors: Mutex<BTreeMap<String, u64>>,
    bytes_sent: AtomicU64,
    bytes_received: AtomicU64,
    failovers: AtomicU64,
    hedges: AtomicU64,
    aborted: AtomicU64,
    connections_open: AtomicU64,
    connections_total: AtomicU64,
}

impl Metrics {
    /// Counts one answered request. Labels come from closed sets, whatever the client
    /// sent: a method outside the standard ones is `other`, so `/_metrics` cannot be
    /// grown without bound by inventing methods.
    pub fn request(&self, method: &str, status: u16) {
        *lock(&self.requests)
            .entry((method_label(method), status))
            .or_default() += 1;
    }

    /// Counts body bytes sent to clients.
    pub fn sent(&self, bytes: u64) {
        self.bytes_sent.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Counts body bytes received from clients.
    pub fn received(&self, bytes: u64) {
        self.bytes_received.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Counts what a ranged read went through.
    pub fn read(&self, report: &RangeReport) {
        self.failovers
            .fetch_add(u64::from(report.failovers), Ordering::Relaxed);
        self.hedges
            .fetch_add(u64::from(report.hedged), Ordering::Relaxed);
        self.provider_failures(&report.provider_errors);
    }

    /// Counts each failure against its provider.
    pub fn provider_failures(&self, failures: &[ProviderFailure]) {
        let mut errors = lock(&self.provider_errors);
        for failure in failures {
            *errors.entry(failure.provider.clone()).or_default() += 1;
        }
    }

    /// Counts a response cut off because a chunk could not be verified.
    pub fn aborted(&self) {
        self.aborted.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an accepted connection; pair with [`Metrics::connection_closed`].
    pub fn connection_opened(&self) {
        self.connections_total.fetch_add(1, Ordering::Relaxed);
        self.connections_open.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a closed connection.
    pub fn connection_closed(&self) {
        self.connections_open.fetch_sub(1, Ordering::Relaxed);
    }

    /// The Prometheus text for these counters, `replicas`' breaker states and, when
    /// the gateway caches, the cache's figures.
    pub fn render(&self, replicas: &[Replica], cache: Option<CacheStats>) -> String {
        let mut out = String::new();
        let name = family(
            &mut out,
            "mirra_http_requests_total",
            "counter",
            "HTTP requests answered, by method and status.",
        );
        for ((method, status), count) in lock(&self.requests).iter() {
            let _ = writeln!(
                out,
                "{name}{{method=\"{}\",status=\"{status}\"}} {count}",
                escape(method)
            );
        }
        let counters = [
            (
                "mirra_http_response_bytes_total",
                "Body bytes sent.",
                &self.bytes_sent,
            ),
            (
                "mirra_http_request_bytes_total",
                "Body bytes received.",
                &self.bytes_received,
            ),
            (
                "mirra_read_failovers_total",
                "Chunks read from another provider after one failed them.",
                &self.failovers,
            ),
            (
                "mirra_read_hedges_total",
                "Chunks won by a hedged request to a second provider.",
                &self.hedges,
            ),
            (
                "mirra_http_responses_aborted_total",
                "Responses cut off because no provider had a verifiable chunk.",
                &self.aborted,
            ),
            (
                "mirra_http_connections_total",
                "Connections accepted.",
                &self.connections_total,
            ),
        ];
        for (name, help, value) in counters {
            let name = family(&mut out, name, "counter", help);
            let _ = writeln!(out, "{name} {}", value.load(Ordering::Relaxed));
        }
        let name = family(
            &mut out,
            "mirra_http_connections_open",
            "gauge",
            "Connections open now.",
        );
        let _ = writeln!(
            out,
            "{name} {}",
            self.connections_open.load(Ordering::Relaxed)
        );

        let errors = lock(&self.provider_errors).clone();
        let name = family(
            &mut out,
            "mirra_provider_errors_total",
            "counter",
            "Reads a provider failed (error, timeout, short or corrupt data).",
        );
        for replica in replicas {
            let count = errors.get(replica.name()).copied().unwrap_or(0);
            let _ = writeln!(
                out,
                "{name}{{provider=\"{}\"}} {count}",
                escape(replica.name())
            );
        }
        let name = family(
            &mut out,
            "mirra_provider_breaker_state",
            "gauge",
            "1 for the provider's current circuit breaker state, else 0.",
        );
        for replica in replicas {
            let current = replica.health_record().snapshot().breaker;
            for (state, label) in [
                (BreakerState::Closed, "closed"),
                (BreakerState::Open, "open"),
                (BreakerState::HalfOpen, "half_open"),
            ] {
                let value = u8::from(current == state);
                let _ = writeln!(
                    out,
                    "{name}{{provider=\"{}\",state=\"{label}\"}} {value}",
                    escape(replica.name())
                );
            }
        }
        let name = family(
            &mut out,
            "mirra_provider_latency_ewma_seconds",
            "gauge",
            "Moving average of the provider's successful call latency.",
        );
        for replica in replicas {
            if let Some(ms) = replica.health_record().snapshot().latency_ewma_ms {
                let _ = writeln!(
                    out,
                    "{name}{{provider=\"{}\"}} {}",
                    escape(replica.name()),
                    ms / 1000.0
                );
            }
        }
        if let Some(stats) = cache {
            render_cache(&mut out, stats);
        }
        out
    }
}

fn render_cache(out: &mut String, stats: CacheStats) {
    let gauges = [
        (
            "mirra_cache_entries",
            "gauge",
            "Verified reads held in the cache.",
            stats.entries,
        ),
        (
            "mirra_cache_bytes",
            "gauge",
            "Bytes of manifests and objects held in the cache.",
            stats.bytes,
        ),
        (
            "mirra_cache_hits_total",
            "counter",
            "Reads answered from the cache.",
            stats.hits,
        ),
        (
            "mirra_cache_misses_total",
            "counter",
            "Reads that asked the providers (nothing cached, or past the freshness bound).",
            stats.misses,
        ),
    ];
    for (name, kind, help, value) in gauges {
        let name = family(out, name, kind, help);
        let _ = writeln!(out, "{name} {value}");
    }
}

/// The label for `method`: itself when it is one of the methods of RFC 9110 (and
/// PATCH), else `other`.
fn method_label(method: &str) -> &'static str {
    const KNOWN: [&str; 9] = [
        "GET", "HEAD", "PUT", "DELETE", "POST", "OPTIONS", "PATCH", "CONNECT", "TRACE",
    ];
    KNOWN
        .iter()
        .find(|known| **known == method)
        .copied()
        .unwrap_or("other")
}

/// Writes a metric family's HELP and TYPE lines and returns its name.
fn family<'a>(out: &mut String, name: &'a str, kind: &str, help: &str) -> &'a str {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    name
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// A label value with `\`, `"` and newlines escaped as the text format requires.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_render_as_prometheus_text() {
        let metrics = Metrics::default();
        metrics.request("GET", 200);
        metrics.request("GET", 200);
        metrics.request("PUT", 401);
        metrics.sent(10);
        let cache = CacheStats {
            entries: 3,
            bytes: 4096,
            hits: 7,
            misses: 2,
        };
        metrics.read(&RangeReport {
            failovers: 2,
            hedged: 1,
            provider_errors: vec![ProviderFailure {
                provider: "a\"b".into(),
                verdict: crate::store::Verdict::Corrupt("chunk 0 corrupt".into()),
            }],
            ..RangeReport::default()
        });
        let text = metrics.render(&[], Some(cache));
        assert!(text.contains("mirra_cache_entries 3\n"), "{text}");
        assert!(text.contains("mirra_cache_bytes 4096\n"));
        assert!(text.contains("mirra_cache_hits_total 7\n"));
        assert!(text.contains("mirra_cache_misses_total 2\n"));
        assert!(
            text.contains("mirra_http_requests_total{method=\"GET\",status=\"200\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("mirra_http_requests_total{method=\"PUT\",status=\"401\"} 1\n"));
        assert!(text.contains("mirra_http_response_bytes_total 10\n"));
        assert!(text.contains("mirra_read_failovers_total 2\n"));
        assert!(text.contains("mirra_read_hedges_total 1\n"));
        assert!(text.contains("# TYPE mirra_provider_breaker_state gauge\n"));
        // Every non-comment line is `name{labels} value` or `name value`.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (_, value) = line.rsplit_once(' ').unwrap();
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
    }

    #[test]
    fn invented_methods_share_one_label() {
        let metrics = Metrics::default();
        for i in 0..1000 {
            metrics.request(&format!("M{i}"), 405);
        }
        metrics.request("GET", 200);
        let text = metrics.render(&[], None);
        assert!(
            text.contains("method=\"other\",status=\"405\"} 1000\n"),
            "{text}"
        );
        assert!(text.len() < 4096, "{} bytes", text.len());
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
