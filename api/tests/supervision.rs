//! Scorecards, the fairness report, complaints and complaint timelines
//! over loopback, from the persisted read models.

mod common;

use common::{Department, TestService, unsigned_json};
use projections::examples;
use projections::schema::*;
use serde_json::{Value, json};

async fn post(svc: &TestService, token: &str, stream: &str, events: Vec<Value>) {
    let r = svc
        .post(
            &format!("/v1/streams/{stream}/events"),
            Some(token),
            &json!({ "events": events }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

/// The catalogue item, three market cases (two completed, one by an
/// agent) and one tax case.
async fn world() -> (TestService, Department, Department) {
    let svc = TestService::start().await;
    let admin = svc.admin.clone();
    post(
        &svc,
        &admin,
        "catalog",
        vec![unsigned_json(
            "catalog",
            ITEM_PUBLISHED,
            "dept-reform",
            examples::service_item(),
        )],
    )
    .await;
    let market = svc.department("dept-market").await;
    let tax = svc.department("dept-tax").await;
    for (n, channel, done) in [
        (0, "window", true),
        (1, "agent", true),
        (2, "window", false),
    ] {
        let stream = format!("case-m{n}");
        let mut accepted = examples::payload(ACCEPTED).expect("ex");
        accepted["channel"] = json!(channel);
        let mut events = vec![market.event(&stream, ACCEPTED, accepted)];
        if done {
            events.push(market.event(&stream, COMPLETED, json!({})));
        }
        post(&svc, &market.token, &stream, events).await;
    }
    post(
        &svc,
        &tax.token,
        "case-t0",
        vec![tax.event(
            "case-t0",
            ACCEPTED,
            examples::payload(ACCEPTED).expect("ex"),
        )],
    )
    .await;
    (svc, market, tax)
}

#[tokio::test]
async fn scorecards_per_department_with_roles_and_periods() {
    let (svc, market, tax) = world().await;
    let all = svc.get("/v1/scorecards", Some(&svc.admin)).await;
    assert_eq!(all.status, 200, "{}", all.body);
    let cards = all.body["scorecards"].as_array().expect("cards");
    let card = |d: &str| {
        cards
            .iter()
            .find(|c| c["department"] == d)
            .unwrap_or_else(|| panic!("no card for {d}: {cards:?}"))
    };
    assert_eq!(card("dept-market")["accepted"], 3);
    assert_eq!(card("dept-market")["completed"], 2);
    assert_eq!(card("dept-market")["completed_on_time"], 2);
    assert_eq!(card("dept-market")["open"], 1);
    assert_eq!(card("dept-tax")["accepted"], 1);

    // A department reads its own card only.
    let own = svc.get("/v1/scorecards", Some(&tax.token)).await;
    let own_cards = own.body["scorecards"].as_array().expect("cards");
    assert_eq!(own_cards.len(), 1, "{}", own.body);
    assert_eq!(own_cards[0]["department"], "dept-tax");
    svc.get("/v1/scorecards?department=dept-market", Some(&tax.token))
        .await
        .assert_problem(403, "forbidden");
    let mine = svc
        .get("/v1/scorecards?department=dept-market", Some(&market.token))
        .await;
    assert_eq!(mine.status, 200);

    // A period before anything happened: no cases counted.
    let past = svc
        .get(
            "/v1/scorecards?from=2024-01-01&to=2024-02-01",
            Some(&svc.admin),
        )
        .await;
    assert_eq!(past.status, 200, "{}", past.body);
    assert!(
        past.body["scorecards"]
            .as_array()
            .expect("cards")
            .iter()
            .all(|c| c["accepted"] == 0),
        "{}",
        past.body
    );

    for (query, needle) in [
        ("from=2026-03-01&to=2026-03-01", "from/to"),
        ("from=2026-3-1x", "from"),
        ("item=x", "item"),
        ("colour=red", "colour"),
    ] {
        let r = svc
            .get(&format!("/v1/scorecards?{query}"), Some(&svc.admin))
            .await;
        r.assert_problem(400, "malformed-request");
        assert!(
            r.body["detail"].as_str().expect("detail").contains(needle),
            "{query}: {}",
            r.body
        );
    }
    let witness = svc.token("witness", "witness-org", "w1").await;
    svc.get("/v1/scorecards", Some(&witness))
        .await
        .assert_problem(403, "forbidden");
    svc.stop().await;
}

#[tokio::test]
async fn the_fairness_report_compares_channels_per_item() {
    let (svc, market, _) = world().await;
    let r = svc
        .get("/v1/fairness?item=scjg-qysldj", Some(&svc.admin))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let items = r.body["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{}", r.body);
    assert_eq!(items[0]["item_id"], "scjg-qysldj", "{}", r.body);
    // Too few cases on either side for a flag.
    assert_eq!(r.body["flags"], json!([]));
    assert!(
        r.body["thresholds"]["min_cases_per_side"]
            .as_u64()
            .is_some()
    );
    svc.get("/v1/fairness", Some(&market.token))
        .await
        .assert_problem(403, "forbidden");
    let inspector = svc.token("inspector", "supervision-office", "insp").await;
    assert_eq!(svc.get("/v1/fairness", Some(&inspector)).await.status, 200);
    svc.stop().await;
}

#[tokio::test]
async fn a_complaint_timeline_interleaves_the_case_as_it_stood_when_filed() {
    let (svc, market, _) = world().await;
    let handler = svc
        .token("complaint_handler", "complaint-center", "handler-1")
        .await;
    let admin = svc.admin.clone();
    post(
        &svc,
        &admin,
        "complaint-c1",
        vec![unsigned_json(
            "complaint-c1",
            COMPLAINT_ASSIGNED,
            "complaint-center",
            json!({"body": "督查室", "handler": "handler-1", "cases": ["case-m2"]}),
        )],
    )
    .await;
    let mut filed = examples::payload(COMPLAINT_FILED).expect("ex");
    filed["case"] = json!("case-m2");
    post(
        &svc,
        &handler,
        "complaint-c1",
        vec![unsigned_json(
            "complaint-c1",
            COMPLAINT_FILED,
            "complaint-center",
            filed,
        )],
    )
    .await;
    // The case moves on after the complaint.
    post(
        &svc,
        &market.token,
        "case-m2",
        vec![market.event("case-m2", COMPLETED, json!({}))],
    )
    .await;

    let list = svc.get("/v1/complaints?case=case-m2", Some(&handler)).await;
    assert_eq!(list.status, 200, "{}", list.body);
    let complaints = list.body["complaints"].as_array().expect("list");
    assert_eq!(complaints.len(), 1);
    assert_eq!(complaints[0]["stream"], "complaint-c1");
    assert!(complaints[0]["status_label"].is_string());
    let none = svc.get("/v1/complaints?case=case-m0", Some(&handler)).await;
    assert_eq!(none.body["complaints"], json!([]));

    let t = svc.get("/v1/complaints/c1/timeline", Some(&handler)).await;
    assert_eq!(t.status, 200, "{}", t.body);
    assert_eq!(t.body["case"], "case-m2");
    let steps = t.body["steps"].as_array().expect("steps");
    let sources: Vec<&str> = steps
        .iter()
        .map(|s| s["source"].as_str().expect("source"))
        .collect();
    assert!(
        sources.contains(&"case") && sources.contains(&"complaint"),
        "{sources:?}"
    );
    // The completion came after the complaint: not in the case as it stood.
    let then = &t.body["case_when_filed"];
    assert_eq!(then["status"], "accepted", "{then}");
    let late: Vec<&Value> = steps
        .iter()
        .filter(|s| s["recorded_after_filing"] == true)
        .collect();
    assert_eq!(late.len(), 1, "{}", t.body);
    assert_eq!(late[0]["event_type"], COMPLETED);

    svc.get("/v1/complaints/nothing/timeline", Some(&svc.admin))
        .await
        .assert_problem(404, "not-found");
    svc.get("/v1/complaints/c1/timeline", Some(&market.token))
        .await
        .assert_problem(403, "forbidden");
    svc.get("/v1/complaints", Some(&market.token))
        .await
        .assert_problem(403, "forbidden");
    svc.get("/v1/complaints?filed_from=yesterday", Some(&svc.admin))
        .await
        .assert_problem(400, "malformed-request");
    svc.stop().await;
}
