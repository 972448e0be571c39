//! Every error kind: its status, its problem `type`, and that nothing changed.

mod common;

use common::{Reply, TestService, unsigned_json};
use ed25519_dalek::SigningKey;
use ledger::KeyId;
use ledger::keys::PublicKey;
use serde_json::{Value, json};

async fn raw_post(svc: &TestService, path: &str, token: &str, ct: &str, body: Vec<u8>) -> Reply {
    let res = svc
        .client
        .post(svc.url(path))
        .bearer_auth(token)
        .header("content-type", ct)
        .body(body)
        .send()
        .await
        .expect("request");
    Reply::of(res).await
}

#[tokio::test]
async fn malformed_requests_are_400() {
    let svc = TestService::start().await;
    let dept = svc.department("dept-market").await;
    let size = svc.size().await;
    raw_post(
        &svc,
        "/v1/streams/case-1/events",
        &dept.token,
        "application/json",
        b"{\"events\": [".to_vec(),
    )
    .await
    .assert_problem(400, "malformed-request");
    svc.post(
        "/v1/streams/bad%20name/events",
        Some(&dept.token),
        &json!({"events": [dept.event("case-1", "case.step", json!({}))]}),
    )
    .await
    .assert_problem(400, "malformed-request");
    svc.get("/v1/streams/case-1/events?limit=many", Some(&dept.token))
        .await
        .assert_problem(400, "malformed-request");
    svc.get(
        "/v1/streams/case-1/events?direction=sideways",
        Some(&dept.token),
    )
    .await
    .assert_problem(400, "malformed-request");
    svc.get("/v1/events/01ARZ3NDEKTSV4RRFFQ69G5FA", Some(&svc.admin))
        .await
        .assert_problem(400, "malformed-request");
    svc.post(
        "/v1/admin/keys/not-a-key/revoke",
        Some(&svc.admin),
        &json!({}),
    )
    .await
    .assert_problem(400, "malformed-request");
    let res = svc
        .client
        .get(svc.url("/v1/log/subscribe"))
        .bearer_auth(&svc.admin)
        .header("last-event-id", "yesterday")
        .send()
        .await
        .expect("request");
    Reply::of(res)
        .await
        .assert_problem(400, "malformed-request");
    assert_eq!(svc.size().await, size);
    svc.stop().await;
}

#[tokio::test]
async fn missing_unknown_and_malformed_tokens_are_401() {
    let svc = TestService::start().await;
    let size = svc.size().await;
    let body = json!({"events": [unsigned_json("case-1", "case.step", "dept-market", json!({}))]});
    svc.post("/v1/streams/case-1/events", None, &body)
        .await
        .assert_problem(401, "unauthorized");
    svc.post("/v1/streams/case-1/events", Some("ledger_nope"), &body)
        .await
        .assert_problem(401, "unauthorized");
    let res = svc
        .client
        .get(svc.url("/v1/log/entries"))
        .header("authorization", format!("Basic {}", svc.admin))
        .send()
        .await
        .expect("request");
    Reply::of(res).await.assert_problem(401, "unauthorized");
    svc.get("/v1/admin/tokens", None)
        .await
        .assert_problem(405, "method-not-allowed");
    assert_eq!(svc.size().await, size);
    svc.stop().await;
}

#[tokio::test]
async fn not_found_and_method_not_allowed() {
    let svc = TestService::start().await;
    svc.get("/v1/nothing-here", None)
        .await
        .assert_problem(404, "not-found");
    svc.get("/v1/streams/case-none/events", Some(&svc.admin))
        .await
        .assert_problem(404, "not-found");
    svc.get("/v1/events/01ARZ3NDEKTSV4RRFFQ69G5FAV", Some(&svc.admin))
        .await
        .assert_problem(404, "not-found");
    let res = svc
        .client
        .delete(svc.url("/v1/log"))
        .send()
        .await
        .expect("request");
    Reply::of(res)
        .await
        .assert_problem(405, "method-not-allowed");
    svc.stop().await;
}

#[tokio::test]
async fn too_large_and_wrong_media_type() {
    let svc = TestService::start().await;
    let dept = svc.department("dept-market").await;
    let size = svc.size().await;
    // 413: over the 256 KiB test body limit.
    let big = "x".repeat(300 * 1024);
    let body = json!({"events": [dept.event("case-big", "case.step", json!({"note": big}))]});
    svc.post("/v1/streams/case-big/events", Some(&dept.token), &body)
        .await
        .assert_problem(413, "payload-too-large");
    // 415: not JSON.
    raw_post(
        &svc,
        "/v1/streams/case-big/events",
        &dept.token,
        "text/plain",
        serde_json::to_vec(&json!({"events": []})).expect("json"),
    )
    .await
    .assert_problem(415, "unsupported-media-type");
    // 422: under the body limit, but over one log entry (65,535 bytes).
    let entry_big = "y".repeat(70 * 1024);
    let body = json!({"events": [dept.event("case-big", "case.step", json!({"note": entry_big}))]});
    svc.post("/v1/streams/case-big/events", Some(&dept.token), &body)
        .await
        .assert_problem(422, "entry-too-large");
    assert_eq!(svc.size().await, size);
    svc.stop().await;
}

#[tokio::test]
async fn schema_violations_are_422() {
    let svc = TestService::start().await;
    let dept = svc.department("dept-market").await;
    let size = svc.size().await;
    let path = "/v1/streams/case-s/events";
    let good = dept.event("case-s", "case.step", json!({}));
    let mut no_id = good.clone();
    no_id.as_object_mut().expect("object").remove("id");
    let mut bad_type = good.clone();
    bad_type["type"] = json!("1 bad type");
    let mut extra = good.clone();
    extra["colour"] = json!("blue");
    let mut other_stream = good.clone();
    other_stream["stream"] = json!("case-other");
    let mut big_int = good.clone();
    big_int["payload"] = json!({"n": 9_007_199_254_740_993u64});
    let bodies: Vec<Value> = vec![
        json!({}),
        json!({"events": []}),
        json!({"events": [good, good]}),
        json!({"events": [no_id]}),
        json!({"events": [bad_type]}),
        json!({"events": [extra]}),
        json!({"events": [other_stream]}),
        json!({"events": [big_int]}),
        json!({"events": ["not an object"]}),
        json!({"expected_version": "sometimes", "events": [good]}),
        json!({"expected_version": -1, "events": [good]}),
        json!({"events": [good], "unknown": 1}),
    ];
    for body in &bodies {
        let r = svc.post(path, Some(&dept.token), body).await;
        r.assert_problem(422, "schema-violation");
    }
    assert_eq!(svc.size().await, size);
    svc.stop().await;
}

#[tokio::test]
async fn signature_and_key_problems_are_422() {
    let svc = TestService::start().await;
    let dept = svc.department("dept-market").await;
    let tax = svc.department("dept-tax").await;
    let size = svc.size().await;
    let path = "/v1/streams/case-k/events";

    // Bad signature: content changed after signing.
    let mut ev = dept.event("case-k", "case.step", json!({"a": 1}));
    ev["payload"]["a"] = json!(2);
    svc.post(path, Some(&dept.token), &json!({"events": [ev]}))
        .await
        .assert_problem(422, "bad-signature");

    // Unknown key: a key nobody registered.
    let stranger = SigningKey::generate(&mut rand::rng());
    let stranger_id = KeyId::derive(&PublicKey::Ed25519(stranger.verifying_key()));
    let ev = common::unsigned("case-k", "case.step", "dept-market", json!({}))
        .sign_ed25519(stranger_id, &stranger)
        .expect("sign");
    svc.post(
        path,
        Some(&dept.token),
        &json!({"events": [serde_json::to_value(ev).expect("json")]}),
    )
    .await
    .assert_problem(422, "unknown-key");

    // Another department's key (appended by an admin, who may write any case).
    let ev = common::unsigned("case-k", "case.step", "dept-market", json!({}))
        .sign_ed25519(tax.key.clone(), &tax.signing)
        .expect("sign");
    svc.post(
        path,
        Some(&svc.admin),
        &json!({"events": [serde_json::to_value(ev).expect("json")]}),
    )
    .await
    .assert_problem(422, "key-not-valid");
    assert_eq!(svc.size().await, size);

    // Revoked key.
    let r = svc
        .post(
            &format!("/v1/admin/keys/{}/revoke", dept.key),
            Some(&svc.admin),
            &json!({"reason": "laptop lost"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let size_after_revoke = svc.size().await;
    assert_eq!(size_after_revoke, size + 1);
    let ev = dept.event("case-k", "case.step", json!({}));
    svc.post(path, Some(&dept.token), &json!({"events": [ev]}))
        .await
        .assert_problem(422, "key-not-valid");
    // Revoking twice, registering twice: registry changes that do not apply.
    svc.post(
        &format!("/v1/admin/keys/{}/revoke", dept.key),
        Some(&svc.admin),
        &json!({}),
    )
    .await
    .assert_problem(422, "invalid-registry-change");
    svc.post(
        "/v1/admin/keys",
        Some(&svc.admin),
        &json!({"department": "dept-market", "public_key": PublicKey::Ed25519(dept.signing.verifying_key()).to_base64()}),
    )
    .await
    .assert_problem(422, "invalid-registry-change");
    svc.post(
        "/v1/admin/departments",
        Some(&svc.admin),
        &json!({"department": "dept-market", "name": "again"}),
    )
    .await
    .assert_problem(422, "invalid-registry-change");
    // A token for an unregistered department; a key for one.
    svc.post(
        "/v1/admin/tokens",
        Some(&svc.admin),
        &json!({"role": "department", "department": "dept-ghost", "subject": "x"}),
    )
    .await
    .assert_problem(422, "schema-violation");
    svc.post(
        "/v1/admin/tokens",
        Some(&svc.admin),
        &json!({"role": "overlord", "department": "dept-market", "subject": "x"}),
    )
    .await
    .assert_problem(422, "schema-violation");
    svc.post(
        "/v1/admin/witnesses",
        Some(&svc.admin),
        &json!({"verifier_key": "not a key"}),
    )
    .await
    .assert_problem(422, "schema-violation");
    assert_eq!(svc.size().await, size_after_revoke);
    svc.stop().await;
}

#[tokio::test]
async fn over_the_rate_limit_is_429_per_token() {
    let mut settings = common::test_settings();
    settings.rate_limit = 1.0;
    settings.rate_burst = 3.0;
    let svc = TestService::start_with(settings, false).await;
    // The admin token's bucket: three requests pass, the fourth is refused.
    for _ in 0..3 {
        let r = svc.get("/v1/log/entries?limit=1", Some(&svc.admin)).await;
        assert_eq!(r.status, 200);
    }
    let size = svc.size().await;
    let r = svc
        .post(
            "/v1/streams/case-r/events",
            Some(&svc.admin),
            &json!({"events": [unsigned_json("case-r", "case.step", "dept-market", json!({}))]}),
        )
        .await;
    r.assert_problem(429, "rate-limited");
    assert!(r.headers.get("retry-after").is_some());
    assert_eq!(svc.size().await, size);
    // Public endpoints are not limited per token.
    for _ in 0..5 {
        assert_eq!(svc.get("/v1/log", None).await.status, 200);
    }
    svc.stop().await;
}
