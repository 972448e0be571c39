//! Builders for tests: events of one stream with chosen times.

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use ledger::{
    Actor, ActorId, Event, EventId, EventType, LeafHash, StreamId, StreamVersion, Timestamp,
};
use serde_json::Value;

use crate::calendar::china_time;

/// `"2026-03-02 09:00"`, China time, as an instant.
pub fn t(local: &str) -> DateTime<Utc> {
    let naive = NaiveDateTime::parse_from_str(local, "%Y-%m-%d %H:%M").expect("local time");
    china_time()
        .from_local_datetime(&naive)
        .single()
        .expect("unambiguous")
        .with_timezone(&Utc)
}

/// One stream's events, appended in order.
pub struct StreamBuilder {
    pub stream: String,
    pub events: Vec<Event>,
}

impl StreamBuilder {
    pub fn new(stream: &str) -> Self {
        StreamBuilder {
            stream: stream.to_owned(),
            events: Vec::new(),
        }
    }

    /// Appends a step done at `occurred` (China time), recorded a minute later.
    pub fn push(&mut self, event_type: &str, payload: Value, occurred: &str) -> EventId {
        let at = t(occurred);
        self.push_at(event_type, payload, at, at + chrono::Duration::minutes(1))
    }

    /// Appends a step with both times given.
    pub fn push_at(
        &mut self,
        event_type: &str,
        payload: Value,
        occurred: DateTime<Utc>,
        recorded: DateTime<Utc>,
    ) -> EventId {
        // The ledger's recorded_at never goes backwards within a stream.
        let recorded = match self.events.last() {
            Some(prev) if prev.recorded_at.datetime() > recorded => prev.recorded_at.datetime(),
            _ => recorded,
        };
        let id = EventId::generate();
        self.events.push(Event {
            id,
            stream: StreamId::new(&self.stream).expect("stream"),
            version: StreamVersion(self.events.len() as u64),
            event_type: EventType::new(event_type).expect("type"),
            recorded_at: Timestamp::from_datetime(recorded),
            occurred_at: Timestamp::from_datetime(occurred),
            actor: Actor {
                department: ActorId::new("dept-market").expect("dept"),
                officer: Some(ActorId::new("officer-1").expect("officer")),
            },
            payload: payload.as_object().cloned().expect("object payload"),
            prev: LeafHash::GENESIS,
            signature: None,
        });
        id
    }
}
