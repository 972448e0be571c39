//! Demo data: a realistic data set for the public services of a Chinese
//! prefecture-level city — departments, a catalogue of service items, and
//! months of cases and complaints — as the events the departments' case
//! systems would have written to the ledger.
//!
//! [`generate`] is pure and deterministic: no I/O, no clock, and no
//! randomness but its own SplitMix64 seeded from [`DemoConfig::seed`], so
//! a seed gives the same data set on every machine and with every crate
//! version. It deliberately does not write anything (the api's demo loader
//! appends the events, registering the departments first), sign events, or
//! hold personal data: applicants are random 64-hex references, officers
//! are ids.
//!
//! What a data set holds (default: 10,000 cases over the 6 months up to
//! [`DemoConfig::end`]):
//! - 18 departments (13 that handle cases, the government service centre,
//!   four supervisory bodies) and 37 service items with their legal basis,
//!   time limits, materials, review layers, fees and channels, published
//!   the working day before the period; three items are revised to version
//!   2 half-way (a shorter time limit; one material no longer required).
//! - Cases from first contact to delivery in office hours on working days
//!   (by [`WorkingDayCalendar::official`]): 一次性告知, acceptance by channel
//!   (window ≈ 45 %, online ≈ 35 %, agent, self-service, post, door-to-door;
//!   a green channel for a few), some at the comprehensive window and
//!   transferred (内部流转), corrections (补正, ≈ 17 %), legally excluded
//!   periods (public notice, inspection, expert review, hearing),
//!   commitment cases (告知+承诺) with post-checks (some never done),
//!   reviews, decisions, completion, delivery; not accepted (≈ 3 %),
//!   withdrawn, refused, late (≈ 4 %), stalled, and open at the end.
//! - Agent-filed cases of [`catalogue::AGENT_FAVOURED`] handled much faster
//!   than self-filed ones (for the fairness report to flag).
//! - Complaints about ≈ 1 % of the cases, mostly the ones that went wrong.
//! - Recording times: each step is recorded on a 15-minute grid shortly
//!   after it was done (the loader sets the store's clock per grid point);
//!   about 1 % of steps are recorded days later (backfilled), more in the
//!   departments that lag.
//!
//! Every check in [`crate::rules`] is triggered at least once: a few early
//! cases are chosen to show each one, whatever the size of the data set
//! (given at least 20 cases over two months or more).

use chrono::{DateTime, Months, NaiveDate, Utc};
use ledger::{ActorId, EventType, StreamId};
use serde_json::{Map, Value};

use crate::calendar::{WorkingDayCalendar, next};
use crate::schema::{Channel, ITEM_PUBLISHED, ITEM_REVISED};

mod cases;
pub mod catalogue;
mod complaints;
mod hours;
mod rng;

use cases::{Draft, Plan, Showcase, World};
use catalogue::{DEPARTMENTS, ITEMS};
pub use catalogue::{DemoDepartment, DepartmentKind, MODEL_ITEM, PLATFORM};
use hours::{Office, china, end_of_day};
use rng::Rng;

/// What to generate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DemoConfig {
    /// How many cases (default [`DemoConfig::DEFAULT_CASES`]).
    pub cases: usize,
    pub seed: u64,
    /// The last day of the period (China time); nothing is recorded after it.
    pub end: NaiveDate,
    /// Length of the period in months (default [`DemoConfig::DEFAULT_MONTHS`]).
    pub months: u32,
}

impl DemoConfig {
    pub const DEFAULT_CASES: usize = 10_000;
    pub const DEFAULT_MONTHS: u32 = 6;
    /// 玉政办发〔2017〕5号.
    pub const DEFAULT_SEED: u64 = 0x2017_0005;
    pub const MAX_CASES: usize = 1_000_000;
    pub const MAX_MONTHS: u32 = 24;

    /// The default data set for a period ending on `end`.
    pub fn ending(end: NaiveDate) -> Self {
        DemoConfig {
            cases: Self::DEFAULT_CASES,
            seed: Self::DEFAULT_SEED,
            end,
            months: Self::DEFAULT_MONTHS,
        }
    }

    /// The first day of the period.
    pub fn start(&self) -> Result<NaiveDate, DemoError> {
        self.end
            .checked_sub_months(Months::new(self.months))
            .map(next)
            .ok_or(DemoError::End { end: self.end })
    }

    /// The last instant of the period: the moment the data set is judged at.
    pub fn period_end(&self) -> DateTime<Utc> {
        end_of_day(self.end)
    }
}

/// Why a data set could not be generated.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DemoError {
    #[error("the demo needs at least one case")]
    NoCases,
    #[error("{cases} demo cases is more than {max}", max = DemoConfig::MAX_CASES)]
    TooManyCases { cases: usize },
    #[error("a demo period of {months} months: choose 1 to {max}", max = DemoConfig::MAX_MONTHS)]
    Months { months: u32 },
    #[error("a demo period ending on {end} is out of range")]
    End { end: NaiveDate },
    /// An id built by the generator was refused (a bug in the demo data).
    #[error("demo data: {0}")]
    Id(#[from] ledger::Error),
}

/// One event as a department's system would append it; the ledger adds
/// id, version, link and — here, from the demo loader's clock — `recorded_at`.
#[derive(Clone, Debug, PartialEq)]
pub struct DemoEvent {
    pub stream: StreamId,
    pub event_type: EventType,
    /// When the work was done.
    pub occurred_at: DateTime<Utc>,
    /// When the ledger is to record it (a point of a 15-minute grid).
    pub recorded_at: DateTime<Utc>,
    pub department: ActorId,
    /// `None` for steps recorded by a system (an online submission).
    pub officer: Option<ActorId>,
    pub payload: Map<String, Value>,
}

/// A generated data set.
#[derive(Clone, Debug, PartialEq)]
pub struct DemoData {
    pub departments: Vec<DemoDepartment>,
    /// Case streams, `case-demo-0001` on, in order of first contact.
    pub cases: Vec<StreamId>,
    /// Complaint streams, `complaint-demo-0001` on, in order filed.
    pub complaints: Vec<StreamId>,
    /// Every event (catalogue, cases, complaints), by `recorded_at`; each
    /// stream's events in stream order.
    pub events: Vec<DemoEvent>,
    /// The end of the period, the moment to judge the cases at.
    pub judged_at: DateTime<Utc>,
}

/// The catalogue's keeper.
const CATALOGUE_OFFICER: &str = "zwfw-m01";

// Independent parts of the data set, each with its own generator.
const PART_CATALOGUE: u64 = 1;
const PART_SHOWCASE: u64 = 2;
const PART_COMPLAINTS: u64 = 3;
const PART_PLANS: u64 = 1 << 32;

/// Generates the data set `config` describes.
pub fn generate(config: &DemoConfig) -> Result<DemoData, DemoError> {
    if config.cases == 0 {
        return Err(DemoError::NoCases);
    }
    if config.cases > DemoConfig::MAX_CASES {
        return Err(DemoError::TooManyCases {
            cases: config.cases,
        });
    }
    if !(1..=DemoConfig::MAX_MONTHS).contains(&config.months) {
        return Err(DemoError::Months {
            months: config.months,
        });
    }
    let start = config.start()?;
    let calendar = WorkingDayCalendar::official();
    let office = Office::new(&calendar);
    let cut = config.period_end();

    // The catalogue: published the working day before the period, three
    // items revised half-way.
    let mut world = World {
        office,
        revised_at: vec![None; ITEMS.len()],
        cut,
    };
    let mut rng = Rng::derive(config.seed, PART_CATALOGUE);
    let publish_day = world.office.working_day_before(start);
    let mut drafts = Vec::new();
    for (i, item) in ITEMS.iter().enumerate() {
        drafts.push(catalogue_draft(
            china(publish_day, 8 * 3600 + 1800 + 40 * i as i64),
            ITEM_PUBLISHED,
            item.payload(1),
        ));
    }
    let half = (config.end - start).num_days() / 2;
    let revision_day = world
        .office
        .working_on_or_after(start + chrono::Duration::days(half));
    for (i, item) in ITEMS.iter().filter(|i| i.revision.is_some()).enumerate() {
        drafts.push(catalogue_draft(
            china(revision_day, 8 * 3600 + 1800 + 40 * i as i64),
            ITEM_REVISED,
            item.payload(2),
        ));
    }
    let catalog = world.finish(&mut rng, "catalog", drafts)?;
    for ev in catalog
        .iter()
        .filter(|e| e.event_type.as_str() == ITEM_REVISED)
    {
        let id = ev.payload.get("item_id").and_then(Value::as_str);
        if let Some(i) = ITEMS.iter().position(|item| Some(item.id) == id) {
            world.revised_at[i] = Some(ev.recorded_at);
        }
    }

    // The cases, numbered in order of first contact.
    let plans = plans(config, &world.office, start)?;
    let mut sims = Vec::with_capacity(plans.len());
    for (i, plan) in plans.iter().enumerate() {
        sims.push(cases::simulate(&world, i + 1, plan)?);
    }

    let mut rng = Rng::derive(config.seed, PART_COMPLAINTS);
    let complaints = complaints::complaints(&world, &mut rng, &sims, config.cases.div_ceil(100))?;

    let mut events = catalog;
    let mut case_streams = Vec::with_capacity(sims.len());
    for sim in sims {
        case_streams.push(StreamId::new(&sim.stream)?);
        events.extend(sim.events);
    }
    let mut complaint_streams = Vec::with_capacity(complaints.len());
    for (stream, evs) in complaints {
        complaint_streams.push(StreamId::new(&stream)?);
        events.extend(evs);
    }
    // Stable: each stream keeps its order.
    events.sort_by_key(|e| e.recorded_at);
    Ok(DemoData {
        departments: DEPARTMENTS.to_vec(),
        cases: case_streams,
        complaints: complaint_streams,
        events,
        judged_at: cut,
    })
}

fn catalogue_draft(
    at: DateTime<Utc>,
    event_type: &'static str,
    payload: Map<String, Value>,
) -> Draft {
    Draft {
        event_type,
        occurred: at,
        department: PLATFORM,
        officer: Some(CATALOGUE_OFFICER.to_owned()),
        payload,
        backfill: false,
    }
}

/// How a case of `item` comes in.
fn channel(rng: &mut Rng, item: &catalogue::ItemSpec) -> Channel {
    let agent = if item.department == "dept-realestate" {
        300
    } else {
        150
    };
    let weights: Vec<(Channel, u32)> = [
        (Channel::Window, 360),
        (Channel::Online, 600),
        (Channel::SelfService, 160),
        (Channel::Agent, agent),
        (Channel::Post, 30),
        (Channel::DoorToDoor, 25),
    ]
    .into_iter()
    .filter(|(c, _)| item.channels.contains(c))
    .collect();
    rng.weighted(&weights)
        .or_else(|| item.channels.first().copied())
        .unwrap_or(Channel::Window)
}

/// Every case's item, channel and first contact, in order of contact; the
/// first case and a few early ones given a showcase.
fn plans(
    config: &DemoConfig,
    office: &Office<'_>,
    start: NaiveDate,
) -> Result<Vec<Plan>, DemoError> {
    let mut all_days = Vec::new();
    let mut d = start;
    while d <= config.end {
        all_days.push(d);
        d = next(d);
    }
    let working: Vec<NaiveDate> = all_days
        .iter()
        .copied()
        .filter(|d| office.is_working_day(*d))
        .collect();
    if working.is_empty() {
        return Err(DemoError::End { end: config.end });
    }
    let weights: Vec<(usize, u32)> = ITEMS
        .iter()
        .enumerate()
        .map(|(i, s)| (i, s.weight))
        .collect();
    let mut plans = Vec::with_capacity(config.cases);
    for i in 0..config.cases {
        let mut rng = Rng::derive(config.seed, PART_PLANS + i as u64);
        let item = rng.weighted(&weights).unwrap_or(0);
        let channel = channel(&mut rng, &ITEMS[item]);
        let contact = match channel {
            Channel::Online | Channel::Post => {
                let day = all_days[rng.index(all_days.len())];
                china(day, i64::from(rng.range(7 * 3600, 23 * 3600)))
            }
            _ => {
                let day = working[rng.index(working.len())];
                office.office_time(&mut rng, day)
            }
        };
        plans.push(Plan {
            contact,
            item,
            channel,
            showcase: None,
            seed: rng.next_u64(),
        });
    }
    plans.sort_by_key(|p| p.contact);

    let mut rng = Rng::derive(config.seed, PART_SHOWCASE);
    let early = (plans.len() * 2 / 5).max(1);
    let mut free: Vec<usize> = (1..early).collect();
    let mut chosen = vec![(0, Showcase::Model)];
    for s in [
        Showcase::HeldMaterial,
        Showcase::UnpublishedMaterial,
        Showcase::ExtraLayer,
        Showcase::Late,
        Showcase::Neglected,
        Showcase::Backfilled,
        Showcase::PostCheckMissing,
    ] {
        if free.is_empty() {
            break;
        }
        chosen.push((free.swap_remove(rng.index(free.len())), s));
    }
    for (i, s) in chosen {
        let plan = &mut plans[i];
        plan.showcase = Some(s);
        if let Some(item) = s
            .item()
            .and_then(|id| ITEMS.iter().position(|x| x.id == id))
        {
            plan.item = item;
        }
        let spec = &ITEMS[plan.item];
        if s == Showcase::Model || !spec.channels.contains(&plan.channel) {
            plan.channel = Channel::Window;
        }
        if matches!(plan.channel, Channel::Window) {
            let day = office.working_on_or_after(crate::calendar::local_date(plan.contact));
            plan.contact = office.office_time(&mut rng, day);
        }
    }
    Ok(plans)
}
