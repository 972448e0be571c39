//! SPEC.md §8's worked example, checked byte for byte — and SPEC.md itself
//! is checked to carry exactly these values, so the document stays true.

use ed25519_dalek::SigningKey;
use ledger::event::LeafHash;
use ledger::keys::PublicKey;
use ledger::{
    Actor, ActorId, EventId, EventType, KeyId, KeyRegistry, ProposedEvent, StreamId, StreamVersion,
    Timestamp,
};

const SEED: [u8; 32] = [0x11; 32];

fn example() -> (ProposedEvent, ledger::event::SealedEvent, KeyId) {
    let sk = SigningKey::from_bytes(&SEED);
    let key = KeyId::derive(&PublicKey::Ed25519(sk.verifying_key()));
    let payload = serde_json::json!({"item": "营业执照", "channel": "window", "materials": 3});
    let proposed = ProposedEvent {
        id: "01JDQ3S1W9T8M3G8X0QF3V2K7P".parse::<EventId>().unwrap(),
        stream: StreamId::new("case-2026-000123").unwrap(),
        event_type: EventType::new("case.accepted").unwrap(),
        occurred_at: Timestamp::parse("2026-11-26T09:00:00Z").unwrap(),
        actor: Actor {
            department: ActorId::new("dept-market").unwrap(),
            officer: Some(ActorId::new("officer-7").unwrap()),
        },
        payload: payload.as_object().unwrap().clone(),
        signature: None,
    }
    .sign_ed25519(key.clone(), &sk)
    .unwrap();
    let sealed = proposed
        .seal(
            StreamVersion(0),
            Timestamp::parse("2026-11-26T09:00:01.250000Z").unwrap(),
            LeafHash::GENESIS,
        )
        .unwrap();
    (proposed, sealed, key)
}

#[test]
fn worked_example_matches_spec_md() {
    let (proposed, sealed, key) = example();
    let sk = SigningKey::from_bytes(&SEED);
    let signing = String::from_utf8(proposed.signing_bytes().unwrap()).unwrap();
    let entry = String::from_utf8(sealed.entry.clone()).unwrap();
    let public = PublicKey::Ed25519(sk.verifying_key()).to_base64();
    let sig = {
        use base64::Engine;
        let s = proposed.signature.as_ref().expect("signed above");
        base64::engine::general_purpose::STANDARD.encode(&s.sig.0)
    };
    let leaf = sealed.leaf_hash.to_hex();
    let spec = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../SPEC.md")).unwrap();
    let values = [
        ("public key", public.as_str()),
        ("key id", key.as_str()),
        ("signed message", signing.as_str()),
        ("signature", sig.as_str()),
        ("entry", entry.as_str()),
        ("leaf hash", leaf.as_str()),
    ];
    for (name, value) in values {
        println!("{name}: {value}");
    }
    for (name, value) in values {
        assert!(
            spec.contains(value),
            "SPEC.md §8 does not carry the {name}:\n{value}"
        );
    }
    // And the example verifies as a verifier would check it.
    let parsed = ledger::Event::from_entry(&sealed.entry).unwrap();
    assert_eq!(parsed, sealed.event);
    assert!(
        KeyRegistry::new()
            .verify_author(&parsed.proposed(), &parsed.recorded_at)
            .is_err(),
        "an unregistered key is refused"
    );
    let sig_bytes = &proposed.signature.as_ref().expect("signed").sig.0;
    assert!(
        PublicKey::Ed25519(sk.verifying_key())
            .verify(&proposed.signing_bytes().unwrap(), sig_bytes)
    );
}
