//! One demo case, simulated step by step from first contact to delivery
//! (and the post-check of a commitment), or to wherever it stops.
//!
//! The clock model is the one [`crate::timelimit`] judges by: the case
//! uses working days after its acceptance day; a correction (补正) or a
//! legally excluded period stops the clock from the day it starts to the
//! day it ends. So a case planned to finish after `k` counted working days
//! is on time exactly when `k` is within the item's limit.

use chrono::{DateTime, Days, Utc};
use serde_json::{Map, Value, json};

use super::catalogue::{
    AGENT_FAVOURED, ITEMS, ItemSpec, PLATFORM, UNPUBLISHED_MATERIALS, officer_prefix,
};
use super::hours::{Office, record_tick};
use super::rng::Rng;
use super::{DemoError, DemoEvent};
use crate::calendar::local_date;
use crate::schema::{
    ACCEPTED, CLOCK_PAUSED, CLOCK_RESUMED, COMMITMENT_ACCEPTED, COMPLETED, CORRECTION_RECEIVED,
    CORRECTION_REQUESTED, Channel, DECIDED, DELIVERED, DeliveryMethod, GreenChannel,
    MATERIALS_NOTIFIED, MATERIALS_RECEIVED, NOT_ACCEPTED, NOTE, POST_CHECK_DONE, PauseReason,
    REVIEWED, TRANSFERRED, WITHDRAWN,
};

/// A step before it has a recording time.
pub(super) struct Draft {
    pub event_type: &'static str,
    pub occurred: DateTime<Utc>,
    pub department: &'static str,
    pub officer: Option<String>,
    pub payload: Map<String, Value>,
    /// Recorded days late (补录).
    pub backfill: bool,
}

/// What a few chosen cases must show, so that every rule check has a case
/// that triggers it however small the data set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Showcase {
    /// The first case: an ordinary 企业设立登记 at the window.
    Model,
    HeldMaterial,
    UnpublishedMaterial,
    ExtraLayer,
    Late,
    Neglected,
    Backfilled,
    PostCheckMissing,
}

impl Showcase {
    /// The item a showcase is bound to, if any.
    pub(super) fn item(self) -> Option<&'static str> {
        match self {
            Showcase::Model | Showcase::PostCheckMissing => Some(super::catalogue::MODEL_ITEM),
            Showcase::Late => Some("hj-qyrh"),
            Showcase::Neglected => Some("gjj-tq"),
            _ => None,
        }
    }
}

/// A case before it is simulated.
pub(super) struct Plan {
    pub contact: DateTime<Utc>,
    pub item: usize,
    pub channel: Channel,
    pub showcase: Option<Showcase>,
    pub seed: u64,
}

/// Something an applicant might complain about, and when they would notice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Problem {
    Late,
    Neglected,
    MaterialAgain,
    Unpublished,
    ExtraLayer,
}

/// A simulated case.
pub(super) struct SimCase {
    pub stream: String,
    pub events: Vec<DemoEvent>,
    pub department: &'static str,
    pub applicant: String,
    pub accepted_at: Option<DateTime<Utc>>,
    pub problem: Option<(Problem, DateTime<Utc>)>,
}

/// What every case shares.
pub(super) struct World<'a> {
    pub office: Office<'a>,
    /// When each item's version 2 was recorded, by item index.
    pub revised_at: Vec<Option<DateTime<Utc>>>,
    /// Nothing is recorded after this.
    pub cut: DateTime<Utc>,
}

impl World<'_> {
    pub(super) fn version(&self, item: usize, at: DateTime<Utc>) -> u32 {
        match self.revised_at.get(item) {
            Some(Some(revised)) if at >= *revised => 2,
            _ => 1,
        }
    }

    /// Recording times for one stream's drafts, in the order of the work:
    /// a tick shortly after each step (days later if backfilled), never
    /// before the previous one; nothing after the cut.
    pub(super) fn finish(
        &self,
        rng: &mut Rng,
        stream: &str,
        mut drafts: Vec<Draft>,
    ) -> Result<Vec<DemoEvent>, DemoError> {
        drafts.sort_by_key(|d| d.occurred);
        let stream = ledger::StreamId::new(stream)?;
        let mut out = Vec::with_capacity(drafts.len());
        let mut last: Option<DateTime<Utc>> = None;
        for d in drafts {
            let base = if d.backfill {
                self.office.backfill_time(rng, d.occurred)
            } else {
                d.occurred + chrono::Duration::seconds(i64::from(rng.range(5, 420)))
            };
            let recorded = record_tick(base).max(last.unwrap_or(base));
            if recorded > self.cut {
                break;
            }
            last = Some(recorded);
            out.push(DemoEvent {
                stream: stream.clone(),
                event_type: ledger::EventType::new(d.event_type)?,
                occurred_at: d.occurred,
                recorded_at: recorded,
                department: ledger::ActorId::new(d.department)?,
                officer: d.officer.as_deref().map(ledger::ActorId::new).transpose()?,
                payload: d.payload,
            });
        }
        Ok(out)
    }
}

/// Per-mille rate of steps recorded days late, by department (some lag).
fn backfill_rate(department: &str) -> u32 {
    match department {
        "dept-vehicle" => 40,
        "dept-civil" => 30,
        "dept-realestate" => 25,
        _ => 8,
    }
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// One case's steps as they are written.
struct Steps<'w, 'a> {
    world: &'w World<'a>,
    rng: Rng,
    drafts: Vec<Draft>,
    at: DateTime<Utc>,
    backfill_rate: u32,
    /// The next officer step is backfilled (a showcase).
    force_backfill: bool,
}

impl Steps<'_, '_> {
    fn push(
        &mut self,
        event_type: &'static str,
        department: &'static str,
        officer: Option<&str>,
        payload: Value,
    ) {
        // The opening step is printed by the system (一次性告知书): never late.
        let backfill = officer.is_some()
            && !self.drafts.is_empty()
            && (std::mem::take(&mut self.force_backfill) || self.rng.per_mille(self.backfill_rate));
        self.drafts.push(Draft {
            event_type,
            occurred: self.at,
            department,
            officer: officer.map(str::to_owned),
            payload: object(payload),
            backfill,
        });
    }

    /// Later the same day.
    fn soon(&mut self, lo: u32, hi: u32) {
        self.at = self
            .world
            .office
            .later_today(&mut self.rng, self.at, lo, hi);
    }

    /// To an office moment `n` working days on (later today for 0).
    fn days(&mut self, n: u32) {
        if n == 0 {
            self.soon(5, 90);
        } else {
            let day = self
                .world
                .office
                .nth_working_day_after(local_date(self.at), n);
            self.at = self.world.office.office_time(&mut self.rng, day);
        }
    }

    /// `n` counted working days on, with a work note every few days so
    /// that a case in progress is not idle for a week.
    fn working_days(&mut self, mut n: u32, department: &'static str, officer: &str) {
        const NOTES: [&str; 5] = [
            "电话联系申请人核实信息",
            "调取档案核对",
            "会同相关科室会商",
            "系统数据比对核验",
            "现场查看核实",
        ];
        while n > 4 {
            let step = self.rng.range(2, 4);
            self.days(step);
            let text = NOTES[self.rng.index(NOTES.len())];
            self.push(NOTE, department, Some(officer), json!({"text": text}));
            n -= step;
        }
        self.days(n);
    }
}

/// What stops the case's progress.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Milestone {
    Correction,
    Review(u32),
    Pause,
    Decision,
}

/// Counted working days of a case done on time: most take the item's
/// usual time (a little under half the limit; same-day items the same
/// day), the rest anything up to the limit. The usual time keeps the
/// medians of any two groups of cases of an item together, so only real
/// differences (the agent-favoured item) stand out.
fn on_time_days(rng: &mut Rng, limit: u32) -> u32 {
    let usual = limit * 45 / 100;
    if rng.per_mille(700) {
        usual
    } else {
        rng.range(0, limit)
    }
}

/// Simulates case `number` of `plan`.
pub(super) fn simulate(
    world: &World<'_>,
    number: usize,
    plan: &Plan,
) -> Result<SimCase, DemoError> {
    let spec: &ItemSpec = &ITEMS[plan.item.min(ITEMS.len() - 1)];
    let stream = format!("case-demo-{number:04}");
    let mut rng = Rng::new(plan.seed);
    let applicant = rng.hex64();
    let show = plan.showcase;
    let ordinary = show.is_none();
    let version = world.version(plan.item, plan.contact);
    let (limit, materials) = spec.terms(version);
    let dept = spec.department;
    let p = officer_prefix(dept);
    let channel = plan.channel;
    let mut sim = Steps {
        world,
        rng: Rng::derive(plan.seed, 1),
        drafts: Vec::new(),
        at: plan.contact,
        backfill_rate: backfill_rate(dept),
        force_backfill: false,
    };
    let mut problem = None;

    let green = match channel {
        Channel::DoorToDoor if rng.per_mille(600) => Some(GreenChannel::Elderly),
        Channel::Window | Channel::DoorToDoor if ordinary && rng.per_mille(20) => rng.weighted(&[
            (GreenChannel::Elderly, 6),
            (GreenChannel::Disabled, 3),
            (GreenChannel::Pregnant, 1),
        ]),
        _ => None,
    };
    let agent_fast = spec.id == AGENT_FAVOURED && channel == Channel::Agent;
    let self_slow = spec.id == AGENT_FAVOURED && channel != Channel::Agent && green.is_none();

    // 一窗受理: some window cases come in at the comprehensive window.
    let via_platform = channel == Channel::Window && ordinary && rng.per_mille(150);
    let front = if via_platform { PLATFORM } else { dept };
    let window = format!("{}-w{:02}", officer_prefix(front), rng.range(1, 8));
    let own_window = format!("{p}-w{:02}", rng.range(1, 6));
    let reviewer = format!("{p}-r{:02}", rng.range(1, 4));
    let officer_of_layer = |layer: u32, rng: &mut Rng| match layer {
        1 => reviewer.clone(),
        2 => format!("{p}-k{:02}", rng.range(1, 2)),
        3 => format!("{p}-l{:02}", rng.range(1, 2)),
        _ => format!("{p}-z01"),
    };

    // 一次性告知 and acceptance.
    let system_taken = matches!(
        channel,
        Channel::Online | Channel::Post | Channel::SelfService
    );
    let notified_by = (!system_taken).then_some(window.as_str());
    sim.push(
        MATERIALS_NOTIFIED,
        front,
        notified_by,
        json!({"item_id": spec.id, "item_version": version, "materials": materials}),
    );
    sim.at = match channel {
        Channel::Online | Channel::Post => {
            world
                .office
                .next_office_moment(&mut sim.rng, plan.contact, 20, 150)
        }
        _ => world.office.later_today(&mut sim.rng, plan.contact, 3, 25),
    };
    let first_contact = if system_taken { &own_window } else { &window };
    if ordinary && rng.per_mille(30) {
        const REASONS: [&str; 3] = [
            "申请事项不属于本机关职权范围，已告知向有权机关申请",
            "申请人不具备申请资格",
            "申请事项依法不需要办理，已当场告知",
        ];
        let reason = REASONS[rng.index(REASONS.len())];
        let payload = if spec.category == "行政许可" {
            json!({"reason": reason, "basis": "《中华人民共和国行政许可法》第三十二条"})
        } else {
            json!({"reason": reason})
        };
        sim.push(NOT_ACCEPTED, front, Some(first_contact), payload);
        let events = world.finish(&mut sim.rng, &stream, sim.drafts)?;
        return Ok(SimCase {
            stream,
            events,
            department: dept,
            applicant,
            accepted_at: None,
            problem: None,
        });
    }
    let mut accepted = json!({
        "item_id": spec.id, "item_version": version, "channel": channel,
        "first_contact_officer": first_contact, "applicant_ref": applicant,
    });
    if let Some(g) = green {
        accepted["green_channel"] = json!(g);
    }
    sim.push(ACCEPTED, front, Some(first_contact), accepted);
    let accepted_at = sim.at;
    let accepted_day = local_date(accepted_at);
    let deadline = world.office.nth_working_day_after(accepted_day, limit);

    // What this case will go through.
    let held_again = show == Some(Showcase::HeldMaterial) || (ordinary && rng.per_mille(15));
    let mut unpublished: Vec<&str> = Vec::new();
    if show == Some(Showcase::UnpublishedMaterial) || (ordinary && rng.per_mille(6)) {
        unpublished.push(UNPUBLISHED_MATERIALS[rng.index(UNPUBLISHED_MATERIALS.len())]);
    }
    let correction_rate = if agent_fast {
        20
    } else if self_slow {
        250
    } else if green.is_some() {
        80
    } else {
        170
    };
    let missing_correction = ordinary && rng.per_mille(correction_rate);
    // A material dropped by a revision, still asked for.
    if let (2, Some(r)) = (version, &spec.revision)
        && let Some(dropped) = r.drops
        && missing_correction
        && rng.per_mille(150)
    {
        unpublished.push(dropped);
    }
    let mut missing: Vec<&str> = Vec::new();
    if missing_correction && materials.len() > 1 {
        let n = rng.range(1, 2).min(materials.len() as u32 - 1) as usize;
        while missing.len() < n {
            let m = materials[rng.index(materials.len())];
            if !missing.contains(&m) {
                missing.push(m);
            }
        }
    }
    let received: Vec<&str> = materials
        .iter()
        .copied()
        .filter(|m| !missing.contains(m))
        .collect();
    let mut requested = missing.clone();
    if held_again && let Some(m) = received.get(rng.index(received.len())) {
        requested.push(m);
    }
    requested.extend(unpublished.iter().copied());
    let correction = !requested.is_empty();

    sim.soon(1, 4);
    sim.push(
        MATERIALS_RECEIVED,
        front,
        Some(first_contact),
        json!({"materials": received}),
    );
    if via_platform {
        sim.soon(5, 30);
        sim.push(
            TRANSFERRED,
            PLATFORM,
            Some(&window),
            json!({"from_department": PLATFORM, "to_department": dept,
                   "reason": "一窗受理，按职责内部流转"}),
        );
    }
    let mut commitment_due = None;
    if let Some(text) = spec.commitment
        && (show == Some(Showcase::PostCheckMissing) || (ordinary && rng.per_mille(400)))
    {
        let due = accepted_day
            .checked_add_days(Days::new(30))
            .unwrap_or(accepted_day);
        sim.soon(1, 5);
        sim.push(
            COMMITMENT_ACCEPTED,
            dept,
            Some(&reviewer),
            json!({"commitment": text, "post_check_due": due}),
        );
        commitment_due = Some(due);
    }
    let post_check_missing = show == Some(Showcase::PostCheckMissing) || rng.per_mille(120);

    // Counted working days to the decision.
    let late = show == Some(Showcase::Late)
        || (ordinary && !agent_fast && green.is_none() && rng.per_mille(40));
    let k = if late {
        limit + rng.range(1, (limit / 3).max(1) + 1)
    } else if agent_fast {
        rng.range(0, 1).min(limit)
    } else if self_slow {
        rng.range((limit * 6).div_ceil(10), limit)
    } else if green.is_some() {
        rng.range(0, limit / 4)
    } else {
        on_time_days(&mut rng, limit)
    };
    let extra_layer = show == Some(Showcase::ExtraLayer) || (ordinary && rng.per_mille(12));
    let layers = spec.review_layers + u32::from(extra_layer);
    let refused = ordinary && rng.per_mille(30);

    // Milestones in order, with their counted offsets (non-decreasing).
    let mut plan_steps: Vec<(u32, Milestone)> = Vec::new();
    let review_at = |j: u32| k * j / (layers + 1);
    if correction {
        plan_steps.push((rng.range(0, review_at(1)), Milestone::Correction));
    }
    for j in 1..=layers {
        plan_steps.push((review_at(j), Milestone::Review(j)));
        if j == 1
            && let Some(pause) = &spec.pause
            && rng.per_mille(pause.per_mille)
        {
            let until = if layers > 1 { review_at(2) } else { k };
            plan_steps.push((rng.range(review_at(1), until), Milestone::Pause));
        }
    }
    plan_steps.push((k, Milestone::Decision));

    let neglect_at = if show == Some(Showcase::Neglected) {
        Some(0)
    } else if ordinary && rng.per_mille(10) {
        Some(rng.index(plan_steps.len()))
    } else {
        None
    };
    let withdraw_at = (ordinary && neglect_at.is_none() && rng.per_mille(10))
        .then(|| rng.index(plan_steps.len()));
    let abandon = ordinary && rng.per_mille(40);
    if show == Some(Showcase::Backfilled) {
        sim.force_backfill = true;
    }

    let mut used = 0;
    let mut completed_day = None;
    for (i, (offset, milestone)) in plan_steps.iter().copied().enumerate() {
        if neglect_at == Some(i) {
            problem = Some((
                Problem::Neglected,
                world.office.office_time(&mut sim.rng, deadline),
            ));
            break;
        }
        if withdraw_at == Some(i) {
            let n = sim.rng.range(0, 3);
            sim.days(n);
            sim.push(
                WITHDRAWN,
                dept,
                Some(&own_window),
                json!({"reason": "申请人主动撤回申请"}),
            );
            break;
        }
        sim.working_days(offset.saturating_sub(used), dept, &reviewer);
        used = offset;
        match milestone {
            Milestone::Correction => {
                let note = if !unpublished.is_empty() {
                    "需补充提供证明材料"
                } else if held_again {
                    "已提交材料复印件不清晰，请重新提交"
                } else {
                    "申请材料不齐全，一次性告知需补正的材料"
                };
                sim.push(
                    CORRECTION_REQUESTED,
                    dept,
                    Some(&reviewer),
                    json!({"materials": requested, "note": note}),
                );
                if problem.is_none() {
                    if !unpublished.is_empty() {
                        problem = Some((Problem::Unpublished, sim.at));
                    } else if held_again {
                        problem = Some((Problem::MaterialAgain, sim.at));
                    }
                }
                if abandon {
                    if rng.per_mille(400) {
                        let n = sim.rng.range(5, 20);
                        sim.days(n);
                        sim.push(
                            WITHDRAWN,
                            dept,
                            Some(&own_window),
                            json!({"reason": "申请人无法提供补正材料，撤回申请"}),
                        );
                    }
                    break;
                }
                let stop = sim
                    .rng
                    .weighted(&[(1, 30), (2, 25), (3, 20), (5, 15), (8, 10)])
                    .unwrap_or(2);
                sim.days(stop);
                sim.push(
                    CORRECTION_RECEIVED,
                    dept,
                    Some(&own_window),
                    json!({"materials": requested}),
                );
            }
            Milestone::Review(layer) => {
                let officer = officer_of_layer(layer, &mut sim.rng);
                let opinion = if refused && layer == layers {
                    "不同意"
                } else {
                    "同意"
                };
                sim.push(
                    REVIEWED,
                    dept,
                    Some(&officer),
                    json!({"layer": layer, "opinion": opinion}),
                );
                if layer > spec.review_layers && problem.is_none() {
                    problem = Some((Problem::ExtraLayer, sim.at));
                }
            }
            Milestone::Pause => {
                if let Some(pause) = &spec.pause {
                    sim.push(
                        CLOCK_PAUSED,
                        dept,
                        Some(&reviewer),
                        json!({"reason": pause.reason, "legal_basis": pause.basis}),
                    );
                    let n = sim.rng.range(pause.days.0, pause.days.1);
                    sim.days(n.max(1));
                    let note = match pause.reason {
                        PauseReason::PublicNotice => "公告（公示）期满无异议",
                        PauseReason::Inspection => "核查结论已出具",
                        PauseReason::ExpertReview => "专家评审完毕",
                        PauseReason::Hearing => "听证结束",
                    };
                    sim.push(CLOCK_RESUMED, dept, Some(&reviewer), json!({"note": note}));
                }
            }
            Milestone::Decision => {
                let approver = officer_of_layer(layers.max(1), &mut sim.rng);
                let decision = if refused { "不予" } else { "准予" };
                sim.push(
                    DECIDED,
                    dept,
                    Some(&approver),
                    json!({"decision": decision, "basis": spec.decision_basis}),
                );
                sim.soon(1, 10);
                sim.push(COMPLETED, dept, Some(&reviewer), json!({}));
                completed_day = Some(local_date(sim.at));
                if late {
                    problem = Some((Problem::Late, sim.at));
                }
                let method = spec
                    .delivery
                    .get(sim.rng.index(spec.delivery.len()))
                    .copied()
                    .unwrap_or(DeliveryMethod::Window);
                match method {
                    DeliveryMethod::Electronic => sim.soon(1, 5),
                    DeliveryMethod::Post => {
                        let n = sim.rng.range(0, 1);
                        sim.days(n);
                    }
                    DeliveryMethod::Window => {
                        let n = sim.rng.range(0, 3);
                        sim.days(n);
                    }
                }
                sim.push(
                    DELIVERED,
                    dept,
                    Some(&own_window),
                    json!({"method": method}),
                );
            }
        }
    }
    if late && completed_day.is_none() && problem.is_none() {
        problem = Some((
            Problem::Late,
            world.office.office_time(&mut sim.rng, deadline),
        ));
    }

    // 事后核查 after completion, by the due day (some never done).
    if let (Some(due), Some(done)) = (commitment_due, completed_day)
        && !post_check_missing
    {
        let earliest = world.office.nth_working_day_after(done, 3);
        let span = (due - earliest).num_days().max(0) as u32;
        let mut day = world.office.working_on_or_after(
            earliest
                .checked_add_days(Days::new(u64::from(rng.range(0, span))))
                .unwrap_or(earliest),
        );
        if day > due {
            day = earliest;
        }
        sim.at = world.office.office_time(&mut sim.rng, day);
        let (result, note) = if rng.per_mille(50) {
            (
                "不符合承诺",
                "经实地核查，实际情况与承诺不符，已责令限期整改",
            )
        } else {
            ("符合承诺", "经实地核查，与承诺内容一致")
        };
        sim.push(
            POST_CHECK_DONE,
            dept,
            Some(&reviewer),
            json!({"result": result, "note": note}),
        );
    }

    let events = world.finish(&mut sim.rng, &stream, sim.drafts)?;
    Ok(SimCase {
        stream,
        events,
        department: dept,
        applicant,
        accepted_at: Some(accepted_at),
        problem,
    })
}
