//! Per-provider health: a circuit breaker and recent latency.
//!
//! A provider that fails `failures` calls in a row is skipped (its breaker opens) until
//! `cooldown` has passed; then one probe call is let through (half-open), and its
//! outcome closes the breaker or opens it again for twice as long, up to a minute.
//!
//! A provider that answers promptly with bytes that do not verify (a junk manifest, a
//! corrupt or short chunk) is no healthier than one that does not answer. Its answers
//! are judged after the transport call has already counted as a success, so they are
//! kept apart: when `failures` of its last `2 × failures` judged answers were bad, the
//! breaker opens as for transport errors. A provider that lies about some things and
//! not others (junk manifests, good chunks) is caught too; one bad chunk among many is
//! not enough.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const LATENCY_WINDOW: usize = 64;
const MAX_COOLDOWN: Duration = Duration::from_secs(60);
/// Weight of the newest sample in the moving average.
const EWMA_ALPHA: f64 = 0.2;
/// The latency sample an answer that failed verification counts as: it was no answer,
/// so it must not make the provider look fast.
const BAD_ANSWER_PENALTY_MS: f64 = 1000.0;

/// Where a provider's breaker stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    /// Calls go through.
    Closed,
    /// Calls fail fast until the cooldown ends.
    Open,
    /// One probe call is in flight; others fail fast.
    HalfOpen,
}

/// A copy of a provider's health, for display.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HealthSnapshot {
    /// The breaker's state.
    pub breaker: BreakerState,
    /// Failures in a row.
    pub consecutive_failures: u32,
    /// Moving average of successful call latency, in milliseconds.
    pub latency_ewma_ms: Option<f64>,
    /// 95th percentile of the last 64 successful calls, in milliseconds.
    pub latency_p95_ms: Option<f64>,
    /// The most recent failure.
    pub last_error: Option<String>,
}

/// Breaker thresholds.
#[derive(Debug, Clone, Copy)]
pub struct BreakerPolicy {
    /// Consecutive failures that open the breaker.
    pub failures: u32,
    /// First wait before a probe.
    pub cooldown: Duration,
}

struct State {
    consecutive_failures: u32,
    /// The last judged answers, newest in bit 0: 1 for one that failed verification.
    judged: u64,
    open_until: Option<Instant>,
    cooldown: Duration,
    probing: bool,
    ewma: Option<f64>,
    recent: VecDeque<Duration>,
    last_error: Option<String>,
}

/// One provider's health record, shared by every call to it.
pub struct Health {
    policy: BreakerPolicy,
    state: Mutex<State>,
}

/// Permission to call a provider, from [`Health::admit`].
#[derive(Debug, PartialEq, Eq)]
pub enum Admission {
    /// Go ahead.
    Call,
    /// Go ahead: this call is the half-open probe.
    Probe,
    /// Fail fast; the breaker is open.
    Refused,
}

impl Health {
    /// A healthy record.
    pub fn new(policy: BreakerPolicy) -> Self {
        Self {
            policy,
            state: Mutex::new(State {
                consecutive_failures: 0,
                judged: 0,
                open_until: None,
                cooldown: policy.cooldown,
                probing: false,
                ewma: None,
                recent: VecDeque::with_capacity(LATENCY_WINDOW),
                last_error: None,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a call may go to the provider now.
    pub fn admit(&self) -> Admission {
        self.admit_at(Instant::now())
    }

    fn admit_at(&self, now: Instant) -> Admission {
        let mut s = self.lock();
        match s.open_until {
            None => Admission::Call,
            Some(until) if now >= until && !s.probing => {
                s.probing = true;
                Admission::Probe
            }
            Some(_) => Admission::Refused,
        }
    }

    /// Records a call that worked (a `NotFound` answer counts: the provider answered).
    pub fn record_success(&self, latency: Duration) {
        let mut s = self.lock();
        s.consecutive_failures = 0;
        s.open_until = None;
        s.probing = false;
        s.cooldown = self.policy.cooldown;
        let ms = latency.as_secs_f64() * 1000.0;
        s.ewma = Some(s.ewma.map_or(ms, |e| e + EWMA_ALPHA * (ms - e)));
        if s.recent.len() == LATENCY_WINDOW {
            s.recent.pop_front();
        }
        s.recent.push_back(latency);
    }

    /// Records a failed call; opens the breaker after enough of them in a row, or at once
    /// when the half-open probe failed.
    pub fn record_failure(&self, error: &str) {
        self.record_failure_at(error, Instant::now());
    }

    fn record_failure_at(&self, error: &str, now: Instant) {
        let mut s = self.lock();
        s.consecutive_failures = s.consecutive_failures.saturating_add(1);
        s.last_error = Some(error.to_owned());
        if s.probing {
            s.probing = false;
            s.cooldown = (s.cooldown * 2).min(MAX_COOLDOWN);
            s.open_until = Some(now + s.cooldown);
        } else if s.consecutive_failures >= self.policy.failures.max(1) && s.open_until.is_none() {
            s.open_until = Some(now + s.cooldown);
        }
    }

    /// Records an answer that arrived but failed verification (invalid manifest, corrupt
    /// or short chunk, a listing that does not advance): a failure like a transport
    /// error, whatever the transport said.
    pub fn record_bad_answer(&self, error: &str) {
        self.record_bad_answer_at(error, Instant::now());
    }

    fn record_bad_answer_at(&self, error: &str, now: Instant) {
        let mut s = self.lock();
        s.judged = (s.judged << 1) | 1;
        // The transport success recorded for the same call reset the failure count; the
        // bad answers among the recent ones restore it.
        let bad = (s.judged & self.judged_window()).count_ones();
        s.consecutive_failures = s.consecutive_failures.max(bad);
        s.last_error = Some(error.to_owned());
        s.ewma = Some(s.ewma.map_or(BAD_ANSWER_PENALTY_MS, |e| {
            e + EWMA_ALPHA * (BAD_ANSWER_PENALTY_MS - e)
        }));
        if s.probing {
            s.probing = false;
            s.cooldown = (s.cooldown * 2).min(MAX_COOLDOWN);
            s.open_until = Some(now + s.cooldown);
        } else if s.consecutive_failures >= self.policy.failures.max(1) && s.open_until.is_none() {
            s.open_until = Some(now + s.cooldown);
        }
    }

    /// Records an answer that verified.
    pub fn record_verified(&self) {
        let mut s = self.lock();
        s.judged <<= 1;
    }

    /// The mask of judged answers that count: the last `2 × failures` (at most 64).
    fn judged_window(&self) -> u64 {
        let len = self.policy.failures.max(1).saturating_mul(2).min(64);
        u64::MAX >> (64 - len)
    }

    /// The 95th percentile latency of recent successful calls, once there are a few.
    pub fn p95(&self) -> Option<Duration> {
        let s = self.lock();
        if s.recent.len() < 8 {
            return None;
        }
        let mut sorted: Vec<Duration> = s.recent.iter().copied().collect();
        sorted.sort_unstable();
        Some(sorted[(sorted.len() * 95 / 100).min(sorted.len() - 1)])
    }

    /// Whether calls are currently failing fast.
    pub fn is_open(&self) -> bool {
        let s = self.lock();
        s.open_until
            .is_some_and(|until| Instant::now() < until || s.probing)
    }

    /// The moving average latency, for ordering providers.
    pub fn ewma(&self) -> Option<f64> {
        self.lock().ewma
    }

    /// A copy for display.
    pub fn snapshot(&self) -> HealthSnapshot {
        let p95 = self.p95().map(|d| d.as_secs_f64() * 1000.0);
        let s = self.lock();
        let breaker = match s.open_until {
            None => BreakerState::Closed,
            Some(_) if s.probing => BreakerState::HalfOpen,
            Some(until) if Instant::now() >= until => BreakerState::HalfOpen,
            Some(_) => BreakerState::Open,
        };
        HealthSnapshot {
            breaker,
            consecutive_failures: s.consecutive_failures,
            latency_ewma_ms: s.ewma,
            latency_p95_ms: p95,
            last_error: s.last_error.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(cooldown_ms: u64) -> BreakerPolicy {
        BreakerPolicy {
            failures: 3,
            cooldown: Duration::from_millis(cooldown_ms),
        }
    }

    #[test]
    fn opens_after_n_failures_and_probes_after_the_cooldown() {
        let health = Health::new(policy(1000));
        let t0 = Instant::now();
        for _ in 0..2 {
            health.record_failure_at("refused", t0);
            assert_eq!(health.admit_at(t0), Admission::Call);
        }
        health.record_failure_at("refused", t0);
        assert_eq!(health.admit_at(t0), Admission::Refused);
        assert_eq!(
            health.admit_at(t0 + Duration::from_millis(999)),
            Admission::Refused
        );
        let later = t0 + Duration::from_millis(1000);
        assert_eq!(health.admit_at(later), Admission::Probe);
        assert_eq!(
            health.admit_at(later),
            Admission::Refused,
            "only one probe at a time"
        );
        health.record_success(Duration::from_millis(3));
        assert_eq!(health.admit_at(later), Admission::Call);
        assert_eq!(health.snapshot().breaker, BreakerState::Closed);
    }

    #[test]
    fn a_failed_probe_reopens_for_longer() {
        let health = Health::new(policy(1000));
        let t0 = Instant::now();
        for _ in 0..3 {
            health.record_failure_at("timeout", t0);
        }
        let t1 = t0 + Duration::from_millis(1000);
        assert_eq!(health.admit_at(t1), Admission::Probe);
        health.record_failure_at("timeout", t1);
        assert_eq!(
            health.admit_at(t1 + Duration::from_millis(1999)),
            Admission::Refused,
            "cooldown doubled"
        );
        assert_eq!(
            health.admit_at(t1 + Duration::from_millis(2000)),
            Admission::Probe
        );
    }

    #[test]
    fn bad_answers_open_the_breaker_though_each_call_succeeded() {
        let health = Health::new(policy(1000));
        let t0 = Instant::now();
        for _ in 0..2 {
            health.record_success(Duration::from_millis(1));
            health.record_bad_answer_at("invalid manifest", t0);
            assert_eq!(health.admit_at(t0), Admission::Call);
        }
        health.record_success(Duration::from_millis(1));
        health.record_bad_answer_at("invalid manifest", t0);
        assert_eq!(health.admit_at(t0), Admission::Refused);
        assert_eq!(
            health.snapshot().last_error.as_deref(),
            Some("invalid manifest")
        );
        assert!(health.ewma().unwrap() > 100.0, "junk is not a fast answer");
    }

    #[test]
    fn a_provider_lying_half_the_time_is_caught_and_a_rare_bad_answer_is_not() {
        let health = Health::new(policy(1000));
        let t0 = Instant::now();
        // Junk manifests, good chunks: bad, good, bad, good, bad.
        for round in 0..5 {
            health.record_success(Duration::from_millis(1));
            if round % 2 == 0 {
                health.record_bad_answer_at("invalid manifest", t0);
            } else {
                health.record_verified();
            }
        }
        assert_eq!(
            health.admit_at(t0),
            Admission::Refused,
            "3 bad of the last 6"
        );

        let health = Health::new(policy(1000));
        for round in 0..20 {
            health.record_success(Duration::from_millis(1));
            if round % 7 == 0 {
                health.record_bad_answer_at("chunk 0 corrupt", t0);
            } else {
                health.record_verified();
            }
        }
        assert_eq!(health.admit_at(t0), Admission::Call, "1 bad in 7");
    }

    #[test]
    fn latency_statistics_follow_the_samples() {
        let health = Health::new(policy(10));
        assert!(health.p95().is_none());
        for ms in 1..=20u64 {
            health.record_success(Duration::from_millis(ms));
        }
        assert_eq!(health.p95(), Some(Duration::from_millis(20)));
        let ewma = health.ewma().unwrap();
        assert!(ewma > 10.0 && ewma < 20.0, "{ewma}");
        assert_eq!(health.snapshot().consecutive_failures, 0);
    }
}
