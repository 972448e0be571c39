//! C2SP tlog-witness: push to a witness over HTTP, pull mode, the witness's
//! own refusals, and cosignatures served with the checkpoint and with
//! stored checkpoints by size (`/v1/checkpoints`).

mod common;

use std::sync::Arc;
use std::time::Duration;

use api::witness::{Witness, add_checkpoint_body, witness_router};
use common::{TestService, unsigned_json};
use ledger::checkpoint::Checkpoint;
use ledger::cosignature::{CosignatureVerifier, Cosigner, verify_cosignature};
use ledger::merkle::Hash;
use ledger::note::{Note, NoteSigner, NoteVerifier};
use serde_json::json;

async fn log_key(svc: &TestService) -> NoteVerifier {
    let info = svc.get("/v1/log", None).await;
    NoteVerifier::from_verifier_key_string(info.body["verifier_key"].as_str().expect("key"))
        .expect("parses")
}

async fn append(svc: &TestService, stream: &str, n: usize) {
    let events: Vec<_> = (0..n)
        .map(|i| unsigned_json(stream, "case.step", "dept-market", json!({"i": i})))
        .collect();
    let r = svc
        .post(
            &format!("/v1/streams/{stream}/events"),
            Some(&svc.admin),
            &json!({"events": events}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

/// Cosignatures by `witness` on the served checkpoint, verified; with size.
async fn served_cosignatures(svc: &TestService, witness: &CosignatureVerifier) -> (u64, usize) {
    let r = svc.get("/checkpoint", None).await;
    let note = Note::parse(&r.bytes).expect("note");
    let key = log_key(svc).await;
    let (cp, _) = Checkpoint::verify_note(&r.bytes, &key).expect("log signature");
    let valid = note
        .signatures
        .iter()
        .filter(|s| verify_cosignature(witness, &note.text, s).is_ok())
        .count();
    (cp.size, valid)
}

#[tokio::test]
async fn checkpoints_are_pushed_to_witnesses_and_served_cosigned() {
    let svc = TestService::start().await;
    append(&svc, "case-w1", 3).await;
    svc.store.checkpoint_now().await.expect("checkpoint");

    // A witness over HTTP, trusting this log's key.
    let dir = tempfile::tempdir().expect("tempdir");
    let cosigner = Cosigner::generate("witness.example/w1").expect("cosigner");
    let verifier = cosigner.verifier();
    let witness = Arc::new(
        Witness::new(
            cosigner,
            vec![log_key(&svc).await],
            Some(dir.path().join("witness-state.json")),
        )
        .expect("witness"),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let server = tokio::spawn(axum::serve(listener, witness_router(witness.clone())).into_future());

    let r = svc
        .post(
            "/v1/admin/witnesses",
            Some(&svc.admin),
            &json!({"verifier_key": verifier.to_verifier_key_string(), "url": url}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);

    // The pusher submits the latest checkpoint; the served one gets cosigned.
    let wait_for_cosigned = async |svc: &TestService| {
        for _ in 0..100 {
            let size = svc
                .store
                .latest_checkpoint()
                .await
                .expect("cp")
                .expect("some")
                .size;
            let (served, valid) = served_cosignatures(svc, &verifier).await;
            if valid == 1 && served == size {
                return served;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no cosignature on the served checkpoint");
    };
    let first = wait_for_cosigned(&svc).await;
    assert_eq!(witness.cosigned_size("test.example/ledger"), Some(first));

    // The log grows: the next checkpoint goes with a consistency proof from
    // the size the witness cosigned, and is cosigned too.
    append(&svc, "case-w2", 5).await;
    svc.store.checkpoint_now().await.expect("checkpoint");
    let second = wait_for_cosigned(&svc).await;
    assert!(second > first);
    assert_eq!(witness.cosigned_size("test.example/ledger"), Some(second));

    // The inclusion proof's checkpoint carries the cosignature as well.
    let r = svc.get("/v1/proofs/inclusion?log_index=0", None).await;
    let note = r.body["checkpoint"].as_str().expect("note");
    let parsed = Note::parse(note.as_bytes()).expect("note");
    assert!(
        parsed
            .signatures
            .iter()
            .any(|s| verify_cosignature(&verifier, &parsed.text, s).is_ok())
    );
    svc.stop().await;
    server.abort();
}

#[tokio::test]
async fn a_witness_behind_a_firewall_pulls_and_posts_its_cosignature() {
    let svc = TestService::start().await;
    append(&svc, "case-pull", 4).await;
    svc.store.checkpoint_now().await.expect("checkpoint");
    let cosigner = Cosigner::generate("supervision.example/witness").expect("cosigner");
    let verifier = cosigner.verifier();
    let r = svc
        .post(
            "/v1/admin/witnesses",
            Some(&svc.admin),
            &json!({"verifier_key": verifier.to_verifier_key_string()}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let token = svc
        .token("witness", "supervision-office", "witness-1")
        .await;
    let witness = Witness::new(cosigner, vec![log_key(&svc).await], None).expect("witness");

    let mut old = 0;
    for round in 0..2 {
        if round == 1 {
            append(&svc, "case-pull", 3).await;
            svc.store.checkpoint_now().await.expect("checkpoint");
        }
        let r = svc
            .get(
                &format!("/v1/witness/add-checkpoint?old_size={old}"),
                Some(&token),
            )
            .await;
        assert_eq!(r.status, 200);
        let now = 1_790_000_000 + round;
        let lines = witness
            .add_checkpoint(&r.bytes, now)
            .expect("the witness accepts the log's own request");
        let size = svc
            .store
            .latest_checkpoint()
            .await
            .expect("cp")
            .expect("some")
            .size;
        let res = svc
            .client
            .post(svc.url(&format!("/v1/witness/cosignatures?size={size}")))
            .bearer_auth(&token)
            .body(lines.clone())
            .send()
            .await
            .expect("post");
        let reply = common::Reply::of(res).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(
            reply.body["accepted"],
            json!(["supervision.example/witness"])
        );
        let (served, valid) = served_cosignatures(&svc, &verifier).await;
        assert_eq!((served, valid), (size, 1));
        // The timestamp is the witness's own.
        let note =
            Note::parse(reply.body["checkpoint"].as_str().expect("note").as_bytes()).expect("note");
        let times: Vec<u64> = note
            .signatures
            .iter()
            .filter_map(|s| verify_cosignature(&verifier, &note.text, s).ok())
            .collect();
        assert_eq!(times, vec![now]);
        old = size;
    }

    // Lines that are not a registered witness's cosignature: 422; junk: 400.
    let stranger = Cosigner::generate("stranger.example/w").expect("cosigner");
    let cp = svc
        .store
        .latest_checkpoint()
        .await
        .expect("cp")
        .expect("some");
    let text = Note::parse(&cp.note).expect("note").text;
    let line = ledger::cosignature::cosign(&stranger, &text, 1)
        .expect("cosign")
        .to_line();
    let res = svc
        .client
        .post(svc.url(&format!("/v1/witness/cosignatures?size={}", cp.size)))
        .bearer_auth(&token)
        .body(line)
        .send()
        .await
        .expect("post");
    common::Reply::of(res)
        .await
        .assert_problem(422, "bad-signature");
    let res = svc
        .client
        .post(svc.url(&format!("/v1/witness/cosignatures?size={}", cp.size)))
        .bearer_auth(&token)
        .body("not a signature line\n")
        .send()
        .await
        .expect("post");
    common::Reply::of(res)
        .await
        .assert_problem(400, "malformed-request");
    let res = svc
        .client
        .post(svc.url("/v1/witness/cosignatures?size=999999"))
        .bearer_auth(&token)
        .body("x")
        .send()
        .await
        .expect("post");
    common::Reply::of(res)
        .await
        .assert_problem(404, "not-found");
    // Only witnesses (and admins) use these endpoints.
    let inspector = svc.token("inspector", "supervision-office", "insp").await;
    svc.get("/v1/witness/add-checkpoint?old_size=0", Some(&inspector))
        .await
        .assert_problem(403, "forbidden");
    svc.get("/v1/witness/add-checkpoint?old_size=0", None)
        .await
        .assert_problem(401, "unauthorized");
    svc.stop().await;
}

/// `witness` pulls the latest checkpoint from `old`, cosigns it and posts
/// the lines back; the size it cosigned.
async fn pull_and_cosign(svc: &TestService, token: &str, witness: &Witness, old: u64) -> u64 {
    let r = svc
        .get(
            &format!("/v1/witness/add-checkpoint?old_size={old}"),
            Some(token),
        )
        .await;
    assert_eq!(r.status, 200);
    let note = api::witness::parse_add_checkpoint(&r.bytes)
        .expect("request")
        .note;
    let (cp, _) = Checkpoint::verify_note(&note, &log_key(svc).await).expect("log signature");
    let lines = witness
        .add_checkpoint(&r.bytes, 1_790_000_000 + cp.size)
        .expect("cosigned");
    let res = svc
        .client
        .post(svc.url(&format!("/v1/witness/cosignatures?size={}", cp.size)))
        .bearer_auth(token)
        .body(lines)
        .send()
        .await
        .expect("post");
    let reply = common::Reply::of(res).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    cp.size
}

#[tokio::test]
async fn stored_checkpoints_are_served_by_size_with_the_witnesses_that_cosigned_them() {
    let svc = TestService::start().await;
    // Two pull-mode witnesses, registered before the log is checkpointed.
    let key = log_key(&svc).await;
    let register = async |name: &str| {
        let cosigner = Cosigner::generate(name).expect("cosigner");
        let verifier = cosigner.verifier();
        let r = svc
            .post(
                "/v1/admin/witnesses",
                Some(&svc.admin),
                &json!({"verifier_key": verifier.to_verifier_key_string()}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        let witness = Witness::new(cosigner, vec![key.clone()], None).expect("witness");
        (verifier, witness)
    };
    let (a, b) = ("supervision.example/a", "inspection.example/b");
    let (a_key, a_witness) = register(a).await;
    let (b_key, b_witness) = register(b).await;
    let token = svc.token("witness", "supervision-office", "w").await;

    // Both cosign the first checkpoint, only `a` the second, nobody the third.
    append(&svc, "case-cp", 3).await;
    svc.store.checkpoint_now().await.expect("checkpoint");
    let first = pull_and_cosign(&svc, &token, &a_witness, 0).await;
    assert_eq!(pull_and_cosign(&svc, &token, &b_witness, 0).await, first);
    append(&svc, "case-cp", 2).await;
    svc.store.checkpoint_now().await.expect("checkpoint");
    let second = pull_and_cosign(&svc, &token, &a_witness, first).await;
    assert!(second > first);
    append(&svc, "case-cp", 2).await;
    let third = svc
        .store
        .checkpoint_now()
        .await
        .expect("checkpoint")
        .expect("some");
    assert!(third.size > second);

    // By size: the signed note with exactly the cosignatures kept for it.
    let r = svc.get(&format!("/v1/checkpoints/{first}"), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["size"], first);
    assert_eq!(r.body["cosigned_by"], json!([b, a]), "sorted by name");
    let text = r.body["checkpoint"].as_str().expect("note");
    let (cp, note) = Checkpoint::verify_note(text.as_bytes(), &key).expect("log signature");
    assert_eq!(cp.size, first);
    assert_eq!(r.body["root_hash"], hex::encode(cp.root));
    for witness in [&a_key, &b_key] {
        let valid = note
            .signatures
            .iter()
            .filter(|s| verify_cosignature(witness, &note.text, s).is_ok())
            .count();
        assert_eq!(valid, 1, "{}", witness.name());
    }
    let r = svc.get(&format!("/v1/checkpoints/{second}"), None).await;
    assert_eq!(r.body["cosigned_by"], json!([a]));
    // The latest, not cosigned: byte for byte what /checkpoint serves.
    let r = svc
        .get(&format!("/v1/checkpoints/{}", third.size), None)
        .await;
    assert_eq!(r.body["cosigned_by"], json!([]));
    assert_eq!(
        r.body["checkpoint"].as_str().map(str::as_bytes),
        Some(&third.note[..])
    );
    let served = svc.get("/checkpoint", None).await;
    assert_eq!(served.bytes, third.note);

    // The newest checkpoints every named witness cosigned, newest first.
    let sizes = async |query: &str| -> Vec<u64> {
        let r = svc.get(&format!("/v1/checkpoints{query}"), None).await;
        assert_eq!(r.status, 200, "{query}: {}", r.body);
        r.body["checkpoints"]
            .as_array()
            .expect("list")
            .iter()
            .map(|c| c["size"].as_u64().expect("size"))
            .collect()
    };
    let both = format!("?cosigned_by={}&cosigned_by={}", urlencode(a), urlencode(b));
    assert_eq!(sizes(&format!("{both}&limit=1")).await, vec![first]);
    assert_eq!(sizes(&both).await, vec![first]);
    let only_a = format!("?cosigned_by={}", urlencode(a));
    assert_eq!(sizes(&only_a).await, vec![second, first]);
    assert_eq!(sizes(&format!("{only_a}&limit=1")).await, vec![second]);
    assert_eq!(
        sizes(&format!("?cosigned_by={}", urlencode(b))).await,
        vec![first]
    );
    assert_eq!(sizes("").await, vec![second, first], "any cosignature");
    assert_eq!(sizes(&format!("?before={second}")).await, vec![first]);
    assert_eq!(sizes(&format!("?before={first}")).await, Vec::<u64>::new());
    assert_eq!(
        sizes("?cosigned_by=nobody.example/w").await,
        Vec::<u64>::new()
    );
    let r = svc
        .get(&format!("/v1/checkpoints{both}&limit=1"), None)
        .await;
    let listed = &r.body["checkpoints"][0];
    let by_size = svc.get(&format!("/v1/checkpoints/{first}"), None).await;
    assert_eq!(listed, &by_size.body, "the list shows what the size shows");

    // Bad input: 400; a size no checkpoint was signed at: 404.
    for bad in [
        "abc",
        "007",
        "-1",
        "+5",
        "1.0",
        "18446744073709551616",
        "%20",
    ] {
        svc.get(&format!("/v1/checkpoints/{bad}"), None)
            .await
            .assert_problem(400, "malformed-request");
    }
    svc.get(&format!("/v1/checkpoints/{}", third.size + 1000), None)
        .await
        .assert_problem(404, "not-found");
    // Inside one atomic batch: never a tree size.
    svc.get(&format!("/v1/checkpoints/{}", first - 1), None)
        .await
        .assert_problem(404, "not-found");
    for bad in [
        "?limit=0",
        "?limit=101",
        "?limit=ten",
        "?limit=1&limit=2",
        "?before=x",
        "?before=01",
        "?cosigned_by=",
        "?cosignedby=a",
    ] {
        svc.get(&format!("/v1/checkpoints{bad}"), None)
            .await
            .assert_problem(400, "malformed-request");
    }
    svc.stop().await;
}

/// A query value, percent-encoded (witness names carry `/`).
fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A tiny log for the witness's own tests: leaf i is `[i]`.
fn tree(size: u64) -> ledger::merkle::MemoryTree {
    let mut t = ledger::merkle::MemoryTree::new();
    for i in 0..size {
        t.push(ledger::merkle::leaf_hash(&[i as u8]));
    }
    t
}

fn signed_checkpoint(signer: &NoteSigner, size: u64, root: Hash) -> Vec<u8> {
    Checkpoint {
        origin: signer.name().to_owned(),
        size,
        root: root.0,
        extensions: vec![],
    }
    .sign(signer)
    .expect("sign")
    .to_bytes()
}

#[test]
fn the_witness_refuses_exactly_as_tlog_witness_says() {
    let log = NoteSigner::generate("example.com/log").expect("signer");
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state.json");
    let w = Witness::new(
        Cosigner::generate("w.example/1").expect("cosigner"),
        vec![log.verifier()],
        Some(state.clone()),
    )
    .expect("witness");
    let t10 = tree(10);
    let t20 = tree(20);
    let cp10 = signed_checkpoint(&log, 10, t10.root());
    let cp20 = signed_checkpoint(&log, 20, t20.root());
    let status = |r: Result<String, api::witness::Refusal>| r.expect_err("refused").status.as_u16();

    // Malformed bodies: 400.
    assert_eq!(status(w.add_checkpoint(b"nonsense", 1)), 400);
    assert_eq!(status(w.add_checkpoint(b"old 01\n\n", 1)), 400);
    // Unknown origin: 404. Not signed by the trusted key: 403.
    let other = NoteSigner::generate("other.example/log").expect("signer");
    let body = add_checkpoint_body(0, &[], &signed_checkpoint(&other, 10, t10.root()));
    assert_eq!(status(w.add_checkpoint(&body, 1)), 404);
    let forger = NoteSigner::generate("example.com/log").expect("signer");
    let body = add_checkpoint_body(0, &[], &signed_checkpoint(&forger, 10, t10.root()));
    assert_eq!(status(w.add_checkpoint(&body, 1)), 403);
    // Old size beyond the checkpoint: 400.
    assert_eq!(
        status(w.add_checkpoint(&add_checkpoint_body(11, &[], &cp10), 1)),
        400
    );

    // First checkpoint from 0: cosigned.
    let line = w
        .add_checkpoint(&add_checkpoint_body(0, &[], &cp10), 1_790_000_000)
        .expect("cosigned");
    let mut note = cp10.clone();
    note.extend_from_slice(line.as_bytes());
    let parsed = Note::parse(&note).expect("note");
    assert_eq!(
        verify_cosignature(&w.verifier(), &parsed.text, &parsed.signatures[1]),
        Ok(1_790_000_000)
    );
    // Wrong old size: 409 with the size it has.
    let refusal = w
        .add_checkpoint(&add_checkpoint_body(0, &[], &cp20), 1)
        .expect_err("conflict");
    assert_eq!(refusal.status.as_u16(), 409);
    assert_eq!(refusal.body, "10\n");
    assert_eq!(refusal.content_type, "text/x.tlog.size");
    // A bad consistency proof: 422. A good one: cosigned.
    let proof = ledger::merkle::consistency_proof(10, 20, &t20).expect("proof");
    let mut bad = proof.clone();
    bad[0] = Hash([9; 32]);
    assert_eq!(
        status(w.add_checkpoint(&add_checkpoint_body(10, &bad, &cp20), 1)),
        422
    );
    w.add_checkpoint(&add_checkpoint_body(10, &proof, &cp20), 2)
        .expect("cosigned");
    // Same size, other root: 409.
    let fork = signed_checkpoint(&log, 20, Hash([7; 32]));
    assert_eq!(
        status(w.add_checkpoint(&add_checkpoint_body(20, &[], &fork), 3)),
        409
    );
    // The state survives a restart.
    let again = Witness::new(
        Cosigner::generate("w.example/1").expect("cosigner"),
        vec![log.verifier()],
        Some(state),
    )
    .expect("witness");
    assert_eq!(again.cosigned_size("example.com/log"), Some(20));
}
