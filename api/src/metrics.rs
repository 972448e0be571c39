//! Prometheus metrics: one process-wide recorder, rendered at `/metrics`.
//!
//! Names: `ledger_http_requests_total{method,route,status}`,
//! `ledger_http_request_duration_seconds{method,route}`,
//! `ledger_appends_total{outcome}` (events, by outcome: `ok` or the problem
//! kind), `ledger_append_duration_seconds`, `ledger_log_size`,
//! `ledger_checkpoint_age_seconds`, `ledger_subscribers{kind}`.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The process-wide recorder's handle; installed on first use. `None` if
/// another recorder was installed first (metrics are then not rendered).
pub fn handle() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets(&LATENCY_BUCKETS)
                .ok()?
                .install_recorder()
                .ok()
        })
        .clone()
}

/// Counts one append request's events by outcome and records its latency.
pub fn record_append(outcome: &'static str, events: usize, seconds: f64) {
    metrics::counter!("ledger_appends_total", "outcome" => outcome).increment(events as u64);
    metrics::histogram!("ledger_append_duration_seconds").record(seconds);
}

/// One more (or one fewer) live subscriber of `kind` (`log` or `stream`).
pub struct SubscriberGauge(&'static str);

impl SubscriberGauge {
    pub fn new(kind: &'static str) -> Self {
        metrics::gauge!("ledger_subscribers", "kind" => kind).increment(1.0);
        SubscriberGauge(kind)
    }
}

impl Drop for SubscriberGauge {
    fn drop(&mut self) {
        metrics::gauge!("ledger_subscribers", "kind" => self.0).decrement(1.0);
    }
}
