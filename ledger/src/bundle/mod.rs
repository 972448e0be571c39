//! Evidence bundles: everything needed to check one case's (or complaint's)
//! record offline, in one self-contained JSON file, and its verification.
//!
//! A bundle (format `ledger-evidence-bundle/v1`, SPEC.md "Evidence bundle")
//! holds a stream's events with their exact log entries, the `registry`
//! stream from version 0 up to the stream's last event (so the author keys
//! valid at every step, and any revocation, are there), a C2SP tlog-proof
//! ([`proof`]) for every one of those entries, the checkpoint they are
//! proven against with its witness cosignatures, and the ledger's verifier
//! key. [`verify::verify_bundle`] checks it against a caller's
//! [`verify::TrustPolicy`] and nothing else.
//!
//! What this module deliberately does not do:
//! - No I/O and no HTTP: the `ledger export` command fetches the pieces and
//!   calls [`EvidenceBundle::assemble`]; reading and writing files is the
//!   caller's.
//! - It proves what a bundle contains is in the log; it cannot prove that
//!   the log holds nothing more for the stream after the bundle's last
//!   event (a later checkpoint and a new bundle, or `ledger monitor`, can).
//! - It re-implements none of the checks: tree proofs are
//!   [`crate::merkle`], notes [`crate::note`] / [`crate::checkpoint`],
//!   cosignatures [`crate::cosignature`], entries and chains
//!   [`crate::verify`] and [`crate::event`], keys [`crate::keys`].

pub mod proof;
pub mod verify;

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::Error;
use crate::event::{Event, SignatureAlgorithm};
use crate::ids::{ActorId, LogIndex, StreamId};
use crate::keys::{KEY_REGISTERED, KEY_REVOKED, KeyId, KeyRegistry};
use crate::merkle::Hash;
use crate::time::Timestamp;

pub use proof::{TlogProof, TlogProofError};
pub use verify::{BundleReport, TrustPolicy, verify_bundle};

/// The `format` member of every bundle this version writes and reads.
pub const BUNDLE_FORMAT: &str = "ledger-evidence-bundle/v1";

/// One case's or complaint's evidence (SPEC.md "Evidence bundle").
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvidenceBundle {
    /// [`BUNDLE_FORMAT`].
    pub format: String,
    /// The stream the bundle is about, e.g. `case-2026-000123`.
    pub stream: StreamId,
    /// The log as the exporter saw it. Informative only: a verifier trusts
    /// the keys of its own policy, never these.
    pub log: LogIdentity,
    /// The checkpoint every proof is against: a C2SP signed note with the
    /// witness cosignatures, verbatim (the same bytes end every proof).
    pub checkpoint: String,
    /// The keys that signed the stream's events, as the registry entries
    /// below leave them. Derived; a verifier recomputes and compares.
    pub keys: Vec<BundleKey>,
    /// `registry` events from version 0, in log order, through the last one
    /// before the stream's last event.
    pub registry: Vec<BundleEntry>,
    /// The stream's events from version 0, in order.
    pub events: Vec<BundleEntry>,
}

/// The log's identity as the exporter was told it (`GET /v1/log`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogIdentity {
    pub origin: String,
    /// C2SP signed-note verifier key `<origin>+<key hash>+<base64>`.
    pub verifier_key: String,
}

/// One log entry with its proof.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleEntry {
    /// The entry's log index (its Merkle leaf index).
    pub log_index: u64,
    /// The event as a JSON object, for reading; its RFC 8785 form must be
    /// exactly `entry`.
    pub event: Value,
    /// The entry bytes, standard padded base64.
    pub entry: String,
    /// The C2SP tlog-proof text of the entry against `checkpoint`.
    pub proof: String,
}

/// A key that signed some of the stream's events.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleKey {
    pub key: KeyId,
    pub alg: SignatureAlgorithm,
    /// The public key, standard base64.
    pub public_key: String,
    pub department: ActorId,
    pub valid_from: Timestamp,
    /// Log index of its `key.registered` event.
    pub registered_at_index: u64,
    /// `recorded_at` of its `key.revoked` event, if one is in the bundle.
    pub revoked_at: Option<Timestamp>,
    /// Log index of that `key.revoked` event.
    pub revoked_at_index: Option<u64>,
}

/// An entry and its audit path, as an exporter gathered them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProvenEntry {
    pub index: LogIndex,
    pub entry: Vec<u8>,
    /// RFC 9162 §2.1.3 audit path against the checkpoint's tree.
    pub hashes: Vec<Hash>,
}

/// Why a bundle could not be built, or the first problem its verification
/// found. Positions are log indexes (`log_index`) or stream versions
/// (`version`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    /// The `format` member is not [`BUNDLE_FORMAT`].
    #[error("unsupported bundle format {found:?} (expected \"{BUNDLE_FORMAT}\")")]
    UnsupportedFormat { found: String },
    /// The checkpoint is malformed or not signed by the trusted ledger key.
    #[error("checkpoint signature: {detail}")]
    CheckpointSignature { detail: String },
    /// A signature line by a trusted witness does not verify.
    #[error("cosignature by witness {witness} does not verify: {detail}")]
    CosignatureInvalid { witness: String, detail: String },
    /// Fewer distinct trusted witnesses cosigned than the policy requires.
    #[error("too few witness cosignatures: {found} by trusted witnesses, {required} required")]
    TooFewCosignatures { required: usize, found: usize },
    /// The bundle has no events for its stream.
    #[error("the bundle holds no events")]
    NoEvents,
    /// An entry is not standard base64.
    #[error("entry at log index {log_index} is not standard base64")]
    EntryEncoding { log_index: u64 },
    /// A proof is not C2SP tlog-proof text.
    #[error("proof of log index {log_index} is malformed: {source}")]
    MalformedProof {
        log_index: u64,
        source: TlogProofError,
    },
    /// A proof ends in another checkpoint than the bundle's.
    #[error("proof of log index {log_index} is against another checkpoint than the bundle's")]
    ProofCheckpointMismatch { log_index: u64 },
    /// The entry is not at `log_index` in the checkpoint's tree.
    #[error("inclusion proof of log index {log_index} is invalid: {reason}")]
    InclusionProofInvalid { log_index: u64, reason: String },
    /// The entry bytes are not a canonical event (SPEC.md §2).
    #[error("entry at log index {log_index} is not a canonical event: {reason}")]
    EntryNotCanonical { log_index: u64, reason: String },
    /// The readable `event` is not what the entry bytes say.
    #[error("the event shown at log index {log_index} differs from its entry bytes")]
    EventDiffersFromEntry { log_index: u64 },
    /// An entry of another stream than its section's.
    #[error("entry at log index {log_index} is in stream {found}, not {expected}")]
    WrongStream {
        log_index: u64,
        expected: StreamId,
        found: StreamId,
    },
    /// Entries not in increasing log order, or one entry twice.
    #[error("entry at log index {log_index} is out of log order")]
    OutOfLogOrder { log_index: u64 },
    /// A stream version is missing (the chain must run 0, 1, 2, …).
    #[error("stream {stream}: version {expected} is missing (found version {found})")]
    VersionGap {
        stream: StreamId,
        expected: u64,
        found: u64,
    },
    /// An event's `prev` is not its predecessor's leaf hash.
    #[error("stream {stream}: the hash chain is broken at version {version}")]
    ChainBroken { stream: StreamId, version: u64 },
    /// A `registry` event that is not a valid key change.
    #[error("registry event at log index {log_index} is invalid: {reason}")]
    RegistryEventInvalid { log_index: u64, reason: String },
    /// Signed by a key the bundle's registry never registered before.
    #[error("{stream} version {version} is signed by {key_id}, which was not registered before it")]
    SignatureByUnknownKey {
        stream: StreamId,
        version: u64,
        key_id: KeyId,
    },
    /// Signed by a key revoked before the event.
    #[error("{stream} version {version} is signed by {key_id}, revoked at {revoked_at}")]
    SignatureByRevokedKey {
        stream: StreamId,
        version: u64,
        key_id: KeyId,
        revoked_at: Timestamp,
    },
    /// Signed before the key's `valid_from`.
    #[error("{stream} version {version} is signed by {key_id}, not valid before {valid_from}")]
    KeyNotYetValid {
        stream: StreamId,
        version: u64,
        key_id: KeyId,
        valid_from: Timestamp,
    },
    /// Signed by another department's key.
    #[error(
        "{stream} version {version} is signed by {key_id} of {key_department}, but the actor is {actor_department}"
    )]
    KeyOfOtherDepartment {
        stream: StreamId,
        version: u64,
        key_id: KeyId,
        key_department: ActorId,
        actor_department: ActorId,
    },
    /// A signature algorithm the key does not have, or this ledger cannot check.
    #[error("{stream} version {version}: {detail}")]
    UnsupportedAlgorithm {
        stream: StreamId,
        version: u64,
        detail: String,
    },
    /// The author signature does not verify.
    #[error("{stream} version {version}: the author signature by {key_id} does not verify")]
    SignatureInvalid {
        stream: StreamId,
        version: u64,
        key_id: KeyId,
    },
    /// The `keys` list is not what the registry entries say.
    #[error("the bundle's key list disagrees with its registry events about {key_id}")]
    KeyListMismatch { key_id: KeyId },
}

impl BundleError {
    /// A stable snake_case name of the problem's kind, for JSON reports.
    pub fn kind(&self) -> &'static str {
        match self {
            BundleError::UnsupportedFormat { .. } => "unsupported_format",
            BundleError::CheckpointSignature { .. } => "checkpoint_signature",
            BundleError::CosignatureInvalid { .. } => "cosignature_invalid",
            BundleError::TooFewCosignatures { .. } => "too_few_cosignatures",
            BundleError::NoEvents => "no_events",
            BundleError::EntryEncoding { .. } => "entry_encoding",
            BundleError::MalformedProof { .. } => "malformed_proof",
            BundleError::ProofCheckpointMismatch { .. } => "proof_checkpoint_mismatch",
            BundleError::InclusionProofInvalid { .. } => "inclusion_proof_invalid",
            BundleError::EntryNotCanonical { .. } => "entry_not_canonical",
            BundleError::EventDiffersFromEntry { .. } => "event_differs_from_entry",
            BundleError::WrongStream { .. } => "wrong_stream",
            BundleError::OutOfLogOrder { .. } => "out_of_log_order",
            BundleError::VersionGap { .. } => "version_gap",
            BundleError::ChainBroken { .. } => "chain_broken",
            BundleError::RegistryEventInvalid { .. } => "registry_event_invalid",
            BundleError::SignatureByUnknownKey { .. } => "signature_by_unknown_key",
            BundleError::SignatureByRevokedKey { .. } => "signature_by_revoked_key",
            BundleError::KeyNotYetValid { .. } => "key_not_yet_valid",
            BundleError::KeyOfOtherDepartment { .. } => "key_of_other_department",
            BundleError::UnsupportedAlgorithm { .. } => "unsupported_algorithm",
            BundleError::SignatureInvalid { .. } => "signature_invalid",
            BundleError::KeyListMismatch { .. } => "key_list_mismatch",
        }
    }
}

impl EvidenceBundle {
    /// Builds a bundle from what an exporter fetched: `checkpoint` is the
    /// signed note (with cosignatures) every audit path was computed
    /// against; `registry` and `events` are in log order. Nothing is
    /// verified here; run [`verify_bundle`] on the result.
    pub fn assemble(
        stream: StreamId,
        log: LogIdentity,
        checkpoint: &[u8],
        registry: &[ProvenEntry],
        events: &[ProvenEntry],
    ) -> Result<EvidenceBundle, BundleError> {
        let checkpoint_text = String::from_utf8(checkpoint.to_vec()).map_err(|_| {
            BundleError::CheckpointSignature {
                detail: "the checkpoint is not UTF-8".to_owned(),
            }
        })?;
        let to_entry = |p: &ProvenEntry| -> Result<(BundleEntry, Event), BundleError> {
            let not_canonical = |e: &dyn std::fmt::Display| BundleError::EntryNotCanonical {
                log_index: p.index.0,
                reason: e.to_string(),
            };
            let event = Event::from_entry(&p.entry).map_err(|e| not_canonical(&e))?;
            let value: Value = serde_json::from_slice(&p.entry).map_err(|e| not_canonical(&e))?;
            let proof = TlogProof {
                extra: None,
                index: p.index,
                hashes: p.hashes.clone(),
                checkpoint: checkpoint.to_vec(),
            };
            Ok((
                BundleEntry {
                    log_index: p.index.0,
                    event: value,
                    entry: BASE64.encode(&p.entry),
                    proof: proof.to_text(),
                },
                event,
            ))
        };
        let registry: Vec<(BundleEntry, Event)> =
            registry.iter().map(to_entry).collect::<Result<_, _>>()?;
        let events: Vec<(BundleEntry, Event)> =
            events.iter().map(to_entry).collect::<Result<_, _>>()?;

        let mut history = KeyHistory::default();
        let mut used: Vec<KeyId> = Vec::new();
        let mut reg = registry.iter().peekable();
        for (entry, event) in &events {
            while let Some((r, rev)) = reg.next_if(|(r, _)| r.log_index < entry.log_index) {
                history.apply(rev, LogIndex(r.log_index)).map_err(|e| {
                    BundleError::RegistryEventInvalid {
                        log_index: r.log_index,
                        reason: e.to_string(),
                    }
                })?;
            }
            if let Some(sig) = &event.signature
                && !used.contains(&sig.key)
            {
                used.push(sig.key.clone());
            }
        }
        for (r, rev) in reg {
            history.apply(rev, LogIndex(r.log_index)).map_err(|e| {
                BundleError::RegistryEventInvalid {
                    log_index: r.log_index,
                    reason: e.to_string(),
                }
            })?;
        }
        let keys = used.iter().filter_map(|k| history.summary(k)).collect();
        Ok(EvidenceBundle {
            format: BUNDLE_FORMAT.to_owned(),
            stream,
            log,
            checkpoint: checkpoint_text,
            keys,
            registry: registry.into_iter().map(|(e, _)| e).collect(),
            events: events.into_iter().map(|(e, _)| e).collect(),
        })
    }

    /// Parses a bundle file. Only the JSON shape is checked here.
    pub fn from_json(bytes: &[u8]) -> Result<EvidenceBundle, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// The bundle file: pretty-printed JSON ending in a newline.
    pub fn to_json(&self) -> Vec<u8> {
        // Invariant: every member is a string, number, array or object with
        // string keys, which serde_json always serialises.
        let mut out = serde_json::to_vec_pretty(self).unwrap_or_default();
        out.push(b'\n');
        out
    }
}

/// The key registry replayed from `registry` events in log order, also
/// remembering where each key was registered and revoked.
#[derive(Default)]
struct KeyHistory {
    registry: KeyRegistry,
    registered_at: HashMap<KeyId, u64>,
    revoked_at: HashMap<KeyId, u64>,
}

impl KeyHistory {
    /// Applies one `registry` event found at `index`.
    fn apply(&mut self, event: &Event, index: LogIndex) -> Result<(), Error> {
        self.registry.apply(event)?;
        let named = event
            .payload
            .get("key")
            .and_then(Value::as_str)
            .and_then(|k| KeyId::new(k).ok());
        if let Some(key) = named {
            match event.event_type.as_str() {
                KEY_REGISTERED => {
                    self.registered_at.insert(key, index.0);
                }
                KEY_REVOKED => {
                    self.revoked_at.insert(key, index.0);
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn summary(&self, key: &KeyId) -> Option<BundleKey> {
        let rec = self.registry.get(key)?;
        Some(BundleKey {
            key: rec.key.clone(),
            alg: rec.public_key.algorithm(),
            public_key: rec.public_key.to_base64(),
            department: rec.department.clone(),
            valid_from: rec.valid_from.clone(),
            registered_at_index: self.registered_at.get(key).copied()?,
            revoked_at: rec.revoked_at.clone(),
            revoked_at_index: self.revoked_at.get(key).copied(),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use ed25519_dalek::SigningKey;
    use serde_json::json;

    use super::*;
    use crate::checkpoint::Checkpoint;
    use crate::cosignature::{Cosigner, cosign};
    use crate::event::{Actor, LeafHash, ProposedEvent};
    use crate::ids::{EventType, StreamVersion};
    use crate::keys::{KeyRegistration, KeyRevocation, PublicKey};
    use crate::merkle::{MemoryTree, inclusion_proof};
    use crate::note::{Note, NoteSigner};

    /// An in-memory log with the ledger's sequencing rules, minus the key
    /// checks (so tests can log what a real store would refuse).
    struct Log {
        entries: Vec<Vec<u8>>,
        streams: HashMap<StreamId, Vec<u64>>,
        heads: HashMap<StreamId, (u64, LeafHash)>,
        tree: MemoryTree,
        minute: u32,
    }

    struct Keys {
        log: NoteSigner,
        witness: Cosigner,
        dept: SigningKey,
        dept_id: KeyId,
    }

    impl Log {
        fn new() -> Self {
            Log {
                entries: Vec::new(),
                streams: HashMap::new(),
                heads: HashMap::new(),
                tree: MemoryTree::new(),
                minute: 0,
            }
        }

        fn append(&mut self, event: ProposedEvent) {
            self.minute += 1;
            let at = Timestamp::parse(&format!(
                "2026-03-02T{:02}:{:02}:00.000000Z",
                8 + self.minute / 60,
                self.minute % 60
            ))
            .unwrap();
            let (version, prev) = match self.heads.get(&event.stream) {
                Some((v, h)) => (v + 1, *h),
                None => (0, LeafHash::GENESIS),
            };
            let sealed = event.seal(StreamVersion(version), at, prev).unwrap();
            let index = self.entries.len() as u64;
            self.tree.push(sealed.leaf_hash.0);
            self.heads
                .insert(sealed.event.stream.clone(), (version, sealed.leaf_hash));
            self.streams
                .entry(sealed.event.stream.clone())
                .or_default()
                .push(index);
            self.entries.push(sealed.entry);
        }

        fn proven(&self, stream: &StreamId, size: u64) -> Vec<ProvenEntry> {
            self.streams
                .get(stream)
                .into_iter()
                .flatten()
                .filter(|&&i| i < size)
                .map(|&i| ProvenEntry {
                    index: LogIndex(i),
                    entry: self.entries[i as usize].clone(),
                    hashes: inclusion_proof(i, size, &self.tree).unwrap(),
                })
                .collect()
        }

        /// The signed, cosigned checkpoint of the whole log.
        fn checkpoint(&self, keys: &Keys) -> Vec<u8> {
            let cp = Checkpoint {
                origin: keys.log.name().to_owned(),
                size: self.tree.size(),
                root: self.tree.root().0,
                extensions: vec![],
            };
            let mut note: Note = cp.sign(&keys.log).unwrap();
            note.signatures
                .push(cosign(&keys.witness, &note.text, 1_772_438_400).unwrap());
            note.to_bytes()
        }

        fn bundle(&self, keys: &Keys, stream: &str) -> EvidenceBundle {
            let stream = StreamId::new(stream).unwrap();
            let events = self.proven(&stream, self.tree.size());
            let last = events.last().unwrap().index.0;
            let registry: Vec<ProvenEntry> = self
                .proven(&StreamId::registry(), self.tree.size())
                .into_iter()
                .filter(|e| e.index.0 < last)
                .collect();
            EvidenceBundle::assemble(
                stream,
                LogIdentity {
                    origin: keys.log.name().to_owned(),
                    verifier_key: keys.log.verifier().to_verifier_key_string(),
                },
                &self.checkpoint(keys),
                &registry,
                &events,
            )
            .unwrap()
        }
    }

    fn keys() -> Keys {
        let dept = SigningKey::from_bytes(&[5; 32]);
        Keys {
            log: NoteSigner::new("bundle.example/log", SigningKey::from_bytes(&[1; 32])).unwrap(),
            witness: Cosigner::new("witness.example/w1", SigningKey::from_bytes(&[2; 32])).unwrap(),
            dept_id: KeyId::derive(&PublicKey::Ed25519(dept.verifying_key())),
            dept,
        }
    }

    fn policy(keys: &Keys, required: usize) -> TrustPolicy {
        TrustPolicy {
            log_key: keys.log.verifier(),
            witnesses: vec![keys.witness.verifier()],
            witnesses_required: required,
        }
    }

    fn event(
        stream: &str,
        event_type: &str,
        dept: &str,
        payload: serde_json::Value,
    ) -> ProposedEvent {
        let serde_json::Value::Object(payload) = payload else {
            panic!("payload must be an object")
        };
        ProposedEvent::new(
            StreamId::new(stream).unwrap(),
            EventType::new(event_type).unwrap(),
            Timestamp::parse("2026-03-02T08:00:00Z").unwrap(),
            Actor {
                department: ActorId::new(dept).unwrap(),
                officer: Some(ActorId::new("officer-1").unwrap()),
            },
            payload,
        )
    }

    fn register(log: &mut Log, keys: &Keys) {
        let reg = KeyRegistration::new(
            &PublicKey::Ed25519(keys.dept.verifying_key()),
            ActorId::new("dept-market").unwrap(),
            None,
        );
        log.append(event(
            "registry",
            KEY_REGISTERED,
            "ledger-admin",
            Value::Object(reg.to_payload()),
        ));
    }

    fn signed(keys: &Keys, stream: &str, step: usize) -> ProposedEvent {
        event(
            stream,
            "case.step",
            "dept-market",
            json!({"step": step, "note": "办理"}),
        )
        .sign_ed25519(keys.dept_id.clone(), &keys.dept)
        .unwrap()
    }

    /// A registry with the key, then five signed steps of `case-1`
    /// interleaved with another case and a registry event.
    fn case_log(keys: &Keys) -> Log {
        let mut log = Log::new();
        log.append(event(
            "registry",
            "department.registered",
            "ledger-admin",
            json!({"department": "dept-market"}),
        ));
        register(&mut log, keys);
        for step in 0..5 {
            log.append(signed(keys, "case-1", step));
            log.append(signed(keys, "case-2", step));
            if step == 2 {
                log.append(event(
                    "registry",
                    "token.issued",
                    "ledger-admin",
                    json!({"hash": "00"}),
                ));
            }
        }
        log
    }

    #[test]
    fn a_bundle_verifies_and_reports_every_step() {
        let keys = keys();
        let bundle = case_log(&keys).bundle(&keys, "case-1");
        assert_eq!(bundle.registry.len(), 3);
        let report = verify_bundle(&bundle, &policy(&keys, 1)).unwrap();
        assert_eq!(report.steps.len(), 5);
        assert_eq!(report.registry_events, 3);
        assert_eq!(report.tree_size, 13);
        assert_eq!(report.cosignatures.len(), 1);
        assert_eq!(report.cosignatures[0].witness, "witness.example/w1");
        assert_eq!(report.cosignatures[0].timestamp, 1_772_438_400);
        let versions: Vec<u64> = report.steps.iter().map(|s| s.version).collect();
        assert_eq!(versions, [0, 1, 2, 3, 4]);
        assert_eq!(report.steps[0].log_index, 2);
        assert_eq!(report.steps[0].signed_by.as_ref(), Some(&keys.dept_id));
        assert_eq!(report.keys.len(), 1);
        assert_eq!(report.keys[0].registered_at_index, 1);
        // The file round-trips.
        let back = EvidenceBundle::from_json(&bundle.to_json()).unwrap();
        assert_eq!(back, bundle);
        // Every proof is C2SP tlog-proof text ending in the checkpoint.
        let proof = &bundle.events[0].proof;
        assert!(
            proof.starts_with("c2sp.org/tlog-proof@v1\nindex 2\n"),
            "{proof}"
        );
        assert!(proof.ends_with(&bundle.checkpoint));
    }

    fn rewrite_entry(entry: &mut BundleEntry, f: impl FnOnce(&mut Vec<u8>)) {
        let mut bytes = BASE64.decode(&entry.entry).unwrap();
        f(&mut bytes);
        entry.entry = BASE64.encode(&bytes);
    }

    #[test]
    fn tampering_is_refused_with_its_kind_and_position() {
        let keys = keys();
        let good = case_log(&keys).bundle(&keys, "case-1");
        let trust = policy(&keys, 1);
        let check = |bundle: &EvidenceBundle| verify_bundle(bundle, &trust).unwrap_err();

        // One byte of an entry: its proof no longer leads to the root.
        let mut b = good.clone();
        rewrite_entry(&mut b.events[2], |e| e[30] ^= 1);
        assert!(
            matches!(check(&b), BundleError::InclusionProofInvalid { log_index, .. } if log_index == good.events[2].log_index)
        );

        // The readable event edited.
        let mut b = good.clone();
        b.events[1].event["payload"]["step"] = json!(7);
        assert!(
            matches!(check(&b), BundleError::EventDiffersFromEntry { log_index } if log_index == good.events[1].log_index)
        );

        // An event removed: the chain misses a version.
        let mut b = good.clone();
        b.events.remove(3);
        assert_eq!(
            check(&b),
            BundleError::VersionGap {
                stream: StreamId::new("case-1").unwrap(),
                expected: 3,
                found: 4
            }
        );

        // Two entries' proofs swapped.
        let mut b = good.clone();
        let p0 = b.events[0].proof.clone();
        b.events[0].proof = std::mem::replace(&mut b.events[4].proof, p0);
        assert!(
            matches!(check(&b), BundleError::InclusionProofInvalid { log_index, .. } if log_index == good.events[0].log_index)
        );

        // A checkpoint signed by another key.
        let mut b = good.clone();
        let other =
            NoteSigner::new("bundle.example/log", SigningKey::from_bytes(&[9; 32])).unwrap();
        let note = Note::parse(b.checkpoint.as_bytes()).unwrap();
        let resigned = Note::sign(&note.text, &[&other]).unwrap();
        b.checkpoint = String::from_utf8(resigned.to_bytes()).unwrap();
        assert!(matches!(check(&b), BundleError::CheckpointSignature { .. }));

        // Too few cosignatures for the policy.
        assert_eq!(
            verify_bundle(&good, &policy(&keys, 2)).unwrap_err(),
            BundleError::TooFewCosignatures {
                required: 2,
                found: 1
            }
        );
        let mut b = good.clone();
        let mut note = Note::parse(b.checkpoint.as_bytes()).unwrap();
        note.signatures.truncate(1);
        b.checkpoint = String::from_utf8(note.to_bytes()).unwrap();
        assert_eq!(
            check(&b),
            BundleError::TooFewCosignatures {
                required: 1,
                found: 0
            }
        );

        // A forged cosignature by the trusted witness.
        let mut b = good.clone();
        let mut note = Note::parse(b.checkpoint.as_bytes()).unwrap();
        note.signatures[1].signature[20] ^= 1;
        b.checkpoint = String::from_utf8(note.to_bytes()).unwrap();
        assert!(matches!(check(&b), BundleError::CosignatureInvalid { .. }));

        // A registry event left out.
        let mut b = good.clone();
        b.registry.remove(0);
        assert!(
            matches!(check(&b), BundleError::VersionGap { stream, expected: 0, found: 1 } if stream.is_registry())
        );

        // The key list edited.
        let mut b = good.clone();
        b.keys[0].department = ActorId::new("dept-tax").unwrap();
        assert_eq!(
            check(&b),
            BundleError::KeyListMismatch {
                key_id: keys.dept_id.clone()
            }
        );

        // Another format, a malformed proof, an undecodable entry.
        let mut b = good.clone();
        b.format = "ledger-evidence-bundle/v0".to_owned();
        assert!(matches!(check(&b), BundleError::UnsupportedFormat { .. }));
        let mut b = good.clone();
        b.events[0].proof = b.events[0].proof.replacen("index", "idx", 1);
        assert!(matches!(check(&b), BundleError::MalformedProof { .. }));
        let mut b = good.clone();
        b.events[0].entry.insert(3, '!');
        assert!(matches!(check(&b), BundleError::EntryEncoding { .. }));
    }

    #[test]
    fn a_signature_by_a_revoked_key_is_refused() {
        let keys = keys();
        let mut log = Log::new();
        register(&mut log, &keys);
        log.append(signed(&keys, "case-1", 0));
        let revocation = KeyRevocation {
            key: keys.dept_id.clone(),
            reason: Some("lost".to_owned()),
        };
        log.append(event(
            "registry",
            KEY_REVOKED,
            "ledger-admin",
            Value::Object(revocation.to_payload()),
        ));
        // A store would refuse this; the bundle's verifier must too.
        log.append(signed(&keys, "case-1", 1));
        let bundle = log.bundle(&keys, "case-1");
        let err = verify_bundle(&bundle, &policy(&keys, 1)).unwrap_err();
        assert!(
            matches!(&err, BundleError::SignatureByRevokedKey { version: 1, key_id, .. } if *key_id == keys.dept_id),
            "{err}"
        );

        // Putting the revocation first is out of log order.
        let mut b = bundle.clone();
        b.registry.swap(0, 1);
        let err = verify_bundle(&b, &policy(&keys, 1)).unwrap_err();
        assert!(matches!(err, BundleError::OutOfLogOrder { .. }), "{err}");
    }

    #[test]
    fn a_forged_or_foreign_signature_is_refused() {
        let keys = keys();
        let mut log = Log::new();
        register(&mut log, &keys);
        let mut forged = signed(&keys, "case-1", 0);
        forged.payload.insert("step".to_owned(), json!(99));
        log.append(forged);
        let err = verify_bundle(&log.bundle(&keys, "case-1"), &policy(&keys, 1)).unwrap_err();
        assert!(
            matches!(err, BundleError::SignatureInvalid { version: 0, .. }),
            "{err}"
        );

        let mut log = Log::new();
        register(&mut log, &keys);
        let mut other = event("case-1", "case.step", "dept-tax", json!({}));
        other = other
            .sign_ed25519(keys.dept_id.clone(), &keys.dept)
            .unwrap();
        log.append(other);
        let err = verify_bundle(&log.bundle(&keys, "case-1"), &policy(&keys, 1)).unwrap_err();
        assert!(
            matches!(err, BundleError::KeyOfOtherDepartment { version: 0, .. }),
            "{err}"
        );

        let mut log = Log::new();
        log.append(signed(&keys, "case-1", 0));
        let err = verify_bundle(&log.bundle(&keys, "case-1"), &policy(&keys, 0)).unwrap_err();
        assert!(
            matches!(err, BundleError::SignatureByUnknownKey { version: 0, .. }),
            "{err}"
        );
    }

    /// `tests/vectors/bundle-case.json` was exported from a real `ledger
    /// serve` with a real `ledger witness` by `tools/tests/bundle.rs`
    /// (`LEDGER_WRITE_BUNDLE_VECTOR=1`): seven signed steps, the second key
    /// revoked after version 5, one cosignature.
    #[test]
    fn the_vector_from_a_real_server_verifies() {
        let bundle =
            EvidenceBundle::from_json(include_bytes!("../../tests/vectors/bundle-case.json"))
                .unwrap();
        let trust: Value =
            serde_json::from_slice(include_bytes!("../../tests/vectors/bundle-case.trust.json"))
                .unwrap();
        let policy = TrustPolicy {
            log_key: crate::note::NoteVerifier::from_verifier_key_string(
                trust["ledger_key"].as_str().unwrap(),
            )
            .unwrap(),
            witnesses: vec![
                crate::cosignature::CosignatureVerifier::from_verifier_key_string(
                    trust["witness_keys"][0].as_str().unwrap(),
                )
                .unwrap(),
            ],
            witnesses_required: 1,
        };
        let report = verify_bundle(&bundle, &policy).unwrap();
        assert_eq!(report.stream.as_str(), "case-T-1");
        assert_eq!(report.steps.len(), 7);
        assert_eq!(report.cosignatures.len(), 1);
        assert_eq!(report.keys.len(), 2);
        assert_eq!(
            report.steps[5].signed_by.as_ref(),
            Some(&report.keys[1].key)
        );
        assert!(report.keys[1].revoked_at_index.unwrap() > report.steps[5].log_index);
        assert!(report.keys[1].revoked_at_index.unwrap() < report.steps[6].log_index);
        // The file is exactly what this code writes.
        let text = include_bytes!("../../tests/vectors/bundle-case.json");
        assert_eq!(bundle.to_json(), text.to_vec());

        let mut b = bundle.clone();
        rewrite_entry(&mut b.events[6], |e| e[10] ^= 0x20);
        assert!(matches!(
            verify_bundle(&b, &policy),
            Err(BundleError::InclusionProofInvalid { .. })
        ));
    }
}
