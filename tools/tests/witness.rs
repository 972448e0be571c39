//! `ledger witness` against real `ledger serve` processes over loopback:
//! pull mode end to end (the ledger's checkpoint gains the cosignature, and
//! again after the log grows), a rewritten history under the same key
//! refused in pull and push mode with the reason, and a key file that
//! others can read refused before anything is written.

#[path = "support/loopback.rs"]
mod loopback;

use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

use base64::Engine as _;
use ed25519_dalek::SigningKey;
use ledger::checkpoint::Checkpoint;
use ledger::cosignature::{CosignatureVerifier, Cosigner, verify_cosignature};
use ledger::note::NoteVerifier;
use loopback::{
    Running, admin_token, append, enrol_witness, ledger, log_vkey, same_key_dir, settled_size,
};
use serde_json::Value;

const WITNESS: &str = "supervision.example/w1";

/// A witness key file as `ledger keygen` writes it; the witness's vkey.
fn write_key(path: &Path, mode: u32) -> String {
    let key = SigningKey::generate(&mut rand::rng());
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .expect("key file");
    use std::io::Write as _;
    writeln!(
        f,
        "{}",
        base64::engine::general_purpose::STANDARD.encode(key.to_bytes())
    )
    .expect("write");
    Cosigner::new(WITNESS, key)
        .expect("cosigner")
        .verifier()
        .to_verifier_key_string()
}

/// The served checkpoint's size and whether `witness` cosigned it.
async fn served(base: &str, log: &NoteVerifier, witness: &CosignatureVerifier) -> (u64, bool) {
    let bytes = reqwest::get(format!("{base}/checkpoint"))
        .await
        .expect("checkpoint")
        .bytes()
        .await
        .expect("body");
    let (cp, note) = Checkpoint::verify_note(&bytes, log).expect("log-signed");
    let cosigned = note
        .signatures
        .iter()
        .any(|s| verify_cosignature(witness, &note.text, s).is_ok());
    (cp.size, cosigned)
}

fn cosigned_size(state: &Path, origin: &str) -> u64 {
    let v: Value = serde_json::from_slice(&std::fs::read(state).expect("state")).expect("json");
    v[origin]["size"].as_u64().expect("size")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pulling_witness_cosigns_and_refuses_a_rewritten_history() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("a");
    let a = Running::serve(&data, &["--demo", "--demo-cases", "6"]);
    let admin = admin_token(&data);
    let log_key_text = log_vkey(&data);
    let log_key = NoteVerifier::from_verifier_key_string(&log_key_text).expect("vkey");
    let origin = log_key.name().to_owned();
    let key_path = dir.path().join("w1.key");
    let vkey = write_key(&key_path, 0o600);
    let witness = CosignatureVerifier::from_verifier_key_string(&vkey).expect("vkey");
    let token = enrol_witness(&a.base, &admin, &vkey).await;
    let wdir = dir.path().join("witness");
    let wdir_s = wdir.to_str().expect("utf-8").to_owned();
    let key_s = key_path.to_str().expect("utf-8").to_owned();
    let pull = |base: String, token: String| {
        let (wdir_s, key_s, log_key_text) = (wdir_s.clone(), key_s.clone(), log_key_text.clone());
        async move {
            ledger(&[
                "witness",
                "--data",
                &wdir_s,
                "--name",
                WITNESS,
                "--key",
                &key_s,
                "--log",
                &log_key_text,
                "--pull",
                &base,
                "--token",
                &token,
                "--once",
            ])
            .await
        }
    };

    // Pull mode end to end, twice: the ledger's checkpoint gains the
    // witness's cosignature each time.
    let size = settled_size(&a.base).await;
    let o = pull(a.base.clone(), token.clone()).await;
    let out = loopback::stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{}", loopback::stderr(&o));
    assert!(out.contains(&format!("witness key:    {vkey}")), "{out}");
    assert!(
        out.contains(&format!(
            "✓ cosigned {origin} size {size}; the log kept the cosignature of {WITNESS}"
        )),
        "{out}"
    );
    assert_eq!(served(&a.base, &log_key, &witness).await, (size, true));
    let state = wdir.join("witness-state.json");
    assert_eq!(cosigned_size(&state, &origin), size);

    append(&a.base, &admin, "case-witnessed", 7, "a").await;
    let grown = settled_size(&a.base).await;
    assert_eq!(served(&a.base, &log_key, &witness).await, (grown, false));
    let o = pull(a.base.clone(), token.clone()).await;
    assert_eq!(o.status.code(), Some(0), "{}", loopback::stdout(&o));
    assert_eq!(served(&a.base, &log_key, &witness).await, (grown, true));
    assert_eq!(cosigned_size(&state, &origin), grown);

    // A second server: the same key and name, a different (longer) history.
    let data_b = dir.path().join("b");
    same_key_dir(&data, &data_b);
    let b = Running::serve(&data_b, &[]);
    let admin_b = admin_token(&data_b);
    for round in 0..4 {
        append(
            &b.base,
            &admin_b,
            "case-rewritten",
            60,
            &format!("b{round}"),
        )
        .await;
    }
    let size_b = settled_size(&b.base).await;
    assert!(size_b > grown, "{size_b} vs {grown}");
    let token_b = enrol_witness(&b.base, &admin_b, &vkey).await;
    let before = std::fs::read(&state).expect("state");

    // Pull mode: refused, with the reason, and nothing posted or kept.
    let o = pull(b.base.clone(), token_b.clone()).await;
    let out = loopback::stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{}", loopback::stderr(&o));
    assert!(
        out.contains(&format!(
            "✗ REFUSED to cosign {origin} size {size_b}: 422 the consistency proof does not verify"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!("last cosigned: size {grown}")),
        "{out}"
    );
    assert!(loopback::stderr(&o).contains("REFUSED"));
    assert_eq!(std::fs::read(&state).expect("state"), before);
    assert_eq!(served(&b.base, &log_key, &witness).await, (size_b, false));

    // Push mode: the same witness serving add-checkpoint refuses the
    // rewritten log's own request as tlog-witness says: 422, and 409 with
    // the size it knows when the old size is not its own.
    let w = Running::spawn(
        "witness",
        &[
            "--data",
            &wdir_s,
            "--name",
            WITNESS,
            "--key",
            &key_s,
            "--log",
            &log_key_text,
            "--listen",
            "127.0.0.1:0",
        ],
    );
    let client = reqwest::Client::new();
    for (old, status, body) in [
        (grown, 422, "the consistency proof does not verify"),
        (1, 409, ""),
    ] {
        let request = client
            .get(format!(
                "{}/v1/witness/add-checkpoint?old_size={old}",
                b.base
            ))
            .bearer_auth(&token_b)
            .send()
            .await
            .expect("request")
            .bytes()
            .await
            .expect("body");
        let res = client
            .post(format!("{}/add-checkpoint", w.base))
            .body(request)
            .send()
            .await
            .expect("add-checkpoint");
        assert_eq!(res.status().as_u16(), status);
        let content_type = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let text = res.text().await.expect("text");
        if status == 409 {
            assert_eq!(content_type, "text/x.tlog.size");
            assert_eq!(text, format!("{grown}\n"));
        } else {
            assert!(text.starts_with(body), "{text}");
        }
    }
    w.stop();
    assert_eq!(std::fs::read(&state).expect("state"), before);
    b.stop();
    a.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_file_others_can_read_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wdir = dir.path().join("witness");
    let log = ledger::note::NoteSigner::generate("example.org/log")
        .expect("signer")
        .verifier()
        .to_verifier_key_string();
    let with_key = |key: &Path| {
        let (wdir, key, log) = (wdir.clone(), key.to_owned(), log.clone());
        async move {
            ledger(&[
                "witness",
                "--data",
                wdir.to_str().expect("utf-8"),
                "--name",
                WITNESS,
                "--key",
                key.to_str().expect("utf-8"),
                "--log",
                &log,
                "--pull",
                "http://127.0.0.1:9",
                "--once",
            ])
            .await
        }
    };

    let open = dir.path().join("open.key");
    write_key(&open, 0o644);
    let o = with_key(&open).await;
    assert_eq!(o.status.code(), Some(2));
    assert!(
        loopback::stderr(&o).contains("readable by others (mode 644)"),
        "{}",
        loopback::stderr(&o)
    );
    assert!(!wdir.join("witness-state.json").exists());

    // A file that is not a seed.
    let junk = dir.path().join("junk.key");
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&junk)
        .expect("junk");
    std::fs::write(&junk, "not base64\n").expect("write");
    let o = with_key(&junk).await;
    assert_eq!(o.status.code(), Some(2));
    assert!(loopback::stderr(&o).contains("is not a private key file"));
    assert!(!wdir.join("witness-state.json").exists());
}
