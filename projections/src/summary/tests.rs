use chrono::Duration;
use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::examples;
use crate::schema::*;
use crate::testkit::{StreamBuilder, t};
use crate::timelimit::TimeLimitPolicy;

fn item() -> ServiceItem {
    serde_json::from_value(examples::service_item()).expect("example item")
}

fn cal() -> WorkingDayCalendar {
    WorkingDayCalendar::official()
}

fn summary(b: &StreamBuilder, item: Option<&ServiceItem>) -> CaseSummary {
    let tl = CaseTimeline::fold(&b.stream, &b.events);
    CaseSummary::of(&tl, item, &cal(), &RuleConfig::default())
}

fn materials(names: &[&str]) -> Value {
    json!({ "materials": names })
}

fn kinds(vs: &[Violation]) -> Vec<ViolationKind> {
    vs.iter().map(|v| v.kind).collect()
}

#[test]
fn a_summary_keeps_what_dashboards_need() {
    let mut b = StreamBuilder::new("case-s1");
    b.push(
        MATERIALS_NOTIFIED,
        examples::payload(MATERIALS_NOTIFIED).expect("ex"),
        "2026-03-02 09:00",
    );
    let mut accepted = examples::payload(ACCEPTED).expect("ex");
    accepted["channel"] = json!("agent");
    accepted["green_channel"] = json!("elderly");
    let acc = b.push(ACCEPTED, accepted, "2026-03-02 09:30");
    let held = b.push(
        MATERIALS_RECEIVED,
        materials(&["公司章程"]),
        "2026-03-02 09:40",
    );
    // Asks again for what it holds, and for something not published.
    let again = b.push(
        CORRECTION_REQUESTED,
        materials(&["公司章程", "无犯罪记录证明"]),
        "2026-03-03 10:00",
    );
    b.push(
        CORRECTION_RECEIVED,
        materials(&["公司章程", "无犯罪记录证明"]),
        "2026-03-09 10:00",
    );
    b.push(
        TRANSFERRED,
        examples::payload(TRANSFERRED).expect("ex"),
        "2026-03-09 11:00",
    );
    b.push(
        REVIEWED,
        json!({"layer": 1, "opinion": "同意"}),
        "2026-03-10 10:00",
    );
    let second = b.push(
        REVIEWED,
        json!({"layer": 2, "opinion": "同意"}),
        "2026-03-10 11:00",
    );
    let promise = b.push(
        COMMITMENT_ACCEPTED,
        json!({"commitment": "住所真实", "post_check_due": "2026-04-30"}),
        "2026-03-10 12:00",
    );
    // Reviewed on the 11th, recorded on the 13th.
    let late_log = b.push_at(
        DECIDED,
        examples::payload(DECIDED).expect("ex"),
        t("2026-03-11 10:00"),
        t("2026-03-13 10:00"),
    );
    let done = b.push(COMPLETED, json!({}), "2026-03-13 10:05");

    let s = summary(&b, Some(&item()));
    assert_eq!(s.stream, "case-s1");
    assert_eq!(s.case_id, "s1");
    assert_eq!(
        s.item,
        Some(ItemRef {
            id: "scjg-qysldj".into(),
            version: 1,
            name: Some("企业设立登记".into())
        })
    );
    assert_eq!(s.department.as_deref(), Some("dept-market"));
    assert_eq!(s.channel, Some(Channel::Agent));
    assert_eq!(s.green_channel, Some(GreenChannel::Elderly));
    assert_eq!(s.status, CaseStatus::Completed);
    assert_eq!(s.accepted_event, Some(acc));
    assert_eq!(
        s.accepted_on().map(|d| d.to_string()).as_deref(),
        Some("2026-03-02")
    );
    assert_eq!(
        s.completed_on().map(|d| d.to_string()).as_deref(),
        Some("2026-03-13")
    );
    assert_eq!(s.steps, 11);
    assert_eq!(s.materials_requested, 5); // 3 notified + 2 in the correction
    assert_eq!(s.materials_requested_in_corrections, 2);
    assert_eq!(s.corrections, 1);
    assert_eq!(s.transfers, 1);
    assert_eq!(s.review_layers, 2);
    // Tue 3-03 counts; 3-04..3-09 stopped; 3-10, 3-11, 3-12, 3-13: 5 days.
    assert_eq!(s.working_days_used, Some(5));
    assert_eq!(s.time_limit_days, Some(3));
    // 3 working days: 3-03, then 3-10, 3-11.
    assert_eq!(
        s.deadline.map(|d| d.to_string()).as_deref(),
        Some("2026-03-11")
    );
    assert_eq!(s.stops.len(), 1);
    assert_eq!(s.last_step.as_ref().map(|l| l.event_id), Some(done));
    assert_eq!(
        s.commitment,
        Some(CommitmentDue {
            event_id: promise,
            post_check_due: NaiveDate::from_ymd_opt(2026, 4, 30).expect("date"),
            post_check_done: false,
        })
    );
    let static_kinds: Vec<ViolationKind> = s.violations.iter().map(|v| v.kind).collect();
    assert_eq!(
        static_kinds,
        [
            ViolationKind::MaterialAlreadyHeld,
            ViolationKind::MaterialNotPublished,
            ViolationKind::TooManyReviewLayers,
            ViolationKind::CompletedLate,
            ViolationKind::Backfilled,
        ]
    );
    assert_eq!(s.violations[0].events, [again, held]);
    assert_eq!(s.violations[2].events, [second]);
    assert_eq!(s.violations[3].events, [acc, done]);
    assert_eq!(s.violations[4].events, [late_log]);
    assert_eq!(s.backfilled_steps, 1);
    assert_eq!(s.last_version, Some(10));
    assert_eq!(
        s.last_recorded_at,
        b.events.last().map(|e| e.recorded_at.clone())
    );
    assert_eq!(s.applicant_ref, None);
    assert_eq!(s.log_position, None);

    // Judged after the post-check fell due: it is missing too.
    let judged = s.judge(t("2026-05-06 09:00"), &cal(), &RuleConfig::default());
    assert_eq!(
        judged.time_limit_status,
        Some(TimeLimitStatus::CompletedLate)
    );
    assert_eq!(judged.time_limit_label, Some("超期办结"));
    assert_eq!(judged.working_days_left, Some(-2));
    assert_eq!(
        kinds(&judged.violations).last(),
        Some(&ViolationKind::PostCheckMissing)
    );
}

#[test]
fn without_the_item_no_time_limit_and_no_item_checks() {
    let mut b = StreamBuilder::new("case-s2");
    b.push(
        ACCEPTED,
        examples::payload(ACCEPTED).expect("ex"),
        "2026-03-02 09:30",
    );
    b.push(
        CORRECTION_REQUESTED,
        materials(&["无犯罪记录证明"]),
        "2026-03-03 10:00",
    );
    let s = summary(&b, None);
    assert_eq!(s.item.as_ref().map(|i| i.name.clone()), Some(None));
    assert_eq!(s.time_limit_days, None);
    assert_eq!(s.deadline, None);
    assert!(s.violations.is_empty());
    let judged = s.judge(t("2026-06-01 09:00"), &cal(), &RuleConfig::default());
    assert_eq!(judged.time_limit_status, None);
    assert_eq!(judged.working_days_left, None);
    assert_eq!(kinds(&judged.violations), []); // waiting for the applicant
    // With the item: deadline unknown while the clock is stopped.
    let s = summary(&b, Some(&item()));
    assert_eq!(s.time_limit_days, Some(3));
    assert_eq!(s.deadline, None);
    assert_eq!(
        kinds(
            &s.violations
                .iter()
                .map(StaticViolation::to_violation)
                .collect::<Vec<_>>()
        ),
        [ViolationKind::MaterialNotPublished]
    );
}

#[test]
fn overdue_at_one_moment_and_not_the_day_before() {
    let mut b = StreamBuilder::new("case-s3");
    let acc = b.push(
        ACCEPTED,
        examples::payload(ACCEPTED).expect("ex"),
        "2026-03-02 09:30",
    );
    let s = summary(&b, Some(&item()));
    let config = RuleConfig::default();
    // Deadline Thu 3-05.
    let due = s.judge(t("2026-03-05 17:00"), &cal(), &config);
    assert_eq!(due.time_limit_status, Some(TimeLimitStatus::AtRisk));
    assert_eq!(due.working_days_left, Some(0));
    assert!(due.violations.is_empty());
    let late = s.judge(t("2026-03-06 09:00"), &cal(), &config);
    assert_eq!(late.time_limit_status, Some(TimeLimitStatus::Overdue));
    assert_eq!(kinds(&late.violations), [ViolationKind::Overdue]);
    assert_eq!(late.violations[0].events, [acc]);
    // A week on, it is also stalled: no step since the acceptance.
    let stalled = s.judge(t("2026-03-09 09:00"), &cal(), &config);
    assert_eq!(
        kinds(&stalled.violations),
        [ViolationKind::Overdue, ViolationKind::Stalled]
    );
}

#[test]
fn the_department_is_the_acceptances_else_the_first_steps() {
    let mut b = StreamBuilder::new("case-s4");
    b.push(NOTE, json!({"text": "咨询"}), "2026-03-02 09:00");
    b.push(
        ACCEPTED,
        examples::payload(ACCEPTED).expect("ex"),
        "2026-03-02 09:30",
    );
    b.events[0].actor.department = ledger::ActorId::new("dept-window").expect("id");
    b.events[1].actor.department = ledger::ActorId::new("dept-tax").expect("id");
    assert_eq!(summary(&b, None).department.as_deref(), Some("dept-tax"));
    b.events.truncate(1);
    assert_eq!(summary(&b, None).department.as_deref(), Some("dept-window"));
    assert_eq!(
        summary(&StreamBuilder::new("case-s4"), None).department,
        None
    );
}

#[test]
fn the_applicant_comes_from_the_acceptance_event() {
    let mut b = StreamBuilder::new("case-s5");
    b.push(NOTE, json!({"text": "咨询"}), "2026-03-02 09:00");
    b.push(
        ACCEPTED,
        examples::payload(ACCEPTED).expect("ex"),
        "2026-03-02 09:30",
    );
    assert_eq!(acceptance_applicant(&b.events[0]), None);
    let got = acceptance_applicant(&b.events[1]).expect("an applicant");
    assert_eq!(
        serde_json::to_value(got).expect("json"),
        json!(examples::EXAMPLE_APPLICANT)
    );
}

#[test]
fn summaries_round_trip_through_json() {
    let mut b = StreamBuilder::new("case-s6");
    b.push(
        ACCEPTED,
        examples::payload(ACCEPTED).expect("ex"),
        "2026-03-02 09:30",
    );
    b.push(
        CORRECTION_REQUESTED,
        materials(&["无犯罪记录证明"]),
        "2026-03-03 10:00",
    );
    let mut s = summary(&b, Some(&item()));
    s.applicant_ref = acceptance_applicant(&b.events[0]);
    s.log_position = Some(41);
    let text = serde_json::to_string(&s).expect("json");
    let back: CaseSummary = serde_json::from_str(&text).expect("reads back");
    assert_eq!(back, s);
    let v: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(v["status"], json!("awaiting_correction"));
    assert_eq!(v["violations"][0]["kind"], json!("material_not_published"));
    assert_eq!(v["log_position"], json!(41));
}

#[test]
fn the_mirrored_enums_write_what_the_real_ones_write() {
    use CaseStatus as S;
    for s in [
        S::New,
        S::Notified,
        S::Accepted,
        S::AwaitingCorrection,
        S::Paused,
        S::Decided,
        S::Completed,
        S::Delivered,
        S::NotAccepted,
        S::Withdrawn,
    ] {
        let mut out = Vec::new();
        CaseStatusDef::serialize(&s, &mut serde_json::Serializer::new(&mut out)).expect("ser");
        assert_eq!(out, serde_json::to_vec(&s).expect("ser"), "{s:?}");
        let back = CaseStatusDef::deserialize(&serde_json::to_value(s).expect("ser")).expect("de");
        assert_eq!(back, s);
    }
    use ViolationKind as K;
    for k in [
        K::MaterialAlreadyHeld,
        K::MaterialNotPublished,
        K::TooManyReviewLayers,
        K::Overdue,
        K::CompletedLate,
        K::Backfilled,
        K::Stalled,
        K::PostCheckMissing,
    ] {
        let mut out = Vec::new();
        ViolationKindDef::serialize(&k, &mut serde_json::Serializer::new(&mut out)).expect("ser");
        assert_eq!(out, serde_json::to_vec(&k).expect("ser"), "{k:?}");
        let back =
            ViolationKindDef::deserialize(&serde_json::to_value(k).expect("ser")).expect("de");
        assert_eq!(back, k);
    }
}

// ---------------------------------------------------------------------------
// Property: judging the summary equals checking the timeline.

/// What a generated step is.
#[derive(Clone, Copy, Debug)]
enum Gen {
    Notified(bool),
    Accepted(u8),
    Received(u8),
    CorrectionRequested(u8),
    CorrectionReceived(u8),
    Reviewed(u32),
    Paused,
    Resumed,
    Commitment(u32),
    PostCheck,
    Decided,
    Completed,
    Transferred,
    Withdrawn,
    NotAccepted,
    Delivered,
    Note,
    Unknown,
}

const POOL: [&str; 5] = [
    "公司章程",
    "住所使用证明",
    "股东主体资格证明",
    "无犯罪记录证明",
    "公司登记（备案）申请书",
];

fn pick(mask: u8) -> Value {
    let names: Vec<&str> = POOL
        .iter()
        .enumerate()
        .filter(|(i, _)| mask & (1 << i) != 0)
        .map(|(_, n)| *n)
        .collect();
    if names.is_empty() {
        materials(&[POOL[0]])
    } else {
        materials(&names)
    }
}

fn payload(g: Gen) -> (&'static str, Value) {
    match g {
        Gen::Notified(extra) => {
            let mut p = examples::payload(MATERIALS_NOTIFIED).expect("ex");
            if extra {
                p["materials"] = json!(["公司章程", "户口本"]);
            }
            (MATERIALS_NOTIFIED, p)
        }
        Gen::Accepted(n) => {
            let mut p = examples::payload(ACCEPTED).expect("ex");
            let channels = [
                "window",
                "online",
                "agent",
                "post",
                "door_to_door",
                "self_service",
            ];
            p["channel"] = json!(channels[usize::from(n) % channels.len()]);
            if n % 7 == 0 {
                p["green_channel"] = json!("disabled");
            }
            if n % 11 == 0 {
                p["item_version"] = json!(2);
            }
            (ACCEPTED, p)
        }
        Gen::Received(m) => (MATERIALS_RECEIVED, pick(m)),
        Gen::CorrectionRequested(m) => (CORRECTION_REQUESTED, pick(m)),
        Gen::CorrectionReceived(m) => (CORRECTION_RECEIVED, pick(m)),
        Gen::Reviewed(layer) => (REVIEWED, json!({"layer": layer, "opinion": "同意"})),
        Gen::Paused => (CLOCK_PAUSED, examples::payload(CLOCK_PAUSED).expect("ex")),
        Gen::Resumed => (CLOCK_RESUMED, json!({})),
        Gen::Commitment(days) => {
            let due = NaiveDate::from_ymd_opt(2026, 3, 2).expect("date")
                + Duration::days(i64::from(days));
            (
                COMMITMENT_ACCEPTED,
                json!({"commitment": "符合条件", "post_check_due": due.to_string()}),
            )
        }
        Gen::PostCheck => (POST_CHECK_DONE, json!({"result": "符合承诺"})),
        Gen::Decided => (DECIDED, examples::payload(DECIDED).expect("ex")),
        Gen::Completed => (COMPLETED, json!({})),
        Gen::Transferred => (TRANSFERRED, examples::payload(TRANSFERRED).expect("ex")),
        Gen::Withdrawn => (WITHDRAWN, json!({})),
        Gen::NotAccepted => (NOT_ACCEPTED, examples::payload(NOT_ACCEPTED).expect("ex")),
        Gen::Delivered => (DELIVERED, json!({"method": "post"})),
        Gen::Note => (NOTE, json!({"text": "记录"})),
        Gen::Unknown => ("case.step", json!({"n": 1})),
    }
}

fn gen_step() -> impl Strategy<Value = Gen> {
    prop_oneof![
        1 => any::<bool>().prop_map(Gen::Notified),
        1 => any::<u8>().prop_map(Gen::Accepted),
        2 => any::<u8>().prop_map(Gen::Received),
        2 => any::<u8>().prop_map(Gen::CorrectionRequested),
        2 => any::<u8>().prop_map(Gen::CorrectionReceived),
        2 => (1u32..4).prop_map(Gen::Reviewed),
        1 => Just(Gen::Paused),
        1 => Just(Gen::Resumed),
        1 => (0u32..90).prop_map(Gen::Commitment),
        1 => Just(Gen::PostCheck),
        1 => Just(Gen::Decided),
        1 => Just(Gen::Completed),
        1 => Just(Gen::Transferred),
        1 => prop_oneof![Just(Gen::Withdrawn), Just(Gen::NotAccepted)],
        1 => Just(Gen::Delivered),
        2 => prop_oneof![Just(Gen::Note), Just(Gen::Unknown)],
    ]
}

/// (step, minutes since the previous step — sometimes before it —, minutes
/// until recorded)
type Steps = Vec<(Gen, i64, i64)>;

fn gen_case() -> impl Strategy<Value = (bool, Steps)> {
    (
        // Most cases start with an acceptance.
        prop::bool::weighted(0.85),
        prop::collection::vec((gen_step(), -5_000i64..4_000, 0i64..2_000), 0..30),
    )
}

fn build(accepted_first: bool, steps: &Steps) -> StreamBuilder {
    let mut b = StreamBuilder::new("case-p");
    let mut at = t("2026-03-02 09:00");
    if accepted_first {
        let (ty, p) = payload(Gen::Accepted(1));
        b.push_at(ty, p, at, at + Duration::minutes(1));
    }
    for (g, gap, lag) in steps {
        at += Duration::minutes(*gap);
        let (ty, p) = payload(*g);
        b.push_at(ty, p, at, at + Duration::minutes(*lag));
    }
    b
}

fn gen_item() -> impl Strategy<Value = Option<ServiceItem>> {
    prop::option::weighted(0.8, (1u32..25, 1u32..3)).prop_map(|o| {
        o.map(|(days, layers)| {
            let mut item = item();
            item.time_limit_days = days;
            item.review_layers = layers;
            item
        })
    })
}

fn gen_config() -> impl Strategy<Value = RuleConfig> {
    (60i64..3_000, 1u32..8, 0u32..60).prop_map(|(backfill, stall, risk)| RuleConfig {
        backfill_after: Duration::minutes(backfill),
        stall_working_days: stall,
        time_limits: TimeLimitPolicy {
            at_risk_percent: risk,
        },
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn judging_the_summary_equals_checking_the_timeline(
        (accepted_first, steps) in gen_case(),
        item in gen_item(),
        config in gen_config(),
        after in 0i64..200_000,
    ) {
        let b = build(accepted_first, &steps);
        let tl = CaseTimeline::fold(&b.stream, &b.events);
        let cal = cal();
        let s = CaseSummary::of(&tl, item.as_ref(), &cal, &config);
        // Persisted and read back before it is judged.
        let s: CaseSummary =
            serde_json::from_str(&serde_json::to_string(&s).expect("json")).expect("reads back");
        let last = b
            .events
            .iter()
            .map(|e| e.occurred_at.datetime().max(e.recorded_at.datetime()))
            .max()
            .unwrap_or_else(|| t("2026-03-02 09:00"));
        let now = last + Duration::minutes(after);

        let judged = s.judge(now, &cal, &config);
        let expected = rules::check(&tl, item.as_ref(), &cal, &config, now);
        prop_assert_eq!(&judged.violations, &expected);
        let tl_now = item
            .as_ref()
            .and_then(|i| rules::time_limit(&tl, i, &cal, config.time_limits, now));
        prop_assert_eq!(judged.time_limit_status, tl_now.as_ref().map(|t| t.status));
        prop_assert_eq!(judged.working_days_left, tl_now.as_ref().map(|t| t.remaining_days));
        prop_assert_eq!(
            s.deadline,
            tl_now.as_ref().and_then(|t| t.deadline)
        );
        let backfilled = expected.iter().filter(|v| v.kind == ViolationKind::Backfilled).count();
        prop_assert_eq!(s.backfilled_steps as usize, backfilled);
    }
}
