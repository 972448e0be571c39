//! Rule checks over a case timeline: each breach a named [`Violation`]
//! with the ids of the events that prove it.
//!
//! | kind | seed | proven by |
//! |---|---|---|
//! | 重复索要材料 `material_already_held` | 二(三)1 ③ | the request; the event that brought the material in |
//! | 超出公布清单索要材料 `material_not_published` | 二(三)1 ⑤, 二(四)1 | the request (and the acceptance naming the item version) |
//! | 超层级审核 `too_many_review_layers` | 二(四)2 | the reviews above the declared layers |
//! | 超期未办结 `overdue` / 超期办结 `completed_late` | 二(四)1 限时办结 | the acceptance (and the completion) |
//! | 补录工作日志 `backfilled` | 二(六)2 | the step recorded late |
//! | 案件停滞 `stalled` | 二(四)1 | the last step |
//! | 事后核查逾期未做 `post_check_missing` | 二(三)1 ⑥ | the commitment |
//!
//! Checks are pure: the caller passes the timeline, the item version the
//! case was accepted under (from [`crate::catalogue`]), the calendar, and
//! the moment to judge at (now, or the `as_of` moment).

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use ledger::EventId;
use serde::Serialize;

use crate::calendar::{WorkingDayCalendar, local_date};
use crate::schema::ServiceItem;
use crate::timelimit::{self, TimeLimit, TimeLimitPolicy, TimeLimitStatus};
use crate::timeline::{CaseStatus, CaseTimeline};

/// Thresholds of the checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RuleConfig {
    /// A step recorded more than this after it happened is backfilled.
    pub backfill_after: Duration,
    /// An open case with no step for this many working days is stalled.
    pub stall_working_days: u32,
    pub time_limits: TimeLimitPolicy,
}

impl Default for RuleConfig {
    fn default() -> Self {
        RuleConfig {
            backfill_after: Duration::hours(24),
            stall_working_days: 5,
            time_limits: TimeLimitPolicy::default(),
        }
    }
}

/// The kinds of violation.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ViolationKind {
    MaterialAlreadyHeld,
    MaterialNotPublished,
    TooManyReviewLayers,
    Overdue,
    CompletedLate,
    Backfilled,
    Stalled,
    PostCheckMissing,
}

impl ViolationKind {
    pub fn label(self) -> &'static str {
        match self {
            ViolationKind::MaterialAlreadyHeld => "重复索要材料",
            ViolationKind::MaterialNotPublished => "超出公布清单索要材料",
            ViolationKind::TooManyReviewLayers => "超层级审核",
            ViolationKind::Overdue => "超期未办结",
            ViolationKind::CompletedLate => "超期办结",
            ViolationKind::Backfilled => "补录工作日志",
            ViolationKind::Stalled => "案件停滞",
            ViolationKind::PostCheckMissing => "事后核查逾期未做",
        }
    }
}

/// One breach, with the events that prove it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Violation {
    pub kind: ViolationKind,
    pub label: &'static str,
    pub events: Vec<EventId>,
    /// The breach in one English sentence, made from `facts`.
    pub detail: String,
    /// The values the detail is made of, by name, so that a reader words
    /// it in its own language (the console does, in Chinese or English).
    pub facts: ViolationFacts,
}

impl Violation {
    pub fn new(kind: ViolationKind, events: Vec<EventId>, facts: ViolationFacts) -> Self {
        Violation {
            kind,
            label: kind.label(),
            events,
            detail: facts.english(kind),
            facts,
        }
    }
}

/// The values of one violation, by name; each kind sets the ones its
/// detail needs (absent ones are left out of the JSON):
///
/// | kind | facts |
/// |---|---|
/// | `material_already_held` | `material` |
/// | `material_not_published` | `material`, `item_id`, `item_version` |
/// | `too_many_review_layers` | `review_layers`, `declared_layers` |
/// | `overdue`, `completed_late` | `used_days`, `limit_days`, `deadline` (none while the clock is stopped) |
/// | `backfilled` | `step`, `hours_late` |
/// | `stalled` | `idle_days` |
/// | `post_check_missing` | `post_check_due` |
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ViolationFacts {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub material: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_version: Option<u32>,
    /// The most review layers the case went through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review_layers: Option<u32>,
    /// The layers the item declares.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub declared_layers: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used_days: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_days: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<NaiveDate>,
    /// The label of the step recorded late.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// Whole hours between when it happened and when it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hours_late: Option<i64>,
    /// Working days since the last step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_days: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_check_due: Option<NaiveDate>,
}

impl ViolationFacts {
    /// The detail of a violation of `kind`, in English.
    pub fn english(&self, kind: ViolationKind) -> String {
        let text = |v: &Option<String>| v.clone().unwrap_or_else(|| "?".into());
        let number = |v: Option<u32>| v.map_or_else(|| "?".into(), |n| n.to_string());
        let date = |v: Option<NaiveDate>| v.map_or_else(|| "unknown".into(), |d| d.to_string());
        match kind {
            ViolationKind::MaterialAlreadyHeld => format!(
                "「{}」 was requested although the case already held it",
                text(&self.material)
            ),
            ViolationKind::MaterialNotPublished => format!(
                "「{}」 is not on the published list of {} v{}",
                text(&self.material),
                text(&self.item_id),
                number(self.item_version)
            ),
            ViolationKind::TooManyReviewLayers => format!(
                "reviewed at {} layers; the item declares {}",
                number(self.review_layers),
                number(self.declared_layers)
            ),
            ViolationKind::Overdue => format!(
                "{} working days used of {}; deadline {}",
                number(self.used_days),
                number(self.limit_days),
                date(self.deadline)
            ),
            ViolationKind::CompletedLate => format!(
                "completed after {} working days of {}; deadline {}",
                number(self.used_days),
                number(self.limit_days),
                date(self.deadline)
            ),
            ViolationKind::Backfilled => format!(
                "{} recorded {} hours after it happened",
                text(&self.step),
                self.hours_late
                    .map_or_else(|| "?".into(), |h| h.to_string())
            ),
            ViolationKind::Stalled => {
                format!("no step for {} working days", number(self.idle_days))
            }
            ViolationKind::PostCheckMissing => {
                format!("post-check was due on {}", date(self.post_check_due))
            }
        }
    }

    /// `overdue` and `completed_late`: the time limit's figures.
    pub fn time_limit(tl: &TimeLimit) -> Self {
        ViolationFacts {
            used_days: Some(tl.used_days),
            limit_days: Some(tl.limit_days),
            deadline: tl.deadline,
            ..ViolationFacts::default()
        }
    }

    /// `stalled`.
    pub fn idle(days: u32) -> Self {
        ViolationFacts {
            idle_days: Some(days),
            ..ViolationFacts::default()
        }
    }

    /// `post_check_missing`.
    pub fn post_check_due(due: NaiveDate) -> Self {
        ViolationFacts {
            post_check_due: Some(due),
            ..ViolationFacts::default()
        }
    }
}

/// The time limit of an accepted case, judged at `now`; none for a case
/// withdrawn by the applicant (its clock ended without a result).
pub fn time_limit(
    timeline: &CaseTimeline,
    item: &ServiceItem,
    calendar: &WorkingDayCalendar,
    policy: TimeLimitPolicy,
    now: DateTime<Utc>,
) -> Option<TimeLimit> {
    if matches!(
        timeline.status,
        CaseStatus::Withdrawn | CaseStatus::NotAccepted
    ) {
        return None;
    }
    let accepted = timeline.accepted.as_ref()?;
    Some(timelimit::evaluate(
        calendar,
        policy,
        item.time_limit_days,
        local_date(accepted.at.datetime()),
        &timeline.clock_stops(),
        timeline
            .completed
            .as_ref()
            .map(|(_, at)| local_date(at.datetime())),
        local_date(now),
    ))
}

/// Every violation in `timeline`, judged at `now`. `item` is the item
/// version the case was accepted under (checks that need it are skipped
/// without it).
pub fn check(
    timeline: &CaseTimeline,
    item: Option<&ServiceItem>,
    calendar: &WorkingDayCalendar,
    config: &RuleConfig,
    now: DateTime<Utc>,
) -> Vec<Violation> {
    let mut out = Vec::new();
    // 重复索要材料: a correction asks again for what the case holds.
    for r in timeline.material_requests.iter().filter(|r| r.correction) {
        if let Some(held) = r.already_held_by {
            out.push(Violation::new(
                ViolationKind::MaterialAlreadyHeld,
                vec![r.event_id, held],
                ViolationFacts {
                    material: Some(r.material.to_string()),
                    ..ViolationFacts::default()
                },
            ));
        }
    }
    if let Some(item) = item {
        // 超出公布清单: a material not on the item's published list.
        let published: BTreeSet<_> = item.materials.iter().collect();
        for r in &timeline.material_requests {
            let judged_by_this_item = r
                .item
                .as_ref()
                .is_none_or(|(id, v)| id == item.item_id.as_str() && *v == item.version);
            if judged_by_this_item && !published.contains(&r.material) {
                let mut events = vec![r.event_id];
                events.extend(timeline.accepted.as_ref().map(|a| a.event_id));
                out.push(Violation::new(
                    ViolationKind::MaterialNotPublished,
                    events,
                    ViolationFacts {
                        material: Some(r.material.to_string()),
                        item_id: Some(item.item_id.to_string()),
                        item_version: Some(item.version),
                        ..ViolationFacts::default()
                    },
                ));
            }
        }
        // 超层级审核.
        let above: Vec<EventId> = timeline
            .reviews
            .iter()
            .filter(|r| r.layer > item.review_layers)
            .map(|r| r.event_id)
            .collect();
        if !above.is_empty() {
            let max = timeline.reviews.iter().map(|r| r.layer).max().unwrap_or(0);
            out.push(Violation::new(
                ViolationKind::TooManyReviewLayers,
                above,
                ViolationFacts {
                    review_layers: Some(max),
                    declared_layers: Some(item.review_layers),
                    ..ViolationFacts::default()
                },
            ));
        }
        // 限时办结.
        if let (Some(tl), Some(accepted)) = (
            time_limit(timeline, item, calendar, config.time_limits, now),
            &timeline.accepted,
        ) {
            match tl.status {
                TimeLimitStatus::Overdue if timeline.status.is_open() => out.push(Violation::new(
                    ViolationKind::Overdue,
                    vec![accepted.event_id],
                    ViolationFacts::time_limit(&tl),
                )),
                TimeLimitStatus::CompletedLate => {
                    let mut events = vec![accepted.event_id];
                    events.extend(timeline.completed.as_ref().map(|c| c.0));
                    out.push(Violation::new(
                        ViolationKind::CompletedLate,
                        events,
                        ViolationFacts::time_limit(&tl),
                    ))
                }
                _ => {}
            }
        }
    }
    // 补录: recorded long after it happened.
    for s in &timeline.steps {
        let lag = s.recorded_at.datetime() - s.occurred_at.datetime();
        if lag > config.backfill_after {
            out.push(Violation::new(
                ViolationKind::Backfilled,
                vec![s.event_id],
                ViolationFacts {
                    step: Some(s.label.clone()),
                    hours_late: Some(lag.num_hours()),
                    ..ViolationFacts::default()
                },
            ));
        }
    }
    // 停滞: an open case, clock running, no step for N working days.
    let clock_running = timeline.stopped.iter().all(|s| s.to.is_some());
    if timeline.status.is_open()
        && clock_running
        && let Some(last) = timeline.steps.last()
    {
        let idle = timelimit::used_days(
            calendar,
            local_date(last.occurred_at.datetime()),
            &timeline.clock_stops(),
            local_date(now),
        );
        if idle >= config.stall_working_days {
            out.push(Violation::new(
                ViolationKind::Stalled,
                vec![last.event_id],
                ViolationFacts::idle(idle),
            ));
        }
    }
    // 事后核查: due and not done.
    if let Some(c) = &timeline.commitment
        && c.post_check.is_none()
        && local_date(now) > c.post_check_due
    {
        out.push(Violation::new(
            ViolationKind::PostCheckMissing,
            vec![c.event_id],
            ViolationFacts::post_check_due(c.post_check_due),
        ));
    }
    out
}

#[cfg(test)]
mod tests;
