//! Real `ledger` processes over loopback for the monitor and witness tests:
//! a server started on port 0 (its address read from its output), verbs run
//! to completion, events appended over HTTP.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// A running `ledger` process that printed `listening on <url>`.
pub struct Running {
    child: Child,
    pub base: String,
    pub stdout: Vec<String>,
}

impl Running {
    /// `ledger serve --data DIR --listen 127.0.0.1:0 --rate-limit 0 EXTRA…`.
    pub fn serve(data: &Path, extra: &[&str]) -> Running {
        let data = data.to_str().expect("utf-8 path");
        let mut args = vec![
            "--data",
            data,
            "--listen",
            "127.0.0.1:0",
            "--rate-limit",
            "0",
        ];
        args.extend_from_slice(extra);
        Self::spawn("serve", &args)
    }

    /// `ledger VERB ARGS…`, until it prints `listening on`.
    pub fn spawn(verb: &str, args: &[&str]) -> Running {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ledger"))
            .arg(verb)
            .args(args)
            .env("LEDGER_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn ledger");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut lines = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = rx.recv_timeout(left) else {
                let _ = child.kill();
                let _ = child.wait();
                panic!("no 'listening on' line; got {lines:?}");
            };
            if let Some(addr) = line.strip_prefix("listening on ") {
                let base = addr.trim().to_owned();
                lines.push(line);
                return Running {
                    child,
                    base,
                    stdout: lines,
                };
            }
            lines.push(line);
        }
    }

    /// SIGTERM, then waits for a clean exit.
    pub fn stop(mut self) {
        let pid = i32::try_from(self.child.id()).expect("pid");
        // SAFETY: kill(2) on a child we spawned and still own.
        let rc = unsafe { libc::kill(pid, libc::SIGTERM) };
        assert_eq!(rc, 0);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                assert!(status.success(), "{status:?}");
                return;
            }
            assert!(Instant::now() < deadline, "the process did not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `ledger ARGS…` to completion (on a blocking thread).
pub async fn ledger(args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_ledger"))
            .args(&args)
            .env("LEDGER_LOG", "warn")
            .output()
            .expect("run ledger")
    })
    .await
    .expect("join")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn admin_token(data: &Path) -> String {
    std::fs::read_to_string(data.join("admin.token"))
        .expect("admin.token")
        .trim()
        .to_owned()
}

pub fn log_vkey(data: &Path) -> String {
    std::fs::read_to_string(data.join("ledger.pub"))
        .expect("ledger.pub")
        .trim()
        .to_owned()
}

/// A fresh data directory holding `from`'s ledger key (and its public
/// half): the same log name and key, no history.
pub fn same_key_dir(from: &Path, to: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::create_dir_all(to).expect("mkdir");
    let key = to.join("ledger.key");
    std::fs::copy(from.join("ledger.key"), &key).expect("copy key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    std::fs::copy(from.join("ledger.pub"), to.join("ledger.pub")).expect("copy public key");
}

/// Appends `n` unsigned events to `stream` as the admin.
pub async fn append(base: &str, token: &str, stream: &str, n: usize, tag: &str) {
    let events: Vec<Value> = (0..n)
        .map(|i| {
            let ev = ledger::ProposedEvent::new(
                ledger::StreamId::new(stream).expect("stream"),
                ledger::EventType::new("case.step").expect("type"),
                ledger::Timestamp::now(),
                ledger::Actor {
                    department: ledger::ActorId::new("dept-market").expect("id"),
                    officer: None,
                },
                json!({"i": i, "tag": tag})
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
            );
            serde_json::to_value(ev).expect("json")
        })
        .collect();
    let res = reqwest::Client::new()
        .post(format!("{base}/v1/streams/{stream}/events"))
        .bearer_auth(token)
        .json(&json!({"events": events}))
        .send()
        .await
        .expect("append");
    let status = res.status();
    assert_eq!(status, 200, "{}", res.text().await.unwrap_or_default());
}

/// Waits until the served checkpoint covers the whole log; its size.
pub async fn settled_size(base: &str) -> u64 {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let info: Value = client
            .get(format!("{base}/v1/log"))
            .send()
            .await
            .expect("log")
            .json()
            .await
            .expect("json");
        let (size, cp) = (
            info["size"].as_u64().expect("size"),
            info["checkpoint_size"].as_u64().expect("checkpoint_size"),
        );
        if size == cp {
            return size;
        }
        assert!(Instant::now() < deadline, "no checkpoint of size {size}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// POST JSON with the bearer `token` (in most tests the admin's); the
/// answer's JSON, after asserting a 2xx status.
pub async fn admin_post(base: &str, token: &str, path: &str, body: Value) -> Value {
    let res = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("post");
    let status = res.status();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{path}: {status} {body}");
    body
}

/// Registers the witness `vkey` (pull mode: no URL) and issues it a
/// witness token, returned.
pub async fn enrol_witness(base: &str, admin: &str, vkey: &str) -> String {
    admin_post(
        base,
        admin,
        "/v1/admin/witnesses",
        json!({"verifier_key": vkey}),
    )
    .await;
    let t = admin_post(
        base,
        admin,
        "/v1/admin/tokens",
        json!({"role": "witness", "department": "supervision-office", "subject": "w1"}),
    )
    .await;
    t["token"].as_str().expect("token").to_owned()
}
