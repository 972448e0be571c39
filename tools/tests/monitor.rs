//! `ledger monitor` against real `ledger serve` processes over loopback: a
//! clean log verified, an extension proven consistent with only the new
//! entries fetched, a rewritten history under the same key reported as a
//! fork, a tampered entry named by its index, and bad input refused with
//! the state file left as it was.

#[path = "support/loopback.rs"]
mod loopback;

use loopback::{Running, admin_token, append, ledger, log_vkey, same_key_dir, settled_size};
use serde_json::Value;

fn state_of(path: &std::path::Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).expect("state")).expect("state json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_monitor_verifies_proves_consistency_and_reports_a_rewrite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("a");
    let a = Running::serve(&data, &["--demo", "--demo-cases", "12"]);
    let token = admin_token(&data);
    let size = settled_size(&a.base).await;
    assert!(size > 50, "demo log of {size}");
    let key_file = data.join("ledger.pub");
    let key_file = key_file.to_str().expect("utf-8");
    let state = dir.path().join("monitor.json");
    let state_s = state.to_str().expect("utf-8");

    // First run: the whole log.
    let o = ledger(&[
        "monitor",
        &a.base,
        "--log-key-file",
        key_file,
        "--state",
        state_s,
    ])
    .await;
    let out = loopback::stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{}", loopback::stderr(&o));
    assert!(
        out.contains(&format!("{size} new entries checked (0..{size})")),
        "{out}"
    );
    assert!(out.contains("no earlier checkpoint kept"), "{out}");
    assert_eq!(state_of(&state)["size"], size);
    let old_root = state_of(&state)["root"].as_str().expect("root").to_owned();

    // The log grows: the next run proves the extension from the tiles and
    // checks only the new entries.
    append(&a.base, &token, "case-monitor-1", 5, "a").await;
    let grown = settled_size(&a.base).await;
    assert_eq!(grown, size + 5);
    let o = ledger(&[
        "monitor",
        &a.base,
        "--log-key-file",
        key_file,
        "--state",
        state_s,
    ])
    .await;
    let out = loopback::stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{}", loopback::stderr(&o));
    assert!(
        out.contains(&format!(
            "extends the checkpoint verified before (size {size}, root {old_root}), proven from the tiles"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!("5 new entries checked ({size}..{grown})")),
        "{out}"
    );
    assert_eq!(state_of(&state)["size"], grown);

    // A second server with a different history under the same key and name.
    let data_b = dir.path().join("b");
    same_key_dir(&data, &data_b);
    let b = Running::serve(&data_b, &[]);
    let token_b = admin_token(&data_b);
    append(&b.base, &token_b, "case-rewritten", 40, "b").await;
    let size_b = settled_size(&b.base).await;
    assert!(size_b < grown, "{size_b} vs {grown}");

    // On its own the rewritten log is internally valid…
    let o = ledger(&["monitor", &b.base, "--log-key-file", key_file]).await;
    assert_eq!(o.status.code(), Some(0), "{}", loopback::stdout(&o));

    // …but not to a monitor that verified the first history: shorter…
    let before = std::fs::read(&state).expect("state");
    let fork_b = |o: &std::process::Output, size_b: u64, why: &str| {
        let out = loopback::stdout(o);
        let err = loopback::stderr(o);
        assert_eq!(o.status.code(), Some(1), "{out}{err}");
        assert!(out.contains("FORK"), "{out}");
        assert!(
            out.contains(&format!("(size {grown}, root "))
                && out.contains(&format!("size {size_b}, root ")),
            "{out}"
        );
        assert!(out.contains(why), "{out}");
        assert!(
            err.contains("FORK") && err.contains("NOT the log verified before"),
            "{err}"
        );
    };
    let o = ledger(&[
        "monitor",
        &b.base,
        "--log-key-file",
        key_file,
        "--state",
        state_s,
    ])
    .await;
    fork_b(&o, size_b, "the log shrank");
    assert_eq!(
        std::fs::read(&state).expect("state"),
        before,
        "state changed"
    );

    // …or longer: its tiles cannot prove it extends what was verified.
    for round in 0..3 {
        append(
            &b.base,
            &token_b,
            "case-rewritten",
            60,
            &format!("b{round}"),
        )
        .await;
    }
    let size_b = settled_size(&b.base).await;
    assert!(size_b > grown, "{size_b} vs {grown}");
    let o = ledger(&[
        "monitor",
        &b.base,
        "--log-key-file",
        key_file,
        "--state",
        state_s,
    ])
    .await;
    fork_b(
        &o,
        size_b,
        "the consistency proof computed from its tiles does not verify",
    );
    assert_eq!(
        std::fs::read(&state).expect("state"),
        before,
        "state changed"
    );

    // The original log still checks out against the state.
    let o = ledger(&[
        "monitor",
        &a.base,
        "--log-key-file",
        key_file,
        "--state",
        state_s,
    ])
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", loopback::stdout(&o));
    assert!(loopback::stdout(&o).contains("same as the checkpoint verified before"));
    b.stop();
    a.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_entry_is_named_by_its_log_index() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let server = Running::serve(&data, &["--demo", "--demo-cases", "8"]);
    settled_size(&server.base).await;
    server.stop();

    // Change one byte of a case event's entry in the stopped server's store.
    let db = rusqlite::Connection::open(data.join("ledger.sqlite")).expect("open");
    let (index, entry): (i64, Vec<u8>) = db
        .query_row(
            "SELECT idx, entry FROM events WHERE stream LIKE 'case-%' ORDER BY idx LIMIT 1 OFFSET 5",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("an entry");
    let text = String::from_utf8(entry).expect("utf-8");
    let at = text.find("case.").expect("an event type") + 5;
    let mut tampered = text.into_bytes();
    tampered[at] = if tampered[at] == b'x' { b'y' } else { b'x' };
    db.execute(
        "UPDATE events SET entry = ?1 WHERE idx = ?2",
        rusqlite::params![tampered, index],
    )
    .expect("tamper");
    drop(db);

    let server = Running::serve(&data, &[]);
    let key = log_vkey(&data);
    let o = ledger(&["monitor", &server.base, "--log-key", &key]).await;
    let out = loopback::stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{}", loopback::stderr(&o));
    assert!(
        out.contains(&format!("altered entry at log index {index}:")),
        "{out}"
    );
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_keys_and_bad_state_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let server = Running::serve(&data, &["--demo", "--demo-cases", "4"]);
    settled_size(&server.base).await;
    let state = dir.path().join("monitor.json");
    let state_s = state.to_str().expect("utf-8");

    // Another key under the same name: the checkpoint is not signed by it.
    let origin = log_vkey(&data).split('+').next().expect("name").to_owned();
    let other = ledger::note::NoteSigner::generate(&origin)
        .expect("signer")
        .verifier()
        .to_verifier_key_string();
    let o = ledger(&[
        "monitor",
        &server.base,
        "--log-key",
        &other,
        "--state",
        state_s,
    ])
    .await;
    assert_eq!(o.status.code(), Some(1), "{}", loopback::stderr(&o));
    assert!(
        loopback::stdout(&o).contains("bad checkpoint"),
        "{}",
        loopback::stdout(&o)
    );
    assert!(!state.exists(), "a state was written for an unverified log");

    // Witness cosignatures required but absent.
    let witness = ledger::cosignature::Cosigner::generate("witness.example/w")
        .expect("cosigner")
        .verifier()
        .to_verifier_key_string();
    let key = log_vkey(&data);
    let o = ledger(&[
        "monitor",
        &server.base,
        "--log-key",
        &key,
        "--witness",
        &witness,
        "--state",
        state_s,
    ])
    .await;
    assert_eq!(o.status.code(), Some(1));
    assert!(
        loopback::stdout(&o).contains("0 valid witness cosignatures; 1 required"),
        "{}",
        loopback::stdout(&o)
    );
    assert!(!state.exists());

    // Not a verifier key: usage error.
    let o = ledger(&["monitor", &server.base, "--log-key", "junk"]).await;
    assert_eq!(o.status.code(), Some(2));
    assert!(loopback::stderr(&o).contains("not a signed-note verifier key"));

    // A damaged state file: exit 2, named, and left as it was.
    std::fs::write(&state, b"{\"format\":1,").expect("write");
    let o = ledger(&[
        "monitor",
        &server.base,
        "--log-key",
        &key,
        "--state",
        state_s,
    ])
    .await;
    assert_eq!(o.status.code(), Some(2));
    let err = loopback::stderr(&o);
    assert!(
        err.contains("state file") && err.contains("monitor.json"),
        "{err}"
    );
    assert_eq!(std::fs::read(&state).expect("state"), b"{\"format\":1,");

    // Nothing listening: a connection error, exit 2.
    std::fs::remove_file(&state).expect("rm");
    let o = ledger(&["monitor", "http://127.0.0.1:9", "--log-key", &key]).await;
    assert_eq!(o.status.code(), Some(2));
    assert!(loopback::stderr(&o).contains("reading the checkpoint"));
    server.stop();
}
