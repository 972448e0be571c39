//! The pure auditor on hand-built logs: signature problems are named by
//! kind and position (a store cannot be made to hold them through appends).

use ledger::event::LeafHash;
use ledger::keys::{KEY_REGISTERED, KEY_REVOKED, KeyRegistration, KeyRevocation};
use ledger::merkle::Hash;
use ledger::note::NoteSigner;
use ledger::verify::{Auditor, ProblemKind};
use ledger::{
    Actor, ActorId, EventType, LogIndex, ProposedEvent, StreamId, StreamVersion, Timestamp,
};
use std::collections::HashMap;
use tests::fixtures::{DepartmentKey, event, signed};

/// Seals events in order, linking each stream's chain, as a sequencer would.
fn seal_all(events: Vec<ProposedEvent>) -> Vec<Vec<u8>> {
    let mut heads: HashMap<StreamId, (u64, LeafHash)> = HashMap::new();
    events
        .into_iter()
        .map(|ev| {
            let (version, prev) = heads
                .get(&ev.stream)
                .map_or((0, LeafHash::GENESIS), |(v, h)| (v + 1, *h));
            let s = ev
                .seal(StreamVersion(version), Timestamp::now(), prev)
                .unwrap();
            heads.insert(ev.stream.clone(), (version, s.leaf_hash));
            s.entry
        })
        .collect()
}

fn registry(
    event_type: &str,
    payload: serde_json::Map<String, serde_json::Value>,
) -> ProposedEvent {
    ProposedEvent::new(
        StreamId::registry(),
        EventType::new(event_type).unwrap(),
        Timestamp::now(),
        Actor {
            department: ActorId::new("ledger-admin").unwrap(),
            officer: None,
        },
        payload,
    )
}

/// Entries with their log indexes, as `Auditor::check_chunk` takes them.
type Indexed<'a> = Vec<(LogIndex, &'a [u8])>;

/// A fresh auditor, and `entries` as it takes them: their leaf hashes and
/// the entries with their log indexes from 0.
fn audit_input(entries: &[Vec<u8>]) -> (Auditor, Vec<Option<Hash>>, Indexed<'_>) {
    let auditor = Auditor::new(
        NoteSigner::generate("audit.example/log")
            .unwrap()
            .verifier(),
    );
    let leaves = entries
        .iter()
        .map(|e| Some(ledger::merkle::leaf_hash(e)))
        .collect();
    let with_index = entries
        .iter()
        .enumerate()
        .map(|(i, e)| (LogIndex(i as u64), e.as_slice()))
        .collect();
    (auditor, leaves, with_index)
}

fn first_problem(entries: &[Vec<u8>]) -> Option<(ProblemKind, u64)> {
    let (mut auditor, leaves, with_index) = audit_input(entries);
    let report = auditor.check_chunk(&with_index, &leaves, &[]);
    report.problem.map(|p| (p.kind, p.index.0))
}

#[test]
fn signature_problems_are_named() {
    let k = DepartmentKey::generate("dept-a");
    let reg = registry(
        KEY_REGISTERED,
        KeyRegistration::new(&k.public(), k.department.clone(), None).to_payload(),
    );

    // Clean.
    let clean = seal_all(vec![
        reg.clone(),
        signed("case-1", "case.note", &k),
        event("case-1", "case.note", "dept-b"),
    ]);
    assert_eq!(first_problem(&clean), None);

    // A payload changed after signing.
    let mut forged = signed("case-1", "case.note", &k);
    forged
        .payload
        .insert("amount".into(), serde_json::json!(1000));
    let log = seal_all(vec![reg.clone(), signed("case-1", "case.note", &k), forged]);
    assert_eq!(first_problem(&log), Some((ProblemKind::BadSignature, 2)));

    // A key never registered.
    let stranger = DepartmentKey::generate("dept-a");
    let log = seal_all(vec![reg.clone(), signed("case-1", "case.note", &stranger)]);
    assert_eq!(first_problem(&log), Some((ProblemKind::UnknownKey, 1)));

    // Signed after revocation.
    let rev = registry(
        KEY_REVOKED,
        KeyRevocation {
            key: k.id.clone(),
            reason: None,
        }
        .to_payload(),
    );
    let log = seal_all(vec![
        reg.clone(),
        signed("case-1", "case.note", &k),
        rev,
        signed("case-1", "case.note", &k),
    ]);
    assert_eq!(first_problem(&log), Some((ProblemKind::KeyNotValid, 3)));

    // A bad signature earlier than a broken link is reported first.
    let mut forged = signed("case-2", "case.note", &k);
    forged.payload.insert("x".into(), serde_json::json!(true));
    let mut log = seal_all(vec![
        reg,
        forged,
        event("case-3", "case.note", "dept-a"),
        event("case-3", "case.note", "dept-a"),
    ]);
    let mut broken = ledger::Event::from_entry(&log[3]).unwrap();
    broken.prev = LeafHash::GENESIS;
    log[3] = broken.to_entry().unwrap();
    assert_eq!(first_problem(&log), Some((ProblemKind::BadSignature, 1)));
    // With that signature mended, the broken link is what remains.
    log[1] = seal_all(vec![signed("case-2", "case.note", &k)]).remove(0);
    assert_eq!(first_problem(&log), Some((ProblemKind::BrokenLink, 3)));
}

/// Audits `entries` in two chunks split at `split`, preparing the second
/// with the registry as of the `stale` start (as `verify_store`'s pipeline
/// does) or as of the split.
fn first_problem_in_two_chunks(
    entries: &[Vec<u8>],
    split: usize,
    stale: bool,
) -> Option<(ProblemKind, u64)> {
    let (mut auditor, leaves, with_index) = audit_input(entries);
    let before = auditor.registry().clone();
    let first = Auditor::prepare_chunk(&before, &with_index[..split]);
    let report = auditor.apply_chunk(first, &leaves[..split], &[]);
    if let Some(p) = report.problem {
        return Some((p.kind, p.index.0));
    }
    let registry = if stale {
        before
    } else {
        auditor.registry().clone()
    };
    let second = Auditor::prepare_chunk(&registry, &with_index[split..]);
    let report = auditor.apply_chunk(second, &leaves[split..], &[]);
    report.problem.map(|p| (p.kind, p.index.0))
}

#[test]
fn a_chunk_prepared_before_its_keys_were_registered_is_judged_alike() {
    let k = DepartmentKey::generate("dept-a");
    let reg = registry(
        KEY_REGISTERED,
        KeyRegistration::new(&k.public(), k.department.clone(), None).to_payload(),
    );
    let rev = registry(
        KEY_REVOKED,
        KeyRevocation {
            key: k.id.clone(),
            reason: None,
        }
        .to_payload(),
    );
    let mut forged = signed("case-1", "case.note", &k);
    forged.payload.insert("amount".into(), serde_json::json!(1));
    let stranger = DepartmentKey::generate("dept-a");
    let cases = [
        (vec![reg.clone(), signed("case-1", "case.note", &k)], None),
        (
            vec![reg.clone(), signed("case-1", "case.note", &k), forged],
            Some((ProblemKind::BadSignature, 2)),
        ),
        (
            vec![reg.clone(), signed("case-1", "case.note", &stranger)],
            Some((ProblemKind::UnknownKey, 1)),
        ),
        (
            vec![reg, rev, signed("case-1", "case.note", &k)],
            Some((ProblemKind::KeyNotValid, 2)),
        ),
    ];
    for (events, want) in cases {
        let log = seal_all(events);
        assert_eq!(first_problem(&log), want);
        for stale in [true, false] {
            assert_eq!(
                first_problem_in_two_chunks(&log, 1, stale),
                want,
                "second chunk prepared with the {} registry",
                if stale { "stale" } else { "current" }
            );
        }
    }
}
