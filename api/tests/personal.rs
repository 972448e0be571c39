//! Applicants' personal data over loopback: recorded outside the log under
//! a keyed reference, every read recorded in the log, erased so that its
//! bytes are gone from every file while the log still verifies and the
//! case's proofs still hold; bad input and wrong roles change nothing.

mod common;

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use common::{Reply, TestService};
use ledger::checkpoint::Checkpoint;
use ledger::merkle::{Hash, verify_inclusion};
use ledger::note::NoteVerifier;
use projections::examples;
use projections::schema::*;
use serde_json::{Value, json};

/// A GB 11643-1999 identity number: `first17` and its check character.
fn id_number(first17: &str) -> String {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = first17
        .bytes()
        .zip(WEIGHTS)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    format!(
        "{first17}{}",
        char::from(b"10X98765432"[(sum % 11) as usize])
    )
}

const NAME: &str = "欧阳测试独名";
const PHONE: &str = "13912345678";
const ADDRESS: &str = "云南省玉溪市红塔区测试路九十九号";

async fn delete(svc: &TestService, path: &str, token: Option<&str>) -> Reply {
    let mut req = svc.client.delete(svc.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    Reply::of(req.send().await.expect("request")).await
}

/// Whether any file under `dir` holds `needle`.
fn files_holding(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            found.extend(files_holding(&path, needle));
        } else if let Ok(bytes) = std::fs::read(&path)
            && bytes.windows(needle.len()).any(|w| w == needle)
        {
            found.push(path.display().to_string());
        }
    }
    found
}

/// Today's access records (admin read).
async fn access_records(svc: &TestService) -> Vec<Value> {
    let day = chrono::Utc::now().format("%Y-%m-%d");
    let r = svc
        .get(
            &format!("/v1/streams/access-{day}/events?limit=1000"),
            Some(&svc.admin),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["event"].clone())
        .collect()
}

#[tokio::test]
async fn recorded_read_on_the_record_and_erased_leaving_every_proof_valid() {
    let svc = TestService::start().await;
    let market = svc.department("dept-market").await;
    let tax = svc.department("dept-tax").await;
    let inspector = svc.token("inspector", "supervision-office", "insp-1").await;
    let id = id_number("53040219850315123");

    // Recorded by the department: a reference, the same for the same person.
    let body = json!({"name": NAME, "id_number": id, "phone": PHONE, "address": ADDRESS});
    let r = svc.post("/v1/applicants", Some(&market.token), &body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["created"], true);
    let applicant_ref = r.body["applicant_ref"].as_str().expect("ref").to_owned();
    assert_eq!(applicant_ref.len(), 64);
    assert!(applicant_ref.bytes().all(|b| b.is_ascii_hexdigit()));
    let again = svc
        .post(
            "/v1/applicants",
            Some(&market.token),
            &json!({"name": NAME, "id_number": id.to_lowercase(), "phone": "139-1234-5678"}),
        )
        .await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.body["applicant_ref"], applicant_ref.as_str());
    assert_eq!(again.body["created"], false);
    let r = svc.post("/v1/applicants", Some(&market.token), &body).await;
    assert_eq!(r.status, 200, "{}", r.body);

    // A case that refers to the applicant by reference only.
    let mut accepted = examples::payload(ACCEPTED).expect("example");
    accepted["applicant_ref"] = json!(applicant_ref);
    let r = svc
        .post(
            "/v1/streams/case-p1/events",
            Some(&market.token),
            &json!({"events": [
                market.event("case-p1", ACCEPTED, accepted),
                market.event("case-p1", NOTE, json!({"text": "材料齐全"})),
            ]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let case_receipts = r.body["receipts"].as_array().expect("receipts").clone();

    // Read by the department that recorded it and by an inspector; each
    // read is in the log before the data is returned.
    let path = format!("/v1/applicants/{applicant_ref}");
    let r = svc.get(&path, Some(&market.token)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["name"], NAME);
    assert_eq!(r.body["id_number"], id.as_str());
    assert_eq!(r.body["phone"], PHONE);
    assert_eq!(r.body["address"], ADDRESS);
    assert_eq!(r.headers["cache-control"], "no-store");
    let r = svc.get(&path, Some(&inspector)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let records = access_records(&svc).await;
    let reads: Vec<&Value> = records
        .iter()
        .filter(|e| {
            e["type"] == "access.read"
                && e["payload"]["resource"] == "applicant"
                && e["payload"]["applicant_ref"] == applicant_ref.as_str()
        })
        .collect();
    let roles: Vec<&Value> = reads.iter().map(|e| &e["payload"]["role"]).collect();
    assert_eq!(roles, [&json!("department"), &json!("inspector")]);
    assert_eq!(reads[1]["actor"]["officer"], "insp-1");
    let recorded = records
        .iter()
        .filter(|e| {
            e["type"] == "applicant.recorded" && e["payload"]["applicant_ref"] == applicant_ref
        })
        .count();
    assert_eq!(recorded, 3);

    // Another department, other roles, no token: refused.
    svc.get(&path, Some(&tax.token))
        .await
        .assert_problem(403, "forbidden");
    let handler = svc
        .token("complaint_handler", "supervision-office", "handler-1")
        .await;
    svc.get(&path, Some(&handler))
        .await
        .assert_problem(403, "forbidden");
    svc.get(&path, None)
        .await
        .assert_problem(401, "unauthorized");
    delete(&svc, &path, Some(&market.token))
        .await
        .assert_problem(403, "forbidden");
    delete(&svc, &path, Some(&inspector))
        .await
        .assert_problem(403, "forbidden");

    // The personal data is in its own store, never in the log's files.
    let data = svc.data_dir();
    let personal_db = data.join("personal.sqlite");
    assert_eq!(
        files_holding(&data, NAME.as_bytes()),
        [personal_db.display().to_string()]
    );

    // Erased by the admin: the record of the erasure first, then the bytes.
    let size_before = svc.size().await;
    let r = delete(&svc, &path, Some(&svc.admin)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["applicant_ref"], applicant_ref.as_str());
    let erased_at = r.body["record"]["log_index"].as_u64().expect("index");
    assert!(erased_at >= size_before);
    svc.get(&path, Some(&svc.admin))
        .await
        .assert_problem(404, "not-found");
    svc.get(&path, Some(&market.token))
        .await
        .assert_problem(403, "forbidden");
    delete(&svc, &path, Some(&svc.admin))
        .await
        .assert_problem(404, "not-found");
    let erasures: Vec<Value> = access_records(&svc)
        .await
        .into_iter()
        .filter(|e| e["type"] == "applicant.erased")
        .collect();
    assert_eq!(erasures.len(), 1);
    assert_eq!(
        erasures[0]["payload"]["applicant_ref"],
        applicant_ref.as_str()
    );
    assert_eq!(erasures[0]["payload"]["role"], "admin");

    // Gone from every file of the data directory (personal.sqlite, any
    // journal, the log), name, ID number, phone and address alike.
    for needle in [NAME, id.as_str(), PHONE, ADDRESS] {
        assert_eq!(
            files_holding(&data, needle.as_bytes()),
            Vec::<String>::new(),
            "{needle}"
        );
    }

    // The log still verifies end to end, and the case's events, which
    // still carry the reference, are still proven in it.
    let key = NoteVerifier::from_verifier_key_string(svc.state.verifier_key()).expect("key");
    let verdict = ledger::audit::verify_store(svc.store.as_ref(), &key, |_| {})
        .await
        .expect("readable");
    let summary = verdict.unwrap_or_else(|p| panic!("the log no longer verifies: {p:?}"));
    assert_eq!(summary.entries, svc.size().await);
    let stored = svc
        .get("/v1/streams/case-p1/events", Some(&svc.admin))
        .await;
    assert_eq!(
        stored.body["events"][0]["event"]["payload"]["applicant_ref"],
        applicant_ref.as_str()
    );
    for rc in &case_receipts {
        let event_id = rc["event_id"].as_str().expect("id");
        let r = svc
            .get(&format!("/v1/proofs/inclusion?event_id={event_id}"), None)
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let (checkpoint, _) = Checkpoint::verify_note_for_origin(
            r.body["checkpoint"].as_str().expect("note").as_bytes(),
            svc.state.origin(),
            &key,
        )
        .expect("signed checkpoint");
        assert!(checkpoint.size > erased_at, "proved after the erasure");
        let hashes: Vec<Hash> = r.body["hashes"]
            .as_array()
            .expect("hashes")
            .iter()
            .map(|h| Hash::from_hex(h.as_str().expect("hex")).expect("hash"))
            .collect();
        verify_inclusion(
            &Hash::from_hex(rc["leaf_hash"].as_str().expect("hex")).expect("leaf"),
            rc["log_index"].as_u64().expect("index"),
            checkpoint.size,
            &hashes,
            &Hash(checkpoint.root),
        )
        .expect("inclusion still verifies");
    }

    // The same person recorded again gets the same reference back.
    let r = svc
        .post(
            "/v1/applicants",
            Some(&svc.admin),
            &json!({"name": NAME, "id_number": id}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["applicant_ref"], applicant_ref.as_str());
    svc.stop().await;
}

#[tokio::test]
async fn bad_input_and_wrong_roles_are_refused_and_change_nothing() {
    let svc = TestService::start().await;
    let market = svc.department("dept-market").await;
    let inspector = svc.token("inspector", "supervision-office", "insp-1").await;
    let witness = svc.token("witness", "witness-org", "w-1").await;
    let id = id_number("11010519491231002");
    let good = json!({"name": NAME, "id_number": id, "phone": PHONE});
    let wrong_check = {
        let last = id.as_bytes()[17];
        let other = if last == b'0' { '1' } else { '0' };
        format!("{}{other}", &id[..17])
    };
    let size = svc.size().await;

    let field_cases = [
        (json!({"name": NAME, "id_number": wrong_check}), "id_number"),
        (
            json!({"name": NAME, "id_number": "53040219900101"}),
            "id_number",
        ),
        (
            json!({"name": NAME, "id_number": id_number("53040219901301123")}),
            "id_number",
        ),
        (json!({"name": "  ", "id_number": id}), "name"),
        (
            json!({"name": NAME, "id_number": id, "phone": "138-0000-abcd"}),
            "phone",
        ),
        (
            json!({"name": NAME, "id_number": id, "phone": "12345"}),
            "phone",
        ),
        (
            json!({"name": NAME, "id_number": id, "address": ""}),
            "address",
        ),
    ];
    for (body, field) in &field_cases {
        let r = svc.post("/v1/applicants", Some(&market.token), body).await;
        r.assert_problem(422, "schema-violation");
        assert_eq!(r.body["field"], *field, "{body}: {}", r.body);
    }
    // Unknown members are refused, not dropped; so are missing ones.
    let r = svc
        .post(
            "/v1/applicants",
            Some(&market.token),
            &json!({"name": NAME, "id_number": id, "gender": "男"}),
        )
        .await;
    r.assert_problem(422, "schema-violation");
    assert!(
        r.body["detail"]
            .as_str()
            .expect("detail")
            .contains("gender"),
        "{}",
        r.body
    );
    svc.post(
        "/v1/applicants",
        Some(&market.token),
        &json!({"name": NAME}),
    )
    .await
    .assert_problem(422, "schema-violation");
    // Roles that may not record.
    for token in [&inspector, &witness] {
        svc.post("/v1/applicants", Some(token), &good)
            .await
            .assert_problem(403, "forbidden");
    }
    svc.post("/v1/applicants", None, &good)
        .await
        .assert_problem(401, "unauthorized");
    // Not a reference.
    svc.get("/v1/applicants/ZZZ", Some(&svc.admin))
        .await
        .assert_problem(400, "malformed-request");
    delete(&svc, "/v1/applicants/ZZZ", Some(&svc.admin))
        .await
        .assert_problem(400, "malformed-request");
    // A reference nobody recorded: nothing to erase, nothing recorded.
    delete(
        &svc,
        &format!("/v1/applicants/{}", "0".repeat(64)),
        Some(&svc.admin),
    )
    .await
    .assert_problem(404, "not-found");

    // Nothing was written: not in the log, not in the store.
    assert_eq!(svc.size().await, size);
    let applicants = svc.state.private_data().expect("open").applicants();
    let r = applicants.reference(&api::personal::IdNumber::parse(&id).expect("valid"));
    assert!(applicants.get(&r).await.expect("store").is_none());
    assert!(
        files_holding(&svc.data_dir(), NAME.as_bytes()).is_empty(),
        "the refused name reached a file"
    );

    // The good body is accepted, showing the refusals were about the input.
    let ok = svc.post("/v1/applicants", Some(&market.token), &good).await;
    assert_eq!(ok.status, 201, "{}", ok.body);
    assert_eq!(ok.body["applicant_ref"], r.as_str());
    assert_eq!(svc.size().await, size + 1, "one applicant.recorded event");
    svc.stop().await;
}

#[tokio::test]
async fn keys_are_private_files_and_survive_a_restart() {
    let svc = TestService::start().await;
    let market = svc.department("dept-market").await;
    let id = id_number("53040219900101123");
    let r = svc
        .post(
            "/v1/applicants",
            Some(&market.token),
            &json!({"name": NAME, "id_number": id}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let applicant_ref = r.body["applicant_ref"].as_str().expect("ref").to_owned();
    let r = svc
        .post(
            "/v1/streams/case-k1/events",
            Some(&market.token),
            &json!({"events": [market.event("case-k1", ACCEPTED,
                examples::payload(ACCEPTED).expect("example"))]}),
        )
        .await;
    let code = r.body["query_code"].as_str().expect("code").to_owned();
    for file in ["status.key", "personal.key", "personal.sqlite"] {
        let meta = std::fs::metadata(svc.data_dir().join(file)).expect(file);
        assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{file}");
        if file.ends_with(".key") {
            assert_eq!(meta.len(), 32, "{file}");
        }
    }

    let svc = svc.restart().await;
    let r = svc
        .post(
            "/v1/applicants",
            Some(&svc.admin),
            &json!({"name": NAME, "id_number": id}),
        )
        .await;
    assert_eq!(r.status, 200, "the record survived: {}", r.body);
    assert_eq!(r.body["applicant_ref"], applicant_ref.as_str());
    let r = svc.get("/v1/cases/k1/query-code", Some(&svc.admin)).await;
    assert_eq!(r.body["query_code"], code.as_str());
    let r = svc
        .get(&format!("/v1/public/cases/k1/status?code={code}"), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // The catalogue is not involved: an unpublished item has no time limit.
    assert_eq!(r.body["time_limit"], Value::Null);
    svc.stop().await;
}
