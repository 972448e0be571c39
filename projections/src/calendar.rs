//! The working-day calendar: public holidays (放假) and adjusted working
//! weekends (调休上班), read from a TOML file the operator can update.
//!
//! The file format is described at the top of `data/calendar-cn.toml`, which
//! is compiled in as [`WorkingDayCalendar::official`]. Dates are calendar
//! days in China (UTC+8, no daylight saving); turning instants into days is
//! [`local_date`]'s job.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, Days, FixedOffset, NaiveDate, Utc, Weekday};
use serde::Deserialize;

/// The official calendars shipped with the crate (sources in its header).
pub const OFFICIAL_CALENDAR: &str = include_str!("../data/calendar-cn.toml");

/// Why a calendar file was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CalendarError {
    #[error("calendar file: {reason}")]
    Syntax { reason: String },
    #[error("calendar year {year} is listed twice")]
    DuplicateYear { year: i32 },
    #[error("calendar year {year}: {field}: \"{text}\": {reason}")]
    BadDate {
        year: i32,
        field: &'static str,
        text: String,
        reason: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    year: Vec<YearFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct YearFile {
    year: i32,
    source: String,
    #[serde(default)]
    holidays: Vec<String>,
    #[serde(default)]
    working_days: Vec<String>,
}

/// Which days are working days.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorkingDayCalendar {
    holidays: BTreeSet<NaiveDate>,
    working_weekends: BTreeSet<NaiveDate>,
    /// Years with an official arrangement, and its source.
    years: BTreeMap<i32, String>,
}

impl WorkingDayCalendar {
    /// Monday to Friday, no holidays: what the calendar assumes for years
    /// it does not cover.
    pub fn weekdays_only() -> Self {
        Self::default()
    }

    /// The official calendars shipped in `data/calendar-cn.toml`.
    pub fn official() -> Self {
        // Invariant: the shipped file is parsed by a unit test.
        Self::from_toml(OFFICIAL_CALENDAR).expect("the shipped calendar parses")
    }

    /// Parses a calendar file (format in `data/calendar-cn.toml`).
    pub fn from_toml(text: &str) -> Result<Self, CalendarError> {
        let file: File = toml::from_str(text).map_err(|e| CalendarError::Syntax {
            reason: e.to_string(),
        })?;
        let mut cal = WorkingDayCalendar::default();
        for y in file.year {
            if cal.years.insert(y.year, y.source).is_some() {
                return Err(CalendarError::DuplicateYear { year: y.year });
            }
            for text in &y.holidays {
                let (from, to) = parse_range(y.year, "holidays", text)?;
                let mut d = from;
                while d <= to {
                    cal.holidays.insert(d);
                    d = next(d);
                }
            }
            for text in &y.working_days {
                let (d, end) = parse_range(y.year, "working_days", text)?;
                let bad = |reason: &str| CalendarError::BadDate {
                    year: y.year,
                    field: "working_days",
                    text: text.clone(),
                    reason: reason.to_owned(),
                };
                if d != end {
                    return Err(bad("list adjusted working days one by one"));
                }
                if !is_weekend(d) {
                    return Err(bad(
                        "not a weekend day; adjusted working days (调休) are Saturdays or Sundays",
                    ));
                }
                if cal.holidays.contains(&d) {
                    return Err(bad("also listed as a holiday"));
                }
                cal.working_weekends.insert(d);
            }
        }
        Ok(cal)
    }

    /// Is `day` a working day?
    pub fn is_working_day(&self, day: NaiveDate) -> bool {
        if self.working_weekends.contains(&day) {
            return true;
        }
        !is_weekend(day) && !self.holidays.contains(&day)
    }

    /// Does the calendar have the official arrangement for `year`?
    pub fn covers(&self, year: i32) -> bool {
        self.years.contains_key(&year)
    }

    /// The years covered, with their sources.
    pub fn years(&self) -> impl Iterator<Item = (i32, &str)> {
        self.years.iter().map(|(y, s)| (*y, s.as_str()))
    }
}

fn parse_range(
    year: i32,
    field: &'static str,
    text: &str,
) -> Result<(NaiveDate, NaiveDate), CalendarError> {
    let bad = |reason: String| CalendarError::BadDate {
        year,
        field,
        text: text.to_owned(),
        reason,
    };
    let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|e| bad(e.to_string()));
    let (from, to) = match text.split_once('/') {
        Some((a, b)) => (day(a)?, day(b)?),
        None => {
            let d = day(text)?;
            (d, d)
        }
    };
    if from > to {
        return Err(bad("the range ends before it starts".into()));
    }
    if from.year() != year || to.year() != year {
        return Err(bad(format!("not in {year}")));
    }
    Ok((from, to))
}

fn is_weekend(d: NaiveDate) -> bool {
    matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
}

/// The next calendar day (saturating at the end of chrono's range).
pub fn next(d: NaiveDate) -> NaiveDate {
    d.checked_add_days(Days::new(1)).unwrap_or(d)
}

/// China Standard Time, UTC+8 (no daylight saving since 1991).
pub fn china_time() -> FixedOffset {
    // Invariant: 8 hours is a valid offset.
    FixedOffset::east_opt(8 * 3600).expect("valid offset")
}

/// The calendar day in China of an instant.
pub fn local_date(at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&china_time()).date_naive()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
    }

    #[test]
    fn the_shipped_calendar_parses_and_names_its_sources() {
        let cal = WorkingDayCalendar::official();
        let years: Vec<i32> = cal.years().map(|(y, _)| y).collect();
        assert_eq!(years, [2023, 2024, 2025, 2026]);
        assert!(cal.years().all(|(_, s)| s.contains("国务院办公厅")));
        assert!(!cal.covers(2027));
    }

    #[test]
    fn holidays_weekends_and_adjusted_working_weekends() {
        let cal = WorkingDayCalendar::official();
        // 2026 春节: 2-15 (Sun) to 2-23 (Mon) off; 2-14 (Sat) and 2-28 (Sat) worked.
        assert!(cal.is_working_day(d("2026-02-13"))); // Friday
        assert!(cal.is_working_day(d("2026-02-14"))); // 调休 Saturday
        assert!(!cal.is_working_day(d("2026-02-16"))); // Monday, holiday
        assert!(!cal.is_working_day(d("2026-02-23"))); // Monday, holiday
        assert!(cal.is_working_day(d("2026-02-24")));
        assert!(cal.is_working_day(d("2026-02-28"))); // 调休 Saturday
        assert!(!cal.is_working_day(d("2026-03-01"))); // ordinary Sunday
        // 2025 国庆中秋: 10-01 to 10-08 off, 9-28 (Sun) and 10-11 (Sat) worked.
        assert!(!cal.is_working_day(d("2025-10-08")));
        assert!(cal.is_working_day(d("2025-09-28")));
        assert!(cal.is_working_day(d("2025-10-11")));
        // 2024 端午: Monday 6-10 off.
        assert!(!cal.is_working_day(d("2024-06-10")));
        // Uncovered years: plain weeks.
        assert!(cal.is_working_day(d("2027-01-01"))); // a Friday
        assert!(!cal.is_working_day(d("2027-01-02")));
    }

    #[test]
    fn bad_files_are_refused_with_a_reason() {
        let bad = [
            "[[year]]\nyear = 2026\nsource = \"x\"\nholidays = [\"2026-02-30\"]",
            "[[year]]\nyear = 2026\nsource = \"x\"\nholidays = [\"2025-10-01\"]",
            "[[year]]\nyear = 2026\nsource = \"x\"\nholidays = [\"2026-10-07/2026-10-01\"]",
            "[[year]]\nyear = 2026\nsource = \"x\"\nworking_days = [\"2026-02-16\"]",
            "[[year]]\nyear = 2026\nsource = \"x\"\nholidays = [\"2026-02-14\"]\nworking_days = [\"2026-02-14\"]",
            "[[year]]\nyear = 2026\nsource = \"x\"\n[[year]]\nyear = 2026\nsource = \"y\"",
            "[[year]]\nyear = 2026\nsource = \"x\"\nholiday = []",
            "[[year]]\nyear = 2026",
        ];
        for text in bad {
            assert!(WorkingDayCalendar::from_toml(text).is_err(), "{text}");
        }
    }

    #[test]
    fn instants_are_dated_in_china_time() {
        let at = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .expect("ts")
                .with_timezone(&Utc)
        };
        assert_eq!(local_date(at("2026-02-13T15:59:59Z")), d("2026-02-13"));
        assert_eq!(local_date(at("2026-02-13T16:00:00Z")), d("2026-02-14"));
    }
}
