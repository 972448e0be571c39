//! Office hours on working days, and the ticks at which the demo's steps
//! are recorded.
//!
//! Office hours are 09:00–12:00 and 13:30–17:30, China time, on the
//! working days of the calendar. Steps done "later the same day" may run
//! into the evening (overtime happens); nothing here crosses midnight.
//!
//! Recording ticks: department systems are taken to write their work log
//! within a quarter of an hour of the work, so every `recorded_at` is one
//! of a fixed grid of instants (one per 15 minutes, at an irregular
//! second). The loader sets the store's clock once per tick and appends
//! everything of that tick together.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Timelike, Utc};

use super::rng::{Rng, mix};
use crate::calendar::{WorkingDayCalendar, china_time, local_date, next};

const MORNING: (i64, i64) = (9 * 3600, 12 * 3600);
const AFTERNOON: (i64, i64) = (13 * 3600 + 1800, 17 * 3600 + 1800);
const OFFICE_SECONDS: i64 = (MORNING.1 - MORNING.0) + (AFTERNOON.1 - AFTERNOON.0);
/// Longest stretch of days without a working day (Spring Festival is 9).
const MAX_GAP_DAYS: u32 = 40;
/// The recording grid.
const TICK_SECONDS: i64 = 900;

/// `day` at `seconds` after midnight, China time.
pub(super) fn china(day: NaiveDate, seconds: i64) -> DateTime<Utc> {
    let local = day.and_time(NaiveTime::MIN) + Duration::seconds(seconds);
    (local - Duration::hours(8)).and_utc()
}

/// Seconds after midnight, China time.
fn seconds_of_day(at: DateTime<Utc>) -> i64 {
    i64::from(at.with_timezone(&china_time()).num_seconds_from_midnight())
}

/// The last instant of `day`, China time.
pub(super) fn end_of_day(day: NaiveDate) -> DateTime<Utc> {
    china(day, 24 * 3600 - 1)
}

/// The first recording tick at or after `at`.
pub(super) fn record_tick(at: DateTime<Utc>) -> DateTime<Utc> {
    let s = at.timestamp() + i64::from(at.timestamp_subsec_nanos() > 0);
    let grid =
        |k: i64| k * TICK_SECONDS + (mix(k as u64 ^ 0x7469_636b) % TICK_SECONDS as u64) as i64;
    let k = s.div_euclid(TICK_SECONDS);
    let tick = if grid(k) >= s { grid(k) } else { grid(k + 1) };
    DateTime::from_timestamp(tick, 0).unwrap_or(at)
}

/// Working days and office hours by a calendar.
pub(super) struct Office<'a> {
    calendar: &'a WorkingDayCalendar,
}

impl<'a> Office<'a> {
    pub(super) fn new(calendar: &'a WorkingDayCalendar) -> Self {
        Office { calendar }
    }

    pub(super) fn is_working_day(&self, day: NaiveDate) -> bool {
        self.calendar.is_working_day(day)
    }

    /// `day` if it is a working day, else the next one.
    pub(super) fn working_on_or_after(&self, day: NaiveDate) -> NaiveDate {
        let mut d = day;
        for _ in 0..MAX_GAP_DAYS {
            if self.is_working_day(d) {
                return d;
            }
            d = next(d);
        }
        d
    }

    /// The `n`-th working day after `day` (`day` itself for 0).
    pub(super) fn nth_working_day_after(&self, day: NaiveDate, n: u32) -> NaiveDate {
        let mut d = day;
        for _ in 0..n {
            d = self.working_on_or_after(next(d));
        }
        d
    }

    /// The last working day before `day`.
    pub(super) fn working_day_before(&self, day: NaiveDate) -> NaiveDate {
        let mut d = day;
        for _ in 0..MAX_GAP_DAYS {
            d = d.pred_opt().unwrap_or(d);
            if self.is_working_day(d) {
                return d;
            }
        }
        d
    }

    /// A random moment of office hours on `day`.
    pub(super) fn office_time(&self, rng: &mut Rng, day: NaiveDate) -> DateTime<Utc> {
        let s = rng.below(OFFICE_SECONDS as u64) as i64;
        let morning = MORNING.1 - MORNING.0;
        let seconds = if s < morning {
            MORNING.0 + s
        } else {
            AFTERNOON.0 + (s - morning)
        };
        china(day, seconds)
    }

    /// A moment `lo..=hi` minutes after `at`, the same day (China time);
    /// a step in the lunch break moves to the afternoon.
    pub(super) fn later_today(
        &self,
        rng: &mut Rng,
        at: DateTime<Utc>,
        lo: u32,
        hi: u32,
    ) -> DateTime<Utc> {
        let day = local_date(at);
        let mut t = at + Duration::seconds(i64::from(rng.range(lo * 60, hi * 60)));
        let s = seconds_of_day(t);
        if local_date(t) == day && s >= MORNING.1 && s < AFTERNOON.0 {
            t += Duration::seconds(AFTERNOON.0 - s + i64::from(rng.range(0, 900)));
        }
        let last = end_of_day(day) - Duration::minutes(1);
        if local_date(t) != day || t > last {
            t = (at + Duration::seconds(1)).min(end_of_day(day)).max(at);
        }
        t
    }

    /// The next moment an office is open at or after `at`, plus a wait of
    /// `lo..=hi` minutes of office time (within that half-day).
    pub(super) fn next_office_moment(
        &self,
        rng: &mut Rng,
        at: DateTime<Utc>,
        lo: u32,
        hi: u32,
    ) -> DateTime<Utc> {
        let day = local_date(at);
        let s = seconds_of_day(at);
        let wait = |rng: &mut Rng, span: (i64, i64)| {
            i64::from(rng.range(lo * 60, hi * 60)).min(span.1 - span.0 - 60)
        };
        if self.is_working_day(day) {
            if s < MORNING.0 {
                return china(day, MORNING.0 + wait(rng, MORNING));
            }
            if (MORNING.0..MORNING.1).contains(&s) || (AFTERNOON.0..AFTERNOON.1).contains(&s) {
                let t = self.later_today(rng, at, lo, hi);
                if seconds_of_day(t) < AFTERNOON.1 {
                    return t;
                }
            } else if s < AFTERNOON.0 {
                return china(day, AFTERNOON.0 + wait(rng, AFTERNOON));
            }
        }
        let d = self.working_on_or_after(next(day));
        china(d, MORNING.0 + wait(rng, MORNING))
    }

    /// A recording moment more than a day after `at`: the officer catches
    /// up on the log 2–4 working days later, in office hours.
    pub(super) fn backfill_time(&self, rng: &mut Rng, at: DateTime<Utc>) -> DateTime<Utc> {
        let day = self.nth_working_day_after(local_date(at), rng.range(2, 4));
        self.office_time(rng, day)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
    }

    #[test]
    fn ticks_are_a_grid_at_or_after() {
        let t0 = china(d("2026-03-02"), 9 * 3600 + 17);
        let a = record_tick(t0);
        assert!(a >= t0 && a - t0 < Duration::seconds(2 * TICK_SECONDS));
        // Idempotent, and every time up to a tick maps to it.
        assert_eq!(record_tick(a), a);
        assert_eq!(record_tick(a - Duration::seconds(1)), a);
        let b = record_tick(a + Duration::seconds(1));
        assert!(b > a);
    }

    #[test]
    fn office_hours_fall_on_working_days() {
        let cal = WorkingDayCalendar::official();
        let office = Office::new(&cal);
        let mut rng = Rng::new(1);
        // Friday 2026-02-13 → next: Sat 14 (调休 working day).
        assert_eq!(
            office.nth_working_day_after(d("2026-02-13"), 1),
            d("2026-02-14")
        );
        assert_eq!(
            office.nth_working_day_after(d("2026-02-14"), 1),
            d("2026-02-24")
        );
        assert_eq!(office.working_day_before(d("2026-02-24")), d("2026-02-14"));
        for _ in 0..200 {
            let t = office.office_time(&mut rng, d("2026-03-02"));
            let s = seconds_of_day(t);
            assert!((MORNING.0..MORNING.1).contains(&s) || (AFTERNOON.0..AFTERNOON.1).contains(&s));
            let later = office.later_today(&mut rng, t, 5, 600);
            assert!(later >= t && local_date(later) == d("2026-03-02"));
        }
        // A Saturday evening submission is taken up on Monday morning.
        let sat = china(d("2026-03-07"), 20 * 3600);
        let taken = office.next_office_moment(&mut rng, sat, 5, 60);
        assert_eq!(local_date(taken), d("2026-03-09"));
        let back = office.backfill_time(&mut rng, t0());
        assert!(back - t0() > Duration::hours(24));
    }

    fn t0() -> DateTime<Utc> {
        china(d("2026-03-06"), 17 * 3600 + 1700)
    }
}
