//! `ledger export` and `ledger verify BUNDLE` end to end: a real
//! `ledger serve` and a real `ledger witness` over loopback, a case signed
//! by two department keys (one revoked through the admin API), an
//! inspector's export, offline verification, and tampered bundles each
//! refused with its kind (exit 1) while bad input is a usage error (exit 2).

#[path = "support/loopback.rs"]
mod loopback;

use std::path::{Path, PathBuf};
use std::process::Output;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::SigningKey;
use ledger::bundle::{EvidenceBundle, LogIdentity, ProvenEntry};
use ledger::checkpoint::Checkpoint;
use ledger::event::Actor;
use ledger::keys::{KeyId, PublicKey};
use ledger::merkle::{MemoryTree, inclusion_proof};
use ledger::note::{Note, NoteSigner};
use ledger::{ActorId, EventType, LeafHash, LogIndex, ProposedEvent, StreamId, StreamVersion};
use loopback::{Running, admin_token, ledger, log_vkey};
use serde_json::{Value, json};

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

struct Fixture {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    data: PathBuf,
    server: Running,
    _witness: Running,
    witness_key: String,
    ledger_key: String,
    admin: String,
    inspector: String,
    key1: (SigningKey, KeyId),
    key2: (SigningKey, KeyId),
    http: reqwest::Client,
}

impl Fixture {
    async fn post(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        let res = self
            .http
            .post(format!("{}{path}", self.server.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("request");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str, token: &str) -> Value {
        let res = self
            .http
            .get(format!("{}{path}", self.server.base))
            .bearer_auth(token)
            .send()
            .await
            .expect("request");
        assert!(res.status().is_success(), "GET {path}: {}", res.status());
        res.json().await.expect("json")
    }

    async fn register_key(&self, seed: u8) -> (SigningKey, KeyId) {
        let sk = SigningKey::from_bytes(&[seed; 32]);
        let (status, body) = self
            .post(
                "/v1/admin/keys",
                &self.admin,
                json!({"department": "dept-market", "public_key": BASE64.encode(sk.verifying_key().as_bytes())}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let id = KeyId::derive(&PublicKey::Ed25519(sk.verifying_key()));
        assert_eq!(body["key"], id.as_str());
        (sk, id)
    }

    async fn token(&self, role: &str, department: &str, subject: &str) -> String {
        let (status, body) = self
            .post(
                "/v1/admin/tokens",
                &self.admin,
                json!({"role": role, "department": department, "subject": subject}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["token"].as_str().expect("token").to_owned()
    }

    fn out(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn trust_args(&self) -> Vec<String> {
        vec![
            "--ledger-key".into(),
            self.ledger_key.clone(),
            "--witness-key".into(),
            self.witness_key.clone(),
        ]
    }

    /// `ledger verify FILE` with the fixture's trust and `extra` options.
    async fn verify(&self, file: &Path, extra: &[&str]) -> Output {
        let mut args = vec![
            "verify".to_owned(),
            file.to_str().expect("utf-8").to_owned(),
        ];
        args.extend(self.trust_args());
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ledger(&args).await
    }
}

fn step(stream: &str, n: u64, key: &(SigningKey, KeyId)) -> ProposedEvent {
    let serde_json::Value::Object(payload) = json!({"step": n, "note": "受理并审核材料"})
    else {
        unreachable!()
    };
    ProposedEvent::new(
        StreamId::new(stream).expect("stream"),
        EventType::new("work.step").expect("type"),
        ledger::Timestamp::now(),
        Actor {
            department: ActorId::new("dept-market").expect("dept"),
            officer: Some(ActorId::new("officer-1").expect("officer")),
        },
        payload,
    )
    .sign_ed25519(key.1.clone(), &key.0)
    .expect("sign")
}

/// A server with a witness, a department with two keys, and case `T-1`:
/// versions 0–4 signed by key 1, 5 by key 2, then key 2 revoked (a later
/// append signed by it is refused) and version 6 signed by key 1.
async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_owned();
    let data = path.join("data");
    let server = Running::serve(
        &data,
        &["--witness-interval", "1", "--origin", "bundle.example/log"],
    );
    let ledger_key = log_vkey(&data);
    let witness = Running::spawn(
        "witness",
        &[
            "--data",
            path.join("witness").to_str().expect("utf-8"),
            "--name",
            "supervision.example/w1",
            "--log",
            &ledger_key,
            "--listen",
            "127.0.0.1:0",
        ],
    );
    let witness_key = witness
        .stdout
        .iter()
        .find_map(|l| l.strip_prefix("witness key:"))
        .expect("witness key line")
        .trim()
        .to_owned();
    let admin = admin_token(&data);
    let mut f = Fixture {
        _dir: dir,
        dir: path,
        data,
        server,
        _witness: witness,
        witness_key,
        ledger_key,
        admin,
        inspector: String::new(),
        key1: (
            SigningKey::from_bytes(&[0; 32]),
            KeyId::new("ed25519:0000000000000000").expect("id"),
        ),
        key2: (
            SigningKey::from_bytes(&[0; 32]),
            KeyId::new("ed25519:0000000000000000").expect("id"),
        ),
        http: reqwest::Client::new(),
    };
    let (status, body) = f
        .post(
            "/v1/admin/witnesses",
            &f.admin,
            json!({"verifier_key": f.witness_key, "url": f._witness.base}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = f
        .post(
            "/v1/admin/departments",
            &f.admin,
            json!({"department": "dept-market", "name": "市市场监督管理局"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    f.key1 = f.register_key(7).await;
    f.key2 = f.register_key(8).await;
    let dept = f.token("department", "dept-market", "officer-1").await;
    f.inspector = f.token("inspector", "supervision", "inspector-1").await;

    let append = async |f: &Fixture, stream: &str, v: u64, key: &(SigningKey, KeyId)| {
        let expected = if v == 0 {
            json!("no_stream")
        } else {
            json!(v - 1)
        };
        let event = serde_json::to_value(step(stream, v, key)).expect("json");
        f.post(
            &format!("/v1/streams/{stream}/events"),
            &dept,
            json!({"expected_version": expected, "events": [event]}),
        )
        .await
    };
    for v in 0..5 {
        assert_eq!(append(&f, "case-T-1", v, &f.key1).await.0, 200);
        assert_eq!(append(&f, "case-T-2", v, &f.key1).await.0, 200);
    }
    assert_eq!(append(&f, "case-T-1", 5, &f.key2).await.0, 200);
    let (status, body) = f
        .post(
            &format!("/v1/admin/keys/{}/revoke", f.key2.1),
            &f.admin,
            json!({"reason": "laptop lost"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = append(&f, "case-T-1", 6, &f.key2).await;
    assert!(
        (400..500).contains(&status),
        "a revoked key's signature was accepted: {body}"
    );
    assert_eq!(append(&f, "case-T-1", 6, &f.key1).await.0, 200);
    f
}

async fn export(f: &Fixture, out: &Path) -> Output {
    ledger(&[
        "export",
        "case",
        "T-1",
        "--server",
        &f.server.base,
        "--token",
        &f.inspector,
        "-o",
        out.to_str().expect("utf-8"),
        "--cosignatures",
        "1",
        "--wait",
        "30",
    ])
    .await
}

fn write_json(path: &Path, value: &Value) {
    std::fs::write(path, serde_json::to_vec_pretty(value).expect("json")).expect("write");
}

/// Verifies a tampered copy of `bundle`; expects exit 1 naming `kind`.
async fn refused(f: &Fixture, bundle: &Value, name: &str, kind: &str, extra: &[&str]) -> String {
    let path = f.out(&format!("{name}.json"));
    write_json(&path, bundle);
    let out = f.verify(&path, extra).await;
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{name}: {said}");
    assert!(said.contains(kind), "{name}: expected {kind}: {said}");
    said
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_verify_and_every_tamper_refused() {
    let f = fixture().await;
    let file = f.out("case-T-1.bundle.json");
    let out = export(&f, &file).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("7 events of case-T-1"),
        "{}",
        text(&out)
    );

    // Verified offline, with the witness's cosignature.
    let out = f.verify(&file, &[]).await;
    let said = text(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(
        said.contains("cosigned by witness supervision.example/w1"),
        "{said}"
    );
    assert!(said.contains(&format!("signed by {}", f.key2.1)), "{said}");
    assert_eq!(said.matches("  ✓ v").count(), 7, "{said}");
    assert!(said.contains("revoked at"), "{said}");

    // The same through a trust file, as JSON.
    let trust = f.out("trust.toml");
    std::fs::write(
        &trust,
        format!(
            "ledger_key = {:?}\nwitness_keys = [{:?}]\nwitnesses_required = 1\n",
            f.ledger_key, f.witness_key
        ),
    )
    .expect("trust");
    let out = ledger(&[
        "verify",
        file.to_str().expect("utf-8"),
        "--trust",
        trust.to_str().expect("utf-8"),
        "--json",
    ])
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let report: Value = serde_json::from_slice(&out.stdout).expect("json report");
    assert_eq!(report["verified"], true);
    assert_eq!(
        report["report"]["steps"].as_array().expect("steps").len(),
        7
    );
    assert_eq!(report["report"]["steps"][5]["signed_by"], f.key2.1.as_str());
    assert_eq!(
        report["report"]["cosignatures"][0]["witness"],
        "supervision.example/w1"
    );
    let keys = report["report"]["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 2);
    assert!(keys[1]["revoked_at_index"].is_u64(), "{keys:?}");

    if std::env::var_os("LEDGER_WRITE_BUNDLE_VECTOR").is_some() {
        let vectors = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ledger/tests/vectors");
        std::fs::create_dir_all(&vectors).expect("vectors dir");
        std::fs::copy(&file, vectors.join("bundle-case.json")).expect("copy vector");
        write_json(
            &vectors.join("bundle-case.trust.json"),
            &json!({"ledger_key": f.ledger_key, "witness_keys": [f.witness_key], "witnesses_required": 1}),
        );
    }

    let good: Value = serde_json::from_slice(&std::fs::read(&file).expect("bundle")).expect("json");

    // One byte of an entry changed.
    let mut b = good.clone();
    let mut bytes = BASE64
        .decode(b["events"][3]["entry"].as_str().expect("entry"))
        .expect("b64");
    bytes[50] ^= 0x01;
    b["events"][3]["entry"] = json!(BASE64.encode(&bytes));
    let idx3 = good["events"][3]["log_index"].as_u64().expect("index");
    let said = refused(&f, &b, "entry-byte", "inclusion_proof_invalid", &[]).await;
    assert!(said.contains(&format!("log index {idx3}")), "{said}");

    // One byte of the readable event changed.
    let mut b = good.clone();
    b["events"][2]["event"]["payload"]["step"] = json!(9);
    refused(&f, &b, "event-byte", "event_differs_from_entry", &[]).await;

    // One character of a proof hash, and of the checkpoint's root.
    let mut b = good.clone();
    let proof = b["events"][1]["proof"].as_str().expect("proof").to_owned();
    let line = proof.lines().nth(2).expect("a hash line").to_owned();
    let flipped = format!(
        "{}{}",
        if line.starts_with('A') { "B" } else { "A" },
        &line[1..]
    );
    b["events"][1]["proof"] = json!(proof.replacen(&line, &flipped, 1));
    refused(&f, &b, "proof-byte", "inclusion_proof_invalid", &[]).await;
    let mut b = good.clone();
    let cp = b["checkpoint"].as_str().expect("checkpoint").to_owned();
    let root = cp.lines().nth(2).expect("root line").to_owned();
    let flipped = format!(
        "{}{}",
        if root.starts_with('A') { "B" } else { "A" },
        &root[1..]
    );
    b["checkpoint"] = json!(cp.replacen(&root, &flipped, 1));
    refused(&f, &b, "checkpoint-byte", "checkpoint_signature", &[]).await;

    // An entry removed.
    let mut b = good.clone();
    b["events"].as_array_mut().expect("events").remove(4);
    let said = refused(&f, &b, "removed", "version_gap", &[]).await;
    assert!(said.contains("version 4 is missing"), "{said}");

    // Proofs of two entries swapped.
    let mut b = good.clone();
    let p1 = b["events"][1]["proof"].clone();
    b["events"][1]["proof"] = b["events"][5]["proof"].clone();
    b["events"][5]["proof"] = p1;
    refused(&f, &b, "swapped", "inclusion_proof_invalid", &[]).await;

    // A checkpoint signed by another key of the same name.
    let mut b = good.clone();
    let note = Note::parse(cp.as_bytes()).expect("note");
    let other = NoteSigner::generate("bundle.example/log").expect("signer");
    let resigned = String::from_utf8(Note::sign(&note.text, &[&other]).expect("sign").to_bytes())
        .expect("utf-8");
    b["checkpoint"] = json!(resigned);
    for section in ["events", "registry"] {
        for e in b[section].as_array_mut().expect("section") {
            let p = e["proof"].as_str().expect("proof").replace(&cp, &resigned);
            e["proof"] = json!(p);
        }
    }
    refused(&f, &b, "other-key", "checkpoint_signature", &[]).await;
    // Or the right bundle against a ledger key the verifier does not trust.
    let out = ledger(&[
        "verify",
        file.to_str().expect("utf-8"),
        "--ledger-key",
        &other.verifier().to_verifier_key_string(),
    ])
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("checkpoint_signature"),
        "{}",
        text(&out)
    );

    // Too few witness cosignatures: two trusted witnesses required.
    let second =
        ledger::cosignature::Cosigner::generate("supervision.example/w2").expect("cosigner");
    let w2 = second.verifier().to_verifier_key_string();
    let said = refused(
        &f,
        &good,
        "two-witnesses",
        "too_few_cosignatures",
        &["--witness-key", &w2, "--witnesses-required", "2"],
    )
    .await;
    assert!(
        said.contains("1 by trusted witnesses, 2 required"),
        "{said}"
    );
    // … or the cosignature stripped from the bundle.
    let mut b = good.clone();
    let mut stripped = note.clone();
    stripped.signatures.truncate(1);
    let stripped = String::from_utf8(stripped.to_bytes()).expect("utf-8");
    b["checkpoint"] = json!(stripped);
    refused(&f, &b, "stripped", "too_few_cosignatures", &[]).await;

    // Bad input: not a bundle, a malformed key, nothing trusted.
    let junk = f.out("junk.json");
    std::fs::write(&junk, b"{\"format\": 1").expect("junk");
    assert_eq!(f.verify(&junk, &[]).await.status.code(), Some(2));
    let out = ledger(&[
        "verify",
        file.to_str().expect("utf-8"),
        "--ledger-key",
        "not-a-key",
    ])
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let out = ledger(&["verify", file.to_str().expect("utf-8")]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--ledger-key"), "{}", text(&out));
    // A stream that does not exist: nothing is written.
    let nothing = f.out("none.json");
    let out = ledger(&[
        "export",
        "case",
        "NOPE",
        "--server",
        &f.server.base,
        "--token",
        &f.inspector,
        "-o",
        nothing.to_str().expect("utf-8"),
    ])
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(!nothing.exists());

    revoked_key_forged_by_the_operator(&f, &good).await;
}

/// The one thing the service refuses cannot be exported, so this bundle is
/// made by an operator who holds the ledger key: every real entry, plus an
/// event signed by key 2 after its revocation, in a tree whose checkpoint
/// the ledger key signs. Every proof and the checkpoint verify; the key
/// history does not.
async fn revoked_key_forged_by_the_operator(f: &Fixture, good: &Value) {
    let mut entries: Vec<Vec<u8>> = Vec::new();
    loop {
        let page = f
            .get(
                &format!("/v1/log/entries?from={}&limit=1000", entries.len()),
                &f.admin,
            )
            .await;
        for view in page["events"].as_array().expect("events") {
            let mut entry = Vec::new();
            ledger::jcs::write_value(&mut entry, &view["event"]);
            entries.push(entry);
        }
        if page["next"].is_null() {
            break;
        }
    }
    let case = StreamId::new("case-T-1").expect("stream");
    let case_indexes: Vec<usize> = good["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["log_index"].as_u64().expect("index") as usize)
        .collect();
    let last = *case_indexes.last().expect("last");
    let forged = step("case-T-1", 7, &f.key2)
        .seal(
            StreamVersion(7),
            ledger::Timestamp::now(),
            LeafHash::of_entry(&entries[last]),
        )
        .expect("seal");
    entries.push(forged.entry);
    let mut tree = MemoryTree::new();
    for e in &entries {
        tree.push(LeafHash::of_entry(e).0);
    }
    let signer = NoteSigner::from_signer_key_string(
        std::fs::read_to_string(f.data.join("ledger.key"))
            .expect("ledger.key")
            .trim(),
    )
    .expect("ledger key");
    let size = tree.size();
    let note = Checkpoint {
        origin: signer.name().to_owned(),
        size,
        root: tree.root().0,
        extensions: vec![],
    }
    .sign(&signer)
    .expect("sign");
    let proven = |i: usize| ProvenEntry {
        index: LogIndex(i as u64),
        entry: entries[i].clone(),
        hashes: inclusion_proof(i as u64, size, &tree).expect("proof"),
    };
    let registry: Vec<ProvenEntry> = (0..entries.len() - 1)
        .filter(|&i| {
            let v: Value = serde_json::from_slice(&entries[i]).expect("json");
            v["stream"] == "registry"
        })
        .map(proven)
        .collect();
    let mut events: Vec<ProvenEntry> = case_indexes.iter().map(|&i| proven(i)).collect();
    events.push(proven(entries.len() - 1));
    let bundle = EvidenceBundle::assemble(
        case,
        LogIdentity {
            origin: signer.name().to_owned(),
            verifier_key: f.ledger_key.clone(),
        },
        &note.to_bytes(),
        &registry,
        &events,
    )
    .expect("assemble");
    let path = f.out("revoked.json");
    std::fs::write(&path, bundle.to_json()).expect("write");
    let out = ledger(&[
        "verify",
        path.to_str().expect("utf-8"),
        "--ledger-key",
        &f.ledger_key,
    ])
    .await;
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("signature_by_revoked_key"), "{said}");
    assert!(
        said.contains(&format!("version 7 is signed by {}", f.key2.1)),
        "{said}"
    );
}
