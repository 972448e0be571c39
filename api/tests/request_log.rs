//! The line each answer leaves in the log: its level by status and time
//! (`routes::ops::log_answer`), inside the request's span, so with its
//! request id.

mod common;

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use tower::ServiceExt as _;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// Log output kept in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Sends `GET uri` with request id `id` through the whole router, logging
/// at `level` (an `EnvFilter`, as `LEDGER_LOG`); the status and the
/// `answered` lines that name `id`.
async fn answered(app: &axum::Router, level: &str, uri: &str, id: &str) -> (u16, Vec<String>) {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new(level))
        .with_writer(captured.clone())
        .with_ansi(false)
        .finish();
    // The test runs on one thread (a current-thread runtime), so the
    // request's whole handling sees this subscriber.
    let _guard = tracing::subscriber::set_default(subscriber);
    let res = app
        .clone()
        .oneshot(
            Request::builder()
                .uri(uri)
                .header("x-request-id", id)
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("infallible");
    let text = String::from_utf8(captured.0.lock().expect("lock").clone()).expect("utf-8");
    let lines = text
        .lines()
        .filter(|l| l.contains("answered") && l.contains(id))
        .map(str::to_owned)
        .collect();
    (res.status().as_u16(), lines)
}

#[tokio::test]
async fn successes_log_at_debug_client_errors_at_info_with_the_request_id() {
    let svc = common::TestService::start().await;
    let app = api::app(svc.state.clone());

    // At the default level a success leaves no line (metrics count it).
    let (status, lines) = answered(&app, "info", "/healthz", "req-ok-info").await;
    assert_eq!(status, StatusCode::OK.as_u16());
    assert!(lines.is_empty(), "a success logged at INFO: {lines:?}");

    // A client error does, at INFO, in the request's span.
    let (status, lines) = answered(&app, "info", "/v1/no-such-thing", "req-404-info").await;
    assert_eq!(status, StatusCode::NOT_FOUND.as_u16());
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains(" INFO "), "{}", lines[0]);
    assert!(lines[0].contains("request_id=req-404-info"), "{}", lines[0]);
    assert!(lines[0].contains("status=404"), "{}", lines[0]);

    // At DEBUG every answer has its line.
    let (status, lines) = answered(&app, "debug", "/healthz", "req-ok-debug").await;
    assert_eq!(status, StatusCode::OK.as_u16());
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("DEBUG"), "{}", lines[0]);
    assert!(lines[0].contains("status=200"), "{}", lines[0]);

    // Below the span's level nothing at all.
    let (_, lines) = answered(&app, "warn", "/v1/no-such-thing", "req-404-warn").await;
    assert!(lines.is_empty(), "{lines:?}");
    svc.stop().await;
}
