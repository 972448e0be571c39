//! Operations: `/healthz`, `/readyz`, `/metrics`, and the per-request
//! middleware (request id, tracing span, metrics, timeout).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tracing::Instrument as _;
use utoipa::ToSchema;

use crate::error::{ApiError, ApiResult, Problem, ProblemKind};
use crate::state::AppState;

/// The header carrying a request's id (taken from the client if it sent
/// one, else a new ULID).
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct Health {
    pub status: String,
    #[schema(format = Int64, minimum = 0)]
    pub size: Option<u64>,
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        size: None,
    })
}

/// Readiness: the store answers and the service is not shutting down.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, body = Health),
              (status = 503, body = Problem, content_type = "application/problem+json")))]
pub async fn readyz(State(state): State<AppState>) -> ApiResult<Json<Health>> {
    if state.is_shutting_down() {
        return Err(ApiError::new(
            ProblemKind::Unavailable,
            "the service is shutting down",
        ));
    }
    let size = state.store().size().await?;
    Ok(Json(Health {
        status: "ready".into(),
        size: Some(size),
    }))
}

/// Prometheus metrics, text exposition format.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, body = String, content_type = "text/plain; version=0.0.4")))]
pub async fn metrics(State(state): State<AppState>) -> ApiResult<Response> {
    static LAST_CHECKPOINT: Mutex<Option<(u64, Instant)>> = Mutex::new(None);
    let size = state.store().size().await?;
    metrics::gauge!("ledger_log_size").set(size as f64);
    if let Some(cp) = state.store().latest_checkpoint().await? {
        let now = Instant::now();
        let mut last = LAST_CHECKPOINT.lock().unwrap_or_else(|p| p.into_inner());
        let since = match *last {
            Some((s, at)) if s == cp.size => at,
            _ => {
                *last = Some((cp.size, now));
                now
            }
        };
        metrics::gauge!("ledger_checkpoint_age_seconds").set(if cp.size == size {
            0.0
        } else {
            now.duration_since(since).as_secs_f64()
        });
        metrics::gauge!("ledger_checkpoint_lag_entries").set((size - cp.size.min(size)) as f64);
    }
    let body = state.metrics().map(|h| h.render()).unwrap_or_default();
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4"),
        )],
        body,
    )
        .into_response())
}

/// Request id, tracing span, request metrics and the request timeout.
pub async fn observe(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .map(str::to_owned)
        .unwrap_or_else(|| ulid::Ulid::generate().to_string());
    let matched = req.extensions().get::<MatchedPath>().cloned();
    let route = matched.as_ref().map_or("unmatched", MatchedPath::as_str);
    let method = req.method().clone();
    // Built once, for the request and its answer.
    let id_header = HeaderValue::from_str(&id).ok();
    if let Some(v) = &id_header {
        req.headers_mut().insert(REQUEST_ID.clone(), v.clone());
    }
    let span = tracing::info_span!("request", request_id = %id, method = %method, route = %route);
    let timeout: Duration = state.settings().request_timeout;
    let mut res = async move {
        let res = match tokio::time::timeout(timeout, next.run(req)).await {
            Ok(res) => res,
            Err(_) => ApiError::new(
                ProblemKind::Unavailable,
                format!("the request took longer than {timeout:?}"),
            )
            .into_response(),
        };
        log_answer(res.status(), started.elapsed());
        res
    }
    .instrument(span)
    .await;
    crate::metrics::record_request(
        &method,
        route,
        res.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    if let Some(v) = id_header {
        res.headers_mut().insert(REQUEST_ID.clone(), v);
    }
    res
}

/// An answer slower than this is logged at INFO whatever its status.
pub const SLOW_ANSWER: Duration = Duration::from_secs(1);

/// One line per answer, in the request's span (so with its request id):
/// WARN for a server error, INFO for a client error or an answer slower
/// than [`SLOW_ANSWER`], DEBUG for the rest. Successes are counted and
/// timed by `/metrics`; a line for each at the default level cost `ledger
/// serve` about 10,600 instructions per request (callgrind, one signed
/// append per request: some 12 % of the request's user-space work) and a
/// write to stderr.
fn log_answer(status: StatusCode, elapsed: Duration) {
    let ms = elapsed.as_secs_f64() * 1e3;
    let code = status.as_u16();
    if status.is_server_error() {
        tracing::warn!(status = code, ms, "answered");
    } else if status.is_client_error() || elapsed >= SLOW_ANSWER {
        tracing::info!(status = code, ms, "answered");
    } else {
        tracing::debug!(status = code, ms, "answered");
    }
}

/// Any path no route matches.
pub async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint")
}

/// A route that exists, with another method.
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        ProblemKind::MethodNotAllowed,
        "this endpoint does not take that method",
    )
}
