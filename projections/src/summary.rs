//! 案件摘要: what dashboards need of one case, computed once when the case
//! changes and judged cheaply at any later moment.
//!
//! [`CaseSummary::of`] reads a folded [`CaseTimeline`] (with the item
//! version the case was accepted under, the calendar and the rule
//! thresholds) and keeps the figures reports count — channel, dates, step
//! and material counts, working days used — together with the violations
//! that no longer change with time and just enough of the clock (time
//! limit, stopped periods, last step, commitment) to judge the rest later.
//! [`CaseSummary::judge`] then answers, for any `now`, the time-limit
//! status and every violation, exactly as [`rules::check`] and
//! [`rules::time_limit`] would on the whole timeline (property-tested):
//! dashboards read summaries, the timeline endpoint folds, and both agree.
//!
//! Summaries are plain data, `Serialize` + `Deserialize`, meant to be
//! persisted as JSON. A summary is only as current as the calendar and
//! thresholds it was made with: when the operator updates either, the
//! summaries must be made again. This module does not store them, read
//! the log, or know the log position of an event — the caller fills in
//! [`CaseSummary::log_position`], and [`CaseSummary::applicant_ref`] from
//! the acceptance event ([`acceptance_applicant`]), because the timeline
//! does not keep it.

use chrono::{DateTime, NaiveDate, Utc};
use ledger::{Event, EventId, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::calendar::{WorkingDayCalendar, local_date};
use crate::rules::{self, RuleConfig, Violation, ViolationFacts, ViolationKind};
use crate::schema::{self, ApplicantRef, Channel, DomainEvent, GreenChannel, ServiceItem};
use crate::timelimit::{self, ClockStop, TimeLimitStatus};
use crate::timeline::{CaseStatus, CaseTimeline};

/// The item version a case was accepted under.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemRef {
    pub id: String,
    pub version: u32,
    /// 事项名称, when the item version was known to the catalogue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A stopped-clock period, in days (China time).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoppedDays {
    pub from: NaiveDate,
    /// `None` while the clock is still stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<NaiveDate>,
}

/// The last step in stream order: a stalled case is judged from it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastStep {
    pub event_id: EventId,
    pub occurred_at: Timestamp,
}

/// A 告知+承诺 commitment and whether its post-check (事后核查) is done.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitmentDue {
    pub event_id: EventId,
    pub post_check_due: NaiveDate,
    pub post_check_done: bool,
}

/// A violation that no longer changes with time (material_already_held,
/// material_not_published, too_many_review_layers, completed_late,
/// backfilled), with the events that prove it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaticViolation {
    #[serde(with = "ViolationKindDef")]
    pub kind: ViolationKind,
    pub events: Vec<EventId>,
    /// The detail's values; the English detail is made from them again.
    /// (Read stores from before they were kept are rebuilt from the log:
    /// `readstore::SCHEMA_VERSION` 5.)
    pub facts: ViolationFacts,
}

impl StaticViolation {
    /// As [`rules::check`] reports it.
    pub fn to_violation(&self) -> Violation {
        Violation::new(self.kind, self.events.clone(), self.facts.clone())
    }
}

/// What dashboards need of one case. See the module documentation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseSummary {
    /// The case stream (`case-…`).
    pub stream: String,
    /// The stream without its `case-` prefix.
    pub case_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<ItemRef>,
    /// 承办单位: the department that recorded the acceptance, else the one
    /// that recorded the stream's first step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<Channel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub green_channel: Option<GreenChannel>,
    /// The pseudonymous applicant reference of the acceptance. Filled in by
    /// the caller ([`acceptance_applicant`]): the timeline does not keep it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applicant_ref: Option<ApplicantRef>,
    #[serde(with = "CaseStatusDef")]
    pub status: CaseStatus,
    /// The acceptance (受理) event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted_event: Option<EventId>,
    /// When the acceptance happened (`occurred_at`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted_at: Option<Timestamp>,
    /// When the first 办结 happened (`occurred_at`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<Timestamp>,
    /// Events in the stream, of any type.
    pub steps: u32,
    /// Materials asked of the applicant: the 一次性告知 list and every 补正.
    pub materials_requested: u32,
    /// Of which in 补正 requests.
    pub materials_requested_in_corrections: u32,
    /// 补正 requests.
    pub corrections: u32,
    /// 内部流转 steps.
    pub transfers: u32,
    /// The highest review layer reached (0 without a review).
    pub review_layers: u32,
    /// Working days from acceptance to completion, stopped periods excluded;
    /// for accepted cases that are completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_days_used: Option<u32>,
    /// 办理时限 in working days, when a time limit applies: the item version
    /// was known, and the case was accepted and neither withdrawn nor
    /// refused acceptance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_limit_days: Option<u32>,
    /// The last day to complete, when a time limit applies and the clock
    /// is not stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<NaiveDate>,
    /// Stopped-clock periods, in days.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stops: Vec<StoppedDays>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_step: Option<LastStep>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commitment: Option<CommitmentDue>,
    /// Violations that do not change with time, in [`rules::check`] order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub violations: Vec<StaticViolation>,
    /// Steps recorded more than the backfill threshold after they happened.
    pub backfilled_steps: u32,
    /// The stream version of the last event folded in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_version: Option<u64>,
    /// The `recorded_at` of the last event folded in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_recorded_at: Option<Timestamp>,
    /// The log index of the last event folded in. Filled in by the caller:
    /// the timeline does not know log positions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_position: Option<u64>,
}

/// A summary judged at a moment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Judged {
    /// `None` when no time limit applies (see [`CaseSummary::time_limit_days`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_limit_status: Option<TimeLimitStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_limit_label: Option<&'static str>,
    /// Working days left (negative when overdue), when a time limit applies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub working_days_left: Option<i64>,
    /// Every violation, static and time-dependent, in [`rules::check`] order.
    pub violations: Vec<Violation>,
}

impl CaseSummary {
    /// The summary of `timeline`. `item` is the item version the case was
    /// accepted under (checks and figures that need it are left out
    /// without it); `calendar` and `config` must be those [`Self::judge`]
    /// will be given.
    pub fn of(
        timeline: &CaseTimeline,
        item: Option<&ServiceItem>,
        calendar: &WorkingDayCalendar,
        config: &RuleConfig,
    ) -> CaseSummary {
        let accepted = timeline.accepted.as_ref();
        let department = accepted
            .and_then(|a| timeline.steps.iter().find(|s| s.event_id == a.event_id))
            .or(timeline.steps.first())
            .map(|s| s.department.clone());
        let stops = timeline.clock_stops();
        let accepted_on = accepted.map(|a| local_date(a.at.datetime()));
        let completed_on = timeline
            .completed
            .as_ref()
            .map(|(_, at)| local_date(at.datetime()));
        let working_days_used = accepted_on
            .zip(completed_on)
            .map(|(from, to)| timelimit::used_days(calendar, from, &stops, to));
        let limit_applies = accepted.is_some()
            && !matches!(
                timeline.status,
                CaseStatus::Withdrawn | CaseStatus::NotAccepted
            );
        let time_limit_days = item
            .filter(|_| limit_applies)
            .map(|item| item.time_limit_days);
        let deadline = accepted_on
            .zip(time_limit_days)
            .and_then(|(from, limit)| timelimit::deadline(calendar, from, limit, &stops));
        let mut correction_events: Vec<EventId> = timeline
            .material_requests
            .iter()
            .filter(|r| r.correction)
            .map(|r| r.event_id)
            .collect();
        correction_events.dedup();

        // The static violations: what rules::check reports less what
        // depends on the moment. Any moment gives the same static ones;
        // the epoch makes the time-dependent checks cheapest.
        let violations: Vec<StaticViolation> = rules::check(
            timeline,
            item,
            calendar,
            config,
            DateTime::<Utc>::UNIX_EPOCH,
        )
        .into_iter()
        .filter(|v| is_static(v.kind))
        .map(|v| StaticViolation {
            kind: v.kind,
            events: v.events,
            facts: v.facts,
        })
        .collect();
        let backfilled_steps = violations
            .iter()
            .filter(|v| v.kind == ViolationKind::Backfilled)
            .count();

        CaseSummary {
            stream: timeline.stream.clone(),
            case_id: timeline
                .stream
                .strip_prefix("case-")
                .unwrap_or(&timeline.stream)
                .to_owned(),
            item: accepted.map(|a| ItemRef {
                id: a.item_id.clone(),
                version: a.item_version,
                name: item.map(|i| i.name.to_string()),
            }),
            department,
            channel: accepted.map(|a| a.channel),
            green_channel: accepted.and_then(|a| a.green_channel),
            applicant_ref: None,
            status: timeline.status,
            accepted_event: accepted.map(|a| a.event_id),
            accepted_at: accepted.map(|a| a.at.clone()),
            completed_at: timeline.completed.as_ref().map(|(_, at)| at.clone()),
            steps: count(timeline.steps.len()),
            materials_requested: count(timeline.material_requests.len()),
            materials_requested_in_corrections: count(
                timeline
                    .material_requests
                    .iter()
                    .filter(|r| r.correction)
                    .count(),
            ),
            corrections: count(correction_events.len()),
            transfers: count(
                timeline
                    .steps
                    .iter()
                    .filter(|s| s.event_type == schema::TRANSFERRED)
                    .count(),
            ),
            review_layers: timeline.reviews.iter().map(|r| r.layer).max().unwrap_or(0),
            working_days_used,
            time_limit_days,
            deadline,
            stops: stops
                .iter()
                .map(|s| StoppedDays {
                    from: s.from,
                    to: s.to,
                })
                .collect(),
            last_step: timeline.steps.last().map(|s| LastStep {
                event_id: s.event_id,
                occurred_at: s.occurred_at.clone(),
            }),
            commitment: timeline.commitment.as_ref().map(|c| CommitmentDue {
                event_id: c.event_id,
                post_check_due: c.post_check_due,
                post_check_done: c.post_check.is_some(),
            }),
            violations,
            backfilled_steps: count(backfilled_steps),
            last_version: timeline.steps.last().map(|s| s.version),
            last_recorded_at: timeline.last_recorded_at.clone(),
            log_position: None,
        }
    }

    /// The case judged at `now`: its time-limit status and every
    /// violation, as [`rules::time_limit`] and [`rules::check`] would say
    /// on the whole timeline.
    pub fn judge(
        &self,
        now: DateTime<Utc>,
        calendar: &WorkingDayCalendar,
        config: &RuleConfig,
    ) -> Judged {
        let today = local_date(now);
        let stops = self.clock_stops();
        let time_limit =
            self.time_limit_days
                .zip(self.accepted_on())
                .map(|(limit, accepted_on)| {
                    timelimit::evaluate(
                        calendar,
                        config.time_limits,
                        limit,
                        accepted_on,
                        &stops,
                        self.completed_on(),
                        today,
                    )
                });
        let mut violations: Vec<Violation> = self
            .violations
            .iter()
            .map(StaticViolation::to_violation)
            .collect();
        // 超期未办结.
        if let Some(tl) = &time_limit
            && tl.status == TimeLimitStatus::Overdue
            && self.status.is_open()
            && let Some(accepted) = self.accepted_event
        {
            violations.push(Violation::new(
                ViolationKind::Overdue,
                vec![accepted],
                ViolationFacts::time_limit(tl),
            ));
        }
        // 停滞.
        let clock_running = self.stops.iter().all(|s| s.to.is_some());
        if self.status.is_open()
            && clock_running
            && let Some(last) = &self.last_step
        {
            let idle = timelimit::used_days(
                calendar,
                local_date(last.occurred_at.datetime()),
                &stops,
                today,
            );
            if idle >= config.stall_working_days {
                violations.push(Violation::new(
                    ViolationKind::Stalled,
                    vec![last.event_id],
                    ViolationFacts::idle(idle),
                ));
            }
        }
        // 事后核查.
        if let Some(c) = &self.commitment
            && !c.post_check_done
            && today > c.post_check_due
        {
            violations.push(Violation::new(
                ViolationKind::PostCheckMissing,
                vec![c.event_id],
                ViolationFacts::post_check_due(c.post_check_due),
            ));
        }
        // Stable: the static list is in check's order, and the kinds are
        // declared in that order.
        violations.sort_by_key(|v| v.kind);
        Judged {
            time_limit_status: time_limit.as_ref().map(|t| t.status),
            time_limit_label: time_limit.as_ref().map(|t| t.status_label),
            working_days_left: time_limit.as_ref().map(|t| t.remaining_days),
            violations,
        }
    }

    /// The day of acceptance, China time.
    pub fn accepted_on(&self) -> Option<NaiveDate> {
        self.accepted_at.as_ref().map(|t| local_date(t.datetime()))
    }

    /// The day of completion, China time.
    pub fn completed_on(&self) -> Option<NaiveDate> {
        self.completed_at.as_ref().map(|t| local_date(t.datetime()))
    }

    fn clock_stops(&self) -> Vec<ClockStop> {
        self.stops
            .iter()
            .map(|s| ClockStop {
                from: s.from,
                to: s.to,
            })
            .collect()
    }
}

/// The applicant reference of a `case.accepted` event, for
/// [`CaseSummary::applicant_ref`]; `None` for any other event.
pub fn acceptance_applicant(ev: &Event) -> Option<ApplicantRef> {
    if ev.event_type.as_str() != schema::ACCEPTED {
        return None;
    }
    let payload = Value::Object(ev.payload.clone());
    match schema::parse(schema::ACCEPTED, &payload) {
        Ok(Some(DomainEvent::Accepted(a))) => Some(a.applicant_ref),
        _ => None,
    }
}

/// Violations that, once a case has them, it keeps whatever the moment.
fn is_static(kind: ViolationKind) -> bool {
    matches!(
        kind,
        ViolationKind::MaterialAlreadyHeld
            | ViolationKind::MaterialNotPublished
            | ViolationKind::TooManyReviewLayers
            | ViolationKind::CompletedLate
            | ViolationKind::Backfilled
    )
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

// ---------------------------------------------------------------------------
// Serde for the crate's Serialize-only enums, mirrored so that a summary
// reads back what it wrote. The derives match every variant of the real
// type, so a variant added there without one here does not compile.

#[derive(Serialize, Deserialize)]
#[serde(remote = "CaseStatus", rename_all = "snake_case")]
enum CaseStatusDef {
    New,
    Notified,
    Accepted,
    AwaitingCorrection,
    Paused,
    Decided,
    Completed,
    Delivered,
    NotAccepted,
    Withdrawn,
}

#[derive(Serialize, Deserialize)]
#[serde(remote = "ViolationKind", rename_all = "snake_case")]
pub(crate) enum ViolationKindDef {
    MaterialAlreadyHeld,
    MaterialNotPublished,
    TooManyReviewLayers,
    Overdue,
    CompletedLate,
    Backfilled,
    Stalled,
    PostCheckMissing,
}

#[cfg(test)]
mod tests;
