//! Offline verification of an [`EvidenceBundle`] against a caller's
//! [`TrustPolicy`]: the ledger's signed-note key, the witnesses' keys and how
//! many of them must have cosigned. Nothing in the bundle is trusted.
//!
//! The checks run in this order, and the first problem is returned (within
//! a step, the lowest position first), as SPEC.md "Evidence bundle" lists:
//! format; checkpoint signature; witness cosignatures; every entry's
//! encoding, tlog-proof, inclusion, canonical form and readable `event`
//! (registry section, then events); each section's stream and log order;
//! both hash chains from version 0; key validity and author signatures in
//! log order; the `keys` list.
//!
//! What this module deliberately does not do: read files, fetch anything,
//! or apply a freshness policy to cosignature timestamps (they are reported,
//! and the caller judges them).

use rayon::prelude::*;
use serde::Serialize;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::proof::TlogProof;
use super::{BUNDLE_FORMAT, BundleEntry, BundleError, BundleKey, EvidenceBundle, KeyHistory};
use crate::cosignature::{CosignatureVerifier, verify_cosignature};
use crate::error::Error;
use crate::event::{Actor, Event, LeafHash};
use crate::ids::{EventId, EventType, LogIndex, StreamId};
use crate::keys::{KeyId, PublicKey, SignatureCheck, verify_signatures};
use crate::merkle::{Hash, verify_inclusion};
use crate::note::{Note, NoteVerifier};
use crate::time::Timestamp;
use crate::verify::{ChainError, verify_chain, verify_checkpoint};

/// Signatures checked together in one Ed25519 batch.
const SIGNATURE_BATCH: usize = 64;

/// What a verifier trusts: nothing else is taken from the bundle.
#[derive(Clone, Debug)]
pub struct TrustPolicy {
    /// The ledger's C2SP signed-note verifier key; its name is the origin.
    pub log_key: NoteVerifier,
    /// Witnesses whose C2SP tlog-cosignatures count.
    pub witnesses: Vec<CosignatureVerifier>,
    /// How many distinct trusted witnesses must have cosigned.
    pub witnesses_required: usize,
}

/// A verified bundle: what it proves, step by step.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BundleReport {
    pub stream: StreamId,
    pub origin: String,
    /// The checkpoint's tree size and root (hex) every entry is proven in.
    pub tree_size: u64,
    pub root_hash: String,
    /// Verified cosignatures by trusted witnesses, one per witness.
    pub cosignatures: Vec<WitnessCosignature>,
    pub witnesses_required: usize,
    /// The stream's events, version 0 first, each verified.
    pub steps: Vec<VerifiedStep>,
    /// `registry` events verified and replayed.
    pub registry_events: usize,
    /// The keys that signed steps, as the registry left them.
    pub keys: Vec<BundleKey>,
}

/// A trusted witness's verified cosignature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WitnessCosignature {
    pub witness: String,
    /// The witness's own time, POSIX seconds (C2SP tlog-cosignature).
    pub timestamp: u64,
    /// The same instant as RFC 3339 UTC, when it is one chrono can write.
    pub time: Option<Timestamp>,
}

/// One verified event of the stream.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct VerifiedStep {
    pub version: u64,
    pub log_index: u64,
    pub id: EventId,
    #[serde(rename = "type")]
    pub event_type: EventType,
    pub actor: Actor,
    pub recorded_at: Timestamp,
    pub occurred_at: Timestamp,
    /// The key whose signature verified; `None` for an unsigned event.
    pub signed_by: Option<KeyId>,
}

/// Verifies `bundle` trusting only `policy`; the first problem otherwise.
pub fn verify_bundle(
    bundle: &EvidenceBundle,
    policy: &TrustPolicy,
) -> Result<BundleReport, BundleError> {
    if bundle.format != BUNDLE_FORMAT {
        return Err(BundleError::UnsupportedFormat {
            found: bundle.format.clone(),
        });
    }
    let note_bytes = bundle.checkpoint.as_bytes();
    let checkpoint = verify_checkpoint(note_bytes, &policy.log_key).map_err(|p| {
        let mut detail = p.detail;
        if bundle.log.verifier_key != policy.log_key.to_verifier_key_string() {
            detail.push_str(&format!(
                " (the bundle names the ledger key {}; the trusted key is {})",
                bundle.log.verifier_key,
                policy.log_key.to_verifier_key_string()
            ));
        }
        BundleError::CheckpointSignature { detail }
    })?;
    // Invariant: `verify_checkpoint` parsed these bytes as a note already.
    let note = Note::parse(note_bytes).map_err(|e| BundleError::CheckpointSignature {
        detail: e.to_string(),
    })?;
    let cosignatures = trusted_cosignatures(&note, &policy.witnesses)?;
    if cosignatures.len() < policy.witnesses_required {
        return Err(BundleError::TooFewCosignatures {
            required: policy.witnesses_required,
            found: cosignatures.len(),
        });
    }
    if bundle.events.is_empty() {
        return Err(BundleError::NoEvents);
    }

    let tree = ProvenTree {
        note: note_bytes,
        size: checkpoint.size,
        root: Hash(checkpoint.root),
    };
    let registry = tree.check_section(&bundle.registry, &StreamId::registry())?;
    let events = tree.check_section(&bundle.events, &bundle.stream)?;
    check_chain(&events)?;
    check_chain(&registry)?;

    let (steps, history, used) = check_signatures(&registry, &events)?;
    let keys: Vec<BundleKey> = used.iter().filter_map(|k| history.summary(k)).collect();
    if keys != bundle.keys {
        let differs = (0..keys.len().max(bundle.keys.len()))
            .find(|&i| keys.get(i) != bundle.keys.get(i))
            .and_then(|i| keys.get(i).or(bundle.keys.get(i)));
        if let Some(k) = differs {
            return Err(BundleError::KeyListMismatch {
                key_id: k.key.clone(),
            });
        }
    }
    Ok(BundleReport {
        stream: bundle.stream.clone(),
        origin: checkpoint.origin,
        tree_size: checkpoint.size,
        root_hash: Hash(checkpoint.root).to_hex(),
        cosignatures,
        witnesses_required: policy.witnesses_required,
        steps,
        registry_events: registry.pairs.len(),
        keys,
    })
}

/// The distinct trusted witnesses whose cosignature on `note` verifies. A
/// line that claims a trusted witness's name and key but fails rejects the
/// bundle (C2SP signed-note §Signatures: a known key's signature MUST be
/// verified, and a failure SHOULD reject the note).
fn trusted_cosignatures(
    note: &Note,
    witnesses: &[CosignatureVerifier],
) -> Result<Vec<WitnessCosignature>, BundleError> {
    let mut found: Vec<(&CosignatureVerifier, u64)> = Vec::new();
    for sig in &note.signatures {
        for witness in witnesses.iter().filter(|w| w.matches(sig)) {
            let timestamp = verify_cosignature(witness, &note.text, sig).map_err(|e| {
                BundleError::CosignatureInvalid {
                    witness: witness.name().to_owned(),
                    detail: e.to_string(),
                }
            })?;
            if !found.iter().any(|(w, _)| *w == witness) {
                found.push((witness, timestamp));
            }
        }
    }
    Ok(found
        .into_iter()
        .map(|(w, timestamp)| WitnessCosignature {
            witness: w.name().to_owned(),
            timestamp,
            time: i64::try_from(timestamp)
                .ok()
                .and_then(|secs| chrono::DateTime::from_timestamp(secs, 0))
                .map(Timestamp::from_datetime),
        })
        .collect())
}

/// The checkpoint's tree, which every entry is proven in.
struct ProvenTree<'a> {
    note: &'a [u8],
    size: u64,
    root: Hash,
}

/// One section's entries, checked: events with their leaf hashes (the
/// shape [`verify_chain`] takes), and beside them log index and the
/// message each author signed.
struct CheckedSection {
    pairs: Vec<(Event, LeafHash)>,
    indexes: Vec<u64>,
    messages: Vec<Vec<u8>>,
}

/// One entry that passed [`ProvenTree::check_entry`]: the event, its leaf
/// hash and the message its author signed.
struct CheckedEntry {
    event: Event,
    leaf: LeafHash,
    message: Vec<u8>,
}

impl ProvenTree<'_> {
    /// Checks every entry of a section on all cores, then the section's
    /// stream and log order; the first problem in bundle order.
    fn check_section(
        &self,
        entries: &[BundleEntry],
        stream: &StreamId,
    ) -> Result<CheckedSection, BundleError> {
        let checked: Vec<Result<CheckedEntry, BundleError>> =
            entries.par_iter().map(|e| self.check_entry(e)).collect();
        let mut section = CheckedSection {
            pairs: Vec::with_capacity(entries.len()),
            indexes: Vec::with_capacity(entries.len()),
            messages: Vec::with_capacity(entries.len()),
        };
        for (entry, result) in entries.iter().zip(checked) {
            let CheckedEntry {
                event,
                leaf,
                message,
            } = result?;
            if &event.stream != stream {
                return Err(BundleError::WrongStream {
                    log_index: entry.log_index,
                    expected: stream.clone(),
                    found: event.stream,
                });
            }
            if section
                .indexes
                .last()
                .is_some_and(|&i| i >= entry.log_index)
            {
                return Err(BundleError::OutOfLogOrder {
                    log_index: entry.log_index,
                });
            }
            section.pairs.push((event, leaf));
            section.indexes.push(entry.log_index);
            section.messages.push(message);
        }
        Ok(section)
    }

    /// One entry: encoding, tlog-proof, inclusion in the checkpoint's tree,
    /// canonical form, and the readable event.
    fn check_entry(&self, e: &BundleEntry) -> Result<CheckedEntry, BundleError> {
        let log_index = e.log_index;
        let bytes = BASE64
            .decode(&e.entry)
            .map_err(|_| BundleError::EntryEncoding { log_index })?;
        let proof = TlogProof::parse(&e.proof)
            .map_err(|source| BundleError::MalformedProof { log_index, source })?;
        if proof.index != LogIndex(log_index) {
            return Err(BundleError::InclusionProofInvalid {
                log_index,
                reason: format!("the proof is for log index {}", proof.index),
            });
        }
        // C2SP tlog-proof §Format: the checkpoint is included verbatim; all
        // of a bundle's proofs are against its one checkpoint.
        if proof.checkpoint != self.note {
            return Err(BundleError::ProofCheckpointMismatch { log_index });
        }
        // RFC 6962 §2.1: the leaf hash is SHA-256(0x00 || entry).
        let leaf = LeafHash::of_entry(&bytes);
        verify_inclusion(&leaf.0, log_index, self.size, &proof.hashes, &self.root).map_err(
            |e| BundleError::InclusionProofInvalid {
                log_index,
                reason: e.to_string(),
            },
        )?;
        let (event, message) =
            Event::parse_entry(&bytes).map_err(|e| BundleError::EntryNotCanonical {
                log_index,
                reason: e.to_string(),
            })?;
        // RFC 8785: the readable event must serialise to the entry exactly.
        let mut canonical = Vec::with_capacity(bytes.len());
        crate::jcs::write_value(&mut canonical, &e.event);
        if canonical != bytes {
            return Err(BundleError::EventDiffersFromEntry { log_index });
        }
        Ok(CheckedEntry {
            event,
            leaf,
            message,
        })
    }
}

/// A section's chain from version 0 (SPEC.md §6).
fn check_chain(section: &CheckedSection) -> Result<(), BundleError> {
    let pairs = &section.pairs;
    verify_chain(pairs).map_err(|e| match e {
        ChainError::WrongStream {
            position,
            expected,
            found,
        } => BundleError::WrongStream {
            log_index: section.indexes[position],
            expected,
            found,
        },
        ChainError::WrongVersion {
            position,
            expected,
            found,
        } => BundleError::VersionGap {
            stream: pairs[position].0.stream.clone(),
            expected: expected.0,
            found: found.0,
        },
        ChainError::BrokenLink { version, .. } => BundleError::ChainBroken {
            // Versions were checked to run 0, 1, 2, … up to this one.
            stream: pairs[version.0 as usize].0.stream.clone(),
            version: version.0,
        },
    })
}

/// A signature waiting for the batch check.
struct PendingSignature<'a> {
    stream: &'a StreamId,
    version: u64,
    key_id: KeyId,
    key: PublicKey,
    message: &'a [u8],
    signature: &'a [u8],
}

/// Replays the registry and the stream in log order: each signature's key
/// must be valid at its event (SPEC.md §5); then every signature is checked.
fn check_signatures(
    registry: &CheckedSection,
    events: &CheckedSection,
) -> Result<(Vec<VerifiedStep>, KeyHistory, Vec<KeyId>), BundleError> {
    let mut history = KeyHistory::default();
    let mut steps = Vec::with_capacity(events.pairs.len());
    let mut used: Vec<KeyId> = Vec::new();
    let mut pending: Vec<PendingSignature<'_>> = Vec::new();
    let mut refused: Option<BundleError> = None;
    let (mut r, mut s) = (0usize, 0usize);
    while r < registry.pairs.len() || s < events.pairs.len() {
        let take_registry = match (registry.indexes.get(r), events.indexes.get(s)) {
            (Some(ri), Some(si)) if ri == si => {
                refused = Some(BundleError::OutOfLogOrder { log_index: *si });
                break;
            }
            (Some(ri), Some(si)) => ri < si,
            (Some(_), None) => true,
            _ => false,
        };
        let (section, k) = if take_registry {
            r += 1;
            (registry, r - 1)
        } else {
            s += 1;
            (events, s - 1)
        };
        let (event, _) = &section.pairs[k];
        let log_index = section.indexes[k];
        if let Some(sig) = &event.signature {
            match history
                .registry
                .authorize(sig, &event.actor.department, &event.recorded_at)
            {
                Ok(rec) => pending.push(PendingSignature {
                    stream: &event.stream,
                    version: event.version.0,
                    key_id: sig.key.clone(),
                    key: rec.public_key.clone(),
                    message: &section.messages[k],
                    signature: &sig.sig.0,
                }),
                Err(e) => {
                    refused = Some(key_problem(e, event));
                    break;
                }
            }
        }
        if take_registry {
            if let Err(e) = history.apply(event, LogIndex(log_index)) {
                refused = Some(BundleError::RegistryEventInvalid {
                    log_index,
                    reason: e.to_string(),
                });
                break;
            }
        } else {
            if let Some(sig) = &event.signature
                && !used.contains(&sig.key)
            {
                used.push(sig.key.clone());
            }
            steps.push(VerifiedStep {
                version: event.version.0,
                log_index,
                id: event.id,
                event_type: event.event_type.clone(),
                actor: event.actor.clone(),
                recorded_at: event.recorded_at.clone(),
                occurred_at: event.occurred_at.clone(),
                signed_by: event.signature.as_ref().map(|s| s.key.clone()),
            });
        }
    }
    // Every pending signature precedes the refusal, if any, in log order.
    let verdicts: Vec<bool> = pending
        .par_chunks(SIGNATURE_BATCH)
        .flat_map_iter(|chunk| {
            let checks: Vec<SignatureCheck<'_>> = chunk
                .iter()
                .map(|p| SignatureCheck {
                    key: &p.key,
                    msg: p.message,
                    sig: p.signature,
                })
                .collect();
            verify_signatures(&checks)
        })
        .collect();
    if let Some(bad) = pending.iter().zip(verdicts).find(|(_, ok)| !ok) {
        return Err(BundleError::SignatureInvalid {
            stream: bad.0.stream.clone(),
            version: bad.0.version,
            key_id: bad.0.key_id.clone(),
        });
    }
    match refused {
        Some(problem) => Err(problem),
        None => Ok((steps, history, used)),
    }
}

/// Names a key-validity refusal of [`crate::keys::KeyRegistry::authorize`].
fn key_problem(e: Error, event: &Event) -> BundleError {
    let stream = event.stream.clone();
    let version = event.version.0;
    match e {
        Error::UnknownKey { key } => BundleError::SignatureByUnknownKey {
            stream,
            version,
            key_id: key,
        },
        Error::KeyRevoked { key, revoked_at } => BundleError::SignatureByRevokedKey {
            stream,
            version,
            key_id: key,
            revoked_at,
        },
        Error::KeyNotYetValid { key, valid_from } => BundleError::KeyNotYetValid {
            stream,
            version,
            key_id: key,
            valid_from,
        },
        Error::KeyDepartmentMismatch {
            key,
            key_department,
            actor_department,
        } => BundleError::KeyOfOtherDepartment {
            stream,
            version,
            key_id: key,
            key_department,
            actor_department,
        },
        other => BundleError::UnsupportedAlgorithm {
            stream,
            version,
            detail: other.to_string(),
        },
    }
}
