//! `ledger keygen` and `ledger append` end to end: key files and their
//! modes, a key registered through the admin API, signed appends to a real
//! `ledger serve` over loopback, re-runs after failures, and refusals that
//! append nothing.

mod support_cli;

use std::os::unix::fs::PermissionsExt as _;
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use support_cli::{Server, expect_code, keygen, ledger, refused, stdout};

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn keygen_writes_a_private_key_0600_refuses_to_overwrite_and_serves_a_witness() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = dir.path().join("witness/witness");
    let base_s = base.to_str().expect("utf-8");
    let out = ledger(
        &[
            "keygen",
            "--out",
            base_s,
            "--name",
            "supervision.example/w1",
            "--json",
        ],
        None,
    );
    expect_code(&out, 0);
    let printed: Value = serde_json::from_str(stdout(&out).trim()).expect("json");
    let private = dir.path().join("witness/witness.key");
    let public = dir.path().join("witness/witness.pub");
    assert_eq!(mode(&private), 0o600);
    let public_b64 = printed["public_key"].as_str().expect("public_key");
    assert_eq!(
        std::fs::read_to_string(&public).expect("pub").trim(),
        public_b64
    );
    // The form the service registers, and the key id it derives.
    let key = ledger::keys::PublicKey::from_base64(
        ledger::event::SignatureAlgorithm::Ed25519,
        public_b64,
    )
    .expect("a registrable public key");
    assert_eq!(
        printed["key_id"],
        ledger::KeyId::derive(&key).as_str(),
        "{printed}"
    );
    let vkey = printed["witness_verifier_key"].as_str().expect("vkey");
    let verifier =
        ledger::cosignature::CosignatureVerifier::from_verifier_key_string(vkey).expect("vkey");
    assert_eq!(verifier.name(), "supervision.example/w1");
    assert_eq!(
        verifier.verifying_key().to_bytes().to_vec(),
        key.bytes(),
        "the witness key is the same key"
    );

    // Never overwritten.
    let before = std::fs::read(&private).expect("key");
    let again = ledger(&["keygen", "--out", base_s], None);
    refused(&again, "already exists");
    assert_eq!(std::fs::read(&private).expect("key"), before);
    // A bad witness name leaves no files.
    let bad = ledger(
        &[
            "keygen",
            "--out",
            dir.path().join("bad").to_str().expect("utf-8"),
            "--name",
            "no spaces allowed",
        ],
        None,
    );
    expect_code(&bad, 2);
    assert!(!dir.path().join("bad.key").exists());

    // `ledger witness` takes the key file as its own.
    let log = ledger::note::NoteSigner::generate("log.example/l")
        .expect("signer")
        .verifier()
        .to_verifier_key_string();
    let mut witness = Command::new(env!("CARGO_BIN_EXE_ledger"))
        .args(["witness", "--data"])
        .arg(dir.path().join("witness"))
        .args([
            "--name",
            "supervision.example/w1",
            "--log",
            &log,
            "--listen",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn witness");
    let mut first = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(witness.stdout.take().expect("stdout")),
        &mut first,
    )
    .expect("read");
    let _ = witness.kill();
    let _ = witness.wait();
    assert_eq!(first.trim(), format!("witness key:    {vkey}"));
}

/// Event lines without ids for `ledger append`.
fn step(stream: &str, n: u32) -> String {
    json!({"stream": stream, "type": "case.step", "payload": {"step": n, "note": "材料齐全，当场受理"}})
        .to_string()
}

#[test]
fn append_signs_prints_receipts_and_is_safe_to_rerun() {
    let server = Server::start();
    let key_base = server.path("keys/dept-market");
    let printed = keygen(&key_base);
    let token = server.department(
        "dept-market",
        "市市场监督管理局",
        printed["public_key"].as_str().expect("public_key"),
    );
    let key = server.path("keys/dept-market.key");
    let (key_s, token_s) = (key.to_str().expect("utf-8"), token.to_str().expect("utf-8"));
    let append = |input: &str, extra: &[&str], stdin: Option<&str>| {
        let mut args = vec![
            "append",
            "--server",
            &server.base,
            "--token-file",
            token_s,
            "--key",
            key_s,
            "--department",
            "dept-market",
            "--officer",
            "scj-w01",
        ];
        args.extend_from_slice(extra);
        args.push(input);
        ledger(&args, stdin)
    };

    // NDJSON without ids: ids assigned, written back, events signed.
    let events = server.path("events.ndjson");
    std::fs::write(
        &events,
        format!(
            "{}\n\n{}\n{}\n",
            step("case-2026-000001", 1),
            step("case-2026-000001", 2),
            step("case-2026-000002", 1)
        ),
    )
    .expect("write");
    let events_s = events.to_str().expect("utf-8");
    let first = append(events_s, &[], None);
    expect_code(&first, 0);
    let receipts = stdout(&first);
    assert_eq!(receipts.lines().count(), 3, "{receipts}");
    let written: Vec<Value> = std::fs::read_to_string(&events)
        .expect("read")
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    for (line, ev) in receipts.lines().zip(&written) {
        let id = ev["id"].as_str().expect("id written back");
        assert!(line.starts_with(id), "{line} / {id}");
    }
    assert!(
        receipts
            .lines()
            .next()
            .expect("line")
            .contains("case-2026-000001 version 0 log")
    );
    let stored = server.stream("case-2026-000001");
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[0]["signature"]["key"], printed["key_id"]);
    assert_eq!(
        stored[1]["actor"],
        json!({"department": "dept-market", "officer": "scj-w01"})
    );

    // A re-run appends nothing and prints the original receipts.
    let rerun = append(events_s, &[], None);
    expect_code(&rerun, 0);
    assert_eq!(stdout(&rerun), receipts);
    assert_eq!(server.stream("case-2026-000001").len(), 2);

    // A partial failure: the new stream is appended, the existing one
    // refused by --expect-version no-stream, naming its version.
    let mixed = server.path("mixed.json");
    std::fs::write(
        &mixed,
        format!(
            "[{}, {}, {}]",
            step("case-2026-000003", 1),
            step("case-2026-000003", 2),
            step("case-2026-000002", 2)
        ),
    )
    .expect("write");
    let mixed_s = mixed.to_str().expect("utf-8");
    let failed = append(mixed_s, &["--expect-version", "no-stream"], None);
    refused(
        &failed,
        "version conflict on case-2026-000002: expected no stream, current version 0",
    );
    let partial = stdout(&failed);
    assert_eq!(partial.lines().count(), 2, "{partial}");
    assert_eq!(server.stream("case-2026-000002").len(), 1);
    // The re-run (without the expectation) gets the original receipts for
    // what was appended and appends only the rest.
    let recovered = append(mixed_s, &["--json"], None);
    expect_code(&recovered, 0);
    let lines: Vec<Value> = stdout(&recovered)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json receipt"))
        .collect();
    assert_eq!(lines.len(), 3);
    for (old, new) in partial.lines().zip(&lines) {
        let id = new["event_id"].as_str().expect("id");
        let index = new["log_index"].as_u64().expect("index");
        assert!(
            old.starts_with(id) && old.contains(&format!(" log {index} ")),
            "{old} / {new}"
        );
    }
    assert_eq!(server.stream("case-2026-000003").len(), 2);
    assert_eq!(server.stream("case-2026-000002").len(), 2);

    // The file grew after a run: recorded events keep their receipts, the
    // new one is appended once.
    let mut text = std::fs::read_to_string(&events).expect("read");
    text.push_str(&step("case-2026-000001", 3));
    text.push('\n');
    std::fs::write(&events, text).expect("write");
    let grown = append(events_s, &[], None);
    expect_code(&grown, 0);
    let grown_out = stdout(&grown);
    let old: Vec<&str> = receipts.lines().collect();
    let new: Vec<&str> = grown_out.lines().collect();
    assert_eq!(new.len(), 4, "{grown_out}");
    assert_eq!(&new[..2], &old[..2]);
    assert!(new[2].contains("case-2026-000001 version 2"), "{grown_out}");
    assert_eq!(server.stream("case-2026-000001").len(), 3);

    // --expect-version N: a conflict names the current version, exit 2.
    let one = server.path("one.json");
    std::fs::write(&one, step("case-2026-000001", 4)).expect("write");
    let one_s = one.to_str().expect("utf-8");
    let conflict = append(one_s, &["--expect-version", "5"], None);
    refused(&conflict, "expected version 5, current version 2");
    assert_eq!(server.stream("case-2026-000001").len(), 3);
    let exact = append(one_s, &["--expect-version", "2"], None);
    expect_code(&exact, 0);
    assert!(stdout(&exact).contains("case-2026-000001 version 3"));

    // From stdin: ids are required (nowhere to write them) ...
    let no_ids = append("-", &[], Some(&step("case-2026-000004", 1)));
    refused(&no_ids, "stdin: the event: no id");
    // ... and with them it works.
    let with_ids = json!({"id": "01JDQ3S1W9T8M3G8X0QF3V2K7P", "stream": "case-2026-000004",
        "type": "case.step", "occurred_at": "2026-11-26T09:00:00Z", "payload": {"step": 1}});
    let piped = append("-", &["--json"], Some(&with_ids.to_string()));
    expect_code(&piped, 0);
    let receipt: Value = serde_json::from_str(stdout(&piped).trim()).expect("json");
    assert_eq!(receipt["event_id"], "01JDQ3S1W9T8M3G8X0QF3V2K7P");
    assert_eq!(server.stream("case-2026-000004").len(), 1);
}

#[test]
fn bad_keys_and_bad_input_append_nothing() {
    let server = Server::start();
    let printed = keygen(&server.path("market"));
    let token = server.department(
        "dept-market",
        "市市场监督管理局",
        printed["public_key"].as_str().expect("public_key"),
    );
    // Another department's key, and a key nobody registered.
    let tax = keygen(&server.path("tax"));
    server.department(
        "dept-tax",
        "国家税务总局市税务局",
        tax["public_key"].as_str().expect("public_key"),
    );
    keygen(&server.path("stray"));
    let token_s = token.to_str().expect("utf-8");
    let events = server.path("events.json");
    std::fs::write(
        &events,
        format!(
            "[{}, {}]",
            step("case-2026-000009", 1),
            step("case-2026-000010", 1)
        ),
    )
    .expect("write");
    let events_s = events.to_str().expect("utf-8");
    let append_with = |key: &str, input: &str| {
        let key = server.path(key);
        ledger(
            &[
                "append",
                "--server",
                &server.base,
                "--token-file",
                token_s,
                "--key",
                key.to_str().expect("utf-8"),
                "--department",
                "dept-market",
                input,
            ],
            None,
        )
    };

    let wrong = append_with("tax.key", events_s);
    refused(&wrong, "belongs to dept-tax, not to dept-market");
    let stray = append_with("stray.key", events_s);
    refused(
        &stray,
        "Signing key is not registered: unknown key ed25519:",
    );
    assert!(server.stream("case-2026-000009").is_empty());
    assert!(server.stream("case-2026-000010").is_empty());

    // A malformed NDJSON line is named; nothing sent, the file untouched.
    let bad = server.path("bad.ndjson");
    let text = format!(
        "{}\n{{\"stream\": \"case-2026-000011\",\n",
        step("case-2026-000011", 1)
    );
    std::fs::write(&bad, &text).expect("write");
    let out = append_with("market.key", bad.to_str().expect("utf-8"));
    refused(&out, "bad.ndjson: line 2: not JSON");
    assert_eq!(std::fs::read_to_string(&bad).expect("read"), text);
    assert!(server.stream("case-2026-000011").is_empty());

    // A domain payload that breaks its schema is refused before sending,
    // even when other streams' events come first.
    let schema = server.path("schema.ndjson");
    std::fs::write(
        &schema,
        format!(
            "{}\n{}\n",
            step("case-2026-000012", 1),
            json!({"stream": "case-2026-000013", "type": "case.accepted", "payload": {"item_id": "x"}})
        ),
    )
    .expect("write");
    let out = append_with("market.key", schema.to_str().expect("utf-8"));
    refused(&out, "line 2");
    assert!(server.stream("case-2026-000012").is_empty());

    // A key file others can read is refused.
    let key = server.path("market.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let out = append_with("market.key", events_s);
    refused(&out, "must be 0600");
    assert!(server.stream("case-2026-000009").is_empty());
}
