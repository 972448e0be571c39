//! The router in process (`oneshot`, no socket), and the OpenAPI document
//! against the routes it serves.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt as _;
use serde_json::Value;
use tower::ServiceExt as _;

/// Every route the service serves, method and OpenAPI path template.
const ROUTES: [(&str, &str); 41] = [
    ("post", "/v1/streams/{stream}/events"),
    ("get", "/v1/streams/{stream}/events"),
    ("get", "/v1/streams/{stream}/subscribe"),
    ("get", "/v1/log/entries"),
    ("get", "/v1/log/subscribe"),
    ("get", "/v1/events/{id}"),
    ("get", "/v1/cases/{id}/timeline"),
    ("get", "/v1/worklogs/{department}/{day}"),
    ("get", "/v1/cases"),
    ("get", "/v1/cases/{id}/query-code"),
    ("get", "/v1/public/cases/{id}/status"),
    ("get", "/v1/public/cases/{id}/qr.svg"),
    ("get", "/v1/public/cases/{id}/qr.png"),
    ("get", "/status"),
    ("post", "/v1/applicants"),
    ("get", "/v1/applicants/{ref}"),
    ("delete", "/v1/applicants/{ref}"),
    ("get", "/v1/scorecards"),
    ("get", "/v1/fairness"),
    ("get", "/v1/complaints"),
    ("get", "/v1/complaints/{id}/timeline"),
    ("get", "/v1/log"),
    ("get", "/v1/proofs/inclusion"),
    ("get", "/v1/proofs/consistency"),
    ("get", "/checkpoint"),
    ("get", "/v1/checkpoints"),
    ("get", "/v1/checkpoints/{size}"),
    ("get", "/tile/{path}"),
    ("post", "/v1/admin/tokens"),
    ("post", "/v1/admin/tokens/{token_id}/revoke"),
    ("post", "/v1/admin/departments"),
    ("post", "/v1/admin/witnesses"),
    ("post", "/v1/admin/keys"),
    ("post", "/v1/admin/keys/{key}/revoke"),
    ("get", "/v1/witness/add-checkpoint"),
    ("post", "/v1/witness/cosignatures"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/v1/whoami"),
    ("get", "/openapi.json"),
];

async fn call(app: &axum::Router, method: Method, uri: &str) -> (StatusCode, Value) {
    let res = app
        .clone()
        .oneshot(
            Request::builder()
                .method(method)
                .uri(uri)
                .header("content-type", "application/json")
                .body(Body::from("{}"))
                .expect("request"),
        )
        .await
        .expect("infallible");
    let status = res.status();
    let bytes = res.into_body().collect().await.expect("body").to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn openapi_documents_every_route_and_only_those() {
    let svc = common::TestService::start().await;
    let app = api::app(svc.state.clone());
    let (status, doc) = call(&app, Method::GET, "/openapi.json").await;
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().expect("paths");
    let mut documented = Vec::new();
    for (path, item) in paths {
        for method in item.as_object().expect("path item").keys() {
            if ["get", "post", "put", "delete", "patch"].contains(&method.as_str()) {
                documented.push((method.clone(), path.clone()));
            }
        }
    }
    // /openapi.json documents the others, not itself.
    let expected: Vec<(String, String)> = ROUTES
        .iter()
        .filter(|(_, p)| *p != "/openapi.json")
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    for route in &expected {
        assert!(documented.contains(route), "{route:?} is not documented");
    }
    for route in &documented {
        assert!(
            expected.contains(route),
            "{route:?} is documented but not listed"
        );
    }
    // And every route is served: a request to it never reaches the fallback.
    for (method, path) in ROUTES {
        let uri = path
            .replace("{stream}", "case-x")
            .replace("{id}", "01ARZ3NDEKTSV4RRFFQ69G5FAV")
            .replace("{path}", "0/000.p/1")
            .replace("{token_id}", "00")
            .replace("{key}", "ed25519:0000000000000000")
            .replace("{size}", "1");
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
        let (status, body) = call(&app, method.clone(), &uri).await;
        assert_ne!(status, 405, "{method} {uri}");
        assert_ne!(body["detail"], "no such endpoint", "{method} {uri}");
    }
    // Every schema reference resolves.
    let text = doc.to_string();
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    for part in text.split("\"#/components/schemas/").skip(1) {
        let name = part.split('"').next().expect("name");
        assert!(schemas.contains_key(name), "dangling $ref to {name}");
    }
    // Problems and the bearer scheme are described; u64s are int64 integers.
    assert!(doc["components"]["schemas"]["Problem"].is_object());
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    assert_eq!(
        doc["components"]["schemas"]["ReceiptView"]["properties"]["log_index"]["format"],
        "int64"
    );
    svc.stop().await;
}

#[tokio::test]
async fn in_process_requests_get_ids_and_problem_shapes() {
    let svc = common::TestService::start().await;
    let app = api::app(svc.state.clone());
    let res = app
        .clone()
        .oneshot(
            Request::builder()
                .uri("/healthz")
                .header("x-request-id", "req-123")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("infallible");
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-request-id"], "req-123");
    let res = app
        .clone()
        .oneshot(
            Request::builder()
                .uri("/nowhere")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("infallible");
    assert_eq!(res.status(), 404);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    assert_eq!(
        res.headers()["x-request-id"].len(),
        26,
        "a generated ULID request id"
    );
    let (status, body) = call(&app, Method::GET, "/v1/log").await;
    assert_eq!(status, 200);
    assert_eq!(body["origin"], "test.example/ledger");
    assert!(
        body["verifier_key"]
            .as_str()
            .expect("key")
            .starts_with("test.example/ledger+")
    );
    assert_eq!(body["size"], body["checkpoint_size"]);
    svc.stop().await;
}

#[tokio::test]
async fn a_request_over_the_timeout_is_a_503_problem() {
    let mut settings = common::test_settings();
    settings.request_timeout = std::time::Duration::from_millis(100);
    let svc = common::TestService::start_with(settings, false).await;
    let state = svc.state.clone();
    let app = axum::Router::new()
        .route(
            "/slow",
            axum::routing::get(|| async {
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                "late"
            }),
        )
        .route("/quick", axum::routing::get(|| async { "ok" }))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            api::routes::ops::observe,
        ))
        .with_state(state);
    let started = std::time::Instant::now();
    let (status, body) = call(&app, Method::GET, "/slow").await;
    assert_eq!(status, 503);
    assert_eq!(body["type"], "urn:ledger:problem:unavailable");
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    let (status, _) = call(&app, Method::GET, "/quick").await;
    assert_eq!(status, 200);
    svc.stop().await;
}
