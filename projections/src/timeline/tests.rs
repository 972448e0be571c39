use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::examples;
use crate::schema::*;
use crate::testkit::{StreamBuilder, t};

fn accepted() -> Value {
    examples::payload(ACCEPTED).expect("example")
}

#[test]
fn a_whole_case_folds_into_its_timeline() {
    let mut b = StreamBuilder::new("case-1");
    b.push(
        MATERIALS_NOTIFIED,
        examples::payload(MATERIALS_NOTIFIED).expect("ex"),
        "2026-03-02 09:00",
    );
    let acc = b.push(ACCEPTED, accepted(), "2026-03-02 09:30");
    let got = b.push(
        MATERIALS_RECEIVED,
        json!({"materials": ["公司章程"]}),
        "2026-03-02 09:31",
    );
    let req = b.push(
        CORRECTION_REQUESTED,
        json!({"materials": ["住所使用证明"]}),
        "2026-03-03 10:00",
    );
    assert_eq!(
        CaseTimeline::fold("case-1", &b.events).status,
        CaseStatus::AwaitingCorrection
    );
    let rec = b.push(
        CORRECTION_RECEIVED,
        json!({"materials": ["住所使用证明"]}),
        "2026-03-09 10:00",
    );
    b.push(
        REVIEWED,
        json!({"layer": 1, "opinion": "同意"}),
        "2026-03-10 10:00",
    );
    b.push(
        CLOCK_PAUSED,
        json!({"reason": "public_notice", "legal_basis": "《行政许可法》第四十五条"}),
        "2026-03-10 11:00",
    );
    assert_eq!(
        CaseTimeline::fold("case-1", &b.events).status,
        CaseStatus::Paused
    );
    b.push(CLOCK_RESUMED, json!({}), "2026-03-16 09:00");
    b.push("case.step", json!({"anything": true}), "2026-03-16 09:05");
    b.push(
        DECIDED,
        examples::payload(DECIDED).expect("ex"),
        "2026-03-16 10:00",
    );
    let done = b.push(COMPLETED, json!({}), "2026-03-16 10:01");
    b.push(DELIVERED, json!({"method": "post"}), "2026-03-17 10:00");

    let tl = CaseTimeline::fold("case-1", &b.events);
    assert_eq!(tl.status, CaseStatus::Delivered);
    assert_eq!(tl.status_label, "已出件");
    assert_eq!(tl.steps.len(), b.events.len());
    assert_eq!(tl.steps[1].label, "受理");
    assert_eq!(tl.steps[8].label, "case.step");
    let a = tl.accepted.as_ref().expect("accepted");
    assert_eq!(
        (a.event_id, a.item_id.as_str(), a.item_version),
        (acc, "scjg-qysldj", 1)
    );
    assert_eq!(tl.stopped.len(), 2);
    assert_eq!(tl.stopped[0].kind, StopKind::Correction);
    assert_eq!(
        (tl.stopped[0].from_event, tl.stopped[0].to_event),
        (req, Some(rec))
    );
    assert_eq!(
        tl.stopped[1].kind,
        StopKind::Excluded(PauseReason::PublicNotice)
    );
    let stops = tl.clock_stops();
    assert_eq!(stops[0].from.to_string(), "2026-03-03");
    assert_eq!(
        stops[0].to.map(|d| d.to_string()).as_deref(),
        Some("2026-03-09")
    );
    assert_eq!(tl.materials_held.len(), 2);
    assert_eq!(tl.materials_held.values().filter(|e| **e == got).count(), 1);
    assert_eq!(tl.completed.as_ref().map(|c| c.0), Some(done));
    assert_eq!(tl.reviews.len(), 1);
    assert_eq!(tl.material_requests.len(), 4); // 3 notified + 1 correction
}

#[test]
fn as_of_sees_only_what_was_recorded_by_then() {
    let mut b = StreamBuilder::new("case-2");
    b.push(ACCEPTED, accepted(), "2026-03-02 09:00");
    // Done on the 3rd, but recorded only on the 10th (backfilled).
    b.push_at(
        REVIEWED,
        json!({"layer": 1, "opinion": "同意"}),
        t("2026-03-03 09:00"),
        t("2026-03-10 09:00"),
    );
    b.push(
        DECIDED,
        examples::payload(DECIDED).expect("ex"),
        "2026-03-10 10:00",
    );
    let early = CaseTimeline::as_of("case-2", &b.events, t("2026-03-05 00:00"));
    assert_eq!(early.steps.len(), 1);
    assert_eq!(early.status, CaseStatus::Accepted);
    assert!(early.reviews.is_empty());
    let late = CaseTimeline::as_of("case-2", &b.events, t("2026-03-10 12:00"));
    assert_eq!(late, CaseTimeline::fold("case-2", &b.events));
    let before = CaseTimeline::as_of("case-2", &b.events, t("2026-03-01 00:00"));
    assert_eq!(before, CaseTimeline::new("case-2"));
}

/// The event types a generated case is made of.
const KINDS: [&str; 12] = [
    MATERIALS_NOTIFIED,
    ACCEPTED,
    MATERIALS_RECEIVED,
    CORRECTION_REQUESTED,
    CORRECTION_RECEIVED,
    REVIEWED,
    CLOCK_PAUSED,
    CLOCK_RESUMED,
    COMMITMENT_ACCEPTED,
    DECIDED,
    COMPLETED,
    "case.step",
];

fn build(steps: &[(usize, i64, i64)]) -> Vec<Event> {
    let mut b = StreamBuilder::new("case-p");
    let mut at = t("2026-03-02 09:00");
    for (kind, gap, lag) in steps {
        let event_type = KINDS[*kind];
        let payload = examples::payload(event_type).unwrap_or_else(|| json!({"n": gap}));
        at += chrono::Duration::minutes(*gap);
        b.push_at(
            event_type,
            payload,
            at,
            at + chrono::Duration::minutes(*lag),
        );
    }
    b.events
}

proptest! {
    #[test]
    fn as_of_equals_the_fold_of_the_stream_cut_at_that_moment(
        steps in prop::collection::vec((0usize..KINDS.len(), 0i64..3_000, 0i64..20_000), 0..40),
        cut in -100i64..150_000,
    ) {
        let events = build(&steps);
        let at = t("2026-03-02 09:00") + chrono::Duration::minutes(cut);
        let cut_len = events.iter().filter(|e| e.recorded_at.datetime() <= at).count();
        let expected = CaseTimeline::fold("case-p", &events[..cut_len]);
        prop_assert_eq!(CaseTimeline::as_of("case-p", &events, at), expected);
    }

    #[test]
    fn folding_in_two_parts_equals_folding_at_once(
        steps in prop::collection::vec((0usize..KINDS.len(), 0i64..3_000, 0i64..20), 0..40),
        split in 0usize..40,
    ) {
        let events = build(&steps);
        let split = split.min(events.len());
        let mut tl = CaseTimeline::fold("case-p", &events[..split]);
        for ev in &events[split..] {
            tl.apply(ev);
        }
        prop_assert_eq!(tl, CaseTimeline::fold("case-p", &events));
    }
}
