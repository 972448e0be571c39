//! Work logs (工作日志, seed 二(六)2): per department and per officer, per
//! day, every step they recorded on cases and complaints, in order.
//!
//! The day is the day the work was done (`occurred_at`, China time); each
//! entry also carries when the log learned of it, and whether that was
//! late enough to count as backfilled. Only `case-…` and `complaint-…`
//! streams are work; registry and access records are not.

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate};
use ledger::{Event, EventId, Timestamp};
use serde::Serialize;

use crate::calendar::local_date;
use crate::schema;

/// One step in a work log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WorkLogEntry {
    pub event_id: EventId,
    pub log_index: u64,
    pub stream: String,
    pub version: u64,
    pub event_type: String,
    /// Chinese label of the step (the type itself when unknown).
    pub label: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub officer: Option<String>,
    pub occurred_at: Timestamp,
    pub recorded_at: Timestamp,
    /// Recorded more than the backfill threshold after it happened.
    pub backfilled: bool,
}

/// Work logs of every department and officer, by day.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkLogs {
    backfill_after: Duration,
    /// (department, day) → entries.
    departments: BTreeMap<(String, NaiveDate), Vec<WorkLogEntry>>,
}

impl WorkLogs {
    /// Empty logs; a step recorded more than `backfill_after` after it
    /// happened is marked backfilled.
    pub fn new(backfill_after: Duration) -> Self {
        WorkLogs {
            backfill_after,
            departments: BTreeMap::new(),
        }
    }

    /// Folds in one event at `log_index`; events outside case and complaint
    /// streams are ignored.
    pub fn apply(&mut self, ev: &Event, log_index: u64) {
        let stream = ev.stream.as_str();
        if !(stream.starts_with("case-") || stream.starts_with("complaint-")) {
            return;
        }
        let event_type = ev.event_type.as_str();
        let entry = WorkLogEntry {
            event_id: ev.id,
            log_index,
            stream: stream.to_owned(),
            version: ev.version.0,
            event_type: event_type.to_owned(),
            label: schema::label(event_type).unwrap_or(event_type).to_owned(),
            officer: ev.actor.officer.as_ref().map(|o| o.to_string()),
            occurred_at: ev.occurred_at.clone(),
            recorded_at: ev.recorded_at.clone(),
            backfilled: ev.recorded_at.datetime() - ev.occurred_at.datetime() > self.backfill_after,
        };
        let key = (
            ev.actor.department.to_string(),
            local_date(ev.occurred_at.datetime()),
        );
        let day = self.departments.entry(key).or_default();
        // In order of the work: by occurred_at, then by log position. A
        // backfilled step lands where it happened, not at the end.
        let at = day.partition_point(|e| {
            (e.occurred_at.datetime(), e.log_index) <= (entry.occurred_at.datetime(), log_index)
        });
        day.insert(at, entry);
    }

    /// A department's steps on `day`, in order.
    pub fn department_day(&self, department: &str, day: NaiveDate) -> &[WorkLogEntry] {
        self.departments
            .get(&(department.to_owned(), day))
            .map_or(&[], Vec::as_slice)
    }

    /// An officer's steps (within their department) on `day`, in order.
    pub fn officer_day(
        &self,
        department: &str,
        officer: &str,
        day: NaiveDate,
    ) -> Vec<&WorkLogEntry> {
        self.department_day(department, day)
            .iter()
            .filter(|e| e.officer.as_deref() == Some(officer))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::testkit::{StreamBuilder, t};

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
    }

    #[test]
    fn steps_by_department_officer_and_day_in_the_order_of_the_work() {
        let mut a = StreamBuilder::new("case-a");
        a.push(schema::ACCEPTED, json!({}), "2026-03-02 09:00");
        a.push(schema::NOTE, json!({"text": "x"}), "2026-03-02 23:30"); // still the 2nd in China
        a.push(schema::NOTE, json!({"text": "y"}), "2026-03-03 00:30");
        let mut b = StreamBuilder::new("case-b");
        // Done at 10:00 on the 2nd, recorded on the 4th: backfilled, and in
        // the 2nd's log at 10:00.
        let late = b.push_at(
            schema::REVIEWED,
            json!({}),
            t("2026-03-02 10:00"),
            t("2026-03-04 10:00"),
        );
        let mut other = StreamBuilder::new("registry");
        other.push("token.issued", json!({}), "2026-03-02 09:30");

        let mut logs = WorkLogs::new(Duration::hours(24));
        let all = a.events.iter().chain(&b.events).chain(&other.events);
        for (index, ev) in all.enumerate() {
            logs.apply(ev, index as u64);
        }
        let day = logs.department_day("dept-market", d("2026-03-02"));
        let labels: Vec<&str> = day.iter().map(|e| e.label.as_str()).collect();
        assert_eq!(labels, ["受理", "审核", "工作记录"]);
        assert_eq!(day[1].event_id, late);
        assert!(day[1].backfilled);
        assert!(!day[0].backfilled);
        assert_eq!(logs.department_day("dept-market", d("2026-03-03")).len(), 1);
        assert_eq!(
            logs.officer_day("dept-market", "officer-1", d("2026-03-02"))
                .len(),
            3
        );
        assert!(
            logs.officer_day("dept-market", "officer-2", d("2026-03-02"))
                .is_empty()
        );
        assert!(logs.department_day("dept-tax", d("2026-03-02")).is_empty());
    }
}
