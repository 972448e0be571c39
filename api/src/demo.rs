//! The demo data set: one catalogue item and a few example cases, each a
//! short timeline whose payloads fit the `projections` schemas. Loaded by
//! `ledger init --demo` and `ledger serve --demo`; loading twice adds nothing.

use std::sync::Arc;

use ledger::{
    Actor, ActorId, AppendRequest, EventType, ExpectedVersion, ProposedEvent, Store, StreamId,
    Timestamp,
};
use projections::schema::{ACCEPTED, DECIDED, ITEM_PUBLISHED, MATERIALS_NOTIFIED, REVIEWED};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The demo cases' streams.
pub const DEMO_CASES: [&str; 3] = ["case-demo-0001", "case-demo-0002", "case-demo-0003"];

/// The department that handles the demo cases.
pub const DEMO_DEPARTMENT: &str = "dept-market";

/// The catalogue item the demo cases are accepted under (企业设立登记).
pub const DEMO_ITEM: &str = "scjg-qysldj";

/// A pseudonymous applicant reference for a demo case: in a real
/// deployment a keyed hash of the applicant's identity; here a hash of the
/// case name, so that no one's data is involved.
fn applicant_ref(case: &str) -> String {
    hex::encode(Sha256::digest(format!("demo-applicant:{case}").as_bytes()))
}

fn actor() -> Result<Actor, ledger::Error> {
    Ok(Actor {
        department: ActorId::new(DEMO_DEPARTMENT)?,
        officer: Some(ActorId::new("officer-1")?),
    })
}

async fn append_new(
    store: &Arc<dyn Store>,
    stream: &str,
    steps: &[(&str, Value)],
) -> Result<(), ledger::Error> {
    let stream = StreamId::new(stream)?;
    let events = steps
        .iter()
        .map(|(t, payload)| {
            Ok(ProposedEvent::new(
                stream.clone(),
                EventType::new(t)?,
                Timestamp::now(),
                actor()?,
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
        Ok(_) | Err(ledger::Error::WrongExpectedVersion { .. }) => Ok(()), // already there
        Err(e) => Err(e),
    }
}

/// Appends the catalogue item (1 event) and the demo cases (4 events each)
/// unless they are already there.
pub async fn append_demo(store: &Arc<dyn Store>) -> Result<(), ledger::Error> {
    append_new(
        store,
        "catalog",
        &[(ITEM_PUBLISHED, projections::examples::service_item())],
    )
    .await?;
    for case in DEMO_CASES {
        let steps = [
            (
                MATERIALS_NOTIFIED,
                json!({"item_id": DEMO_ITEM, "item_version": 1,
                       "materials": ["公司登记（备案）申请书", "公司章程", "住所使用证明"]}),
            ),
            (
                ACCEPTED,
                json!({"item_id": DEMO_ITEM, "item_version": 1, "channel": "window",
                       "first_contact_officer": "officer-1", "applicant_ref": applicant_ref(case)}),
            ),
            (REVIEWED, json!({"layer": 1, "opinion": "同意"})),
            (
                DECIDED,
                json!({"decision": "准予", "basis": "《中华人民共和国市场主体登记管理条例》"}),
            ),
        ];
        append_new(store, case, &steps).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_payloads_fit_the_schemas() {
        let item = projections::examples::service_item();
        projections::schema::validate_in_stream("catalog", ITEM_PUBLISHED, &item).expect("item");
        let accepted = json!({"item_id": DEMO_ITEM, "item_version": 1, "channel": "window",
            "first_contact_officer": "officer-1", "applicant_ref": applicant_ref("case-demo-0001")});
        projections::schema::validate_in_stream("case-demo-0001", ACCEPTED, &accepted)
            .expect("accepted");
    }
}
