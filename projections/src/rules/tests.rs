//! Every rule: a case that triggers it and a near-miss that does not.

use serde_json::{Value, json};

use super::*;
use crate::examples;
use crate::schema::*;
use crate::testkit::{StreamBuilder, t};

fn item() -> ServiceItem {
    serde_json::from_value(examples::service_item()).expect("example item")
}

/// A case accepted Mon 2026-03-02 09:30 (item: 3 working days, 1 layer).
fn case() -> StreamBuilder {
    let mut b = StreamBuilder::new("case-r");
    b.push(
        ACCEPTED,
        examples::payload(ACCEPTED).expect("ex"),
        "2026-03-02 09:30",
    );
    b
}

fn kinds(b: &StreamBuilder, now: &str) -> Vec<ViolationKind> {
    violations(b, now).into_iter().map(|v| v.kind).collect()
}

fn violations(b: &StreamBuilder, now: &str) -> Vec<Violation> {
    let tl = CaseTimeline::fold(&b.stream, &b.events);
    check(
        &tl,
        Some(&item()),
        &WorkingDayCalendar::official(),
        &RuleConfig::default(),
        t(now),
    )
}

fn of(vs: &[Violation], kind: ViolationKind) -> Vec<&Violation> {
    vs.iter().filter(|v| v.kind == kind).collect()
}

fn materials(names: &[&str]) -> Value {
    json!({"materials": names})
}

fn complete(b: &mut StreamBuilder, at: &str) {
    b.push(DECIDED, examples::payload(DECIDED).expect("ex"), at);
    b.push(COMPLETED, json!({}), at);
}

#[test]
fn a_clean_case_has_no_violation() {
    let mut b = case();
    b.push(
        MATERIALS_RECEIVED,
        materials(&["公司章程"]),
        "2026-03-02 09:40",
    );
    b.push(
        REVIEWED,
        json!({"layer": 1, "opinion": "同意"}),
        "2026-03-03 10:00",
    );
    complete(&mut b, "2026-03-04 10:00");
    assert_eq!(kinds(&b, "2026-03-20 10:00"), []);
}

#[test]
fn material_already_held() {
    let mut b = case();
    let got = b.push(
        MATERIALS_RECEIVED,
        materials(&["公司章程"]),
        "2026-03-02 09:40",
    );
    let req = b.push(
        CORRECTION_REQUESTED,
        materials(&["公司章程"]),
        "2026-03-03 10:00",
    );
    let vs = violations(&b, "2026-03-03 12:00");
    let v = of(&vs, ViolationKind::MaterialAlreadyHeld);
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].events, [req, got]);
    assert_eq!(v[0].label, "重复索要材料");

    // Near miss: a correction for a material the case never received.
    let mut b = case();
    b.push(
        MATERIALS_RECEIVED,
        materials(&["公司章程"]),
        "2026-03-02 09:40",
    );
    b.push(
        CORRECTION_REQUESTED,
        materials(&["住所使用证明"]),
        "2026-03-03 10:00",
    );
    assert!(!kinds(&b, "2026-03-03 12:00").contains(&ViolationKind::MaterialAlreadyHeld));
}

#[test]
fn material_not_on_the_published_list() {
    let mut b = case();
    let req = b.push(
        CORRECTION_REQUESTED,
        materials(&["无犯罪记录证明"]),
        "2026-03-03 10:00",
    );
    let vs = violations(&b, "2026-03-03 12:00");
    let v = of(&vs, ViolationKind::MaterialNotPublished);
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].events[0], req);
    assert_eq!(
        v[0].events[1], b.events[0].id,
        "the acceptance naming the item version"
    );

    // Also in the 一次性告知 list itself.
    let mut b = StreamBuilder::new("case-n");
    let notified = b.push(
        MATERIALS_NOTIFIED,
        json!({"item_id": "scjg-qysldj", "item_version": 1, "materials": ["公司章程", "户口本"]}),
        "2026-03-02 09:00",
    );
    b.push(
        ACCEPTED,
        examples::payload(ACCEPTED).expect("ex"),
        "2026-03-02 09:30",
    );
    let vs = violations(&b, "2026-03-02 12:00");
    assert_eq!(
        of(&vs, ViolationKind::MaterialNotPublished)[0].events[0],
        notified
    );

    // Near miss: a material on the published list.
    let mut b = case();
    b.push(
        CORRECTION_REQUESTED,
        materials(&["股东主体资格证明"]),
        "2026-03-03 10:00",
    );
    assert!(!kinds(&b, "2026-03-03 12:00").contains(&ViolationKind::MaterialNotPublished));
}

#[test]
fn more_review_layers_than_declared() {
    let mut b = case();
    b.push(
        REVIEWED,
        json!({"layer": 1, "opinion": "同意"}),
        "2026-03-02 10:00",
    );
    let second = b.push(
        REVIEWED,
        json!({"layer": 2, "opinion": "同意"}),
        "2026-03-02 11:00",
    );
    let vs = violations(&b, "2026-03-02 12:00");
    let v = of(&vs, ViolationKind::TooManyReviewLayers);
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].events, [second]);

    // Near miss: the one declared layer, reviewed twice (returned and redone).
    let mut b = case();
    b.push(
        REVIEWED,
        json!({"layer": 1, "opinion": "退回"}),
        "2026-03-02 10:00",
    );
    b.push(
        REVIEWED,
        json!({"layer": 1, "opinion": "同意"}),
        "2026-03-02 11:00",
    );
    assert!(!kinds(&b, "2026-03-02 12:00").contains(&ViolationKind::TooManyReviewLayers));
}

#[test]
fn overdue_and_completed_late() {
    // Accepted Mon 3-02, 3 working days: deadline Thu 3-05.
    let b = case();
    assert!(!kinds(&b, "2026-03-05 17:00").contains(&ViolationKind::Overdue)); // near miss: due today
    let vs = violations(&b, "2026-03-06 09:00");
    let v = of(&vs, ViolationKind::Overdue);
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].events, [b.events[0].id]);
    // 3-02 … 3-06: four working days used of three.
    assert_eq!(
        v[0].facts,
        ViolationFacts {
            used_days: Some(4),
            limit_days: Some(3),
            deadline: Some(NaiveDate::from_ymd_opt(2026, 3, 5).expect("date")),
            ..ViolationFacts::default()
        }
    );
    assert_eq!(v[0].detail, "4 working days used of 3; deadline 2026-03-05");

    // A correction stopping the clock Tue 3-03 → Mon 3-09 moves the deadline to Wed 3-11.
    let mut b = case();
    b.push(
        CORRECTION_REQUESTED,
        materials(&["住所使用证明"]),
        "2026-03-03 10:00",
    );
    b.push(
        CORRECTION_RECEIVED,
        materials(&["住所使用证明"]),
        "2026-03-09 10:00",
    );
    assert!(!kinds(&b, "2026-03-11 09:00").contains(&ViolationKind::Overdue));
    assert!(kinds(&b, "2026-03-12 09:00").contains(&ViolationKind::Overdue));

    let mut late = case();
    complete(&mut late, "2026-03-06 10:00");
    let vs = violations(&late, "2026-03-20 10:00");
    let v = of(&vs, ViolationKind::CompletedLate);
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].events, [late.events[0].id, late.events[2].id]);
    assert!(!vs.iter().any(|v| v.kind == ViolationKind::Overdue));

    // Near miss: withdrawn by the applicant before the deadline passed.
    let mut withdrawn = case();
    withdrawn.push(WITHDRAWN, json!({}), "2026-03-04 10:00");
    assert_eq!(kinds(&withdrawn, "2026-03-20 10:00"), []);
    let tl = CaseTimeline::fold(&withdrawn.stream, &withdrawn.events);
    let cal = WorkingDayCalendar::official();
    assert!(
        time_limit(
            &tl,
            &item(),
            &cal,
            TimeLimitPolicy::default(),
            t("2026-03-20 10:00")
        )
        .is_none()
    );

    let mut on_time = case();
    complete(&mut on_time, "2026-03-05 16:00");
    assert_eq!(kinds(&on_time, "2026-03-20 10:00"), []);
}

#[test]
fn backfilled_steps() {
    let mut b = case();
    let late = b.push_at(
        REVIEWED,
        json!({"layer": 1, "opinion": "同意"}),
        t("2026-03-02 10:00"),
        t("2026-03-03 10:01"),
    );
    let vs = violations(&b, "2026-03-03 11:00");
    let v = of(&vs, ViolationKind::Backfilled);
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].events, [late]);
    assert_eq!(
        v[0].facts.step.as_deref(),
        Some(crate::schema::label(REVIEWED).expect("a label"))
    );
    assert_eq!(v[0].facts.hours_late, Some(24));
    assert_eq!(
        v[0].detail,
        format!(
            "{} recorded 24 hours after it happened",
            crate::schema::label(REVIEWED).expect("a label")
        )
    );
    // The JSON carries the facts a reader words in its own language, and
    // only the ones the kind has.
    let json = serde_json::to_value(v[0]).expect("JSON");
    assert_eq!(
        json["facts"],
        json!({"step": crate::schema::label(REVIEWED), "hours_late": 24})
    );

    // Near miss: recorded 23 hours later.
    let mut b = case();
    b.push_at(
        REVIEWED,
        json!({"layer": 1, "opinion": "同意"}),
        t("2026-03-02 10:00"),
        t("2026-03-03 09:00"),
    );
    assert!(!kinds(&b, "2026-03-03 11:00").contains(&ViolationKind::Backfilled));
}

#[test]
fn stalled_cases() {
    // Item with a long limit so that overdue does not mask the check.
    let mut long = item();
    long.time_limit_days = 20;
    let cal = WorkingDayCalendar::official();
    let judge = |b: &StreamBuilder, now: &str| {
        let tl = CaseTimeline::fold(&b.stream, &b.events);
        check(&tl, Some(&long), &cal, &RuleConfig::default(), t(now))
            .into_iter()
            .map(|v| v.kind)
            .collect::<Vec<_>>()
    };
    let mut b = case();
    let last = b.push(
        REVIEWED,
        json!({"layer": 1, "opinion": "同意"}),
        "2026-03-03 10:00",
    );
    // Tue 3-03 + 5 working days = Tue 3-10.
    assert!(!judge(&b, "2026-03-09 17:00").contains(&ViolationKind::Stalled));
    assert!(judge(&b, "2026-03-10 09:00").contains(&ViolationKind::Stalled));
    let tl = CaseTimeline::fold(&b.stream, &b.events);
    let vs = check(
        &tl,
        Some(&long),
        &cal,
        &RuleConfig::default(),
        t("2026-03-10 09:00"),
    );
    assert_eq!(of(&vs, ViolationKind::Stalled)[0].events, [last]);

    // Near miss: waiting for the applicant's correction is not stalling.
    let mut b = case();
    b.push(
        CORRECTION_REQUESTED,
        materials(&["住所使用证明"]),
        "2026-03-03 10:00",
    );
    assert!(!judge(&b, "2026-03-20 09:00").contains(&ViolationKind::Stalled));
    // Nor is a completed case.
    let mut b = case();
    complete(&mut b, "2026-03-03 10:00");
    assert!(!judge(&b, "2026-04-20 09:00").contains(&ViolationKind::Stalled));
}

#[test]
fn post_check_missing_past_its_due_date() {
    let mut b = case();
    let promise = b.push(
        COMMITMENT_ACCEPTED,
        json!({"commitment": "住所真实、合法", "post_check_due": "2026-03-31"}),
        "2026-03-02 09:35",
    );
    complete(&mut b, "2026-03-02 10:00");
    assert_eq!(kinds(&b, "2026-03-31 17:00"), []); // near miss: due today
    let vs = violations(&b, "2026-04-01 09:00");
    let v = of(&vs, ViolationKind::PostCheckMissing);
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].events, [promise]);

    // Near miss: the post-check was done.
    b.push(
        POST_CHECK_DONE,
        json!({"result": "符合承诺"}),
        "2026-03-20 10:00",
    );
    assert_eq!(kinds(&b, "2026-04-01 09:00"), []);
}
