//! `ledger verify` on the evidence bundle of a case with 1,000 signed
//! events, beside the raw Ed25519 + SHA-256 rate of the same signatures and
//! entry bytes measured in the same run.
//!
//! The case is appended to a real embedded store (`SqliteStore` in a
//! temporary data directory), interleaved with another case so its entries
//! are spread over the tree; its bundle is gathered from the store as
//! `ledger export` gathers it over HTTP (events, registry, checkpoint,
//! one inclusion proof per entry) and assembled by `ledger::bundle`.
//!
//! Run: `cargo bench -p tools --bench verify_bundle`.

use std::time::{Duration, Instant};

use ed25519_dalek::{Signature, SigningKey};
use ledger::bundle::{EvidenceBundle, LogIdentity, ProvenEntry, TrustPolicy, verify_bundle};
use ledger::datadir::DataDir;
use ledger::event::Actor;
use ledger::keys::{KEY_REGISTERED, KeyId, KeyRegistration, PublicKey};
use ledger::store::Direction;
use ledger::store::sqlite::SqliteConfig;
use ledger::{
    ActorId, AppendRequest, EventType, ExpectedVersion, ProposedEvent, Store, StreamId,
    StreamVersion, Timestamp,
};

const EVENTS: usize = 1_000;
const ROUNDS: usize = 20;

fn main() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (bundle, policy) = rt.block_on(build());
    let file = bundle.to_json();

    // Warm up, then time parse + verify, the whole of `ledger verify`'s work.
    let report = verify_bundle(&bundle, &policy).expect("the bundle verifies");
    assert_eq!(report.steps.len(), EVENTS);
    let verify = median(ROUNDS, || {
        let parsed = EvidenceBundle::from_json(&file).expect("parse");
        verify_bundle(&parsed, &policy).expect("verifies");
    });

    // The raw work over the same signatures and bytes: one strict Ed25519
    // verification per event and SHA-256 over every entry, on one core.
    let raw: Vec<(ed25519_dalek::VerifyingKey, Vec<u8>, Signature, Vec<u8>)> = bundle
        .events
        .iter()
        .map(|e| {
            let entry = base64_decode(&e.entry);
            let event = ledger::Event::from_entry(&entry).expect("event");
            let sig = event.signature.as_ref().expect("signed");
            let key = bundle
                .keys
                .iter()
                .find(|k| k.key == sig.key)
                .expect("key listed");
            let bytes: [u8; 32] = base64_decode(&key.public_key).try_into().expect("32 bytes");
            let vk = ed25519_dalek::VerifyingKey::from_bytes(&bytes).expect("key");
            let msg = event.proposed().signing_bytes().expect("message");
            let sig = Signature::from_slice(&sig.sig.0).expect("signature");
            (vk, msg, sig, entry)
        })
        .collect();
    let entry_bytes: usize = raw.iter().map(|r| r.3.len()).sum();
    let raw_time = median(ROUNDS, || {
        for (vk, msg, sig, entry) in &raw {
            // RFC 6962 leaf hash: SHA-256 over 0x00 || entry.
            std::hint::black_box(ledger::merkle::leaf_hash(entry));
            vk.verify_strict(msg, sig).expect("raw verify");
        }
    });

    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "bundle: {} events, {} registry events, {} bytes on disk, checkpoint of {} entries ({cores} cores)",
        bundle.events.len(),
        bundle.registry.len(),
        file.len(),
        report.tree_size
    );
    println!(
        "ledger::bundle parse + verify: {:.4} s, {:.0} entries/s (median of {ROUNDS})",
        verify.as_secs_f64(),
        EVENTS as f64 / verify.as_secs_f64()
    );
    println!(
        "raw Ed25519 verify_strict + SHA-256 ({} signatures, {entry_bytes} bytes, one core): {:.4} s, {:.0} entries/s",
        raw.len(),
        raw_time.as_secs_f64(),
        EVENTS as f64 / raw_time.as_secs_f64()
    );
    println!(
        "ratio bundle / raw: {:.2}",
        verify.as_secs_f64() / raw_time.as_secs_f64()
    );
}

fn median(rounds: usize, mut f: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..rounds)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    times[rounds / 2]
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .expect("base64")
}

/// A store with a registered department key and 1,000 signed events of
/// `case-bench-1` (and as many of `case-bench-2`), and the bundle of the
/// first case gathered from it.
async fn build() -> (EvidenceBundle, TrustPolicy) {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = DataDir::open_or_init(dir.path(), Some("bench.example/log")).expect("data dir");
    let store = data.open_store(SqliteConfig::default()).expect("store");
    let sk = SigningKey::from_bytes(&[42; 32]);
    let public = PublicKey::Ed25519(sk.verifying_key());
    let key = KeyId::derive(&public);
    let dept = ActorId::new("dept-bench").expect("dept");
    let admin = Actor {
        department: ActorId::new("ledger-admin").expect("admin"),
        officer: None,
    };
    let registration = KeyRegistration::new(&public, dept.clone(), None);
    store
        .append(AppendRequest {
            stream: StreamId::registry(),
            expected: ExpectedVersion::Any,
            events: vec![ProposedEvent::new(
                StreamId::registry(),
                EventType::new(KEY_REGISTERED).expect("type"),
                Timestamp::now(),
                admin,
                registration.to_payload(),
            )],
        })
        .await
        .expect("register key");
    let actor = Actor {
        department: dept,
        officer: Some(ActorId::new("officer-1").expect("officer")),
    };
    let case = StreamId::new("case-bench-1").expect("stream");
    let other = StreamId::new("case-bench-2").expect("stream");
    for chunk in 0..EVENTS / 100 {
        for stream in [&case, &other] {
            let events = (0..100)
                .map(|k| {
                    let serde_json::Value::Object(payload) = serde_json::json!({
                        "step": chunk * 100 + k,
                        "note": "材料齐全，予以受理",
                        "materials": ["营业执照", "身份证明"],
                    }) else {
                        unreachable!()
                    };
                    ProposedEvent::new(
                        stream.clone(),
                        EventType::new("work.step").expect("type"),
                        Timestamp::now(),
                        actor.clone(),
                        payload,
                    )
                    .sign_ed25519(key.clone(), &sk)
                    .expect("sign")
                })
                .collect();
            store
                .append(AppendRequest {
                    stream: stream.clone(),
                    expected: ExpectedVersion::Any,
                    events,
                })
                .await
                .expect("append");
        }
    }
    let checkpoint = store
        .checkpoint_now()
        .await
        .expect("checkpoint")
        .expect("one");
    let size = checkpoint.size;
    let gather = async |stream: &StreamId| -> Vec<ProvenEntry> {
        let mut out = Vec::new();
        loop {
            let page = store
                .read_stream(
                    stream,
                    StreamVersion(out.len() as u64),
                    Direction::Forwards,
                    1000,
                )
                .await
                .expect("read");
            if page.is_empty() {
                return out;
            }
            for e in page {
                let proof = store.inclusion_proof(e.index, size).await.expect("proof");
                out.push(ProvenEntry {
                    index: e.index,
                    entry: e.entry,
                    hashes: proof.hashes,
                });
            }
        }
    };
    let events = gather(&case).await;
    let registry = gather(&StreamId::registry()).await;
    let signer = data.signer();
    let bundle = EvidenceBundle::assemble(
        case,
        LogIdentity {
            origin: signer.name().to_owned(),
            verifier_key: signer.verifier().to_verifier_key_string(),
        },
        &checkpoint.note,
        &registry,
        &events,
    )
    .expect("assemble");
    let policy = TrustPolicy {
        log_key: signer.verifier(),
        witnesses: Vec::new(),
        witnesses_required: 0,
    };
    store.close();
    (bundle, policy)
}
