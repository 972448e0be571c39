//! Read models over the ledger's public-service case streams, and the
//! schemas of the domain events they read.
//!
//! # Layout
//!
//! Everything here is pure — no I/O, no clock: callers pass events, the
//! calendar and "now" in. Reading the log and serving results is the api's job.
//!
//! - [`schema`]: the domain event types (`catalog.*`, `case.*`,
//!   `complaint.*`), their payloads as closed serde types, and
//!   [`schema::validate`], which names the offending field. It does not
//!   judge a payload against other events (that is [`rules`]).
//! - [`examples`]: one valid payload per event type.
//! - [`demo`]: a deterministic demo data set (departments, catalogue,
//!   months of cases and complaints) as events; pure, the api loads it.
//! - [`catalogue`]: the catalogue of service items folded from the `catalog`
//!   stream, every version kept, so a case is judged by the item in force
//!   when it was accepted.
//! - [`calendar`]: [`calendar::WorkingDayCalendar`], public holidays and
//!   adjusted working weekends (调休) from an operator-editable TOML file;
//!   the official State Council calendars it ships are in
//!   `projections/data/calendar-cn.toml`. It knows days, not hours.
//! - [`timelimit`]: 限时办结 — deadline in working days from acceptance,
//!   excluding stopped-clock periods, and the status on a given day.
//! - [`timeline`]: [`timeline::CaseTimeline`], the fold of one case stream,
//!   and [`timeline::CaseTimeline::as_of`]. It does not look at the
//!   catalogue or the calendar.
//! - [`rules`]: rule checks over a timeline, each a named
//!   [`rules::Violation`] with the ids of the events that prove it.
//! - [`worklog`]: 工作日志 per department and officer per day, in the order
//!   of the work, backfilled steps marked. It keeps everything in memory.
//! - [`summary`]: [`summary::CaseSummary`], what dashboards need of one
//!   case, made once when the case changes and judged at any later moment
//!   as [`rules`] would judge the whole timeline. It does not persist.
//! - [`fairness`]: 服务公平 (二(四)4) — per item, durations, steps,
//!   materials and corrections by channel, green channel apart; flags where
//!   agent (代办) cases are served better than self-filed ones.
//! - [`scorecard`]: 部门考评 (三(二)) — per department over a period: cases
//!   accepted and completed, on-time rate, overdue, violations by kind,
//!   backfill rate, complaints. It does not rank.
//! - [`complaint`]: complaint timelines and summaries; a complaint's steps
//!   interleaved with its case's, and the case as it stood when filed.
//!
//! Not here (yet): public status, persistence of read models.

pub mod calendar;
pub mod catalogue;
pub mod complaint;
pub mod demo;
pub mod examples;
pub mod fairness;
pub mod readstore;
pub mod rules;
pub mod schema;
pub mod scorecard;
pub mod summary;
pub mod timelimit;
pub mod timeline;
pub mod worklog;

#[cfg(test)]
mod testkit;

pub use calendar::WorkingDayCalendar;
pub use catalogue::Catalogue;
pub use complaint::{ComplaintSummary, ComplaintTimeline};
pub use rules::{RuleConfig, Violation, ViolationKind};
pub use schema::{DomainEvent, SchemaError, validate};
pub use summary::CaseSummary;
pub use timelimit::{TimeLimit, TimeLimitStatus};
pub use timeline::CaseTimeline;
pub use worklog::WorkLogs;
