//! 限时办结: a case's deadline in working days and its status on a day.
//!
//! Counting rules (stated once, used everywhere):
//! - the day of acceptance does not count; the limit runs from the next
//!   working day (期间开始之日不计算在内);
//! - a stopped-clock period (补正 requested → received; paused → resumed)
//!   that starts on day `s` and ends on day `e` excludes the working days
//!   after `s` up to and including `e`: the day the clock stops counts, the
//!   day it restarts does not, as with acceptance;
//! - while the clock is stopped with no restart yet, the deadline is
//!   unknown (`None`) but the days used so far are known;
//! - a case is late when it is completed, or still open, after its deadline.
//!
//! Days are calendar days in China ([`crate::calendar::local_date`]).

use chrono::{Datelike, NaiveDate};
use serde::Serialize;

use crate::calendar::{WorkingDayCalendar, next};

/// Longest stretch searched for a deadline (ten years of days).
const MAX_DAYS: usize = 3_660;

/// A period in which the clock stood still, in days.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ClockStop {
    pub from: NaiveDate,
    /// `None` while the clock is still stopped.
    pub to: Option<NaiveDate>,
}

impl ClockStop {
    fn excludes(&self, day: NaiveDate) -> bool {
        day > self.from && self.to.is_none_or(|to| day <= to)
    }
}

/// When a case counts as at risk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeLimitPolicy {
    /// At risk when the working days left are at most this share of the
    /// limit (rounded up, and at least one day). Default 20 %.
    pub at_risk_percent: u32,
}

impl Default for TimeLimitPolicy {
    fn default() -> Self {
        TimeLimitPolicy {
            at_risk_percent: 20,
        }
    }
}

/// Where a case stands against its time limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeLimitStatus {
    /// 正常
    OnTrack,
    /// 临期
    AtRisk,
    /// 超期未办结
    Overdue,
    /// 按时办结
    CompletedOnTime,
    /// 超期办结
    CompletedLate,
}

impl TimeLimitStatus {
    pub fn label(self) -> &'static str {
        match self {
            TimeLimitStatus::OnTrack => "正常",
            TimeLimitStatus::AtRisk => "临期",
            TimeLimitStatus::Overdue => "超期未办结",
            TimeLimitStatus::CompletedOnTime => "按时办结",
            TimeLimitStatus::CompletedLate => "超期办结",
        }
    }
}

/// A case's time limit, evaluated on one day.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TimeLimit {
    pub limit_days: u32,
    pub accepted_on: NaiveDate,
    /// The last day to complete; `None` while the clock is stopped.
    pub deadline: Option<NaiveDate>,
    /// Working days used, up to completion or the day evaluated.
    pub used_days: u32,
    /// Working days left (negative when overdue).
    pub remaining_days: i64,
    pub clock_stopped: bool,
    pub status: TimeLimitStatus,
    pub status_label: &'static str,
    /// Whether the calendar has the official arrangement of every year
    /// involved; if not, those years were counted as plain weeks.
    pub calendar_covered: bool,
}

/// Does the clock run on `day` (for a case accepted on `accepted_on`)?
fn counts(
    cal: &WorkingDayCalendar,
    accepted_on: NaiveDate,
    stops: &[ClockStop],
    day: NaiveDate,
) -> bool {
    day > accepted_on && cal.is_working_day(day) && !stops.iter().any(|s| s.excludes(day))
}

/// Working days the clock ran in `(accepted_on, until]`.
pub fn used_days(
    cal: &WorkingDayCalendar,
    accepted_on: NaiveDate,
    stops: &[ClockStop],
    until: NaiveDate,
) -> u32 {
    let mut n = 0;
    let mut d = next(accepted_on);
    let mut steps = 0;
    while d <= until && steps < MAX_DAYS {
        if counts(cal, accepted_on, stops, d) {
            n += 1;
        }
        d = next(d);
        steps += 1;
    }
    n
}

/// The day the `limit`-th working day is used up; `None` while a stop is
/// open before then.
pub fn deadline(
    cal: &WorkingDayCalendar,
    accepted_on: NaiveDate,
    limit: u32,
    stops: &[ClockStop],
) -> Option<NaiveDate> {
    let mut n = 0;
    let mut d = next(accepted_on);
    for _ in 0..MAX_DAYS {
        if stops.iter().any(|s| s.to.is_none() && d > s.from) {
            return None;
        }
        if counts(cal, accepted_on, stops, d) {
            n += 1;
            if n >= limit {
                return Some(d);
            }
        }
        d = next(d);
    }
    None
}

/// The time limit of a case accepted on `accepted_on` with `limit` working
/// days, completed on `completed_on` if it is, evaluated on `today`.
pub fn evaluate(
    cal: &WorkingDayCalendar,
    policy: TimeLimitPolicy,
    limit: u32,
    accepted_on: NaiveDate,
    stops: &[ClockStop],
    completed_on: Option<NaiveDate>,
    today: NaiveDate,
) -> TimeLimit {
    let deadline = deadline(cal, accepted_on, limit, stops);
    let end = completed_on.unwrap_or(today);
    let used = used_days(cal, accepted_on, stops, end);
    let remaining = i64::from(limit) - i64::from(used);
    let past_deadline = deadline.is_some_and(|dl| end > dl) || used > limit;
    let clock_stopped = completed_on.is_none() && stops.iter().any(|s| s.to.is_none());
    let status = match completed_on {
        Some(_) if past_deadline => TimeLimitStatus::CompletedLate,
        Some(_) => TimeLimitStatus::CompletedOnTime,
        None if past_deadline => TimeLimitStatus::Overdue,
        None => {
            let share = (u64::from(limit) * u64::from(policy.at_risk_percent)).div_ceil(100);
            let threshold = i64::try_from(share).unwrap_or(i64::MAX).max(1);
            if remaining <= threshold {
                TimeLimitStatus::AtRisk
            } else {
                TimeLimitStatus::OnTrack
            }
        }
    };
    let last = deadline.unwrap_or(end).max(end);
    let calendar_covered = (accepted_on.year()..=last.year()).all(|y| cal.covers(y));
    TimeLimit {
        limit_days: limit,
        accepted_on,
        deadline,
        used_days: used,
        remaining_days: remaining,
        clock_stopped,
        status,
        status_label: status.label(),
        calendar_covered,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
    }

    fn cal() -> WorkingDayCalendar {
        WorkingDayCalendar::official()
    }

    fn stop(from: &str, to: Option<&str>) -> ClockStop {
        ClockStop {
            from: d(from),
            to: to.map(d),
        }
    }

    #[test]
    fn weekends_do_not_count() {
        // Friday 2026-03-06 + 3 working days: Mon 9, Tue 10, Wed 11.
        assert_eq!(
            deadline(&cal(), d("2026-03-06"), 3, &[]),
            Some(d("2026-03-11"))
        );
        // Acceptance on a Saturday: the first day is Monday.
        assert_eq!(
            deadline(&cal(), d("2026-03-07"), 1, &[]),
            Some(d("2026-03-09"))
        );
    }

    #[test]
    fn public_holidays_do_not_count_and_adjusted_weekends_do() {
        // Fri 2026-02-13 + 3: Sat 14 (调休) = 1; 15–23 春节; Tue 24 = 2; Wed 25 = 3.
        assert_eq!(
            deadline(&cal(), d("2026-02-13"), 3, &[]),
            Some(d("2026-02-25"))
        );
        // Fri 2026-09-18 + 2: Sun 20 (调休) = 1, Mon 21 = 2.
        assert_eq!(
            deadline(&cal(), d("2026-09-18"), 2, &[]),
            Some(d("2026-09-21"))
        );
        // Wed 2026-09-30 + 3: 10-01..07 国庆; Thu 8, Fri 9, Sat 10 (调休).
        assert_eq!(
            deadline(&cal(), d("2026-09-30"), 3, &[]),
            Some(d("2026-10-10"))
        );
        // 2025: Mon 2025-01-27 + 1: 1-28..2-04 春节; Wed 2-05.
        assert_eq!(
            deadline(&cal(), d("2025-01-27"), 1, &[]),
            Some(d("2025-02-05"))
        );
        // The same without the calendar would be wrong by a week.
        assert_eq!(
            deadline(
                &WorkingDayCalendar::weekdays_only(),
                d("2025-01-27"),
                1,
                &[]
            ),
            Some(d("2025-01-28"))
        );
    }

    #[test]
    fn stopped_clock_periods_are_excluded() {
        // Mon 2026-03-02, 5 days; 补正 requested Tue 3, received Mon 9.
        let stops = [stop("2026-03-03", Some("2026-03-09"))];
        assert_eq!(
            deadline(&cal(), d("2026-03-02"), 5, &[]),
            Some(d("2026-03-09"))
        );
        assert_eq!(
            deadline(&cal(), d("2026-03-02"), 5, &stops),
            Some(d("2026-03-13"))
        );
        // Two stops; a same-day stop and restart excludes nothing.
        let stops = [
            stop("2026-03-03", Some("2026-03-04")),
            stop("2026-03-05", Some("2026-03-05")),
        ];
        assert_eq!(
            deadline(&cal(), d("2026-03-02"), 5, &stops),
            Some(d("2026-03-10"))
        );
        // A stop across a holiday: requested Thu 2026-09-24, received Fri 10-09.
        let stops = [stop("2026-09-24", Some("2026-10-09"))];
        // Accepted Wed 9-23: Thu 24 = 1, then from Sat 10-10 (调休) = 2, Mon 12 = 3.
        assert_eq!(
            deadline(&cal(), d("2026-09-23"), 3, &stops),
            Some(d("2026-10-12"))
        );
    }

    #[test]
    fn an_open_stop_leaves_the_deadline_unknown() {
        let stops = [stop("2026-03-03", None)];
        let tl = evaluate(
            &cal(),
            TimeLimitPolicy::default(),
            5,
            d("2026-03-02"),
            &stops,
            None,
            d("2026-03-20"),
        );
        assert_eq!(tl.deadline, None);
        assert!(tl.clock_stopped);
        assert_eq!(tl.used_days, 1);
        assert_eq!(tl.status, TimeLimitStatus::OnTrack);
        // The deadline fell before the stop: it is known.
        assert_eq!(
            deadline(&cal(), d("2026-03-02"), 1, &stops),
            Some(d("2026-03-03"))
        );
    }

    #[test]
    fn statuses() {
        let eval = |today: &str, done: Option<&str>| {
            evaluate(
                &cal(),
                TimeLimitPolicy::default(),
                10,
                d("2026-03-02"),
                &[],
                done.map(d),
                d(today),
            )
        };
        // Deadline: 10 working days after Mon 3-02 = Mon 3-16.
        assert_eq!(eval("2026-03-03", None).deadline, Some(d("2026-03-16")));
        assert_eq!(eval("2026-03-03", None).status, TimeLimitStatus::OnTrack);
        assert_eq!(eval("2026-03-11", None).status, TimeLimitStatus::OnTrack); // 3 left
        assert_eq!(eval("2026-03-12", None).status, TimeLimitStatus::AtRisk); // 2 left = 20 %
        assert_eq!(eval("2026-03-16", None).status, TimeLimitStatus::AtRisk); // due today
        assert_eq!(eval("2026-03-17", None).status, TimeLimitStatus::Overdue);
        assert_eq!(eval("2026-03-17", None).remaining_days, -1);
        // Saturday after a Friday deadline is already late.
        let tl = evaluate(
            &cal(),
            TimeLimitPolicy::default(),
            4,
            d("2026-03-02"),
            &[],
            None,
            d("2026-03-07"),
        );
        assert_eq!(tl.status, TimeLimitStatus::Overdue);
        assert_eq!(
            eval("2026-04-01", Some("2026-03-16")).status,
            TimeLimitStatus::CompletedOnTime
        );
        let late = eval("2026-04-01", Some("2026-03-17"));
        assert_eq!(late.status, TimeLimitStatus::CompletedLate);
        assert_eq!(late.status_label, "超期办结");
        assert!(late.calendar_covered);
    }

    #[test]
    fn uncovered_years_are_reported() {
        let tl = evaluate(
            &cal(),
            TimeLimitPolicy::default(),
            20,
            d("2026-12-20"),
            &[],
            None,
            d("2026-12-21"),
        );
        assert!(!tl.calendar_covered);
    }
}
