//! The demo data set: a few example cases, each a short timeline. Loaded by
//! `ledger init --demo` and `ledger serve --demo`; loading twice adds nothing.

use std::sync::Arc;

use ledger::{
    Actor, ActorId, AppendRequest, EventType, ExpectedVersion, ProposedEvent, Store, StreamId,
    Timestamp,
};

/// The demo cases' streams.
pub const DEMO_CASES: [&str; 3] = ["case-demo-0001", "case-demo-0002", "case-demo-0003"];

/// The department that handles the demo cases.
pub const DEMO_DEPARTMENT: &str = "dept-market";

/// Appends the demo cases (4 events each) unless they are already there.
pub async fn append_demo(store: &Arc<dyn Store>) -> Result<(), ledger::Error> {
    let steps: [(&str, serde_json::Value); 4] = [
        (
            "case.materials_notified",
            serde_json::json!({"materials": ["营业执照申请书", "身份证明", "住所使用证明"]}),
        ),
        (
            "case.accepted",
            serde_json::json!({"item": "企业设立登记", "channel": "window", "first_contact_officer": "officer-1"}),
        ),
        (
            "case.reviewed",
            serde_json::json!({"layer": 1, "opinion": "同意"}),
        ),
        (
            "case.decided",
            serde_json::json!({"decision": "准予", "basis": "《市场主体登记管理条例》"}),
        ),
    ];
    for case in DEMO_CASES {
        let stream = StreamId::new(case)?;
        let events = steps
            .iter()
            .map(|(t, payload)| {
                Ok(ProposedEvent::new(
                    stream.clone(),
                    EventType::new(t)?,
                    Timestamp::now(),
                    Actor {
                        department: ActorId::new(DEMO_DEPARTMENT)?,
                        officer: Some(ActorId::new("officer-1")?),
                    },
                    payload.as_object().cloned().unwrap_or_default(),
                ))
            })
            .collect::<Result<Vec<_>, ledger::Error>>()?;
        let request = AppendRequest {
            stream,
            expected: ExpectedVersion::NoStream,
            events,
        };
        match store.append(request).await {
            Ok(_) | Err(ledger::Error::WrongExpectedVersion { .. }) => {} // already there
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
