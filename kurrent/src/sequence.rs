//! The log as a pure function of `$all`: which records of the ledger's
//! streams are entries, at which log index, and the Merkle tree over them.
//!
//! Every process runs one [`Sequence`] over the same records in the same
//! (`$all`) order and so arrives at the same log, tree and key registry
//! without electing anyone: no lock, no leader. A record is admitted as
//! the next log entry only with its whole append (the [`BatchMark`] on each
//! record says which records were written together), and only if the
//! append, re-sealed here with [`ledger::store::seal_append`] on top of the
//! stream's head *in the log* and against the key registry *at that place
//! in the log*, gives exactly the bytes stored. That one comparison checks
//! the version, the `prev` link, the canonical form, and key status at
//! sequencing time. Anything else is refused: it stays in the event store
//! (which cannot delete single events) but is not in the log, and the
//! appender waiting for it is told why.
//!
//! What this module deliberately does not do: talk to a server, verify
//! author signatures (the appender does, before writing; the auditor does
//! again), or keep entries (only leaf hashes, tree nodes and `$all`
//! positions: about 120 bytes per entry, in memory).

use std::collections::{HashMap, VecDeque};

use ledger::event::PreparedEvent;
use ledger::merkle::{MemoryTree, NodeId};
use ledger::store::{SealedAppend, seal_append};
use ledger::{
    Error, Event, EventId, KeyRegistry, LeafHash, LogIndex, StreamId, StreamVersion, Timestamp,
};
use uuid::Uuid;

use crate::mapping::{AllPosition, BatchMark, Namespace, StreamHead, event_id};

/// Refusals kept for appenders to collect; older ones are dropped.
pub const KEPT_REFUSALS: usize = 4_096;

/// One record of a ledger stream as read from `$all`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The event-store stream name.
    pub stream: String,
    pub revision: u64,
    pub id: Uuid,
    pub data: Vec<u8>,
    /// The event's custom metadata: the [`BatchMark`].
    pub metadata: Vec<u8>,
    pub position: AllPosition,
}

/// Why records of a ledger stream are not in the log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// Not written by a ledger appender: no batch mark, not a canonical
    /// event, or an event of another stream or id than its record.
    #[error("revision {revision} of stream {stream} is not a ledger event: {reason}")]
    Foreign {
        stream: StreamId,
        revision: u64,
        reason: String,
    },
    /// Records of one append that are not all there, in order, together.
    #[error("revisions {first}..={last} of stream {stream} are not one whole append")]
    Incomplete {
        stream: StreamId,
        first: u64,
        last: u64,
    },
    /// An event id the log already holds.
    #[error("event {id} is already in the log")]
    Duplicate { id: EventId },
    /// Sealed on top of something else than the stream's head in the log
    /// (an appender that did not wait for the head it sealed on).
    #[error(
        "stream {stream}: the append was sealed at version {sealed}, but the log's next version is {next}"
    )]
    Chain {
        stream: StreamId,
        sealed: StreamVersion,
        next: StreamVersion,
    },
    /// Refused by the ledger's rules at its place in the log: key status,
    /// an invalid registry change.
    #[error(transparent)]
    Rules(Error),
}

/// What one record decided.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    /// The record was ours and is held until its append is whole.
    Pending,
    /// An append of `count` entries became the log's entries from `first`.
    Admitted { first: LogIndex, count: u64 },
    /// These revisions of the stream were refused (see [`Sequence::refusal`]).
    Refused {
        stream: StreamId,
        first: u64,
        last: u64,
    },
    /// Not a ledger stream of this namespace: nothing to do.
    Ignored,
}

/// The log derived from `$all` so far.
pub struct Sequence {
    namespace: Namespace,
    tree: MemoryTree,
    /// `$all` position of each entry, by log index.
    positions: Vec<AllPosition>,
    ids: HashMap<EventId, LogIndex>,
    streams: HashMap<StreamId, StreamHead>,
    registry: KeyRegistry,
    last_recorded: Option<Timestamp>,
    /// Records of an append not yet whole, with their marks.
    pending: Vec<(BatchMark, Record)>,
    refusals: HashMap<(StreamId, u64), Refusal>,
    refusal_order: VecDeque<(StreamId, u64)>,
    /// The last record seen.
    position: Option<AllPosition>,
}

impl Sequence {
    /// The empty log of `namespace`.
    pub fn new(namespace: Namespace) -> Self {
        Sequence {
            namespace,
            tree: MemoryTree::new(),
            positions: Vec::new(),
            ids: HashMap::new(),
            streams: HashMap::new(),
            registry: KeyRegistry::default(),
            last_recorded: None,
            pending: Vec::new(),
            refusals: HashMap::new(),
            refusal_order: VecDeque::new(),
            position: None,
        }
    }

    /// Takes the next record of `$all` (records must come in `$all` order).
    pub fn apply(&mut self, record: Record) -> Decision {
        // A re-subscription may deliver the last record seen again.
        if self.position.is_some_and(|p| record.position <= p) {
            return Decision::Ignored;
        }
        self.position = Some(record.position);
        let Some(stream) = self.namespace.ledger_stream(&record.stream) else {
            return Decision::Ignored;
        };
        self.streams.entry(stream.clone()).or_default().revision = Some(record.revision);
        let mark = match BatchMark::from_bytes(&record.metadata) {
            Ok(m) => m,
            Err(e) => {
                self.refuse_pending();
                let revision = record.revision;
                return self.refuse(
                    &stream,
                    revision,
                    revision,
                    Refusal::Foreign {
                        stream: stream.clone(),
                        revision,
                        reason: e.to_string(),
                    },
                );
            }
        };
        let continues = self.pending.last().is_some_and(|(m, r)| {
            r.stream == record.stream
                && m.batch == mark.batch
                && m.count == mark.count
                && m.seq + 1 == mark.seq
                && r.revision + 1 == record.revision
        });
        if !continues {
            self.refuse_pending();
            if mark.seq != 0 {
                let revision = record.revision;
                return self.refuse(
                    &stream,
                    revision,
                    revision,
                    Refusal::Incomplete {
                        stream: stream.clone(),
                        first: revision,
                        last: revision,
                    },
                );
            }
        }
        let whole = mark.seq + 1 == mark.count;
        self.pending.push((mark, record));
        if whole {
            let records: Vec<Record> = self.pending.drain(..).map(|(_, r)| r).collect();
            self.decide(stream, records)
        } else {
            Decision::Pending
        }
    }

    /// Number of entries in the log.
    pub fn size(&self) -> u64 {
        self.tree.size()
    }

    /// The stream's head as sequenced so far.
    pub fn head(&self, stream: &StreamId) -> StreamHead {
        self.streams.get(stream).cloned().unwrap_or_default()
    }

    /// The event-store revision of the stream's last record seen.
    pub fn revision(&self, stream: &StreamId) -> Option<u64> {
        self.streams.get(stream).and_then(|h| h.revision)
    }

    /// The key registry as of the end of the log.
    pub fn registry(&self) -> &KeyRegistry {
        &self.registry
    }

    /// The latest `recorded_at` in the log.
    pub fn last_recorded(&self) -> Option<&Timestamp> {
        self.last_recorded.as_ref()
    }

    /// The log index of an event.
    pub fn index_of(&self, id: EventId) -> Option<LogIndex> {
        self.ids.get(&id).copied()
    }

    /// The leaf hash of an entry.
    pub fn leaf(&self, index: LogIndex) -> Option<LeafHash> {
        self.tree.get(NodeId::new(0, index.0)).map(LeafHash)
    }

    /// The `$all` positions of up to `limit` entries from `from`.
    pub fn positions(&self, from: LogIndex, limit: usize) -> &[AllPosition] {
        let start = usize::try_from(from.0)
            .unwrap_or(usize::MAX)
            .min(self.positions.len());
        let end = start.saturating_add(limit).min(self.positions.len());
        &self.positions[start..end]
    }

    /// The `$all` position of the last entry.
    pub fn last_position(&self) -> Option<AllPosition> {
        self.positions.last().copied()
    }

    /// The last record seen, entry or not.
    pub fn position(&self) -> Option<AllPosition> {
        self.position
    }

    /// The tree over the entries.
    pub fn tree(&self) -> &MemoryTree {
        &self.tree
    }

    /// Takes the refusal of the append whose first record is `revision` of
    /// `stream`, if it was refused (and not dropped as too old).
    pub fn take_refusal(&mut self, stream: &StreamId, revision: u64) -> Option<Refusal> {
        self.refusals.remove(&(stream.clone(), revision))
    }

    fn decide(&mut self, stream: StreamId, records: Vec<Record>) -> Decision {
        let first_rev = records[0].revision;
        let last_rev = first_rev + records.len() as u64 - 1;
        match self.check(&stream, &records) {
            Ok((sealed, recorded_at)) => {
                let first = LogIndex(self.tree.size());
                let count = sealed.entries.len() as u64;
                let mut last = None;
                for (record, (version, leaf, _)) in records.iter().zip(&sealed.entries) {
                    let index = LogIndex(self.tree.size());
                    self.tree.push(leaf.0);
                    self.positions.push(record.position);
                    self.ids.insert(event_id(record.id), index);
                    last = Some((*version, *leaf));
                }
                let head = self.streams.entry(stream).or_default();
                head.ledger = last;
                head.recorded_at = Some(recorded_at.clone());
                if let Some(registry) = sealed.registry {
                    self.registry = registry;
                }
                if self.last_recorded.as_ref().is_none_or(|t| *t < recorded_at) {
                    self.last_recorded = Some(recorded_at);
                }
                Decision::Admitted { first, count }
            }
            Err(refusal) => self.refuse(&stream, first_rev, last_rev, refusal),
        }
    }

    /// The append re-sealed on the log's head of its stream and checked
    /// against its stored bytes.
    fn check(
        &self,
        stream: &StreamId,
        records: &[Record],
    ) -> Result<(SealedAppend, Timestamp), Refusal> {
        let foreign = |record: &Record, reason: String| Refusal::Foreign {
            stream: stream.clone(),
            revision: record.revision,
            reason,
        };
        let mut events: Vec<Event> = Vec::with_capacity(records.len());
        for record in records {
            // The canonical form is proved below, by equality with the
            // re-sealed bytes.
            let event =
                Event::from_own_entry(&record.data).map_err(|e| foreign(record, e.to_string()))?;
            if &event.stream != stream || event.id != event_id(record.id) {
                return Err(foreign(
                    record,
                    format!("the entry is event {} of stream {}", event.id, event.stream),
                ));
            }
            if self.ids.contains_key(&event.id) || events.iter().any(|e| e.id == event.id) {
                return Err(Refusal::Duplicate { id: event.id });
            }
            if events
                .first()
                .is_some_and(|f| f.recorded_at != event.recorded_at)
            {
                return Err(foreign(
                    record,
                    "an append's events differ in recorded_at".into(),
                ));
            }
            events.push(event);
        }
        let recorded_at = events[0].recorded_at.clone();
        let head = self.streams.get(stream).and_then(|h| h.ledger);
        let next = StreamVersion(head.map_or(0, |(v, _)| v.0 + 1));
        let prev = head.map_or(LeafHash::GENESIS, |(_, leaf)| leaf);
        if events[0].version != next || events[0].prev != prev {
            return Err(Refusal::Chain {
                stream: stream.clone(),
                sealed: events[0].version,
                next,
            });
        }
        let prepared = events
            .iter()
            .map(|e| PreparedEvent::new(e.proposed()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| foreign(&records[0], e.to_string()))?;
        let sealed = seal_append(stream, &prepared, next, prev, &recorded_at, &self.registry)
            .map_err(Refusal::Rules)?;
        for (record, (_, _, entry)) in records.iter().zip(&sealed.entries) {
            if &record.data != entry {
                return Err(foreign(
                    record,
                    "the entry is not the canonical form of its event".into(),
                ));
            }
        }
        Ok((sealed, recorded_at))
    }

    fn refuse_pending(&mut self) {
        if let (Some((_, first)), Some((_, last))) = (self.pending.first(), self.pending.last()) {
            let (first, last) = (first.revision, last.revision);
            if let Some(stream) = self.namespace.ledger_stream(&self.pending[0].1.stream) {
                self.pending.clear();
                self.refuse(
                    &stream,
                    first,
                    last,
                    Refusal::Incomplete {
                        stream: stream.clone(),
                        first,
                        last,
                    },
                );
            }
        }
        self.pending.clear();
    }

    fn refuse(&mut self, stream: &StreamId, first: u64, last: u64, refusal: Refusal) -> Decision {
        let head = self.streams.entry(stream.clone()).or_default();
        head.refused.extend(first..=last);
        let key = (stream.clone(), first);
        if self.refusals.insert(key.clone(), refusal).is_none() {
            self.refusal_order.push_back(key);
        }
        while self.refusal_order.len() > KEPT_REFUSALS {
            if let Some(old) = self.refusal_order.pop_front() {
                self.refusals.remove(&old);
            }
        }
        Decision::Refused {
            stream: stream.clone(),
            first,
            last,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::event_uuid;
    use ::tests::fixtures::{DepartmentKey, event, signed};
    use ledger::ProposedEvent;
    use ledger::keys::{KEY_REGISTERED, KEY_REVOKED, KeyRegistration, KeyRevocation};
    use ledger::merkle;

    /// Seals and records appends as an appender would, on a given view.
    struct Writer {
        ns: Namespace,
        next_position: u64,
        revisions: HashMap<String, u64>,
    }

    impl Writer {
        fn new() -> Self {
            Writer {
                ns: Namespace::new("t").unwrap(),
                next_position: 1,
                revisions: HashMap::new(),
            }
        }

        /// Seals `events` on `seq`'s head of their stream, with its registry.
        fn seal(&self, seq: &Sequence, events: Vec<ProposedEvent>) -> Vec<Vec<u8>> {
            let stream = events[0].stream.clone();
            let head = seq.head(&stream).ledger;
            let prepared: Vec<_> = events
                .into_iter()
                .map(|e| PreparedEvent::new(e).unwrap())
                .collect();
            seal_append(
                &stream,
                &prepared,
                StreamVersion(head.map_or(0, |(v, _)| v.0 + 1)),
                head.map_or(LeafHash::GENESIS, |(_, l)| l),
                &Timestamp::now(),
                seq.registry(),
            )
            .unwrap()
            .entries
            .into_iter()
            .map(|(_, _, e)| e)
            .collect()
        }

        /// The records of one append of `entries`, at the next revisions.
        fn records(&mut self, entries: Vec<Vec<u8>>) -> Vec<Record> {
            let first = Event::from_entry(&entries[0]).unwrap();
            let store_stream = self.ns.store_stream(&first.stream);
            let marks = BatchMark::for_batch(first.id, entries.len());
            entries
                .into_iter()
                .zip(marks)
                .map(|(data, mark)| {
                    let ev = Event::from_entry(&data).unwrap();
                    let rev = self.revisions.entry(store_stream.clone()).or_insert(0);
                    let revision = *rev;
                    *rev += 1;
                    self.next_position += 100;
                    Record {
                        stream: store_stream.clone(),
                        revision,
                        id: event_uuid(ev.id),
                        data,
                        metadata: mark.to_bytes(),
                        position: AllPosition {
                            commit: self.next_position,
                            prepare: self.next_position,
                        },
                    }
                })
                .collect()
        }

        fn append(&mut self, seq: &mut Sequence, events: Vec<ProposedEvent>) -> Decision {
            let entries = self.seal(seq, events);
            let records = self.records(entries);
            apply_all(seq, records)
        }
    }

    fn apply_all(seq: &mut Sequence, records: Vec<Record>) -> Decision {
        let mut last = Decision::Ignored;
        for r in records {
            last = seq.apply(r);
        }
        last
    }

    fn registry_event(
        event_type: &str,
        payload: serde_json::Map<String, serde_json::Value>,
    ) -> ProposedEvent {
        ProposedEvent::new(
            StreamId::registry(),
            ledger::EventType::new(event_type).unwrap(),
            Timestamp::now(),
            ledger::Actor {
                department: ledger::ActorId::new("ledger-admin").unwrap(),
                officer: None,
            },
            payload,
        )
    }

    fn registration(key: &DepartmentKey) -> ProposedEvent {
        let reg = KeyRegistration::new(&key.public(), key.department.clone(), None);
        registry_event(KEY_REGISTERED, reg.to_payload())
    }

    fn revocation(key: &DepartmentKey) -> ProposedEvent {
        let rev = KeyRevocation {
            key: key.id.clone(),
            reason: None,
        };
        registry_event(KEY_REVOKED, rev.to_payload())
    }

    fn sid(s: &str) -> StreamId {
        StreamId::new(s).unwrap()
    }

    fn new_seq() -> Sequence {
        Sequence::new(Namespace::new("t").unwrap())
    }

    #[test]
    fn appends_become_entries_in_all_order_with_one_tree() {
        let mut seq = new_seq();
        let mut w = Writer::new();
        let batch: Vec<_> = (0..3)
            .map(|_| event("case-a", "case.note", "dept-a"))
            .collect();
        assert_eq!(
            seq.apply(w.records(w.seal(&seq, batch.clone()))[0].clone()),
            Decision::Pending
        );
        // Re-run with a fresh log: the whole batch lands together.
        let mut seq = new_seq();
        let mut w = Writer::new();
        assert_eq!(
            w.append(&mut seq, batch.clone()),
            Decision::Admitted {
                first: LogIndex(0),
                count: 3
            }
        );
        assert_eq!(
            w.append(&mut seq, vec![event("case-b", "case.note", "dept-a")]),
            Decision::Admitted {
                first: LogIndex(3),
                count: 1
            }
        );
        assert_eq!(
            w.append(&mut seq, vec![event("case-a", "case.note", "dept-a")]),
            Decision::Admitted {
                first: LogIndex(4),
                count: 1
            }
        );
        assert_eq!(seq.size(), 5);
        let head = seq.head(&sid("case-a"));
        assert_eq!(head.version(), Some(StreamVersion(3)));
        assert_eq!(head.revision, Some(3));
        assert!(head.refused.is_empty());
        assert_eq!(seq.index_of(batch[1].id), Some(LogIndex(1)));
        // The tree is the RFC 6962 tree of the entries' leaves.
        let mut tree = MemoryTree::new();
        for i in 0..5 {
            tree.push(seq.leaf(LogIndex(i)).unwrap().0);
        }
        assert_eq!(seq.tree().root(), tree.root());
        assert_eq!(merkle::tree_root(5, seq.tree()).unwrap(), tree.root());
        assert_eq!(seq.positions(LogIndex(3), 10).len(), 2);
        assert!(seq.positions(LogIndex(9), 10).is_empty());
    }

    #[test]
    fn an_append_sealed_on_a_stale_head_is_refused_and_skipped() {
        let mut seq = new_seq();
        let mut w = Writer::new();
        w.append(&mut seq, vec![event("case-s", "case.note", "dept-a")]);
        // Two appenders seal on the same head; the second to land is refused.
        let a = w.seal(&seq, vec![event("case-s", "case.note", "dept-a")]);
        let b = w.seal(&seq, vec![event("case-s", "case.note", "dept-a")]);
        let a = w.records(a);
        let b = w.records(b);
        assert!(matches!(apply_all(&mut seq, a), Decision::Admitted { .. }));
        assert_eq!(
            apply_all(&mut seq, b),
            Decision::Refused {
                stream: sid("case-s"),
                first: 2,
                last: 2
            }
        );
        assert!(matches!(
            seq.take_refusal(&sid("case-s"), 2),
            Some(Refusal::Chain {
                sealed: StreamVersion(1),
                next: StreamVersion(2),
                ..
            })
        ));
        assert!(seq.take_refusal(&sid("case-s"), 2).is_none(), "taken once");
        let head = seq.head(&sid("case-s"));
        assert_eq!(head.version(), Some(StreamVersion(1)));
        assert_eq!(head.revision, Some(2));
        assert_eq!(head.refused, vec![2]);
        // The next append seals on the log's head and lands at revision 3.
        assert!(matches!(
            w.append(&mut seq, vec![event("case-s", "case.note", "dept-a")]),
            Decision::Admitted { .. }
        ));
        let head = seq.head(&sid("case-s"));
        assert_eq!(head.version(), Some(StreamVersion(2)));
        assert_eq!(head.revision_of(StreamVersion(2)), 3);
        assert_eq!(seq.size(), 3);
    }

    #[test]
    fn key_status_is_judged_at_the_place_in_the_log() {
        let mut seq = new_seq();
        let mut w = Writer::new();
        let key = DepartmentKey::generate("dept-a");
        w.append(&mut seq, vec![registration(&key)]);
        assert!(seq.registry().get(&key.id).is_some());
        // Sealed while the key was valid ...
        let sealed = w.seal(
            &seq,
            vec![
                signed("case-k", "case.accepted", &key),
                signed("case-k", "case.note", &key),
            ],
        );
        // ... but a revocation lands in $all first.
        w.append(&mut seq, vec![revocation(&key)]);
        let size = seq.size();
        let records = w.records(sealed);
        assert_eq!(
            apply_all(&mut seq, records),
            Decision::Refused {
                stream: sid("case-k"),
                first: 0,
                last: 1
            }
        );
        assert!(matches!(
            seq.take_refusal(&sid("case-k"), 0),
            Some(Refusal::Rules(Error::KeyRevoked { .. }))
        ));
        assert_eq!(seq.size(), size, "the whole append is left out");
        assert_eq!(seq.head(&sid("case-k")).version(), None);
    }

    #[test]
    fn ids_already_in_the_log_are_refused() {
        let mut seq = new_seq();
        let mut w = Writer::new();
        let ev = event("case-d", "case.note", "dept-a");
        w.append(&mut seq, vec![ev.clone()]);
        // The same event sealed again (on the new head) in another append.
        let mut again = ev.clone();
        again.stream = sid("case-e");
        assert!(matches!(
            w.append(&mut seq, vec![again]),
            Decision::Refused { .. }
        ));
        assert!(matches!(
            seq.take_refusal(&sid("case-e"), 0),
            Some(Refusal::Duplicate { id }) if id == ev.id
        ));
        assert_eq!(seq.size(), 1);
    }

    #[test]
    fn foreign_and_broken_records_are_refused_and_others_ignored() {
        let mut seq = new_seq();
        let mut w = Writer::new();
        let mut records = w.records(w.seal(&seq, vec![event("case-f", "case.note", "dept-a")]));
        // No batch mark.
        let mut unmarked = records[0].clone();
        unmarked.metadata = b"{}".to_vec();
        assert!(matches!(seq.apply(unmarked), Decision::Refused { .. }));
        assert!(matches!(
            seq.take_refusal(&sid("case-f"), 0),
            Some(Refusal::Foreign { .. })
        ));
        // Altered bytes that still parse (not canonical: a space).
        let r = &mut records[0];
        r.revision = 1;
        r.position.commit += 1;
        let text = String::from_utf8(r.data.clone()).unwrap();
        r.data = text.replacen("{", "{ ", 1).into_bytes();
        assert!(matches!(seq.apply(r.clone()), Decision::Refused { .. }));
        assert!(matches!(
            seq.take_refusal(&sid("case-f"), 1),
            Some(Refusal::Foreign { .. })
        ));
        // A record under another namespace or outside the prefix.
        let mut other = records[0].clone();
        other.stream = "u-case-f".into();
        assert_eq!(seq.apply(other), Decision::Ignored);
        assert_eq!(seq.size(), 0);
        assert_eq!(seq.head(&sid("case-f")).refused, vec![0, 1]);
    }

    #[test]
    fn a_batch_cut_short_or_interleaved_is_refused_whole() {
        let mut seq = new_seq();
        let mut w = Writer::new();
        let a = w.records(
            w.seal(
                &seq,
                (0..3)
                    .map(|_| event("case-i", "case.note", "dept-a"))
                    .collect(),
            ),
        );
        let b = w.records(w.seal(&seq, vec![event("case-j", "case.note", "dept-a")]));
        assert_eq!(seq.apply(a[0].clone()), Decision::Pending);
        assert_eq!(seq.apply(a[1].clone()), Decision::Pending);
        // Another append arrives before the third record.
        assert!(matches!(seq.apply(b[0].clone()), Decision::Admitted { .. }));
        assert!(matches!(
            seq.take_refusal(&sid("case-i"), 0),
            Some(Refusal::Incomplete {
                first: 0,
                last: 1,
                ..
            })
        ));
        // The stray third record (later in $all) is refused on its own.
        let mut stray = a[2].clone();
        stray.position.commit = b[0].position.commit + 1;
        assert!(matches!(seq.apply(stray.clone()), Decision::Refused { .. }));
        // Delivered again after a re-subscription: already seen, ignored.
        assert_eq!(seq.apply(stray), Decision::Ignored);
        assert_eq!(seq.head(&sid("case-i")).refused, vec![0, 1, 2]);
        assert_eq!(seq.size(), 1);
    }

    #[test]
    fn every_process_derives_the_same_log() {
        let mut w = Writer::new();
        let mut first = new_seq();
        let mut all = Vec::new();
        for i in 0..40 {
            let entries = w.seal(
                &first,
                vec![event(&format!("case-{}", i % 3), "case.note", "d")],
            );
            let records = w.records(entries);
            all.extend(records.clone());
            apply_all(&mut first, records);
        }
        let mut second = new_seq();
        apply_all(&mut second, all);
        assert_eq!(second.size(), 40);
        assert_eq!(second.tree().root(), first.tree().root());
        assert_eq!(
            second.positions(LogIndex(0), 40),
            first.positions(LogIndex(0), 40)
        );
    }
}
