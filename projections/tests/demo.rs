//! The demo data set: every payload fits its schema, every rule check is
//! triggered, proportions are realistic, and a seed always gives the same
//! data.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::OnceLock;

use chrono::NaiveDate;
use ledger::{Actor, Event, EventId, LeafHash, StreamVersion, Timestamp};
use projections::calendar::local_date;
use projections::demo::{self, DemoConfig, DemoData, DemoError, DepartmentKind};
use projections::fairness::{self, FairnessConfig, FlagKind};
use projections::rules::{self, RuleConfig, ViolationKind};
use projections::schema::{self, Channel, SUPERVISORY_BODIES};
use projections::summary::CaseSummary;
use projections::timeline::CaseStatus;
use projections::{CaseTimeline, Catalogue, WorkingDayCalendar};
use serde_json::Value;

fn end() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, 31).expect("date")
}

fn config(cases: usize) -> DemoConfig {
    DemoConfig {
        cases,
        ..DemoConfig::ending(end())
    }
}

/// 2,000 cases over the six months to 2026-03-31 (国庆, 元旦 and 春节 in it).
fn data() -> &'static DemoData {
    static DATA: OnceLock<DemoData> = OnceLock::new();
    DATA.get_or_init(|| demo::generate(&config(2_000)).expect("generates"))
}

/// The events as the ledger would hold them, by stream.
fn streams(data: &DemoData) -> BTreeMap<String, Vec<Event>> {
    let mut by: BTreeMap<String, Vec<Event>> = BTreeMap::new();
    for e in &data.events {
        let list = by.entry(e.stream.as_str().to_owned()).or_default();
        list.push(Event {
            id: EventId::generate(),
            stream: e.stream.clone(),
            version: StreamVersion(list.len() as u64),
            event_type: e.event_type.clone(),
            recorded_at: Timestamp::from_datetime(e.recorded_at),
            occurred_at: Timestamp::from_datetime(e.occurred_at),
            actor: Actor {
                department: e.department.clone(),
                officer: e.officer.clone(),
            },
            payload: e.payload.clone(),
            prev: LeafHash::GENESIS,
            signature: None,
        });
    }
    by
}

struct Judged {
    catalogue: Catalogue,
    timelines: Vec<CaseTimeline>,
    kinds: BTreeMap<ViolationKind, usize>,
    /// Working days used by accepted, completed cases: (item, channel, green, days).
    durations: Vec<(String, Channel, bool, u32)>,
}

fn judge(data: &DemoData) -> Judged {
    let by = streams(data);
    let catalogue = Catalogue::fold(by.get("catalog").expect("catalog stream"));
    let calendar = WorkingDayCalendar::official();
    let config = RuleConfig::default();
    let mut kinds = BTreeMap::new();
    let mut timelines = Vec::new();
    let mut durations = Vec::new();
    for case in &data.cases {
        let events = by.get(case.as_str()).expect("every case has events");
        let timeline = CaseTimeline::fold(case.as_str(), events);
        let item = timeline
            .accepted
            .as_ref()
            .and_then(|a| catalogue.item(&a.item_id, a.item_version));
        if let Some(a) = &timeline.accepted {
            assert!(
                item.is_some(),
                "{case}: item {} v{}",
                a.item_id,
                a.item_version
            );
        }
        for v in rules::check(&timeline, item, &calendar, &config, data.judged_at) {
            assert!(!v.events.is_empty(), "{case}: {v:?}");
            *kinds.entry(v.kind).or_insert(0) += 1;
        }
        if let (Some(a), Some(item)) = (&timeline.accepted, item)
            && let Some(tl) = rules::time_limit(
                &timeline,
                item,
                &calendar,
                config.time_limits,
                data.judged_at,
            )
            && timeline.completed.is_some()
        {
            durations.push((
                a.item_id.clone(),
                a.channel,
                a.green_channel.is_some(),
                tl.used_days,
            ));
        }
        timelines.push(timeline);
    }
    Judged {
        catalogue,
        timelines,
        kinds,
        durations,
    }
}

fn judged() -> &'static Judged {
    static JUDGED: OnceLock<Judged> = OnceLock::new();
    JUDGED.get_or_init(|| judge(data()))
}

const EVERY_KIND: [ViolationKind; 8] = [
    ViolationKind::MaterialAlreadyHeld,
    ViolationKind::MaterialNotPublished,
    ViolationKind::TooManyReviewLayers,
    ViolationKind::Overdue,
    ViolationKind::CompletedLate,
    ViolationKind::Backfilled,
    ViolationKind::Stalled,
    ViolationKind::PostCheckMissing,
];

#[test]
fn every_rule_check_is_triggered() {
    let kinds = &judged().kinds;
    for kind in EVERY_KIND {
        assert!(
            kinds.contains_key(&kind),
            "{kind:?} never triggered: {kinds:?}"
        );
    }
}

#[test]
fn every_payload_fits_its_schema_and_every_entry_fits_a_bundle() {
    let data = data();
    assert!(data.events.len() > 2_000 * 6, "{}", data.events.len());
    for e in &data.events {
        let payload = Value::Object(e.payload.clone());
        schema::validate_in_stream(e.stream.as_str(), e.event_type.as_str(), &payload)
            .unwrap_or_else(|err| panic!("{} {}: {err}", e.stream.as_str(), e.event_type.as_str()));
        assert!(
            schema::label(e.event_type.as_str()).is_some(),
            "only domain types: {}",
            e.event_type.as_str()
        );
    }
    for events in streams(data).values() {
        for ev in events {
            let entry = ev.to_entry().expect("canonical entry");
            assert!(entry.len() <= 65_535, "{} bytes", entry.len());
        }
    }
}

#[test]
fn recorded_times_never_decrease_and_follow_the_work() {
    let data = data();
    for pair in data.events.windows(2) {
        assert!(pair[0].recorded_at <= pair[1].recorded_at);
    }
    let mut last_occurred: HashMap<&str, chrono::DateTime<chrono::Utc>> = HashMap::new();
    for e in &data.events {
        assert!(e.occurred_at <= e.recorded_at, "{e:?}");
        assert!(e.recorded_at <= data.judged_at, "nothing after the end");
        // Steps are written in the order of the work.
        let last = last_occurred
            .entry(e.stream.as_str())
            .or_insert(e.occurred_at);
        assert!(
            *last <= e.occurred_at,
            "{}: out of order",
            e.stream.as_str()
        );
        *last = e.occurred_at;
    }
    // Steps are recorded on a grid shared by all streams: few distinct times.
    let distinct: BTreeSet<_> = data.events.iter().map(|e| e.recorded_at).collect();
    assert!(distinct.len() * 2 < data.events.len(), "{}", distinct.len());
}

#[test]
fn the_catalogue_and_departments_look_like_a_city() {
    let data = data();
    let judged = judged();
    assert!(judged.catalogue.len() >= 30, "{}", judged.catalogue.len());
    let services: BTreeSet<_> = data
        .departments
        .iter()
        .filter(|d| d.kind == DepartmentKind::Service)
        .map(|d| d.id)
        .collect();
    assert!(services.len() >= 10, "{services:?}");
    let ids: BTreeSet<_> = data.departments.iter().map(|d| d.id).collect();
    assert_eq!(
        ids.len(),
        data.departments.len(),
        "department ids are unique"
    );
    assert!(
        data.departments.iter().all(|d| !d.name.is_ascii()),
        "Chinese names"
    );
    let published = data
        .events
        .iter()
        .filter(|e| e.event_type.as_str() == schema::ITEM_PUBLISHED);
    let mut units = BTreeSet::new();
    for e in published {
        let unit = e.payload["accepting_unit"].as_str().expect("unit");
        assert!(services.contains(unit), "{unit}");
        units.insert(unit);
        let basis = e.payload["legal_basis"].as_array().expect("basis");
        assert!(
            basis
                .iter()
                .all(|b| b.as_str().is_some_and(|b| b.contains('《')))
        );
    }
    assert!(units.len() >= 10, "{units:?}");
    let revised = data
        .events
        .iter()
        .filter(|e| e.event_type.as_str() == schema::ITEM_REVISED)
        .count();
    assert!((2..=5).contains(&revised), "{revised}");
    // Cases are accepted under both versions of a revised item.
    let versions: BTreeSet<u32> = judged
        .timelines
        .iter()
        .filter_map(|t| t.accepted.as_ref())
        .filter(|a| a.item_id == "gjj-tq")
        .map(|a| a.item_version)
        .collect();
    assert_eq!(versions, BTreeSet::from([1, 2]));
    // The first case is the model: 企业设立登记 at the window, delivered.
    let first = &judged.timelines[0];
    assert_eq!(first.stream, "case-demo-0001");
    let a = first.accepted.as_ref().expect("accepted");
    assert_eq!(a.item_id, demo::MODEL_ITEM);
    assert_eq!(a.channel, Channel::Window);
    assert_eq!(first.status, CaseStatus::Delivered);
}

fn share(part: usize, whole: usize) -> f64 {
    part as f64 / whole as f64
}

#[test]
fn proportions_are_realistic() {
    let data = data();
    let judged = judged();
    let n = data.cases.len();
    let timelines = &judged.timelines;
    let accepted: Vec<_> = timelines.iter().filter(|t| t.accepted.is_some()).collect();
    let of_type = |t: &CaseTimeline, ty: &str| t.steps.iter().any(|s| s.event_type == ty);

    let corrected = accepted
        .iter()
        .filter(|t| of_type(t, schema::CORRECTION_REQUESTED))
        .count();
    let c = share(corrected, accepted.len());
    assert!((0.10..=0.30).contains(&c), "corrections {c}");

    let not_accepted = timelines
        .iter()
        .filter(|t| t.status == CaseStatus::NotAccepted)
        .count();
    assert!(
        (0.01..=0.06).contains(&share(not_accepted, n)),
        "{not_accepted}"
    );

    let transferred = accepted
        .iter()
        .filter(|t| of_type(t, schema::TRANSFERRED))
        .count();
    assert!(
        (0.02..=0.15).contains(&share(transferred, accepted.len())),
        "{transferred}"
    );

    let paused = accepted
        .iter()
        .filter(|t| of_type(t, schema::CLOCK_PAUSED))
        .count();
    assert!(
        paused > 0 && share(paused, accepted.len()) < 0.10,
        "{paused}"
    );

    let by_channel = |c: Channel| {
        accepted
            .iter()
            .filter(|t| t.accepted.as_ref().is_some_and(|a| a.channel == c))
            .count()
    };
    let window = share(by_channel(Channel::Window), accepted.len());
    let online = share(by_channel(Channel::Online), accepted.len());
    let agent = share(by_channel(Channel::Agent), accepted.len());
    assert!((0.25..=0.55).contains(&window), "window {window}");
    assert!((0.20..=0.50).contains(&online), "online {online}");
    assert!((0.02..=0.15).contains(&agent), "agent {agent}");
    for c in [Channel::Post, Channel::DoorToDoor, Channel::SelfService] {
        assert!(by_channel(c) > 0, "{c:?}");
    }
    let green = accepted
        .iter()
        .filter(|t| {
            t.accepted
                .as_ref()
                .is_some_and(|a| a.green_channel.is_some())
        })
        .count();
    assert!(
        green > 0 && share(green, accepted.len()) < 0.05,
        "green {green}"
    );

    let late = judged
        .kinds
        .get(&ViolationKind::CompletedLate)
        .copied()
        .unwrap_or(0);
    assert!(
        (0.015..=0.08).contains(&share(late, accepted.len())),
        "late {late}"
    );
    let overdue = judged
        .kinds
        .get(&ViolationKind::Overdue)
        .copied()
        .unwrap_or(0);
    assert!(
        overdue > 0 && share(overdue, accepted.len()) < 0.06,
        "overdue {overdue}"
    );

    let withdrawn = timelines
        .iter()
        .filter(|t| t.status == CaseStatus::Withdrawn)
        .count();
    assert!(
        withdrawn > 0 && share(withdrawn, n) < 0.05,
        "withdrawn {withdrawn}"
    );
    let open = timelines.iter().filter(|t| t.status.is_open()).count();
    assert!((0.01..=0.15).contains(&share(open, n)), "open {open}");
    let commitments = timelines.iter().filter(|t| t.commitment.is_some()).count();
    assert!(commitments > 20, "{commitments}");

    let steps: usize = timelines.iter().map(|t| t.steps.len()).sum();
    let backfilled = judged
        .kinds
        .get(&ViolationKind::Backfilled)
        .copied()
        .unwrap_or(0);
    assert!(
        (0.003..=0.05).contains(&share(backfilled, steps)),
        "backfilled {backfilled} of {steps}"
    );

    let complaints = data.complaints.len();
    assert!(
        (0.005..=0.015).contains(&share(complaints, n)),
        "complaints {complaints}"
    );
}

#[test]
fn agent_cases_of_one_item_are_handled_faster_than_self_filed_ones() {
    fn median(mut v: Vec<u32>) -> f64 {
        v.sort_unstable();
        assert!(!v.is_empty());
        f64::from(v[v.len() / 2])
    }
    let of = |agent: bool| -> Vec<u32> {
        judged()
            .durations
            .iter()
            .filter(|(item, channel, green, _)| {
                item == "bdc-zydj" && !green && (*channel == Channel::Agent) == agent
            })
            .map(|(_, _, _, days)| *days)
            .collect()
    };
    let (agent, own) = (of(true), of(false));
    assert!(
        agent.len() >= 10 && own.len() >= 30,
        "{} {}",
        agent.len(),
        own.len()
    );
    let (a, s) = (median(agent), median(own));
    assert!(a * 2.0 < s, "agent median {a}, self-filed median {s}");
}

#[test]
fn the_fairness_report_flags_the_agent_favoured_item() {
    let judged = judged();
    let calendar = WorkingDayCalendar::official();
    let config = RuleConfig::default();
    let summaries: Vec<CaseSummary> = judged
        .timelines
        .iter()
        .map(|t| {
            let item = t
                .accepted
                .as_ref()
                .and_then(|a| judged.catalogue.item(&a.item_id, a.item_version));
            CaseSummary::of(t, item, &calendar, &config)
        })
        .collect();
    let report = fairness::report(&summaries, &FairnessConfig::default());
    // Agent cases are faster for the favoured item only: the other items'
    // agent and self-filed cases take the same usual time.
    let faster: BTreeSet<&str> = report
        .flags
        .iter()
        .filter(|f| f.kind == FlagKind::AgentFaster)
        .map(|f| f.item_id.as_str())
        .collect();
    assert_eq!(faster, BTreeSet::from(["bdc-zydj"]), "{:?}", report.flags);
}

#[test]
fn complaints_name_cases_and_supervisory_bodies() {
    let data = data();
    let cases: BTreeSet<&str> = data.cases.iter().map(|c| c.as_str()).collect();
    let by = streams(data);
    let mut bodies = BTreeSet::new();
    for c in &data.complaints {
        let events = by.get(c.as_str()).expect("complaint events");
        assert_eq!(events[0].event_type.as_str(), schema::COMPLAINT_FILED);
        let case = events[0].payload["case"].as_str().expect("case");
        assert!(cases.contains(case), "{case}");
        let case_start = by[case][0].occurred_at.datetime();
        assert!(events[0].occurred_at.datetime() > case_start);
        if let Some(a) = events
            .iter()
            .find(|e| e.event_type.as_str() == schema::COMPLAINT_ASSIGNED)
        {
            let body = a.payload["body"].as_str().expect("body");
            assert!(SUPERVISORY_BODIES.contains(&body), "{body}");
            bodies.insert(body);
        }
    }
    assert!(bodies.len() >= 2, "{bodies:?}");
    let resolved = data
        .events
        .iter()
        .filter(|e| e.event_type.as_str() == schema::COMPLAINT_RESOLVED)
        .count();
    assert!(resolved > 0);
}

#[test]
fn applicants_are_pseudonymous_references() {
    let mut refs = BTreeSet::new();
    for e in data()
        .events
        .iter()
        .filter(|e| e.event_type.as_str() == schema::ACCEPTED)
    {
        let r = e.payload["applicant_ref"].as_str().expect("ref");
        assert!(r.len() == 64 && r.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
        refs.insert(r);
    }
    assert!(refs.len() > 1_500, "{}", refs.len());
}

#[test]
fn steps_happen_in_office_hours_on_working_days() {
    let calendar = WorkingDayCalendar::official();
    let data = data();
    let officer_steps: Vec<_> = data
        .events
        .iter()
        .filter(|e| e.officer.is_some() && e.stream.as_str().starts_with("case-"))
        .collect();
    let on_working_days = officer_steps
        .iter()
        .filter(|e| calendar.is_working_day(local_date(e.occurred_at)))
        .count();
    // Only online submissions (no officer) come in on rest days.
    assert_eq!(on_working_days, officer_steps.len());
}

#[test]
fn a_seed_always_gives_the_same_data() {
    let a = demo::generate(&config(300)).expect("a");
    let b = demo::generate(&config(300)).expect("b");
    assert_eq!(a, b);
    let other = demo::generate(&DemoConfig {
        seed: 1,
        ..config(300)
    })
    .expect("other seed");
    assert_ne!(a.events, other.events);
    // Every case stream is there, numbered from 1.
    assert_eq!(a.cases.len(), 300);
    assert_eq!(a.cases[0].as_str(), "case-demo-0001");
    assert_eq!(a.cases[299].as_str(), "case-demo-0300");
}

#[test]
fn a_small_data_set_still_triggers_every_rule() {
    let small = demo::generate(&config(40)).expect("small");
    let kinds = judge(&small).kinds;
    for kind in EVERY_KIND {
        assert!(kinds.contains_key(&kind), "{kind:?} missing: {kinds:?}");
    }
    assert_eq!(small.complaints.len(), 1);
}

#[test]
fn bad_configurations_are_refused() {
    assert!(matches!(
        demo::generate(&config(0)),
        Err(DemoError::NoCases)
    ));
    for months in [0, 25] {
        let c = DemoConfig {
            months,
            ..config(10)
        };
        assert!(matches!(demo::generate(&c), Err(DemoError::Months { .. })));
    }
    let c = config(DemoConfig::MAX_CASES + 1);
    assert!(matches!(
        demo::generate(&c),
        Err(DemoError::TooManyCases { .. })
    ));
}
