//! Domain payloads on append (422 naming the field) and the case timeline
//! endpoint (`/v1/cases/{id}/timeline`), over loopback.

mod common;

use common::{TestService, unsigned_json};
use projections::examples;
use projections::schema::*;
use serde_json::{Value, json};

fn batch(events: Vec<Value>) -> Value {
    json!({"events": events})
}

#[tokio::test]
async fn domain_payloads_that_do_not_fit_are_refused_naming_the_field() {
    let svc = TestService::start().await;
    let dept = svc.department("dept-market").await;
    let path = "/v1/streams/case-s1/events";

    // Personal data instead of a pseudonymous reference.
    let mut accepted = examples::payload(ACCEPTED).expect("example");
    accepted["applicant_ref"] = json!("张三 530402199001011234");
    let r = svc
        .post(
            path,
            Some(&dept.token),
            &batch(vec![dept.event("case-s1", ACCEPTED, accepted)]),
        )
        .await;
    r.assert_problem(422, "schema-violation");
    assert_eq!(
        r.body["field"], "events[0].payload.applicant_ref",
        "{}",
        r.body
    );

    // An undeclared field (a phone number, say) is refused too.
    let mut accepted = examples::payload(ACCEPTED).expect("example");
    accepted["phone"] = json!("13800000000");
    let r = svc
        .post(
            path,
            Some(&dept.token),
            &batch(vec![dept.event("case-s1", ACCEPTED, accepted)]),
        )
        .await;
    r.assert_problem(422, "schema-violation");
    assert!(
        r.body["detail"].as_str().expect("detail").contains("phone"),
        "{}",
        r.body
    );

    // A batch with one bad event writes nothing.
    let size = svc.size().await;
    let good = dept.event(
        "case-s1",
        ACCEPTED,
        examples::payload(ACCEPTED).expect("example"),
    );
    let bad = dept.event("case-s1", REVIEWED, json!({"layer": 0, "opinion": "同意"}));
    let r = svc
        .post(path, Some(&dept.token), &batch(vec![good.clone(), bad]))
        .await;
    r.assert_problem(422, "schema-violation");
    assert_eq!(r.body["field"], "events[1].payload.layer");
    assert_eq!(svc.size().await, size);
    let r = svc.post(path, Some(&dept.token), &batch(vec![good])).await;
    assert_eq!(r.status, 200, "{}", r.body);

    // The catalogue refuses a catch-all material.
    let mut item = examples::service_item();
    item["materials"] = json!(["公司章程", "其他材料"]);
    let r = svc
        .post(
            "/v1/streams/catalog/events",
            Some(&svc.admin),
            &json!({"events": [unsigned_json("catalog", ITEM_PUBLISHED, "dept-reform", item)]}),
        )
        .await;
    r.assert_problem(422, "schema-violation");
    assert_eq!(r.body["field"], "events[0].payload.materials[1]");
    assert!(
        r.body["detail"]
            .as_str()
            .expect("detail")
            .contains("其他材料")
    );

    // A known type in the wrong kind of stream.
    let r = svc
        .post(
            "/v1/streams/complaint-9/events",
            Some(&svc.admin),
            &json!({"events": [unsigned_json("complaint-9", ACCEPTED, "dept-market",
                examples::payload(ACCEPTED).expect("example"))]}),
        )
        .await;
    r.assert_problem(422, "schema-violation");

    // Types outside the domain's families are not judged.
    let r = svc
        .post(
            path,
            Some(&dept.token),
            &batch(vec![dept.event(
                "case-s1",
                "case.step",
                json!({"free": "form"}),
            )]),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    svc.stop().await;
}

#[tokio::test]
async fn the_timeline_of_a_case_now_and_as_it_stood_earlier() {
    let svc = TestService::start().await;
    let dept = svc.department("dept-market").await;
    let r = svc
        .post(
            "/v1/streams/catalog/events",
            Some(&svc.admin),
            &json!({"events": [unsigned_json("catalog", ITEM_PUBLISHED, "dept-reform", examples::service_item())]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    let path = "/v1/streams/case-t1/events";
    let first = vec![
        dept.event(
            "case-t1",
            MATERIALS_NOTIFIED,
            examples::payload(MATERIALS_NOTIFIED).expect("ex"),
        ),
        dept.event(
            "case-t1",
            ACCEPTED,
            examples::payload(ACCEPTED).expect("ex"),
        ),
        dept.event(
            "case-t1",
            MATERIALS_RECEIVED,
            json!({"materials": ["公司章程"]}),
        ),
    ];
    let r = svc.post(path, Some(&dept.token), &batch(first)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let between = ledger::Timestamp::now();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let second = vec![
        // Asking again for a material the case holds: a violation.
        dept.event(
            "case-t1",
            CORRECTION_REQUESTED,
            json!({"materials": ["公司章程"]}),
        ),
    ];
    let r = svc.post(path, Some(&dept.token), &batch(second)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let request_id = r.body["receipts"][0]["event_id"]
        .as_str()
        .expect("id")
        .to_owned();

    let now = svc.get("/v1/cases/t1/timeline", Some(&dept.token)).await;
    assert_eq!(now.status, 200, "{}", now.body);
    let tl = &now.body["timeline"];
    assert_eq!(tl["steps"].as_array().expect("steps").len(), 4);
    assert_eq!(tl["status"], "awaiting_correction");
    assert_eq!(tl["status_label"], "待补正");
    assert_eq!(tl["steps"][1]["label"], "受理");
    assert_eq!(now.body["item"]["name"], "企业设立登记");
    assert_eq!(now.body["time_limit"]["limit_days"], 3);
    assert_eq!(now.body["time_limit"]["clock_stopped"], true);
    let violations = now.body["violations"].as_array().expect("violations");
    let repeat = violations
        .iter()
        .find(|v| v["kind"] == "material_already_held")
        .unwrap_or_else(|| panic!("{violations:?}"));
    assert_eq!(repeat["label"], "重复索要材料");
    assert_eq!(repeat["events"][0], request_id.as_str());

    let as_of = format!("/v1/cases/t1/timeline?as_of={}", between.as_str());
    let then = svc.get(&as_of, Some(&dept.token)).await;
    assert_eq!(then.status, 200, "{}", then.body);
    assert_eq!(then.body["as_of"], between.as_str());
    assert_eq!(
        then.body["timeline"]["steps"]
            .as_array()
            .expect("steps")
            .len(),
        3
    );
    assert_eq!(then.body["timeline"]["status"], "accepted");
    assert_eq!(then.body["violations"], json!([]));
    assert_eq!(then.body["time_limit"]["status"], "on_track");

    // Before the case existed; a malformed instant; an unknown case.
    svc.get(
        "/v1/cases/t1/timeline?as_of=2020-01-01T00:00:00Z",
        Some(&dept.token),
    )
    .await
    .assert_problem(404, "not-found");
    svc.get("/v1/cases/t1/timeline?as_of=yesterday", Some(&dept.token))
        .await
        .assert_problem(400, "malformed-request");
    svc.get("/v1/cases/nope/timeline", Some(&svc.admin))
        .await
        .assert_problem(404, "not-found");
    svc.stop().await;
}

#[tokio::test]
async fn the_demo_data_fits_the_schemas_and_has_timelines() {
    let svc = TestService::start_with(common::test_settings(), true).await;
    let r = svc
        .get("/v1/cases/demo-0001/timeline", Some(&svc.admin))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["timeline"]["status"], "delivered");
    assert_eq!(r.body["item"]["item_id"], "scjg-qysldj");
    assert!(r.body["time_limit"]["deadline"].is_string(), "{}", r.body);
    // Every demo event passes the same validation as an append.
    let page = svc
        .get("/v1/log/entries?limit=1000", Some(&svc.admin))
        .await;
    for e in page.body["events"].as_array().expect("events") {
        let ev = &e["event"];
        validate_in_stream(
            ev["stream"].as_str().expect("stream"),
            ev["type"].as_str().expect("type"),
            &ev["payload"],
        )
        .unwrap_or_else(|err| panic!("{ev}: {err}"));
    }
    svc.stop().await;
}

#[tokio::test]
async fn timeline_reads_by_inspectors_are_recorded() {
    let svc = TestService::start_with(common::test_settings(), true).await;
    let inspector = svc.token("inspector", "supervision-office", "insp-1").await;
    let day = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let access = format!("/v1/streams/access-{day}/events?limit=1000");
    let r = svc
        .get("/v1/cases/demo-0002/timeline", Some(&inspector))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let records = svc.get(&access, Some(&svc.admin)).await;
    let found = records.body["events"]
        .as_array()
        .expect("events")
        .iter()
        .any(|e| {
            e["event"]["payload"]["resource"] == "timeline"
                && e["event"]["payload"]["stream"] == "case-demo-0002"
        });
    assert!(found, "{}", records.body);
    svc.stop().await;
}

#[tokio::test]
async fn work_logs_per_department_and_officer_per_day() {
    let svc = TestService::start().await;
    let market = svc.department("dept-market").await;
    let tax = svc.department("dept-tax").await;
    let r = svc
        .post(
            "/v1/streams/case-w1/events",
            Some(&market.token),
            &batch(vec![
                market.event(
                    "case-w1",
                    ACCEPTED,
                    examples::payload(ACCEPTED).expect("ex"),
                ),
                market.event("case-w1", NOTE, json!({"text": "核对住所"})),
            ]),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = svc
        .post(
            "/v1/streams/case-w2/events",
            Some(&tax.token),
            &batch(vec![tax.event(
                "case-w2",
                NOTE,
                json!({"text": "税务登记"}),
            )]),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let day = projections::calendar::local_date(chrono::Utc::now());
    let path = format!("/v1/worklogs/dept-market/{day}");

    let log = svc.get(&path, Some(&market.token)).await;
    assert_eq!(log.status, 200, "{}", log.body);
    let entries = log.body["entries"].as_array().expect("entries");
    let labels: Vec<&str> = entries
        .iter()
        .map(|e| e["label"].as_str().expect("label"))
        .collect();
    assert_eq!(labels, ["受理", "工作记录"]);
    assert_eq!(entries[0]["stream"], "case-w1");
    assert_eq!(entries[0]["backfilled"], false);

    let mine = svc
        .get(&format!("{path}?officer=officer-1"), Some(&svc.admin))
        .await;
    assert_eq!(mine.body["entries"].as_array().expect("entries").len(), 2);
    let nobody = svc
        .get(&format!("{path}?officer=officer-9"), Some(&svc.admin))
        .await;
    assert_eq!(nobody.body["entries"], json!([]));

    svc.get(&path, Some(&tax.token))
        .await
        .assert_problem(403, "forbidden");
    svc.get("/v1/worklogs/dept-market/2026-13-01", Some(&svc.admin))
        .await
        .assert_problem(400, "malformed-request");
    svc.stop().await;
}
