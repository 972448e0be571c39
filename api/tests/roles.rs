//! The role × endpoint matrix, denials included, and the access records of
//! case reads by inspectors and complaint handlers (and none of registry
//! reads, which every role may make).

mod common;

use common::{Department, TestService, unsigned_json};
use ed25519_dalek::SigningKey;
use ledger::keys::PublicKey;
use serde_json::{Value, json};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Nobody,
    Admin,
    Market,
    Tax,
    Inspector,
    Handler,
    Witness,
}

const EVERYONE: [Who; 7] = [
    Who::Nobody,
    Who::Admin,
    Who::Market,
    Who::Tax,
    Who::Inspector,
    Who::Handler,
    Who::Witness,
];

struct World {
    svc: TestService,
    market: Department,
    tax: Department,
    inspector: String,
    handler: String,
    witness: String,
    case_event: String,
    registry_event: String,
    n: std::sync::atomic::AtomicUsize,
}

impl World {
    fn token(&self, who: Who) -> Option<&str> {
        match who {
            Who::Nobody => None,
            Who::Admin => Some(&self.svc.admin),
            Who::Market => Some(&self.market.token),
            Who::Tax => Some(&self.tax.token),
            Who::Inspector => Some(&self.inspector),
            Who::Handler => Some(&self.handler),
            Who::Witness => Some(&self.witness),
        }
    }

    fn fresh(&self) -> usize {
        self.n.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    /// An event `who` would write to `stream`.
    fn event(&self, who: Who, stream: &str) -> Value {
        let department = match who {
            Who::Market => return self.market.event(stream, "case.step", json!({})),
            Who::Tax => return self.tax.event(stream, "case.step", json!({})),
            Who::Inspector => "supervision-office",
            Who::Handler => "complaint-center",
            Who::Witness => "witness-org",
            Who::Admin | Who::Nobody => "dept-market",
        };
        unsigned_json(stream, "case.step", department, json!({}))
    }

    async fn status(&self, endpoint: &str, who: Who) -> u16 {
        let svc = &self.svc;
        let token = self.token(who);
        let append = |stream: &str| json!({"events": [self.event(who, stream)]});
        let r = match endpoint {
            "append case" => {
                svc.post("/v1/streams/case-m1/events", token, &append("case-m1"))
                    .await
            }
            "append complaint" => {
                svc.post(
                    "/v1/streams/complaint-1/events",
                    token,
                    &append("complaint-1"),
                )
                .await
            }
            "append registry" => {
                svc.post("/v1/streams/registry/events", token, &append("registry"))
                    .await
            }
            "append access" => {
                svc.post(
                    "/v1/streams/access-2026-01-01/events",
                    token,
                    &append("access-2026-01-01"),
                )
                .await
            }
            "read assigned case" => svc.get("/v1/streams/case-m1/events", token).await,
            "read other case" => svc.get("/v1/streams/case-m2/events", token).await,
            "timeline assigned case" => svc.get("/v1/cases/m1/timeline", token).await,
            "timeline other case" => svc.get("/v1/cases/m2/timeline", token).await,
            "work log" => svc.get("/v1/worklogs/dept-market/2026-03-02", token).await,
            "read complaint" => svc.get("/v1/streams/complaint-1/events", token).await,
            "read registry" => svc.get("/v1/streams/registry/events", token).await,
            "registry event by id" => {
                svc.get(&format!("/v1/events/{}", self.registry_event), token)
                    .await
            }
            "event by id" => {
                svc.get(&format!("/v1/events/{}", self.case_event), token)
                    .await
            }
            "read log" => svc.get("/v1/log/entries?limit=5", token).await,
            "subscribe log" | "subscribe case" | "subscribe registry" => {
                let path = match endpoint {
                    "subscribe log" => "/v1/log/subscribe",
                    "subscribe case" => "/v1/streams/case-m1/subscribe",
                    _ => "/v1/streams/registry/subscribe",
                };
                let mut req = svc.client.get(svc.url(path));
                if let Some(t) = token {
                    req = req.bearer_auth(t);
                }
                // Only the status: the body is endless.
                return req.send().await.expect("request").status().as_u16();
            }
            "issue token" => {
                svc.post(
                    "/v1/admin/tokens",
                    token,
                    &json!({"role": "inspector", "department": "supervision-office", "subject": format!("i{}", self.fresh())}),
                )
                .await
            }
            "revoke token" => {
                let victim = svc
                    .token("inspector", "supervision-office", &format!("v{}", self.fresh()))
                    .await;
                let id = api::auth::hash_token(&victim);
                svc.post(
                    &format!("/v1/admin/tokens/{id}/revoke"),
                    token,
                    &json!({}),
                )
                .await
            }
            "register department" => {
                svc.post(
                    "/v1/admin/departments",
                    token,
                    &json!({"department": format!("dept-{}", self.fresh()), "name": "某局"}),
                )
                .await
            }
            "register key" | "revoke key" => {
                let key = SigningKey::generate(&mut rand::rng());
                let public = PublicKey::Ed25519(key.verifying_key());
                let body = json!({"department": "dept-market", "public_key": public.to_base64()});
                if endpoint == "register key" {
                    svc.post("/v1/admin/keys", token, &body).await
                } else {
                    let r = svc.post("/v1/admin/keys", Some(&svc.admin), &body).await;
                    assert_eq!(r.status, 201);
                    let id = r.body["key"].as_str().expect("key").to_owned();
                    svc.post(&format!("/v1/admin/keys/{id}/revoke"), token, &json!({}))
                        .await
                }
            }
            "register witness" => {
                let name = format!("witness-{}.example", self.fresh());
                let cosigner = ledger::cosignature::Cosigner::generate(&name).expect("cosigner");
                svc.post(
                    "/v1/admin/witnesses",
                    token,
                    &json!({"verifier_key": cosigner.verifier().to_verifier_key_string()}),
                )
                .await
            }
            "pull checkpoint" => svc.get("/v1/witness/add-checkpoint?old_size=0", token).await,
            "post cosignatures" => {
                let size = svc
                    .store
                    .checkpoint_now()
                    .await
                    .expect("checkpoint")
                    .expect("some")
                    .size;
                let mut req = svc
                    .client
                    .post(svc.url(&format!("/v1/witness/cosignatures?size={size}")))
                    .body("not a cosignature\n");
                if let Some(t) = token {
                    req = req.bearer_auth(t);
                }
                common::Reply::of(req.send().await.expect("request")).await
            }
            "checkpoint by size" => {
                let size = svc
                    .store
                    .checkpoint_now()
                    .await
                    .expect("checkpoint")
                    .expect("some")
                    .size;
                svc.get(&format!("/v1/checkpoints/{size}"), token).await
            }
            public => svc.get(public, token).await,
        };
        r.status.as_u16()
    }
}

async fn world() -> World {
    let svc = TestService::start().await;
    let market = svc.department("dept-market").await;
    let tax = svc.department("dept-tax").await;
    let inspector = svc.token("inspector", "supervision-office", "insp-1").await;
    let handler = svc
        .token("complaint_handler", "complaint-center", "handler-1")
        .await;
    let witness = svc.token("witness", "witness-org", "w1").await;
    for case in ["case-m1", "case-m2"] {
        let r = svc
            .post(
                &format!("/v1/streams/{case}/events"),
                Some(&market.token),
                &json!({"events": [market.event(case, "case.step", json!({}))]}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let r = svc
        .post(
            "/v1/streams/complaint-1/events",
            Some(&svc.admin),
            &json!({"events": [unsigned_json("complaint-1", "complaint.assigned", "complaint-center",
                json!({"body": "督查室", "handler": "handler-1", "cases": ["case-m1"]}))]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = svc
        .get("/v1/streams/case-m1/events", Some(&svc.admin))
        .await;
    let case_event = r.body["events"][0]["event"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let r = svc
        .get("/v1/streams/registry/events", Some(&svc.admin))
        .await;
    let registry_event = r.body["events"][0]["event"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    World {
        svc,
        market,
        tax,
        inspector,
        handler,
        witness,
        case_event,
        registry_event,
        n: Default::default(),
    }
}

#[tokio::test]
async fn role_by_endpoint_matrix() {
    let w = world().await;
    use Who::*;
    // Columns: Nobody, Admin, Market, Tax, Inspector, Handler, Witness.
    let matrix: Vec<(&str, [u16; 7])> = vec![
        ("append case", [401, 200, 200, 403, 403, 403, 403]),
        ("append complaint", [401, 200, 403, 403, 403, 200, 403]),
        ("append registry", [401, 403, 403, 403, 403, 403, 403]),
        ("append access", [401, 403, 403, 403, 403, 403, 403]),
        ("read assigned case", [401, 200, 200, 403, 200, 200, 403]),
        ("read other case", [401, 200, 200, 403, 200, 403, 403]),
        (
            "timeline assigned case",
            [401, 200, 200, 403, 200, 200, 403],
        ),
        ("timeline other case", [401, 200, 200, 403, 200, 403, 403]),
        ("work log", [401, 200, 200, 403, 200, 403, 403]),
        ("read complaint", [401, 200, 403, 403, 200, 200, 403]),
        // The registry is public in the tiles already; every signed-in role
        // may read it (to check authors' signatures), and nobody may append.
        ("read registry", [401, 200, 200, 200, 200, 200, 200]),
        ("registry event by id", [401, 200, 200, 200, 200, 200, 200]),
        ("subscribe registry", [401, 200, 200, 200, 200, 200, 200]),
        ("event by id", [401, 200, 200, 403, 200, 200, 403]),
        ("read log", [401, 200, 403, 403, 200, 403, 403]),
        ("subscribe log", [401, 200, 403, 403, 200, 403, 403]),
        ("subscribe case", [401, 200, 200, 403, 200, 200, 403]),
        ("issue token", [401, 201, 403, 403, 403, 403, 403]),
        ("revoke token", [401, 200, 403, 403, 403, 403, 403]),
        ("register department", [401, 201, 403, 403, 403, 403, 403]),
        ("register key", [401, 201, 403, 403, 403, 403, 403]),
        ("revoke key", [401, 200, 403, 403, 403, 403, 403]),
        ("register witness", [401, 201, 403, 403, 403, 403, 403]),
        // Pull-mode witnessing; junk lines pass the role gate and are then 400.
        ("pull checkpoint", [401, 200, 403, 403, 403, 403, 200]),
        ("post cosignatures", [401, 400, 403, 403, 403, 403, 400]),
        ("/v1/log", [200; 7]),
        ("/checkpoint", [200; 7]),
        ("checkpoint by size", [200; 7]),
        ("/v1/checkpoints?limit=1", [200; 7]),
        ("/tile/entries/000.p/1", [200; 7]),
        ("/tile/0/000.p/1", [200; 7]),
        ("/v1/proofs/inclusion?log_index=0", [200; 7]),
        ("/v1/proofs/consistency?old_size=1", [200; 7]),
        ("/healthz", [200; 7]),
        ("/readyz", [200; 7]),
        ("/metrics", [200; 7]),
        ("/openapi.json", [200; 7]),
    ];
    let mut failures = Vec::new();
    for (endpoint, expected) in &matrix {
        for (who, want) in EVERYONE.iter().zip(expected) {
            let got = w.status(endpoint, *who).await;
            if got != *want {
                failures.push(format!("{endpoint} as {who:?}: {got}, expected {want}"));
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    // A complaint handler may not assign complaints to itself.
    let r = w
        .svc
        .post(
            "/v1/streams/complaint-2/events",
            Some(&w.handler),
            &json!({"events": [unsigned_json("complaint-2", "complaint.assigned", "complaint-center",
                json!({"handler": "handler-1", "cases": ["case-m2"]}))]}),
        )
        .await;
    r.assert_problem(403, "forbidden");
    let _ = (Admin, Market, Tax, Inspector, Handler, Witness, Nobody);
    w.svc.stop().await;
}

#[tokio::test]
async fn case_reads_by_inspectors_and_complaint_handlers_are_recorded_elsewhere() {
    let w = world().await;
    let svc = &w.svc;
    let version_before = svc
        .store
        .stream_version(&ledger::StreamId::new("case-m1").expect("id"))
        .await
        .expect("version");
    let day = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let access = format!("/v1/streams/access-{day}/events?limit=1000");
    let count = |r: &common::Reply| r.body["events"].as_array().map_or(0, Vec::len);
    let before = count(&svc.get(&access, Some(&svc.admin)).await);

    // Reads that are not recorded: admin, the owning department.
    assert_eq!(
        svc.get("/v1/streams/case-m1/events", Some(&svc.admin))
            .await
            .status,
        200
    );
    assert_eq!(
        svc.get("/v1/streams/case-m1/events", Some(&w.market.token))
            .await
            .status,
        200
    );
    // Nor registry reads, by any role: the registry is public in the tiles.
    for token in [
        &w.market.token,
        &w.tax.token,
        &w.inspector,
        &w.handler,
        &w.witness,
    ] {
        let r = svc.get("/v1/streams/registry/events", Some(token)).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(
            r.body["events"]
                .as_array()
                .is_some_and(|e| e.iter().any(|e| e["event"]["type"] == "key.registered")),
            "{}",
            r.body
        );
    }
    // It holds tokens only as their hashes: no issued token appears in it.
    let registry = svc
        .get("/v1/streams/registry/events?limit=1000", Some(&w.handler))
        .await
        .body
        .to_string();
    for token in [
        &svc.admin,
        &w.market.token,
        &w.tax.token,
        &w.inspector,
        &w.handler,
        &w.witness,
    ] {
        assert!(
            !registry.contains(token.as_str()),
            "a token in the registry"
        );
        assert!(
            registry.contains(&api::auth::hash_token(token)),
            "a token's hash missing"
        );
    }
    assert_eq!(count(&svc.get(&access, Some(&svc.admin)).await), before);

    // Recorded: an inspector's and a complaint handler's reads.
    assert_eq!(
        svc.get("/v1/streams/case-m1/events", Some(&w.inspector))
            .await
            .status,
        200
    );
    assert_eq!(
        svc.get(&format!("/v1/events/{}", w.case_event), Some(&w.handler))
            .await
            .status,
        200
    );
    // A refused read is not a read.
    assert_eq!(
        svc.get("/v1/streams/case-m2/events", Some(&w.handler))
            .await
            .status,
        403
    );
    let r = svc.get(&access, Some(&svc.admin)).await;
    let records = r.body["events"].as_array().expect("events");
    assert_eq!(records.len(), before + 2);
    let insp = &records[before]["event"];
    assert_eq!(insp["type"], "access.read");
    assert_eq!(insp["actor"]["department"], "supervision-office");
    assert_eq!(insp["actor"]["officer"], "insp-1");
    assert_eq!(insp["payload"]["role"], "inspector");
    assert_eq!(insp["payload"]["resource"], "stream");
    assert_eq!(insp["payload"]["stream"], "case-m1");
    let hand = &records[before + 1]["event"];
    assert_eq!(hand["actor"]["officer"], "handler-1");
    assert_eq!(hand["payload"]["role"], "complaint_handler");
    assert_eq!(hand["payload"]["event_id"], w.case_event);
    // The case's own stream did not move.
    let version_after = svc
        .store
        .stream_version(&ledger::StreamId::new("case-m1").expect("id"))
        .await
        .expect("version");
    assert_eq!(version_before, version_after);
    w.svc.stop().await;
}

#[tokio::test]
async fn tokens_departments_and_assignments_survive_a_restart() {
    let w = world().await;
    let revoked = w.svc.token("inspector", "supervision-office", "gone").await;
    let r = w
        .svc
        .post(
            &format!(
                "/v1/admin/tokens/{}/revoke",
                api::auth::hash_token(&revoked)
            ),
            Some(&w.svc.admin),
            &json!({}),
        )
        .await;
    assert_eq!(r.status, 200);
    let World {
        svc,
        market,
        handler,
        inspector,
        ..
    } = w;
    let svc = svc.restart().await;
    // Issued tokens still work with their roles; the revoked one does not.
    assert_eq!(
        svc.get("/v1/streams/case-m1/events", Some(&market.token))
            .await
            .status,
        200
    );
    assert_eq!(
        svc.get("/v1/log/entries", Some(&inspector)).await.status,
        200
    );
    svc.get("/v1/log/entries", Some(&revoked))
        .await
        .assert_problem(401, "unauthorized");
    // The complaint assignment still decides what the handler may read.
    assert_eq!(
        svc.get("/v1/streams/case-m1/events", Some(&handler))
            .await
            .status,
        200
    );
    svc.get("/v1/streams/case-m2/events", Some(&handler))
        .await
        .assert_problem(403, "forbidden");
    // The department is still registered (a second registration is refused)
    // and its key still signs.
    svc.post(
        "/v1/admin/departments",
        Some(&svc.admin),
        &json!({"department": "dept-market", "name": "again"}),
    )
    .await
    .assert_problem(422, "invalid-registry-change");
    let r = svc
        .post(
            "/v1/streams/case-m1/events",
            Some(&market.token),
            &json!({"events": [market.event("case-m1", "case.step", json!({}))]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    svc.stop().await;
}
