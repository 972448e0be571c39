//! A real `ledger serve` on loopback with a fresh data directory, the
//! `ledger` binary run as a process, and the administrator's HTTP calls —
//! shared by the tests of the department verbs (keygen, append, catalog).

#![allow(dead_code)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

#[path = "../support/loopback.rs"]
mod loopback;

/// A `ledger serve` process on a fresh data directory; stopped (SIGKILL)
/// when dropped.
pub struct Server {
    // Dropped first: the process stops before its directory goes.
    _running: loopback::Running,
    pub base: String,
    pub admin: String,
    pub data: PathBuf,
    pub dir: tempfile::TempDir,
    http: reqwest::Client,
    rt: tokio::runtime::Runtime,
}

impl Server {
    pub fn start() -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        let running = loopback::Running::serve(&data, &[]);
        Server {
            base: running.base.clone(),
            admin: loopback::admin_token(&data),
            _running: running,
            data,
            dir,
            http: reqwest::Client::new(),
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime"),
        }
    }

    /// A path in the test's temporary directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// POST as the administrator; panics unless 2xx.
    pub fn admin_post(&self, path: &str, body: Value) -> Value {
        let (status, body) = self.rt.block_on(async {
            let res = self
                .http
                .post(format!("{}{path}", self.base))
                .bearer_auth(&self.admin)
                .json(&body)
                .send()
                .await
                .expect("request");
            (
                res.status(),
                res.json::<Value>().await.unwrap_or(Value::Null),
            )
        });
        assert!(status.is_success(), "POST {path}: {status} {body}");
        body
    }

    /// GET as the administrator: the status and the JSON body.
    pub fn admin_get(&self, path: &str) -> (u16, Value) {
        self.rt.block_on(async {
            let res = self
                .http
                .get(format!("{}{path}", self.base))
                .bearer_auth(&self.admin)
                .send()
                .await
                .expect("request");
            let status = res.status().as_u16();
            (status, res.json::<Value>().await.unwrap_or(Value::Null))
        })
    }

    /// Every event of `stream` (none if it does not exist).
    pub fn stream(&self, stream: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut from = 0;
        loop {
            let (status, page) = self.admin_get(&format!(
                "/v1/streams/{stream}/events?from={from}&limit=1000"
            ));
            if status == 404 {
                return out;
            }
            assert_eq!(status, 200, "{page}");
            let events = page["events"].as_array().expect("events").clone();
            out.extend(events.into_iter().map(|e| e["event"].clone()));
            match page["next"].as_u64() {
                Some(n) => from = n,
                None => return out,
            }
        }
    }

    /// Registers `department` (named `name`), a key for it from a `ledger
    /// keygen --json` answer, and a department token written to a file.
    pub fn department(&self, department: &str, name: &str, public_key: &str) -> PathBuf {
        self.admin_post(
            "/v1/admin/departments",
            json!({"department": department, "name": name}),
        );
        self.register_key(department, public_key);
        let token = self.admin_post(
            "/v1/admin/tokens",
            json!({"role": "department", "department": department, "subject": format!("{department}-clerk")}),
        );
        let path = self.path(&format!("{department}.token"));
        std::fs::write(&path, token["token"].as_str().expect("token")).expect("write token");
        path
    }

    pub fn register_key(&self, department: &str, public_key: &str) -> Value {
        self.admin_post(
            "/v1/admin/keys",
            json!({"department": department, "public_key": public_key}),
        )
    }

    /// The administrator's token in a file.
    pub fn admin_token_file(&self) -> PathBuf {
        self.data.join("admin.token")
    }
}

/// `ledger ARGS` with `stdin` (empty if `None`).
pub fn ledger(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ledger"))
        .args(args)
        .env_remove("LEDGER_TOKEN")
        .env_remove("LEDGER_SERVER")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run ledger");
    let mut input = child.stdin.take().expect("stdin");
    input
        .write_all(stdin.unwrap_or("").as_bytes())
        .expect("write stdin");
    drop(input);
    child.wait_with_output().expect("ledger output")
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts exit code `code`, showing the output otherwise.
pub fn expect_code(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        stdout(out),
        stderr(out)
    );
}

/// Asserts exit code 2 with `needle` in stderr.
pub fn refused(out: &Output, needle: &str) {
    expect_code(out, 2);
    assert!(stderr(out).contains(needle), "{}", stderr(out));
}

/// `ledger keygen --out PATH --json`: the printed object.
pub fn keygen(out: &Path) -> Value {
    let o = ledger(
        &["keygen", "--out", out.to_str().expect("utf-8"), "--json"],
        None,
    );
    expect_code(&o, 0);
    serde_json::from_str(stdout(&o).trim()).expect("keygen --json")
}
