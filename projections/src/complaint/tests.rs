use chrono::Duration;
use serde_json::json;

use super::*;
use crate::examples;
use crate::schema::*;
use crate::testkit::{StreamBuilder, t};
use crate::timeline::CaseStatus;

fn filed(case: Option<&str>, department: Option<&str>) -> Value {
    let mut p = json!({"channel": "hotline", "summary": "办理超时，多次要求补交同一材料"});
    if let Some(c) = case {
        p["case"] = json!(c);
    }
    if let Some(d) = department {
        p["department"] = json!(d);
    }
    p
}

/// A complaint about case-c1, through to feedback.
fn complaint() -> StreamBuilder {
    let mut b = StreamBuilder::new("complaint-k1");
    b.push(
        COMPLAINT_FILED,
        filed(Some("case-c1"), None),
        "2026-03-10 09:00",
    );
    b.push(
        COMPLAINT_ASSIGNED,
        json!({"body": "督查室", "handler": "handler-1", "cases": ["case-c1"]}),
        "2026-03-10 10:00",
    );
    b.push(
        COMPLAINT_NOTE,
        json!({"text": "调阅案件时间线"}),
        "2026-03-11 09:00",
    );
    b.push(
        COMPLAINT_RESOLVED,
        json!({"finding": "属实", "measures": ["约谈承办人", "通报批评"]}),
        "2026-03-12 09:00",
    );
    b.push(
        COMPLAINT_FEEDBACK,
        json!({"channel": "hotline", "text": "已电话反馈"}),
        "2026-03-12 10:00",
    );
    b
}

#[test]
fn a_complaint_folds_through_its_statuses() {
    let b = complaint();
    let statuses: Vec<ComplaintStatus> = (0..=b.events.len())
        .map(|n| ComplaintTimeline::fold(&b.stream, &b.events[..n]).status)
        .collect();
    assert_eq!(
        statuses,
        [
            ComplaintStatus::New,
            ComplaintStatus::Filed,
            ComplaintStatus::Assigned,
            ComplaintStatus::Investigating,
            ComplaintStatus::Resolved,
            ComplaintStatus::FeedbackGiven,
        ]
    );
    let tl = ComplaintTimeline::fold(&b.stream, &b.events);
    assert_eq!(tl.status_label, "已反馈");
    let f = tl.filed.as_ref().expect("filed");
    assert_eq!(f.case.as_deref(), Some("case-c1"));
    assert_eq!(f.channel, ComplaintChannel::Hotline);
    assert_eq!(tl.assignments[0].body, "督查室");
    assert_eq!(tl.notes[0].officer.as_deref(), Some("officer-1"));
    let r = tl.resolution.as_ref().expect("resolved");
    assert_eq!(r.finding, Finding::Substantiated);
    assert_eq!(r.measures, ["约谈承办人", "通报批评"]);
    assert_eq!(tl.feedback.len(), 1);
    assert_eq!(tl.steps[3].label, "投诉办结");
}

#[test]
fn a_late_note_does_not_move_the_status_back() {
    let mut b = complaint();
    b.push(
        COMPLAINT_NOTE,
        json!({"text": "补充说明"}),
        "2026-03-13 09:00",
    );
    b.push("complaint.other", json!({"x": 1}), "2026-03-13 10:00");
    let tl = ComplaintTimeline::fold(&b.stream, &b.events);
    assert_eq!(tl.status, ComplaintStatus::FeedbackGiven);
    assert_eq!(tl.notes.len(), 2);
    assert_eq!(tl.steps.len(), 7);
}

#[test]
fn the_summary_names_the_case_department_body_and_finding() {
    let b = complaint();
    let s = ComplaintSummary::of(&ComplaintTimeline::fold(&b.stream, &b.events));
    assert_eq!(s.complaint_id, "k1");
    assert_eq!(s.case.as_deref(), Some("case-c1"));
    assert_eq!(s.department, None);
    assert_eq!(s.assigned_body.as_deref(), Some("督查室"));
    assert_eq!(s.finding, Some(Finding::Substantiated));
    assert_eq!(s.filed_at, Some(b.events[0].occurred_at.clone()));
    assert_eq!(s.last_version, Some(4));
    assert!(s.upheld());
    let back: ComplaintSummary =
        serde_json::from_str(&serde_json::to_string(&s).expect("json")).expect("reads back");
    assert_eq!(back, s);

    // Near miss: not substantiated, or not yet resolved, is not upheld.
    let mut b = StreamBuilder::new("complaint-k2");
    b.push(
        COMPLAINT_FILED,
        filed(None, Some("dept-tax")),
        "2026-03-10 09:00",
    );
    let open = ComplaintSummary::of(&ComplaintTimeline::fold(&b.stream, &b.events));
    assert_eq!(open.department.as_deref(), Some("dept-tax"));
    assert!(!open.upheld());
    b.push(
        COMPLAINT_RESOLVED,
        json!({"finding": "不属实"}),
        "2026-03-11 09:00",
    );
    let s = ComplaintSummary::of(&ComplaintTimeline::fold(&b.stream, &b.events));
    assert_eq!(s.status, ComplaintStatus::Resolved);
    assert!(!s.upheld());
}

/// A case accepted 3-02, with a review done 3-05 but recorded only after
/// the complaint (3-10 09:01).
fn case() -> (StreamBuilder, EventId) {
    let mut c = StreamBuilder::new("case-c1");
    c.push(
        ACCEPTED,
        examples::payload(ACCEPTED).expect("ex"),
        "2026-03-02 09:30",
    );
    c.push(
        CORRECTION_REQUESTED,
        json!({"materials": ["公司章程"]}),
        "2026-03-03 10:00",
    );
    let backfilled = c.push_at(
        REVIEWED,
        json!({"layer": 1, "opinion": "同意"}),
        t("2026-03-05 10:00"),
        t("2026-03-10 15:00"),
    );
    c.push(NOTE, json!({"text": "电话联系申请人"}), "2026-03-10 16:00");
    (c, backfilled)
}

#[test]
fn steps_interleave_in_the_order_they_happened() {
    let k = complaint();
    let (c, backfilled) = case();
    let steps = interleave(&k.events, &c.events);
    assert_eq!(steps.len(), k.events.len() + c.events.len());
    let order: Vec<(Source, &str)> = steps
        .iter()
        .map(|s| (s.source, s.step.label.as_str()))
        .collect();
    assert_eq!(
        order,
        [
            (Source::Case, "受理"),
            (Source::Case, "补正告知"),
            (Source::Case, "审核"),
            (Source::Complaint, "投诉受理"),
            (Source::Complaint, "投诉交办"),
            (Source::Case, "工作记录"),
            (Source::Complaint, "调查记录"),
            (Source::Complaint, "投诉办结"),
            (Source::Complaint, "反馈投诉人"),
        ]
    );
    let after: Vec<bool> = steps.iter().map(|s| s.recorded_after_filing).collect();
    assert_eq!(
        after,
        [false, false, true, false, true, true, true, true, true]
    );
    assert_eq!(steps[2].step.event_id, backfilled);
    assert!(
        steps
            .windows(2)
            .all(|w| w[0].step.occurred_at <= w[1].step.occurred_at)
    );
}

#[test]
fn at_the_same_instant_the_case_comes_first() {
    let mut k = StreamBuilder::new("complaint-k3");
    k.push(
        COMPLAINT_FILED,
        filed(Some("case-c1"), None),
        "2026-03-10 09:00",
    );
    let mut c = StreamBuilder::new("case-c1");
    c.push(NOTE, json!({"text": "a"}), "2026-03-10 09:00");
    c.push(NOTE, json!({"text": "b"}), "2026-03-10 09:00");
    let steps = interleave(&k.events, &c.events);
    let sources: Vec<Source> = steps.iter().map(|s| s.source).collect();
    assert_eq!(sources, [Source::Case, Source::Case, Source::Complaint]);
    assert_eq!(steps[0].step.event_id, c.events[0].id);
    assert_eq!(steps[1].step.event_id, c.events[1].id);
}

#[test]
fn the_case_is_shown_as_it_stood_when_the_complaint_was_filed() {
    let k = complaint();
    let (c, backfilled) = case();
    let then = case_when_filed(&k.events, &c.events).expect("filed");
    assert_eq!(then.stream, "case-c1");
    assert_eq!(then.status, CaseStatus::AwaitingCorrection);
    assert_eq!(then.steps.len(), 2);
    assert!(then.reviews.is_empty(), "the review was recorded later");
    assert!(then.steps.iter().all(|s| s.event_id != backfilled));
    // The case steps not marked as recorded after filing are exactly those.
    let known: Vec<EventId> = interleave(&k.events, &c.events)
        .into_iter()
        .filter(|s| s.source == Source::Case && !s.recorded_after_filing)
        .map(|s| s.step.event_id)
        .collect();
    let shown: Vec<EventId> = then.steps.iter().map(|s| s.event_id).collect();
    assert_eq!(known, shown);
    assert_eq!(then, CaseTimeline::fold("case-c1", &c.events[..2]));

    // A complaint filed a minute later than the backfill sees the review.
    let mut late = StreamBuilder::new("complaint-k4");
    let at = t("2026-03-10 15:00") + Duration::minutes(1);
    late.push_at(COMPLAINT_FILED, filed(Some("case-c1"), None), at, at);
    let then = case_when_filed(&late.events, &c.events).expect("filed");
    assert_eq!(then.reviews.len(), 1);

    // Not filed: nothing to show.
    let mut unfiled = StreamBuilder::new("complaint-k5");
    unfiled.push(COMPLAINT_NOTE, json!({"text": "x"}), "2026-03-10 09:00");
    assert_eq!(case_when_filed(&unfiled.events, &c.events), None);
    assert!(
        interleave(&unfiled.events, &c.events)
            .iter()
            .all(|s| !s.recorded_after_filing)
    );
}
