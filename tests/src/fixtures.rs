//! Keys, events and registrations for tests.

use std::sync::Arc;

use ed25519_dalek::SigningKey;
use ledger::keys::{KEY_REGISTERED, KEY_REVOKED, KeyRegistration, KeyRevocation, PublicKey};
use ledger::{
    Actor, ActorId, AppendRequest, EventType, ExpectedVersion, KeyId, ProposedEvent, Receipt,
    Store, StreamId, Timestamp,
};
use serde_json::{Map, Value, json};

/// A department's signing key with its registered id.
#[derive(Clone)]
pub struct DepartmentKey {
    pub department: ActorId,
    pub signing: SigningKey,
    pub id: KeyId,
}

impl DepartmentKey {
    pub fn generate(department: &str) -> Self {
        let signing = SigningKey::generate(&mut rand::rng());
        let id = KeyId::derive(&PublicKey::Ed25519(signing.verifying_key()));
        DepartmentKey {
            department: ActorId::new(department).expect("valid department id"),
            signing,
            id,
        }
    }

    pub fn public(&self) -> PublicKey {
        PublicKey::Ed25519(self.signing.verifying_key())
    }
}

/// An unsigned event of `event_type` in `stream` with a ~300-byte payload.
pub fn event(stream: &str, event_type: &str, department: &str) -> ProposedEvent {
    let payload = json!({
        "item": "企业设立登记",
        "channel": "window",
        "officer_note": "材料齐全，当场受理。Materials complete; accepted at the window.",
        "materials": ["营业执照申请书", "身份证明", "住所使用证明"],
        "applicant_ref": "ar:6f1d2c9e8b7a6f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6",
        "step": 1
    });
    ProposedEvent::new(
        StreamId::new(stream).expect("valid stream"),
        EventType::new(event_type).expect("valid type"),
        Timestamp::now(),
        Actor {
            department: ActorId::new(department).expect("valid department"),
            officer: Some(ActorId::new("officer-1").expect("valid officer")),
        },
        payload.as_object().cloned().unwrap_or_default(),
    )
}

/// An event signed by `key` for its department.
pub fn signed(stream: &str, event_type: &str, key: &DepartmentKey) -> ProposedEvent {
    event(stream, event_type, key.department.as_str())
        .sign_ed25519(key.id.clone(), &key.signing)
        .expect("signable")
}

fn registry_event(event_type: &str, payload: Map<String, Value>) -> ProposedEvent {
    ProposedEvent::new(
        StreamId::registry(),
        EventType::new(event_type).expect("valid type"),
        Timestamp::now(),
        Actor {
            department: ActorId::new("ledger-admin").expect("valid id"),
            officer: None,
        },
        payload,
    )
}

/// Registers `key` in the store's registry stream.
pub async fn register(
    store: &Arc<dyn Store>,
    key: &DepartmentKey,
    valid_from: Option<Timestamp>,
) -> Receipt {
    let reg = KeyRegistration::new(&key.public(), key.department.clone(), valid_from);
    append_one(store, registry_event(KEY_REGISTERED, reg.to_payload())).await
}

/// Revokes `key`.
pub async fn revoke(store: &Arc<dyn Store>, key: &DepartmentKey) -> Receipt {
    let rev = KeyRevocation {
        key: key.id.clone(),
        reason: Some("test".into()),
    };
    append_one(store, registry_event(KEY_REVOKED, rev.to_payload())).await
}

/// Appends one event with `ExpectedVersion::Any`, panicking on failure.
pub async fn append_one(store: &Arc<dyn Store>, ev: ProposedEvent) -> Receipt {
    let stream = ev.stream.clone();
    store
        .append(AppendRequest {
            stream,
            expected: ExpectedVersion::Any,
            events: vec![ev],
        })
        .await
        .expect("append")
        .remove(0)
}

/// Appends under concurrent load from `tasks` tasks until the process is
/// killed, printing `ack <event id> <log index> <stream> <version>` on
/// stdout once each event is acknowledged; exits with status 3 when an
/// append fails. The appender side of the crash tests.
pub async fn append_until_killed(store: Arc<dyn Store>, tasks: usize) {
    use std::io::Write;
    let out = Arc::new(std::sync::Mutex::new(std::io::stdout()));
    let mut handles = Vec::new();
    for t in 0..tasks {
        let store = store.clone();
        let out = out.clone();
        handles.push(tokio::spawn(async move {
            let mut n: u64 = 0;
            loop {
                n += 1;
                let stream = format!("case-crash-{}", (t as u64 + n) % 8);
                let batch = if n.is_multiple_of(5) { 3 } else { 1 };
                let events = (0..batch)
                    .map(|_| event(&stream, "case.note", "dept-crash"))
                    .collect();
                let request = AppendRequest {
                    stream: StreamId::new(&stream).expect("valid"),
                    expected: ExpectedVersion::Any,
                    events,
                };
                match store.append(request).await {
                    Ok(receipts) => {
                        let mut out = out.lock().unwrap_or_else(|p| p.into_inner());
                        for r in receipts {
                            let _ = writeln!(
                                out,
                                "ack {} {} {} {}",
                                r.event_id, r.log_index, r.stream, r.version
                            );
                        }
                        let _ = out.flush();
                    }
                    Err(e) => {
                        eprintln!("append failed: {e}");
                        std::process::exit(3);
                    }
                }
            }
        }));
    }
    // The tasks append until the process is killed.
    futures::future::join_all(handles).await;
}
