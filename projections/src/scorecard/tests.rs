use serde_json::json;

use super::*;
use crate::complaint::ComplaintTimeline;
use crate::examples;
use crate::schema::*;
use crate::testkit::{StreamBuilder, t};
use crate::timeline::CaseTimeline;

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
}

fn march() -> Period {
    Period::new(d("2026-03-01"), d("2026-04-01")).expect("period")
}

/// A case of `department` accepted at `accepted` (3 working days), and
/// completed at `completed` if given.
fn case(id: &str, department: &str, accepted: &str, completed: Option<&str>) -> StreamBuilder {
    let mut b = StreamBuilder::new(&format!("case-{id}"));
    b.push(ACCEPTED, examples::payload(ACCEPTED).expect("ex"), accepted);
    if let Some(at) = completed {
        b.push(DECIDED, examples::payload(DECIDED).expect("ex"), at);
        b.push(COMPLETED, json!({}), at);
    }
    let department = ledger::ActorId::new(department).expect("id");
    for ev in &mut b.events {
        ev.actor.department = department.clone();
    }
    b
}

fn summary(b: &StreamBuilder) -> CaseSummary {
    let item: ServiceItem = serde_json::from_value(examples::service_item()).expect("example item");
    let tl = CaseTimeline::fold(&b.stream, &b.events);
    CaseSummary::of(
        &tl,
        Some(&item),
        &WorkingDayCalendar::official(),
        &RuleConfig::default(),
    )
}

fn complaint(
    id: &str,
    filed: serde_json::Value,
    at: &str,
    finding: Option<&str>,
) -> ComplaintSummary {
    let mut b = StreamBuilder::new(&format!("complaint-{id}"));
    b.push(COMPLAINT_FILED, filed, at);
    if let Some(f) = finding {
        b.push(COMPLAINT_RESOLVED, json!({"finding": f}), at);
    }
    ComplaintSummary::of(&ComplaintTimeline::fold(&b.stream, &b.events))
}

fn cards(now: &str) -> Vec<Scorecard> {
    let mut on_time = case(
        "m1",
        "dept-market",
        "2026-03-02 09:30",
        Some("2026-03-04 10:00"),
    );
    // A review done on the 3rd, logged on the 5th: backfilled.
    on_time.push_at(
        REVIEWED,
        json!({"layer": 1, "opinion": "同意"}),
        t("2026-03-03 10:00"),
        t("2026-03-05 10:00"),
    );
    let cases = [
        on_time,
        // Deadline Thu 3-05; completed Mon 3-09.
        case(
            "m2",
            "dept-market",
            "2026-03-02 09:30",
            Some("2026-03-09 10:00"),
        ),
        // Open since Tue 3-03: overdue from 3-07, stalled.
        case("m3", "dept-market", "2026-03-03 09:30", None),
        // Open since Mon 3-16: deadline Thu 3-19, 1 day left on Wed 3-18.
        case("m4", "dept-market", "2026-03-16 09:30", None),
        // Finished before the period: not handled in it.
        case(
            "m5",
            "dept-market",
            "2026-02-02 09:30",
            Some("2026-02-03 10:00"),
        ),
        // Accepted in February, completed in March: handled, not accepted in March.
        case(
            "m6",
            "dept-market",
            "2026-02-26 09:30",
            Some("2026-03-02 10:00"),
        ),
        case(
            "t1",
            "dept-tax",
            "2026-03-05 09:30",
            Some("2026-03-06 10:00"),
        ),
        // Accepted after the period.
        case("t2", "dept-tax", "2026-04-01 09:30", None),
    ];
    let summaries: Vec<CaseSummary> = cases.iter().map(summary).collect();
    let complaints = [
        // About a case only: counts for the department that accepted it.
        complaint(
            "k1",
            json!({"case": "case-m2", "channel": "hotline", "summary": "超期"}),
            "2026-03-10 09:00",
            Some("属实"),
        ),
        complaint(
            "k2",
            json!({"department": "dept-tax", "channel": "online", "summary": "态度"}),
            "2026-03-11 09:00",
            Some("不属实"),
        ),
        // Filed in February.
        complaint(
            "k3",
            json!({"department": "dept-tax", "channel": "online", "summary": "x"}),
            "2026-02-20 09:00",
            Some("属实"),
        ),
        // A department with complaints only.
        complaint(
            "k4",
            json!({"department": "dept-police", "channel": "letter", "summary": "x"}),
            "2026-03-12 09:00",
            Some("部分属实"),
        ),
        // A case nobody knows.
        complaint(
            "k5",
            json!({"case": "case-zz", "channel": "visit", "summary": "x"}),
            "2026-03-12 09:00",
            None,
        ),
    ];
    scorecards(
        &summaries,
        &complaints,
        march(),
        t(now),
        &WorkingDayCalendar::official(),
        &RuleConfig::default(),
    )
}

fn count(card: &Scorecard, kind: ViolationKind) -> u32 {
    card.violations
        .iter()
        .find(|k| k.kind == kind)
        .map_or(0, |k| k.count)
}

#[test]
fn a_departments_card_over_a_period() {
    let cards = cards("2026-03-18 10:00");
    let ids: Vec<&str> = cards.iter().map(|c| c.department.as_str()).collect();
    assert_eq!(ids, ["dept-market", "dept-police", "dept-tax"]);

    let m = &cards[0];
    assert_eq!(m.accepted, 4); // m1..m4
    assert_eq!(m.completed, 3); // m1, m2, m6
    assert_eq!(m.completed_on_time, 2);
    assert_eq!(m.completed_late, 1);
    assert_eq!(m.on_time_rate, Some(2.0 / 3.0));
    assert_eq!(m.open, 2);
    assert_eq!(m.overdue, 1);
    assert_eq!(m.at_risk, 1);
    assert_eq!(count(m, ViolationKind::CompletedLate), 1);
    assert_eq!(count(m, ViolationKind::Overdue), 1);
    assert_eq!(count(m, ViolationKind::Stalled), 1);
    assert_eq!(count(m, ViolationKind::Backfilled), 1);
    assert_eq!(m.violations.len(), 4);
    let kinds: Vec<ViolationKind> = m.violations.iter().map(|k| k.kind).collect();
    let mut sorted = kinds.clone();
    sorted.sort();
    assert_eq!(kinds, sorted);
    assert_eq!(m.violations[0].label, "超期未办结");
    // m1: 4 steps, m2: 3, m3: 1, m4: 1, m6: 3.
    assert_eq!(m.steps, 12);
    assert_eq!(m.backfilled_steps, 1);
    assert_eq!(m.backfill_rate, Some(1.0 / 12.0));
    assert_eq!((m.complaints_received, m.complaints_upheld), (1, 1));

    let police = &cards[1];
    assert_eq!((police.accepted, police.steps), (0, 0));
    assert_eq!(
        (police.complaints_received, police.complaints_upheld),
        (1, 1)
    );
    assert_eq!(police.on_time_rate, None);
    assert_eq!(police.backfill_rate, None);

    let tax = &cards[2];
    assert_eq!(
        (tax.accepted, tax.completed, tax.completed_on_time),
        (1, 1, 1)
    );
    assert_eq!(tax.open, 0);
    assert_eq!(tax.on_time_rate, Some(1.0));
    assert!(tax.violations.is_empty());
    assert_eq!((tax.complaints_received, tax.complaints_upheld), (1, 0));
}

#[test]
fn open_cases_are_judged_at_now() {
    // Earlier, m3 has one working day left (deadline Fri 3-06): at risk,
    // nothing overdue or stalled yet.
    let cards = cards("2026-03-05 10:00");
    let m = &cards[0];
    assert_eq!((m.open, m.overdue, m.at_risk), (2, 0, 1));
    assert_eq!(count(m, ViolationKind::Overdue), 0);
    assert_eq!(count(m, ViolationKind::Stalled), 0);
}

#[test]
fn an_empty_period_is_refused() {
    assert!(Period::new(d("2026-03-01"), d("2026-03-01")).is_err());
    let err = Period::new(d("2026-04-01"), d("2026-03-01")).expect_err("inverted");
    assert!(err.to_string().contains("2026-04-01"));
    let p = march();
    assert!(p.contains(d("2026-03-01")));
    assert!(p.contains(d("2026-03-31")));
    assert!(!p.contains(d("2026-04-01")));
}

#[test]
fn cards_round_trip_through_json() {
    let cards = cards("2026-03-18 10:00");
    let text = serde_json::to_string(&cards).expect("json");
    let back: Vec<Scorecard> = serde_json::from_str(&text).expect("reads back");
    assert_eq!(back, cards);
    assert!(text.contains("\"kind\":\"completed_late\""));
}
