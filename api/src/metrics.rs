//! Prometheus metrics: one process-wide recorder, rendered at `/metrics`.
//!
//! Names: `ledger_http_requests_total{method,route,status}`,
//! `ledger_http_request_duration_seconds{method,route}`,
//! `ledger_appends_total{outcome}` (events, by outcome: `ok` or the problem
//! kind), `ledger_append_duration_seconds`, `ledger_log_size`,
//! `ledger_checkpoint_age_seconds`, `ledger_subscribers{kind}`.

use std::collections::HashMap;
use std::sync::{OnceLock, RwLock};
use std::time::Duration;

use axum::http::Method;
use metrics::{Counter, Histogram};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// How often the recorder's upkeep folds the latency samples recorded
/// since into its histograms.
pub const UPKEEP_INTERVAL: Duration = Duration::from_secs(1);

/// The process-wide recorder's handle; installed on first use, with a
/// thread (`ledger-metrics`) that runs its upkeep every
/// [`UPKEEP_INTERVAL`]. `None` if another recorder was installed first
/// (metrics are then not rendered).
///
/// The recorder keeps every latency sample until upkeep or a scrape of
/// `/metrics` folds it into its buckets: without the upkeep thread, a
/// service nobody scrapes would hold 16 bytes more for every request it
/// ever answered.
pub fn handle() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_buckets(&LATENCY_BUCKETS)
                .ok()?
                .install_recorder()
                .ok()?;
            let upkeep = handle.clone();
            let spawned = std::thread::Builder::new()
                .name("ledger-metrics".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(UPKEEP_INTERVAL);
                        upkeep.run_upkeep();
                    }
                });
            if let Err(e) = spawned {
                tracing::warn!(
                    "no metrics upkeep thread ({e}): latency samples are kept until /metrics is scraped"
                );
            }
            Some(handle)
        })
        .clone()
}

/// Counts one HTTP request by method, route (the router's pattern, or
/// `unmatched`) and status, and records its latency by method and route.
///
/// The handles are looked up by name and labels once per combination and
/// kept: looking them up on every request cost some fifteen allocations
/// and two registry searches. (The recorder is installed before the
/// service answers anything, and never changes.)
///
/// Methods outside HTTP's standard ones are counted as `other`: a client
/// sending made-up methods would otherwise add series (and handles) without
/// bound.
pub fn record_request(method: &Method, route: &str, status: u16, seconds: f64) {
    static HANDLES: OnceLock<RwLock<HashMap<String, Vec<RequestHandles>>>> = OnceLock::new();
    let handles = HANDLES.get_or_init(Default::default);
    let method = method_label(method);
    let find = |list: &[RequestHandles]| {
        list.iter()
            .find(|h| h.method == method && h.status == status)
            .map(|h| (h.requests.clone(), h.duration.clone()))
    };
    let known = handles
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .get(route)
        .and_then(|list| find(list));
    let (requests, duration) = match known {
        Some(h) => h,
        None => {
            let mut map = handles.write().unwrap_or_else(|p| p.into_inner());
            let list = map.entry(route.to_owned()).or_default();
            match find(list) {
                Some(h) => h,
                None => {
                    let h = RequestHandles::register(method, route, status);
                    let out = (h.requests.clone(), h.duration.clone());
                    list.push(h);
                    out
                }
            }
        }
    };
    requests.increment(1);
    duration.record(seconds);
}

/// The method's label: its name if HTTP defines it, else `other`.
fn method_label(method: &Method) -> &'static str {
    const STANDARD: [(Method, &str); 9] = [
        (Method::GET, "GET"),
        (Method::POST, "POST"),
        (Method::PUT, "PUT"),
        (Method::DELETE, "DELETE"),
        (Method::PATCH, "PATCH"),
        (Method::HEAD, "HEAD"),
        (Method::OPTIONS, "OPTIONS"),
        (Method::CONNECT, "CONNECT"),
        (Method::TRACE, "TRACE"),
    ];
    STANDARD
        .iter()
        .find(|(m, _)| m == method)
        .map_or("other", |(_, name)| *name)
}

struct RequestHandles {
    method: &'static str,
    status: u16,
    requests: Counter,
    duration: Histogram,
}

impl RequestHandles {
    fn register(method: &'static str, route: &str, status: u16) -> Self {
        let labels = [("method", method.to_owned()), ("route", route.to_owned())];
        RequestHandles {
            method,
            status,
            requests: metrics::counter!(
                "ledger_http_requests_total",
                &[
                    labels[0].clone(),
                    labels[1].clone(),
                    ("status", status.to_string())
                ]
            ),
            duration: metrics::histogram!("ledger_http_request_duration_seconds", &labels),
        }
    }
}

/// Counts one append request's events by outcome and records its latency.
pub fn record_append(outcome: &'static str, events: usize, seconds: f64) {
    static COUNTERS: RwLock<Vec<(&str, Counter)>> = RwLock::new(Vec::new());
    static DURATION: OnceLock<Histogram> = OnceLock::new();
    let known = COUNTERS
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .find(|(o, _)| *o == outcome)
        .map(|(_, c)| c.clone());
    let counter = known.unwrap_or_else(|| {
        let counter = metrics::counter!("ledger_appends_total", "outcome" => outcome);
        COUNTERS
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push((outcome, counter.clone()));
        counter
    });
    counter.increment(events as u64);
    DURATION
        .get_or_init(|| metrics::histogram!("ledger_append_duration_seconds"))
        .record(seconds);
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
