//! Verification as pure functions: no I/O, usable by any verifier.
//!
//! - [`verify_entry`]: one entry — canonical form, leaf hash, author
//!   signature against the keys valid at its time.
//! - [`verify_chain`]: one stream's events — versions 0, 1, 2, … and links.
//! - [`verify_checkpoint`]: a checkpoint note signed by the log's key.
//! - [`crate::merkle::verify_inclusion`] and
//!   [`crate::merkle::verify_consistency`] for proofs.
//! - [`Auditor`]: the state machine behind `verify_store`, fed entries in
//!   log order, chunk by chunk; signatures are checked on every core.
//!
//! What this module does not do: read anything. [`crate::audit`] drives the
//! auditor over a store.

use crate::store::StreamHeads;
use std::fmt;

use rayon::prelude::*;

use crate::checkpoint::Checkpoint;
use crate::error::Error;
use crate::event::{EntryHead, Event, LeafHash};
use crate::ids::{LogIndex, StreamId, StreamVersion};
use crate::keys::{KeyRegistry, PublicKey, SignatureCheck};

/// Entries parsed and signature-checked together (one Ed25519 batch).
const SIGNATURE_BATCH: usize = 64;
use crate::merkle::{Frontier, Hash, NodeId};
use crate::note::NoteVerifier;
use crate::store::StoredCheckpoint;

/// The kinds of problem an audit names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProblemKind {
    /// An entry's bytes are not what the tree committed to, or not a
    /// canonical event at all.
    AlteredEntry,
    /// A log index (or a stream version) has no event.
    MissingEvent,
    /// An event sits where the tree holds another event, or its stream
    /// version runs backwards.
    ReorderedEvent,
    /// An event's `prev` is not the leaf hash of its stream's previous event.
    BrokenLink,
    /// An author signature does not verify.
    BadSignature,
    /// A signature by a key the registry does not know.
    UnknownKey,
    /// A signature by a key that was revoked, not yet valid, or belongs to
    /// another department at the event's time.
    KeyNotValid,
    /// A stored tree hash or a checkpoint's root disagrees with the entries.
    TreeHashMismatch,
    /// A checkpoint note that does not verify under the log's key.
    BadCheckpoint,
    /// The store holds fewer entries than a signed checkpoint covers.
    TruncatedLog,
}

impl fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            ProblemKind::AlteredEntry => "altered entry",
            ProblemKind::MissingEvent => "missing event",
            ProblemKind::ReorderedEvent => "reordered event",
            ProblemKind::BrokenLink => "broken link",
            ProblemKind::BadSignature => "bad signature",
            ProblemKind::UnknownKey => "unknown key",
            ProblemKind::KeyNotValid => "key not valid at the event's time",
            ProblemKind::TreeHashMismatch => "tree hash mismatch",
            ProblemKind::BadCheckpoint => "bad checkpoint",
            ProblemKind::TruncatedLog => "truncated log",
        };
        f.write_str(s)
    }
}

/// The first problem an audit found: its kind, where, and what exactly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub kind: ProblemKind,
    pub index: LogIndex,
    pub detail: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at log index {}: {}",
            self.kind, self.index, self.detail
        )
    }
}

impl std::error::Error for Problem {}

/// Parses and checks one entry: canonical form and author signature
/// against `registry` as it stood just before the entry.
pub fn verify_entry(entry: &[u8], registry: &KeyRegistry) -> Result<(Event, LeafHash), Error> {
    let event = Event::from_entry(entry)?;
    registry.verify_author(&event.proposed(), &event.recorded_at)?;
    Ok((event, LeafHash::of_entry(entry)))
}

/// Why a stream's chain does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChainError {
    #[error("event at position {position} is in stream {found}, not {expected}")]
    WrongStream {
        position: usize,
        expected: StreamId,
        found: StreamId,
    },
    #[error("event at position {position} has version {found}, expected {expected}")]
    WrongVersion {
        position: usize,
        expected: StreamVersion,
        found: StreamVersion,
    },
    #[error(
        "event at version {version} links to {found}, but the previous event's leaf hash is {expected}"
    )]
    BrokenLink {
        version: StreamVersion,
        expected: LeafHash,
        found: LeafHash,
    },
}

/// Checks a whole stream read from its start: versions 0, 1, 2, … and each
/// `prev` equal to the previous entry's leaf hash (genesis at version 0).
/// `entries` are the events with their leaf hashes.
pub fn verify_chain(entries: &[(Event, LeafHash)]) -> Result<(), ChainError> {
    let Some((first, _)) = entries.first() else {
        return Ok(());
    };
    let mut prev = LeafHash::GENESIS;
    for (position, (event, leaf)) in entries.iter().enumerate() {
        if event.stream != first.stream {
            return Err(ChainError::WrongStream {
                position,
                expected: first.stream.clone(),
                found: event.stream.clone(),
            });
        }
        let expected = StreamVersion(position as u64);
        if event.version != expected {
            return Err(ChainError::WrongVersion {
                position,
                expected,
                found: event.version,
            });
        }
        if event.prev != prev {
            return Err(ChainError::BrokenLink {
                version: event.version,
                expected: prev,
                found: event.prev,
            });
        }
        prev = *leaf;
    }
    Ok(())
}

/// Verifies a checkpoint note under the log's key and parses it.
pub fn verify_checkpoint(note: &[u8], log_key: &NoteVerifier) -> Result<Checkpoint, Problem> {
    Checkpoint::verify_note_for_origin(note, log_key.name(), log_key)
        .map(|(cp, _)| cp)
        .map_err(|e| Problem {
            kind: ProblemKind::BadCheckpoint,
            index: LogIndex(0),
            detail: e.to_string(),
        })
}

/// One chunk's result: complete tree nodes the entries imply (for the
/// driver to compare with stored ones), or the first problem.
#[derive(Debug, Default)]
pub struct ChunkReport {
    pub nodes: Vec<(NodeId, Hash)>,
    pub problem: Option<Problem>,
}

/// A chunk of entries parsed, hashed and signature-checked by
/// [`Auditor::prepare_chunk`], waiting to be applied in log order.
pub struct PreparedChunk {
    prepared: Vec<Prepared>,
}

/// Walks a log in order and names the first problem (SPEC.md §7).
pub struct Auditor {
    log_key: NoteVerifier,
    next: u64,
    frontier: Frontier,
    heads: StreamHeads,
    registry: KeyRegistry,
    checkpoints_checked: u64,
}

struct Prepared {
    index: u64,
    leaf: Hash,
    parsed: Result<(EntryHead, Vec<u8>), Error>,
    /// The signature checked early against the key its id names in the
    /// registry as of the start of the chunk: valid? `None` when unsigned
    /// or the key was not yet registered then. (A key id is derived from
    /// its public key: the same id is the same key in any registry.)
    early: Option<bool>,
}

struct SigCheck {
    index: u64,
    key: PublicKey,
    msg: Vec<u8>,
    sig: Vec<u8>,
}

impl Auditor {
    pub fn new(log_key: NoteVerifier) -> Self {
        Auditor {
            log_key,
            next: 0,
            frontier: Frontier::new(),
            heads: StreamHeads::default(),
            registry: KeyRegistry::new(),
            checkpoints_checked: 0,
        }
    }

    /// Continues an audit that stopped after `frontier.size()` entries, from
    /// what it left: the tree's right edge, each stream's head (its last
    /// version and that event's leaf hash) and the key registry as of then.
    /// An outside monitor keeps these between runs so that it reads only
    /// the entries that followed.
    pub fn resume(
        log_key: NoteVerifier,
        frontier: Frontier,
        heads: impl IntoIterator<Item = (StreamId, StreamVersion, LeafHash)>,
        registry: KeyRegistry,
    ) -> Self {
        Auditor {
            log_key,
            next: frontier.size(),
            frontier,
            heads: heads.into_iter().map(|(s, v, h)| (s, (v, h))).collect(),
            registry,
            checkpoints_checked: 0,
        }
    }

    /// The tree's right edge after the entries checked so far.
    pub fn frontier(&self) -> &Frontier {
        &self.frontier
    }

    /// Each stream's head after the entries checked so far: its last
    /// version and that event's leaf hash (what [`Auditor::resume`] takes).
    pub fn stream_heads(&self) -> impl Iterator<Item = (&StreamId, StreamVersion, LeafHash)> {
        self.heads.iter().map(|(s, (v, h))| (s, *v, *h))
    }

    /// Entries checked so far.
    pub fn size(&self) -> u64 {
        self.next
    }

    pub fn checkpoints_checked(&self) -> u64 {
        self.checkpoints_checked
    }

    /// The key registry as of the entries checked so far.
    pub fn registry(&self) -> &KeyRegistry {
        &self.registry
    }

    /// Root of the entries checked so far.
    pub fn root(&self) -> Hash {
        self.frontier.root()
    }

    /// Checks the next chunk: `entries` as `(index, bytes)` in index order
    /// starting at [`Auditor::size`]; `stored_leaves[k]` is the tree's leaf
    /// hash at `size() + k` as stored (None if absent); `checkpoints` those
    /// whose size falls in this chunk, oldest first.
    pub fn check_chunk(
        &mut self,
        entries: &[(LogIndex, &[u8])],
        stored_leaves: &[Option<Hash>],
        checkpoints: &[StoredCheckpoint],
    ) -> ChunkReport {
        let prepared = Self::prepare_chunk(&self.registry, entries);
        self.apply_chunk(prepared, stored_leaves, checkpoints)
    }

    /// The first, parallel half of [`Auditor::check_chunk`]: parses,
    /// canonicalises and hashes the entries, and checks their signatures, on
    /// every core. It needs nothing of the audit but a registry: a driver
    /// may prepare the next chunk with the registry as of the chunk before
    /// while the auditor applies this one. A signature whose key that
    /// registry lacks is checked later, in [`Auditor::apply_chunk`].
    pub fn prepare_chunk(registry: &KeyRegistry, entries: &[(LogIndex, &[u8])]) -> PreparedChunk {
        // A signature is checked against the key its id names in `registry`;
        // whether that key may sign that event at that moment is decided in
        // log order when the chunk is applied. (A key id is derived from its
        // public key, so the same id is the same key in any registry.)
        let snapshot = registry;
        let prepared: Vec<Prepared> = entries
            .par_chunks(SIGNATURE_BATCH)
            .flat_map_iter(|chunk| {
                let mut prepared: Vec<Prepared> = chunk
                    .iter()
                    .map(|(index, bytes)| Prepared {
                        index: index.0,
                        leaf: crate::merkle::leaf_hash(bytes),
                        parsed: Event::parse_entry_head(bytes),
                        early: None,
                    })
                    .collect();
                let mut owners = Vec::new();
                let mut checks = Vec::new();
                for (k, p) in prepared.iter().enumerate() {
                    if let Ok((event, msg)) = &p.parsed
                        && let Some(sig) = &event.signature
                        && let Some(rec) = snapshot.get(&sig.key)
                    {
                        owners.push(k);
                        checks.push(SignatureCheck {
                            key: &rec.public_key,
                            msg,
                            sig: &sig.sig.0,
                        });
                    }
                }
                let verdicts = crate::keys::verify_signatures(&checks);
                drop(checks);
                for (k, ok) in owners.into_iter().zip(verdicts) {
                    prepared[k].early = Some(ok);
                    // Checked: the message is not needed again. Freed here,
                    // on the thread that built it, not by the applying one.
                    if let Ok((_, msg)) = &mut prepared[k].parsed {
                        *msg = Vec::new();
                    }
                }
                prepared
            })
            .collect();
        PreparedChunk { prepared }
    }

    /// The second, serial half of [`Auditor::check_chunk`]: checks the
    /// prepared entries in log order against the audit so far, given the
    /// tree's stored leaf hashes for them and the checkpoints that end in
    /// the chunk (as [`Auditor::check_chunk`] takes them).
    pub fn apply_chunk(
        &mut self,
        chunk: PreparedChunk,
        stored_leaves: &[Option<Hash>],
        checkpoints: &[StoredCheckpoint],
    ) -> ChunkReport {
        let PreparedChunk { prepared } = chunk;
        let mut report = ChunkReport::default();
        let base = self.next;
        let mut sigs = Vec::new();
        let mut bad_early: Option<u64> = None;
        let mut cps = checkpoints.iter().peekable();
        let mut structural: Option<Problem> = None;
        for (k, p) in prepared.into_iter().enumerate() {
            let at = LogIndex(self.next);
            let problem = |kind, detail: String| Problem {
                kind,
                index: at,
                detail,
            };
            if p.index != self.next {
                structural = Some(problem(
                    ProblemKind::MissingEvent,
                    format!(
                        "no entry at index {}; the next stored entry is {}",
                        self.next, p.index
                    ),
                ));
                break;
            }
            match stored_leaves.get(k).copied().flatten() {
                Some(stored) if stored == p.leaf => {}
                Some(stored) => {
                    let detail = format!(
                        "the entry hashes to {}, the tree holds {} here",
                        p.leaf.to_hex(),
                        stored.to_hex()
                    );
                    // Is this entry's hash stored elsewhere in the chunk?
                    let elsewhere = stored_leaves
                        .iter()
                        .position(|h| *h == Some(p.leaf))
                        .map(|k| base + k as u64);
                    let kind = match elsewhere {
                        Some(j) if j != self.next => ProblemKind::ReorderedEvent,
                        _ => ProblemKind::AlteredEntry,
                    };
                    structural = Some(problem(kind, detail));
                    break;
                }
                None => {
                    structural = Some(problem(
                        ProblemKind::TreeHashMismatch,
                        "the tree has no leaf hash here".to_owned(),
                    ));
                    break;
                }
            }
            let (event, msg) = match p.parsed {
                Ok(x) => x,
                Err(e) => {
                    structural = Some(problem(ProblemKind::AlteredEntry, e.to_string()));
                    break;
                }
            };
            let leaf = LeafHash(p.leaf);
            let (want_version, want_prev) = match self.heads.get(&event.stream) {
                Some((v, h)) => (StreamVersion(v.0 + 1), *h),
                None => (StreamVersion(0), LeafHash::GENESIS),
            };
            if event.version != want_version {
                let kind = if event.version > want_version {
                    ProblemKind::MissingEvent
                } else {
                    ProblemKind::ReorderedEvent
                };
                structural = Some(problem(
                    kind,
                    format!(
                        "stream {} version {} where version {} was due",
                        event.stream, event.version, want_version
                    ),
                ));
                break;
            }
            if event.prev != want_prev {
                structural = Some(problem(
                    ProblemKind::BrokenLink,
                    format!(
                        "stream {} version {} links to {}, not to its previous event {}",
                        event.stream, event.version, event.prev, want_prev
                    ),
                ));
                break;
            }
            if let Some(sig) = &event.signature {
                match self
                    .registry
                    .authorize(sig, &event.department, &event.recorded_at)
                {
                    Ok(rec) => match p.early {
                        Some(true) => {}
                        Some(false) => {
                            bad_early.get_or_insert(self.next);
                        }
                        None => sigs.push(SigCheck {
                            index: self.next,
                            key: rec.public_key.clone(),
                            msg,
                            sig: sig.sig.0.clone(),
                        }),
                    },
                    Err(Error::UnknownKey { key }) => {
                        structural = Some(problem(
                            ProblemKind::UnknownKey,
                            format!("signed by {key}, which the registry does not hold"),
                        ));
                        break;
                    }
                    Err(e) => {
                        structural = Some(problem(ProblemKind::KeyNotValid, e.to_string()));
                        break;
                    }
                }
            }
            if let Some(registry_event) = &event.registry_event
                && let Err(e) = self.registry.apply(registry_event)
            {
                structural = Some(problem(ProblemKind::AlteredEntry, e.to_string()));
                break;
            }
            self.heads.insert(event.stream, (event.version, leaf));
            self.frontier.push_into(p.leaf, &mut report.nodes);
            self.next += 1;
            while let Some(cp) = cps.next_if(|cp| cp.size <= self.next) {
                if let Some(pr) = self.check_checkpoint(cp) {
                    structural = Some(pr);
                    break;
                }
            }
            if structural.is_some() {
                break;
            }
        }
        report.nodes.retain(|(id, _)| id.level > 0);

        // Signatures by keys registered inside this chunk, on every core;
        // the first failure by position wins.
        let bad_sig = match (bad_early, first_bad_signature(&sigs)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        report.problem = match (bad_sig, structural) {
            (Some(i), s) if s.as_ref().is_none_or(|s| i < s.index.0) => Some(Problem {
                kind: ProblemKind::BadSignature,
                index: LogIndex(i),
                detail: "the author signature does not verify".to_owned(),
            }),
            (_, s) => s,
        };
        report
    }

    fn check_checkpoint(&mut self, cp: &StoredCheckpoint) -> Option<Problem> {
        let at = LogIndex(cp.size.saturating_sub(1));
        let parsed = match verify_checkpoint(&cp.note, &self.log_key) {
            Ok(c) => c,
            Err(mut p) => {
                p.index = at;
                p.detail = format!("checkpoint of size {}: {}", cp.size, p.detail);
                return Some(p);
            }
        };
        let root = self.frontier.root();
        if parsed.size != cp.size || parsed.root != root.0 || cp.root != root {
            return Some(Problem {
                kind: ProblemKind::TreeHashMismatch,
                index: at,
                detail: format!(
                    "checkpoint of size {} commits to root {}, the entries give {}",
                    cp.size,
                    Hash(parsed.root).to_hex(),
                    root.to_hex()
                ),
            });
        }
        self.checkpoints_checked += 1;
        None
    }

    /// After the last chunk: a checkpoint beyond the entries means the log
    /// was truncated.
    pub fn finish(&self, latest_checkpoint: Option<&StoredCheckpoint>) -> Result<(), Problem> {
        if let Some(cp) = latest_checkpoint
            && cp.size > self.next
        {
            return Err(Problem {
                kind: ProblemKind::TruncatedLog,
                index: LogIndex(self.next),
                detail: format!(
                    "a signed checkpoint covers {} entries but the store holds {}",
                    cp.size, self.next
                ),
            });
        }
        Ok(())
    }
}

/// Batch-verifies on every core (strict semantics, see
/// [`crate::keys::verify_signatures`]); the first failing index, if any.
fn first_bad_signature(sigs: &[SigCheck]) -> Option<u64> {
    const BATCH: usize = 64;
    sigs.par_chunks(BATCH)
        .filter_map(|chunk| {
            let checks: Vec<SignatureCheck<'_>> = chunk
                .iter()
                .map(|s| SignatureCheck {
                    key: &s.key,
                    msg: &s.msg,
                    sig: &s.sig,
                })
                .collect();
            crate::keys::verify_signatures(&checks)
                .iter()
                .position(|ok| !ok)
                .map(|k| chunk[k].index)
        })
        .min()
}
