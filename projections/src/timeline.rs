//! The case timeline: the fold of one `case-…` stream, and the case as it
//! stood at any moment ([`CaseTimeline::as_of`]).
//!
//! The fold reads events in stream order. Step times are the authors'
//! `occurred_at` (when the work was done); "as of t" cuts by the ledger's
//! `recorded_at` (when the log learned of it), so a step backfilled after
//! `t` is not in the case as it stood at `t`. Events of unknown types, or
//! whose payload does not fit, are steps with no effect on the state.
//! Nothing here reads the catalogue or the calendar: that is [`crate::rules`].

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use ledger::{Event, EventId, Timestamp};
use serde::Serialize;

use crate::calendar::local_date;
use crate::schema::{self, Channel, DomainEvent, GreenChannel, MaterialName, PauseReason};
use crate::timelimit::ClockStop;

/// Where a case is (办理状态), with the label a citizen sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseStatus {
    /// Nothing recorded yet, or only notes.
    New,
    /// 已一次性告知
    Notified,
    /// 已受理
    Accepted,
    /// 待补正
    AwaitingCorrection,
    /// 暂停计时
    Paused,
    /// 已决定
    Decided,
    /// 已办结
    Completed,
    /// 已出件
    Delivered,
    /// 不予受理
    NotAccepted,
    /// 已撤回
    Withdrawn,
}

impl CaseStatus {
    pub fn label(self) -> &'static str {
        match self {
            CaseStatus::New => "新建",
            CaseStatus::Notified => "已一次性告知",
            CaseStatus::Accepted => "已受理",
            CaseStatus::AwaitingCorrection => "待补正",
            CaseStatus::Paused => "暂停计时",
            CaseStatus::Decided => "已决定",
            CaseStatus::Completed => "已办结",
            CaseStatus::Delivered => "已出件",
            CaseStatus::NotAccepted => "不予受理",
            CaseStatus::Withdrawn => "已撤回",
        }
    }

    /// Is the case still being worked on?
    pub fn is_open(self) -> bool {
        matches!(
            self,
            CaseStatus::Accepted
                | CaseStatus::AwaitingCorrection
                | CaseStatus::Paused
                | CaseStatus::Decided
        )
    }
}

/// One recorded step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Step {
    pub event_id: EventId,
    pub version: u64,
    pub event_type: String,
    /// Chinese label of the step (the type itself when unknown).
    pub label: String,
    pub occurred_at: Timestamp,
    pub recorded_at: Timestamp,
    pub department: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub officer: Option<String>,
}

/// Why the clock stood still.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopKind {
    /// 补正: from the request to the receipt of the materials.
    Correction,
    /// A legally excluded period.
    Excluded(PauseReason),
}

/// A stopped-clock period, with the events that opened and closed it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StoppedPeriod {
    pub kind: StopKind,
    pub from_event: EventId,
    pub from: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_event: Option<EventId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<Timestamp>,
}

/// The acceptance (受理).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Acceptance {
    pub event_id: EventId,
    pub at: Timestamp,
    pub item_id: String,
    pub item_version: u32,
    pub channel: Channel,
    pub first_contact_officer: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub green_channel: Option<GreenChannel>,
}

/// A material asked of the applicant, in a notification or a correction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MaterialRequest {
    pub event_id: EventId,
    pub material: MaterialName,
    /// Whether this was a 补正 request (otherwise the 一次性告知 list).
    pub correction: bool,
    /// The item version the list was given under, if the event says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<(String, u32)>,
    /// The event through which the case already held this material, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub already_held_by: Option<EventId>,
}

/// A review (审核) at a layer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Review {
    pub event_id: EventId,
    pub layer: u32,
}

/// A 告知+承诺 commitment and its post-check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Commitment {
    pub event_id: EventId,
    pub post_check_due: NaiveDate,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub post_check: Option<EventId>,
}

/// One case as its stream tells it, up to some event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CaseTimeline {
    pub stream: String,
    pub status: CaseStatus,
    pub status_label: &'static str,
    pub steps: Vec<Step>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accepted: Option<Acceptance>,
    /// Materials the case holds, with the event that brought each in.
    pub materials_held: BTreeMap<MaterialName, EventId>,
    pub material_requests: Vec<MaterialRequest>,
    pub reviews: Vec<Review>,
    pub stopped: Vec<StoppedPeriod>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commitment: Option<Commitment>,
    /// The 办结 event and when it happened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed: Option<(EventId, Timestamp)>,
    /// The `recorded_at` of the last event folded in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_recorded_at: Option<Timestamp>,
}

impl CaseTimeline {
    /// An empty timeline of `stream`.
    pub fn new(stream: &str) -> Self {
        CaseTimeline {
            stream: stream.to_owned(),
            status: CaseStatus::New,
            status_label: CaseStatus::New.label(),
            steps: Vec::new(),
            accepted: None,
            materials_held: BTreeMap::new(),
            material_requests: Vec::new(),
            reviews: Vec::new(),
            stopped: Vec::new(),
            commitment: None,
            completed: None,
            last_recorded_at: None,
        }
    }

    /// The fold of a stream's events, in order.
    pub fn fold<'a>(stream: &str, events: impl IntoIterator<Item = &'a Event>) -> Self {
        let mut t = CaseTimeline::new(stream);
        for ev in events {
            t.apply(ev);
        }
        t
    }

    /// The case as it stood at `at`: the fold of the events recorded up to
    /// and including `at`. The ledger stamps `recorded_at` in stream order,
    /// so this stops at the first event recorded later.
    pub fn as_of<'a>(
        stream: &str,
        events: impl IntoIterator<Item = &'a Event>,
        at: DateTime<Utc>,
    ) -> Self {
        let mut t = CaseTimeline::new(stream);
        for ev in events {
            if ev.recorded_at.datetime() > at {
                break;
            }
            t.apply(ev);
        }
        t
    }

    fn set_status(&mut self, s: CaseStatus) {
        self.status = s;
        self.status_label = s.label();
    }

    fn open_stop(&mut self) -> Option<&mut StoppedPeriod> {
        self.stopped.iter_mut().rev().find(|s| s.to.is_none())
    }

    /// After a stop closes: back to where the case was.
    fn resume_status(&mut self) {
        if self.stopped.iter().any(|s| s.to.is_none()) {
            return;
        }
        if self.status == CaseStatus::AwaitingCorrection || self.status == CaseStatus::Paused {
            self.set_status(CaseStatus::Accepted);
        }
    }

    /// Folds one event in.
    pub fn apply(&mut self, ev: &Event) {
        let parsed = schema::parse_object(ev.event_type.as_str(), &ev.payload)
            .ok()
            .flatten();
        self.apply_parsed(ev, parsed);
    }

    /// Folds one event in whose payload the caller already parsed (`None`
    /// when it is of no known type or does not fit): what [`Self::apply`]
    /// does, with the parsing done elsewhere (another thread).
    pub fn apply_parsed(&mut self, ev: &Event, parsed: Option<DomainEvent>) {
        let event_type = ev.event_type.as_str();
        self.steps.push(Step {
            event_id: ev.id,
            version: ev.version.0,
            event_type: event_type.to_owned(),
            label: schema::label(event_type).unwrap_or(event_type).to_owned(),
            occurred_at: ev.occurred_at.clone(),
            recorded_at: ev.recorded_at.clone(),
            department: ev.actor.department.to_string(),
            officer: ev.actor.officer.as_ref().map(|o| o.to_string()),
        });
        self.last_recorded_at = Some(ev.recorded_at.clone());
        let Some(parsed) = parsed else {
            return;
        };
        let at = ev.occurred_at.clone();
        match parsed {
            DomainEvent::MaterialsNotified(n) => {
                let item = Some((n.item_id.to_string(), n.item_version));
                self.request(ev.id, n.materials, false, item);
                if self.status == CaseStatus::New {
                    self.set_status(CaseStatus::Notified);
                }
            }
            DomainEvent::Accepted(a) => {
                self.accepted = Some(Acceptance {
                    event_id: ev.id,
                    at,
                    item_id: a.item_id.to_string(),
                    item_version: a.item_version,
                    channel: a.channel,
                    first_contact_officer: a.first_contact_officer.to_string(),
                    green_channel: a.green_channel,
                });
                self.set_status(CaseStatus::Accepted);
            }
            DomainEvent::NotAccepted(_) => self.set_status(CaseStatus::NotAccepted),
            DomainEvent::CorrectionRequested(m) => {
                let item = self
                    .accepted
                    .as_ref()
                    .map(|a| (a.item_id.clone(), a.item_version));
                self.request(ev.id, m.materials, true, item);
                if self.open_stop().is_none() {
                    self.stopped.push(StoppedPeriod {
                        kind: StopKind::Correction,
                        from_event: ev.id,
                        from: at,
                        to_event: None,
                        to: None,
                    });
                }
                if self.status.is_open() {
                    self.set_status(CaseStatus::AwaitingCorrection);
                }
            }
            DomainEvent::CorrectionReceived(m) => {
                self.hold(ev.id, m.materials);
                if let Some(stop) = self.open_stop()
                    && stop.kind == StopKind::Correction
                {
                    stop.to_event = Some(ev.id);
                    stop.to = Some(at);
                }
                self.resume_status();
            }
            DomainEvent::MaterialsReceived(m) => self.hold(ev.id, m.materials),
            DomainEvent::Reviewed(r) => self.reviews.push(Review {
                event_id: ev.id,
                layer: r.layer,
            }),
            DomainEvent::ClockPaused(p) => {
                if self.open_stop().is_none() {
                    self.stopped.push(StoppedPeriod {
                        kind: StopKind::Excluded(p.reason),
                        from_event: ev.id,
                        from: at,
                        to_event: None,
                        to: None,
                    });
                }
                if self.status.is_open() {
                    self.set_status(CaseStatus::Paused);
                }
            }
            DomainEvent::ClockResumed(_) => {
                if let Some(stop) = self.open_stop()
                    && matches!(stop.kind, StopKind::Excluded(_))
                {
                    stop.to_event = Some(ev.id);
                    stop.to = Some(at);
                }
                self.resume_status();
            }
            DomainEvent::CommitmentAccepted(c) => {
                self.commitment = Some(Commitment {
                    event_id: ev.id,
                    post_check_due: c.post_check_due,
                    post_check: None,
                });
            }
            DomainEvent::PostCheckDone(_) => {
                if let Some(c) = &mut self.commitment {
                    c.post_check.get_or_insert(ev.id);
                }
            }
            DomainEvent::Decided(_) if self.status.is_open() => {
                self.set_status(CaseStatus::Decided);
            }
            DomainEvent::Completed(_) => {
                if self.completed.is_none() {
                    self.completed = Some((ev.id, at));
                }
                self.set_status(CaseStatus::Completed);
            }
            DomainEvent::Delivered(_) => self.set_status(CaseStatus::Delivered),
            DomainEvent::Withdrawn(_) => self.set_status(CaseStatus::Withdrawn),
            _ => {}
        }
    }

    fn request(
        &mut self,
        event_id: EventId,
        materials: Vec<MaterialName>,
        correction: bool,
        item: Option<(String, u32)>,
    ) {
        for material in materials {
            let already_held_by = self.materials_held.get(&material).copied();
            self.material_requests.push(MaterialRequest {
                event_id,
                material,
                correction,
                item: item.clone(),
                already_held_by,
            });
        }
    }

    fn hold(&mut self, event_id: EventId, materials: Vec<MaterialName>) {
        for m in materials {
            self.materials_held.entry(m).or_insert(event_id);
        }
    }

    /// The stopped-clock periods as calendar days in China.
    pub fn clock_stops(&self) -> Vec<ClockStop> {
        self.stopped
            .iter()
            .map(|s| ClockStop {
                from: local_date(s.from.datetime()),
                to: s.to.as_ref().map(|t| local_date(t.datetime())),
            })
            .collect()
    }
}

#[cfg(test)]
pub(crate) mod tests;
