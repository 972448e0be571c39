//! Complaints (投诉举报, seed 二(六)3): the fold of one `complaint-…`
//! stream, its summary for scorecards, and the complaint's steps
//! interleaved with the case's, beside the case as it stood when the
//! complaint was filed.
//!
//! A complaint is filed about a case and/or a department, assigned to a
//! supervisory body, investigated (notes), resolved with a finding and
//! measures, and answered (feedback to the complainant). Events of unknown
//! types, or whose payload does not fit, are steps with no effect, as in
//! [`crate::timeline`]. Nothing here reads the case's own rules or the
//! calendar, decides who may read a complaint, or stores anything.

use ledger::{Event, EventId, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::schema::{self, ComplaintChannel, DomainEvent, Finding};
use crate::timeline::{CaseTimeline, Step};

/// Where a complaint is (办理状态), with the label a complainant sees.
/// Declared in the order a complaint moves through; it never moves back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ComplaintStatus {
    /// Nothing filed yet.
    New,
    /// 已受理
    Filed,
    /// 已交办
    Assigned,
    /// 调查中
    Investigating,
    /// 已办结
    Resolved,
    /// 已反馈
    FeedbackGiven,
}

impl ComplaintStatus {
    pub fn label(self) -> &'static str {
        match self {
            ComplaintStatus::New => "新建",
            ComplaintStatus::Filed => "已受理",
            ComplaintStatus::Assigned => "已交办",
            ComplaintStatus::Investigating => "调查中",
            ComplaintStatus::Resolved => "已办结",
            ComplaintStatus::FeedbackGiven => "已反馈",
        }
    }
}

/// 投诉受理.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Filing {
    pub event_id: EventId,
    pub occurred_at: Timestamp,
    /// When the log learned of the complaint: the moment the case is
    /// shown as of.
    pub recorded_at: Timestamp,
    /// The case stream complained about (`case-…`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub case: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    pub channel: ComplaintChannel,
    pub summary: String,
}

/// 投诉交办.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Assignment {
    pub event_id: EventId,
    pub at: Timestamp,
    /// The supervisory body (审改办、编办、监察局、督查室、政务服务管理局).
    pub body: String,
    pub handler: String,
    /// Cases the handler may read.
    pub cases: Vec<String>,
}

/// 调查记录.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InvestigationNote {
    pub event_id: EventId,
    pub at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub officer: Option<String>,
    pub text: String,
}

/// 投诉办结.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Resolution {
    pub event_id: EventId,
    pub at: Timestamp,
    pub finding: Finding,
    pub measures: Vec<String>,
}

/// 反馈投诉人.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Feedback {
    pub event_id: EventId,
    pub at: Timestamp,
    pub channel: ComplaintChannel,
    pub text: String,
}

/// One complaint as its stream tells it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ComplaintTimeline {
    pub stream: String,
    pub status: ComplaintStatus,
    pub status_label: &'static str,
    pub steps: Vec<Step>,
    /// The first filing; later ones are steps only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filed: Option<Filing>,
    pub assignments: Vec<Assignment>,
    pub notes: Vec<InvestigationNote>,
    /// The latest resolution.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolution: Option<Resolution>,
    pub feedback: Vec<Feedback>,
    /// The `recorded_at` of the last event folded in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_recorded_at: Option<Timestamp>,
}

/// What scorecards and lists need of one complaint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComplaintSummary {
    /// The complaint stream (`complaint-…`).
    pub stream: String,
    /// The stream without its `complaint-` prefix.
    pub complaint_id: String,
    /// The case stream complained about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case: Option<String>,
    /// The department complained about, as the complainant named it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<ComplaintChannel>,
    /// When the complaint was filed (`occurred_at`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filed_at: Option<Timestamp>,
    /// The body of the latest assignment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assigned_body: Option<String>,
    pub status: ComplaintStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finding: Option<Finding>,
    /// The stream version of the last event folded in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_version: Option<u64>,
    /// The log index of the last event folded in. Filled in by the caller:
    /// the timeline does not know log positions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_position: Option<u64>,
}

/// Which stream an interleaved step comes from. Cases sort first among
/// steps that happened at the same instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Case,
    Complaint,
}

/// A step of the complaint or of its case, in one time line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InterleavedStep {
    pub source: Source,
    #[serde(flatten)]
    pub step: Step,
    /// The log learned of this step only after the complaint was filed:
    /// a case step so marked is not in the case as it stood then.
    pub recorded_after_filing: bool,
}

impl ComplaintTimeline {
    /// An empty timeline of `stream`.
    pub fn new(stream: &str) -> Self {
        ComplaintTimeline {
            stream: stream.to_owned(),
            status: ComplaintStatus::New,
            status_label: ComplaintStatus::New.label(),
            steps: Vec::new(),
            filed: None,
            assignments: Vec::new(),
            notes: Vec::new(),
            resolution: None,
            feedback: Vec::new(),
            last_recorded_at: None,
        }
    }

    /// The fold of a stream's events, in order.
    pub fn fold<'a>(stream: &str, events: impl IntoIterator<Item = &'a Event>) -> Self {
        let mut t = ComplaintTimeline::new(stream);
        for ev in events {
            t.apply(ev);
        }
        t
    }

    /// Folds one event in.
    pub fn apply(&mut self, ev: &Event) {
        let parsed = schema::parse_object(ev.event_type.as_str(), &ev.payload)
            .ok()
            .flatten();
        self.apply_parsed(ev, parsed);
    }

    /// [`Self::apply`] with the payload parsed by the caller.
    pub fn apply_parsed(&mut self, ev: &Event, parsed: Option<DomainEvent>) {
        self.steps.push(step_of(ev));
        self.last_recorded_at = Some(ev.recorded_at.clone());
        let Some(parsed) = parsed else {
            return;
        };
        let at = ev.occurred_at.clone();
        let reached = match parsed {
            DomainEvent::ComplaintFiled(f) => {
                if self.filed.is_none() {
                    self.filed = Some(Filing {
                        event_id: ev.id,
                        occurred_at: at,
                        recorded_at: ev.recorded_at.clone(),
                        case: f.case.map(|c| c.to_string()),
                        department: f.department.map(|d| d.to_string()),
                        channel: f.channel,
                        summary: f.summary.to_string(),
                    });
                }
                ComplaintStatus::Filed
            }
            DomainEvent::ComplaintAssigned(a) => {
                self.assignments.push(Assignment {
                    event_id: ev.id,
                    at,
                    body: a.body.to_string(),
                    handler: a.handler.to_string(),
                    cases: a.cases.iter().map(|c| c.to_string()).collect(),
                });
                ComplaintStatus::Assigned
            }
            DomainEvent::ComplaintNote(n) => {
                self.notes.push(InvestigationNote {
                    event_id: ev.id,
                    at,
                    officer: ev.actor.officer.as_ref().map(|o| o.to_string()),
                    text: n.text.to_string(),
                });
                ComplaintStatus::Investigating
            }
            DomainEvent::ComplaintResolved(r) => {
                self.resolution = Some(Resolution {
                    event_id: ev.id,
                    at,
                    finding: r.finding,
                    measures: r.measures.iter().map(|m| m.to_string()).collect(),
                });
                ComplaintStatus::Resolved
            }
            DomainEvent::ComplaintFeedback(f) => {
                self.feedback.push(Feedback {
                    event_id: ev.id,
                    at,
                    channel: f.channel,
                    text: f.text.to_string(),
                });
                ComplaintStatus::FeedbackGiven
            }
            _ => return,
        };
        if reached > self.status {
            self.status = reached;
            self.status_label = reached.label();
        }
    }
}

impl ComplaintSummary {
    /// The summary of a complaint's timeline.
    pub fn of(timeline: &ComplaintTimeline) -> ComplaintSummary {
        let filed = timeline.filed.as_ref();
        ComplaintSummary {
            stream: timeline.stream.clone(),
            complaint_id: timeline
                .stream
                .strip_prefix("complaint-")
                .unwrap_or(&timeline.stream)
                .to_owned(),
            case: filed.and_then(|f| f.case.clone()),
            department: filed.and_then(|f| f.department.clone()),
            channel: filed.map(|f| f.channel),
            filed_at: filed.map(|f| f.occurred_at.clone()),
            assigned_body: timeline.assignments.last().map(|a| a.body.clone()),
            status: timeline.status,
            finding: timeline.resolution.as_ref().map(|r| r.finding),
            last_version: timeline.steps.last().map(|s| s.version),
            log_position: None,
        }
    }

    /// Resolved as substantiated, in whole or in part (属实、部分属实).
    pub fn upheld(&self) -> bool {
        matches!(
            self.finding,
            Some(Finding::Substantiated | Finding::PartlySubstantiated)
        )
    }
}

/// The complaint's steps and its case's, in the order they happened
/// (`occurred_at`; at the same instant, the case's first; within one
/// stream, stream order), each marked with its source and with whether the
/// log learned of it only after the complaint was filed.
pub fn interleave(complaint_events: &[Event], case_events: &[Event]) -> Vec<InterleavedStep> {
    let filed_recorded_at = filed_recorded_at(complaint_events);
    let mark = |source: Source, ev: &Event| InterleavedStep {
        source,
        step: step_of(ev),
        recorded_after_filing: filed_recorded_at
            .as_ref()
            .is_some_and(|filed| ev.recorded_at > *filed),
    };
    let mut steps: Vec<InterleavedStep> = case_events
        .iter()
        .map(|ev| mark(Source::Case, ev))
        .chain(
            complaint_events
                .iter()
                .map(|ev| mark(Source::Complaint, ev)),
        )
        .collect();
    // Stable: ties keep stream order, the case's before the complaint's.
    steps.sort_by(|a, b| (&a.step.occurred_at, a.source).cmp(&(&b.step.occurred_at, b.source)));
    steps
}

/// The case as it stood when the complaint was filed: the fold of the
/// case events recorded by the filing's `recorded_at`. `None` when the
/// complaint has not been filed, or names no case and no case events are
/// given.
pub fn case_when_filed(complaint_events: &[Event], case_events: &[Event]) -> Option<CaseTimeline> {
    let complaint = ComplaintTimeline::fold(
        complaint_events
            .first()
            .map_or("complaint-", |e| e.stream.as_str()),
        complaint_events,
    );
    let filed = complaint.filed?;
    let stream = case_events
        .first()
        .map(|e| e.stream.as_str().to_owned())
        .or(filed.case)?;
    Some(CaseTimeline::as_of(
        &stream,
        case_events,
        filed.recorded_at.datetime(),
    ))
}

fn filed_recorded_at(complaint_events: &[Event]) -> Option<Timestamp> {
    complaint_events.iter().find_map(|ev| {
        let payload = Value::Object(ev.payload.clone());
        match schema::parse(ev.event_type.as_str(), &payload) {
            Ok(Some(DomainEvent::ComplaintFiled(_))) => Some(ev.recorded_at.clone()),
            _ => None,
        }
    })
}

fn step_of(ev: &Event) -> Step {
    let event_type = ev.event_type.as_str();
    Step {
        event_id: ev.id,
        version: ev.version.0,
        event_type: event_type.to_owned(),
        label: schema::label(event_type).unwrap_or(event_type).to_owned(),
        occurred_at: ev.occurred_at.clone(),
        recorded_at: ev.recorded_at.clone(),
        department: ev.actor.department.to_string(),
        officer: ev.actor.officer.as_ref().map(|o| o.to_string()),
    }
}

#[cfg(test)]
mod tests;
