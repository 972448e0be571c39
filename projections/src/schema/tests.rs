use serde_json::{Value, json};

use super::*;
use crate::examples;

fn refused(t: &str, payload: Value) -> (String, String) {
    match validate(t, &payload) {
        Err(SchemaError::Invalid { path, reason, .. }) => (path, reason),
        other => panic!("{t} {payload}: expected a refusal, got {other:?}"),
    }
}

fn with(t: &str, field: &str, value: Value) -> Value {
    let mut p = examples::payload(t).expect("known type");
    p[field] = value;
    p
}

fn without(t: &str, field: &str) -> Value {
    let mut p = examples::payload(t).expect("known type");
    p.as_object_mut().expect("object").remove(field);
    p
}

#[test]
fn every_known_type_has_an_accepted_example() {
    for (t, label) in EVENT_TYPES {
        let p = examples::payload(t).unwrap_or_else(|| panic!("no example for {t}"));
        validate(t, &p).unwrap_or_else(|e| panic!("{t} ({label}): {e}"));
        assert!(parse(t, &p).expect("valid").is_some());
    }
}

#[test]
fn every_known_type_refuses_unknown_fields_and_non_objects() {
    for (t, _) in EVENT_TYPES {
        let (path, reason) = refused(t, with(t, "applicant_name", json!("张三")));
        assert!(reason.contains("unknown field"), "{t}: {path} {reason}");
        refused(t, json!([]));
        refused(t, json!("text"));
    }
}

#[test]
fn unknown_types_pass() {
    validate("case.step", &json!({"anything": 1})).expect("not ours");
    validate("order.placed", &json!({})).expect("not ours");
}

#[test]
fn required_fields_are_named_when_missing() {
    let cases = [
        (ITEM_PUBLISHED, "time_limit_days"),
        (ITEM_REVISED, "materials"),
        (ITEM_WITHDRAWN, "reason"),
        (MATERIALS_NOTIFIED, "materials"),
        (ACCEPTED, "first_contact_officer"),
        (ACCEPTED, "applicant_ref"),
        (NOT_ACCEPTED, "reason"),
        (CORRECTION_REQUESTED, "materials"),
        (CORRECTION_RECEIVED, "materials"),
        (MATERIALS_RECEIVED, "materials"),
        (TRANSFERRED, "to_department"),
        (REVIEWED, "opinion"),
        (CLOCK_PAUSED, "legal_basis"),
        (COMMITMENT_ACCEPTED, "post_check_due"),
        (POST_CHECK_DONE, "result"),
        (DECIDED, "basis"),
        (DELIVERED, "method"),
        (NOTE, "text"),
        (COMPLAINT_FILED, "summary"),
        (COMPLAINT_ASSIGNED, "body"),
        (COMPLAINT_NOTE, "text"),
        (COMPLAINT_RESOLVED, "finding"),
        (COMPLAINT_FEEDBACK, "text"),
    ];
    for (t, field) in cases {
        let (_, reason) = refused(t, without(t, field));
        assert!(reason.contains(field), "{t} without {field}: {reason}");
    }
}

#[test]
fn catalogue_refuses_catch_all_materials_with_their_path() {
    for name in [
        "其他材料",
        "其它材料",
        "其他",
        "其他相关材料",
        "申请人认为需要提交的其他材料",
        "身份证明等材料",
        "other",
    ] {
        let mut item = examples::service_item();
        item["materials"][2] = json!(name);
        let (path, reason) = refused(ITEM_PUBLISHED, item);
        assert_eq!(path, "materials[2]", "{name}");
        assert!(reason.contains("catch-all"), "{name}: {reason}");
    }
    // A specific name that merely contains 材料 is fine.
    let mut item = examples::service_item();
    item["materials"][2] = json!("股东会决议材料");
    validate(ITEM_PUBLISHED, &item).expect("specific");
}

#[test]
fn catalogue_refusals() {
    let t = ITEM_PUBLISHED;
    assert_eq!(refused(t, with(t, "version", json!(2))).0, "version");
    assert_eq!(
        refused(ITEM_REVISED, with(ITEM_REVISED, "version", json!(1))).0,
        "version"
    );
    assert_eq!(
        refused(t, with(t, "time_limit_days", json!(0))).0,
        "time_limit_days"
    );
    assert_eq!(
        refused(t, with(t, "time_limit_days", json!("3"))).0,
        "time_limit_days"
    );
    assert_eq!(refused(t, with(t, "materials", json!([]))).0, "materials");
    assert_eq!(
        refused(t, with(t, "legal_basis", json!([]))).0,
        "legal_basis"
    );
    assert_eq!(refused(t, with(t, "name", json!("  "))).0, "name");
    assert_eq!(
        refused(t, with(t, "channels", json!(["window", "fax"]))).0,
        "channels[1]"
    );
    assert_eq!(
        refused(t, with(t, "materials", json!(["公司章程", "公司章程"]))).0,
        "materials[1]"
    );
    assert_eq!(
        refused(
            t,
            with(
                t,
                "fees",
                json!([{"name": "工本费", "amount_fen": -1, "basis": "x"}])
            )
        )
        .0,
        "fees[0].amount_fen"
    );
    assert_eq!(
        refused(t, with(t, "accepting_unit", json!("市场 监管"))).0,
        "accepting_unit"
    );
    assert_eq!(
        refused(ITEM_WITHDRAWN, with(ITEM_WITHDRAWN, "reason", json!(""))).0,
        "reason"
    );
}

#[test]
fn case_refusals() {
    // Personal data never fits: the applicant is a keyed hash.
    let (path, _) = refused(
        ACCEPTED,
        with(ACCEPTED, "applicant_ref", json!("张三 13800000000")),
    );
    assert_eq!(path, "applicant_ref");
    assert_eq!(
        refused(ACCEPTED, with(ACCEPTED, "channel", json!("vip"))).0,
        "channel"
    );
    assert_eq!(
        refused(ACCEPTED, with(ACCEPTED, "green_channel", json!("vip"))).0,
        "green_channel"
    );
    assert_eq!(
        refused(ACCEPTED, with(ACCEPTED, "item_version", json!(0))).0,
        "item_version"
    );
    assert_eq!(
        refused(
            MATERIALS_NOTIFIED,
            with(
                MATERIALS_NOTIFIED,
                "materials",
                json!(["公司章程", "其他材料"])
            )
        )
        .0,
        "materials[1]"
    );
    assert_eq!(
        refused(
            CORRECTION_REQUESTED,
            with(CORRECTION_REQUESTED, "materials", json!([]))
        )
        .0,
        "materials"
    );
    assert_eq!(
        refused(
            CORRECTION_REQUESTED,
            with(CORRECTION_REQUESTED, "materials", json!(["其它材料"]))
        )
        .0,
        "materials[0]"
    );
    assert_eq!(
        refused(
            TRANSFERRED,
            with(TRANSFERRED, "to_department", json!("dept-window"))
        )
        .0,
        "to_department"
    );
    assert_eq!(
        refused(REVIEWED, with(REVIEWED, "layer", json!(0))).0,
        "layer"
    );
    assert_eq!(
        refused(REVIEWED, with(REVIEWED, "opinion", json!("ok"))).0,
        "opinion"
    );
    assert_eq!(
        refused(CLOCK_PAUSED, with(CLOCK_PAUSED, "reason", json!("lunch"))).0,
        "reason"
    );
    assert_eq!(
        refused(
            COMMITMENT_ACCEPTED,
            with(COMMITMENT_ACCEPTED, "post_check_due", json!("2026-02-30"))
        )
        .0,
        "post_check_due"
    );
    assert_eq!(
        refused(
            POST_CHECK_DONE,
            with(POST_CHECK_DONE, "result", json!("ok"))
        )
        .0,
        "result"
    );
    assert_eq!(
        refused(DECIDED, with(DECIDED, "decision", json!("approved"))).0,
        "decision"
    );
    assert_eq!(
        refused(DELIVERED, with(DELIVERED, "method", json!("drone"))).0,
        "method"
    );
    assert_eq!(refused(NOTE, with(NOTE, "text", json!(""))).0, "text");
    refused(CLOCK_RESUMED, json!({"why": 1}));
    refused(COMPLETED, json!({"note": 5}));
    refused(WITHDRAWN, json!({"reason": ""}));
    refused(NOT_ACCEPTED, json!({"reason": "x", "basis": ""}));
}

#[test]
fn complaint_refusals() {
    let t = COMPLAINT_FILED;
    assert_eq!(
        refused(t, json!({"channel": "hotline", "summary": "x"})).0,
        "case"
    );
    assert_eq!(refused(t, with(t, "case", json!("complaint-1"))).0, "case");
    assert_eq!(refused(t, with(t, "channel", json!("pigeon"))).0, "channel");
    validate(
        t,
        &json!({"department": "dept-market", "channel": "visit", "summary": "态度差"}),
    )
    .expect("about a department only");
    let a = COMPLAINT_ASSIGNED;
    assert_eq!(refused(a, with(a, "body", json!("物业公司"))).0, "body");
    assert_eq!(
        refused(a, with(a, "cases", json!(["complaint-2"]))).0,
        "cases[0]"
    );
    assert_eq!(
        refused(
            COMPLAINT_RESOLVED,
            with(COMPLAINT_RESOLVED, "finding", json!("yes"))
        )
        .0,
        "finding"
    );
    assert_eq!(
        refused(
            COMPLAINT_FEEDBACK,
            with(COMPLAINT_FEEDBACK, "channel", json!("sms"))
        )
        .0,
        "channel"
    );
    refused(COMPLAINT_NOTE, json!({"text": " "}));
}

#[test]
fn known_types_belong_in_their_kind_of_stream() {
    let p = examples::payload(ACCEPTED).expect("known");
    validate_in_stream("case-1", ACCEPTED, &p).expect("right stream");
    assert!(matches!(
        validate_in_stream("complaint-1", ACCEPTED, &p),
        Err(SchemaError::WrongStream { .. })
    ));
    assert!(matches!(
        validate_in_stream("case-1", ITEM_PUBLISHED, &examples::service_item()),
        Err(SchemaError::WrongStream { .. })
    ));
    validate_in_stream("orders", "order.placed", &json!({})).expect("not ours");
}

/// The append path's check of a payload object as it is held gives what
/// the check of the same payload as a value gives: the same verdict, the
/// same error and field.
#[test]
fn a_payload_object_is_checked_as_its_value_is() {
    let accepted = examples::payload(ACCEPTED).expect("known");
    let cases = [
        ("case-1", ACCEPTED, accepted.clone()),
        ("complaint-1", ACCEPTED, accepted.clone()),
        ("case-1", ACCEPTED, with(ACCEPTED, "item_version", json!(0))),
        ("case-1", ACCEPTED, with(ACCEPTED, "channel", json!("fax"))),
        ("case-1", ACCEPTED, with(ACCEPTED, "extra", json!(1))),
        ("case-1", ITEM_PUBLISHED, examples::service_item()),
        ("catalog", ITEM_PUBLISHED, examples::service_item()),
        ("orders", "order.placed", json!({"any": ["thing"]})),
    ];
    let mut refused = 0;
    for (stream, event_type, payload) in cases {
        let object = payload.as_object().expect("an object");
        let by_value = validate_in_stream(stream, event_type, &payload);
        let by_object = validate_object_in_stream(stream, event_type, object);
        assert_eq!(
            by_object.as_ref().map_err(|e| (e.to_string(), e.path())),
            by_value.as_ref().map_err(|e| (e.to_string(), e.path())),
            "{stream} {event_type} {payload}"
        );
        refused += usize::from(by_value.is_err());
    }
    assert_eq!(refused, 5, "the wrong streams and the bad payloads");
}
