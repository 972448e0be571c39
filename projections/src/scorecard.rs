//! 部门考评 (seed 三(二)): per department, how it handled its cases over a
//! period — so that supervisors can name the departments that lag.
//!
//! A case counts for the department that accepted it
//! ([`CaseSummary::department`]), not for those it was transferred to. Over
//! a period `[from, to)` of days (China time), judged at `now`:
//! - **accepted** and **completed**: cases accepted, and cases completed,
//!   on a day of the period; completed on time or late by their time
//!   limit (cases without one count in neither), and the on-time rate;
//! - **handled** cases — accepted before `to` and, unless still open,
//!   finished (completed, or last step) on or after `from` — give the rest:
//!   open cases now, overdue and at risk now, violations by kind as judged
//!   at `now`, and the backfill rate (backfilled steps / steps);
//! - **complaints** filed on a day of the period about the department, or
//!   about a case it accepted; upheld when found substantiated in whole or
//!   in part. A complaint naming neither a department nor a case among the
//!   summaries given is not counted.
//!
//! Departments come out by id. This module does not rank them, store the
//! cards, or choose `now` (a past period is usually judged at its end).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::calendar::{WorkingDayCalendar, local_date};
use crate::complaint::ComplaintSummary;
use crate::rules::{RuleConfig, ViolationKind};
use crate::summary::{CaseSummary, ViolationKindDef};
use crate::timelimit::TimeLimitStatus;

/// Days `[from, to)`, China time; never empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Period {
    from: NaiveDate,
    to: NaiveDate,
}

/// A period that would hold no day.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the period from {from} to {to} holds no day: `to` must be after `from`")]
pub struct EmptyPeriod {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl Period {
    /// The days from `from` up to, not including, `to`.
    pub fn new(from: NaiveDate, to: NaiveDate) -> Result<Period, EmptyPeriod> {
        if from < to {
            Ok(Period { from, to })
        } else {
            Err(EmptyPeriod { from, to })
        }
    }

    pub fn from(&self) -> NaiveDate {
        self.from
    }

    pub fn to(&self) -> NaiveDate {
        self.to
    }

    pub fn contains(&self, day: NaiveDate) -> bool {
        self.from <= day && day < self.to
    }
}

/// How many violations of one kind.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KindCount {
    #[serde(with = "ViolationKindDef")]
    pub kind: ViolationKind,
    /// 重复索要材料, 超期未办结, …
    pub label: String,
    pub count: u32,
}

/// One department's card.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Scorecard {
    pub department: String,
    pub accepted: u32,
    pub completed: u32,
    pub completed_on_time: u32,
    pub completed_late: u32,
    /// On time / (on time + late).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_time_rate: Option<f64>,
    /// Handled cases still open now.
    pub open: u32,
    pub overdue: u32,
    pub at_risk: u32,
    /// Violations of the handled cases as judged at `now`, by kind in
    /// [`ViolationKind`] order; kinds not seen are left out.
    pub violations: Vec<KindCount>,
    pub steps: u32,
    pub backfilled_steps: u32,
    /// Backfilled steps / steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backfill_rate: Option<f64>,
    pub complaints_received: u32,
    /// Found substantiated (属实、部分属实).
    pub complaints_upheld: u32,
}

/// The cards of every department with a handled case or a complaint in
/// `period`, by department id. `calendar` and `config` are those the
/// summaries were made with.
pub fn scorecards<'a>(
    cases: impl IntoIterator<Item = &'a CaseSummary>,
    complaints: impl IntoIterator<Item = &'a ComplaintSummary>,
    period: Period,
    now: DateTime<Utc>,
    calendar: &WorkingDayCalendar,
    config: &RuleConfig,
) -> Vec<Scorecard> {
    let mut cards: BTreeMap<&str, Tally> = BTreeMap::new();
    let mut department_of: HashMap<&str, &str> = HashMap::new();
    for case in cases {
        let Some(department) = case.department.as_deref() else {
            continue;
        };
        department_of.insert(case.stream.as_str(), department);
        if !handled(case, period) {
            continue;
        }
        let tally = cards.entry(department).or_default();
        let judged = case.judge(now, calendar, config);
        tally.card.accepted += u32::from(case.accepted_on().is_some_and(|d| period.contains(d)));
        if case.completed_on().is_some_and(|d| period.contains(d)) {
            tally.card.completed += 1;
            match judged.time_limit_status {
                Some(TimeLimitStatus::CompletedOnTime) => tally.card.completed_on_time += 1,
                Some(TimeLimitStatus::CompletedLate) => tally.card.completed_late += 1,
                _ => {}
            }
        }
        if case.status.is_open() {
            tally.card.open += 1;
            match judged.time_limit_status {
                Some(TimeLimitStatus::Overdue) => tally.card.overdue += 1,
                Some(TimeLimitStatus::AtRisk) => tally.card.at_risk += 1,
                _ => {}
            }
        }
        for v in &judged.violations {
            *tally.violations.entry(v.kind).or_default() += 1;
        }
        tally.card.steps = tally.card.steps.saturating_add(case.steps);
        tally.card.backfilled_steps = tally
            .card
            .backfilled_steps
            .saturating_add(case.backfilled_steps);
    }
    for complaint in complaints {
        let Some(filed) = &complaint.filed_at else {
            continue;
        };
        if !period.contains(local_date(filed.datetime())) {
            continue;
        }
        let department = complaint.department.as_deref().or_else(|| {
            let case = complaint.case.as_deref()?;
            department_of.get(case).copied()
        });
        let Some(department) = department else {
            continue;
        };
        let tally = cards.entry(department).or_default();
        tally.card.complaints_received += 1;
        tally.card.complaints_upheld += u32::from(complaint.upheld());
    }
    cards
        .into_iter()
        .map(|(department, tally)| tally.finish(department))
        .collect()
}

/// A card being counted.
#[derive(Default)]
struct Tally {
    card: Scorecard,
    violations: BTreeMap<ViolationKind, u32>,
}

impl Tally {
    fn finish(self, department: &str) -> Scorecard {
        let mut card = self.card;
        card.department = department.to_owned();
        card.on_time_rate = ratio(
            card.completed_on_time,
            card.completed_on_time + card.completed_late,
        );
        card.backfill_rate = ratio(card.backfilled_steps, card.steps);
        card.violations = self
            .violations
            .into_iter()
            .map(|(kind, count)| KindCount {
                kind,
                label: kind.label().to_owned(),
                count,
            })
            .collect();
        card
    }
}

/// Was the case being handled at some time in the period?
fn handled(case: &CaseSummary, period: Period) -> bool {
    let last_step = case
        .last_step
        .as_ref()
        .map(|s| local_date(s.occurred_at.datetime()));
    let Some(start) = case.accepted_on().or(last_step) else {
        return false;
    };
    if start >= period.to() {
        return false;
    }
    if case.status.is_open() {
        return true;
    }
    case.completed_on()
        .or(last_step)
        .is_some_and(|end| end >= period.from())
}

fn ratio(part: u32, whole: u32) -> Option<f64> {
    (whole > 0).then(|| f64::from(part) / f64::from(whole))
}

#[cfg(test)]
mod tests;
