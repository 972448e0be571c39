//! `ledger serve` as a real process over loopback: the start-up contract,
//! configuration by flag, environment and TOML, and graceful shutdown on
//! SIGTERM under load with every acknowledged event kept.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

struct Server {
    child: Child,
    base: String,
    stdout: Vec<String>,
    /// Every line the process wrote to stderr so far (also passed on to
    /// this test's stderr), and the thread reading them.
    stderr: Arc<Mutex<Vec<String>>>,
    stderr_reader: std::thread::JoinHandle<()>,
}

impl Server {
    fn spawn(args: &[&str], envs: &[(&str, &str)]) -> Server {
        Self::spawn_verb("serve", args, envs)
    }

    fn spawn_verb(verb: &str, args: &[&str], envs: &[(&str, &str)]) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ledger"));
        cmd.arg(verb)
            .args(args)
            .env("LEDGER_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn ledger serve");
        let stdout = child.stdout.take().expect("stdout");
        let stderr_pipe = child.stderr.take().expect("stderr");
        let stderr: Arc<Mutex<Vec<String>>> = Arc::default();
        let kept = stderr.clone();
        let stderr_reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr_pipe).lines() {
                let Ok(line) = line else { break };
                eprintln!("{line}");
                kept.lock().expect("lock").push(line);
            }
        });
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
        let deadline = Instant::now() + Duration::from_secs(30);
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
                return Server {
                    child,
                    base,
                    stdout: lines,
                    stderr,
                    stderr_reader,
                };
            }
            lines.push(line);
        }
    }

    fn sigterm(&self) {
        let pid = i32::try_from(self.child.id()).expect("pid");
        // SAFETY: kill(2) with a pid we spawned and own.
        let rc = unsafe { libc::kill(pid, libc::SIGTERM) };
        assert_eq!(rc, 0);
    }

    fn wait(self) -> std::process::ExitStatus {
        self.wait_with_log().0
    }

    /// Waits for the process to end; its status and everything it wrote
    /// to stderr.
    fn wait_with_log(mut self) -> (std::process::ExitStatus, Vec<String>) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status;
            }
            assert!(Instant::now() < deadline, "server did not stop");
            std::thread::sleep(Duration::from_millis(20));
        };
        // The pipe closed with the process: the reader ends.
        let _ = self.stderr_reader.join();
        let log = std::mem::take(&mut *self.stderr.lock().expect("lock"));
        (status, log)
    }

    fn stop(self) -> std::process::ExitStatus {
        self.sigterm();
        self.wait()
    }
}

fn admin_token(data: &Path) -> String {
    std::fs::read_to_string(data.join("admin.token"))
        .expect("admin.token")
        .trim()
        .to_owned()
}

async fn get(client: &reqwest::Client, url: String, token: Option<&str>) -> (u16, Value) {
    let mut req = client.get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.expect("request");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_up_contract_flags_env_and_toml() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let data_s = data.to_str().expect("utf-8");
    let client = reqwest::Client::new();

    // First start: initialises, prints the admin token once, loads the demo.
    let server = Server::spawn(
        &[
            "--data",
            data_s,
            "--listen",
            "127.0.0.1:0",
            "--demo",
            "--demo-cases",
            "20",
            "--origin",
            "serve.example/log",
        ],
        &[],
    );
    let token = admin_token(&data);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(data.join("admin.token"))
        .expect("meta")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let printed = server.stdout.join("\n");
    assert!(printed.contains(&token), "{printed}");
    let (status, info) = get(&client, format!("{}/v1/log", server.base), None).await;
    assert_eq!(status, 200);
    assert_eq!(info["origin"], "serve.example/log");
    assert!(
        info["verifier_key"]
            .as_str()
            .expect("key")
            .starts_with("serve.example/log+")
    );
    // The demo (departments, catalogue, 20 cases) and the admin token's
    // registry event.
    let size = info["size"].clone();
    assert!(size.as_u64().is_some_and(|s| s > 20 * 4), "{size}");
    let (status, page) = get(
        &client,
        format!("{}/v1/streams/case-demo-0002/events", server.base),
        Some(&token),
    )
    .await;
    assert_eq!(status, 200);
    assert!(page["events"].as_array().expect("events").len() >= 2);
    assert!(server.stop().success());

    // Second start, configured by environment and a TOML file: the token is
    // reused and not printed, the demo is not loaded twice.
    let config = dir.path().join("ledger.toml");
    std::fs::write(
        &config,
        format!("data = {data_s:?}\ndemo = true\nrate_limit = 0\n"),
    )
    .expect("write config");
    let server = Server::spawn(
        &[],
        &[
            ("LEDGER_CONFIG", config.to_str().expect("utf-8")),
            ("LEDGER_LISTEN", "127.0.0.1:0"),
        ],
    );
    let printed = server.stdout.join("\n");
    assert!(!printed.contains(&token), "{printed}");
    assert_eq!(admin_token(&data), token);
    let (status, info) = get(&client, format!("{}/v1/log", server.base), None).await;
    assert_eq!(status, 200);
    assert_eq!(info["size"], size);
    let (status, _) = get(
        &client,
        format!("{}/v1/log/entries", server.base),
        Some(&token),
    )
    .await;
    assert_eq!(status, 200);
    assert!(server.stop().success());

    // Another origin for an existing directory, or a bad config: refused.
    let out = Command::new(env!("CARGO_BIN_EXE_ledger"))
        .args([
            "serve",
            "--data",
            data_s,
            "--listen",
            "127.0.0.1:0",
            "--origin",
            "other.example/log",
        ])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    std::fs::write(&config, "colour = \"blue\"\n").expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_ledger"))
        .args(["serve", "--config", config.to_str().expect("utf-8")])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("colour"));
}

/// The service runs with transparent huge pages off (see `main`): a heap
/// the allocator keeps handing back and taking again would otherwise have
/// the kernel zero 2 MiB for every range touched anew.
#[cfg(target_os = "linux")]
#[test]
fn the_service_runs_without_transparent_huge_pages() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let server = Server::spawn(
        &[
            "--data",
            data.to_str().expect("utf-8"),
            "--listen",
            "127.0.0.1:0",
        ],
        &[],
    );
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.child.id()))
        .expect("/proc/PID/status");
    let thp = status
        .lines()
        .find_map(|l| l.strip_prefix("THP_enabled:"))
        .map(str::trim);
    assert_eq!(
        thp,
        Some("0"),
        "THP_enabled of the running service (this kernel's /proc/PID/status)"
    );
    assert!(server.stop().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_loses_no_acknowledged_event() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let data_s = data.to_str().expect("utf-8").to_owned();
    let server = Server::spawn(
        &[
            "--data",
            &data_s,
            "--listen",
            "127.0.0.1:0",
            "--rate-limit",
            "0",
        ],
        &[],
    );
    let token = admin_token(&data);
    let client = reqwest::Client::new();
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let unexpected: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut tasks = Vec::new();
    for c in 0..16 {
        let (client, base, token) = (client.clone(), server.base.clone(), token.clone());
        let (acked, unexpected) = (acked.clone(), unexpected.clone());
        tasks.push(tokio::spawn(async move {
            let stream = format!("case-load-{c}");
            loop {
                let events: Vec<Value> = (0..4)
                    .map(|i| {
                        let ev = ledger::ProposedEvent::new(
                            ledger::StreamId::new(&stream).expect("stream"),
                            ledger::EventType::new("case.step").expect("type"),
                            ledger::Timestamp::now(),
                            ledger::Actor {
                                department: ledger::ActorId::new("dept-market").expect("id"),
                                officer: None,
                            },
                            json!({"i": i}).as_object().cloned().unwrap_or_default(),
                        );
                        serde_json::to_value(ev).expect("json")
                    })
                    .collect();
                let ids: Vec<String> = events
                    .iter()
                    .map(|e| e["id"].as_str().expect("id").to_owned())
                    .collect();
                let res = client
                    .post(format!("{base}/v1/streams/{stream}/events"))
                    .bearer_auth(&token)
                    .json(&json!({"events": events}))
                    .send()
                    .await;
                match res {
                    Ok(r) if r.status() == 200 => {
                        acked.lock().expect("lock").extend(ids);
                    }
                    // Refused while shutting down: fine, nothing acknowledged.
                    Ok(r) if r.status() == 503 => break,
                    Ok(r) => {
                        unexpected
                            .lock()
                            .expect("lock")
                            .push(format!("{}", r.status()));
                        break;
                    }
                    // Connection refused or closed: the server is gone.
                    Err(_) => break,
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.sigterm();
    for t in tasks {
        t.await.expect("task");
    }
    let (status, log) = tokio::task::spawn_blocking(move || server.wait_with_log())
        .await
        .expect("join");
    assert!(status.success(), "{status:?}");
    // A graceful stop is not a fault: nothing is logged as an error (the
    // read-model projector cut short mid-read by the stopping runtime once
    // was).
    let errors: Vec<&String> = log.iter().filter(|l| l.contains("ERROR")).collect();
    assert!(
        errors.is_empty(),
        "errors logged while stopping: {errors:?}"
    );
    assert!(
        unexpected.lock().expect("lock").is_empty(),
        "{:?}",
        unexpected.lock().expect("lock")
    );
    let acked: Vec<String> = acked.lock().expect("lock").clone();
    assert!(acked.len() > 100, "load too small: {}", acked.len());

    // Restart and count: every acknowledged event is there.
    let server = Server::spawn(&["--data", &data_s, "--listen", "127.0.0.1:0"], &[]);
    let mut present = HashSet::new();
    let mut from = 0u64;
    loop {
        let (status, page) = get(
            &client,
            format!("{}/v1/log/entries?from={from}&limit=1000", server.base),
            Some(&token),
        )
        .await;
        assert_eq!(status, 200);
        for e in page["events"].as_array().expect("events") {
            present.insert(e["event"]["id"].as_str().expect("id").to_owned());
        }
        match page["next"].as_u64() {
            Some(n) => from = n,
            None => break,
        }
    }
    let missing: Vec<&String> = acked.iter().filter(|id| !present.contains(*id)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged events missing",
        missing.len(),
        acked.len()
    );
    assert!(server.stop().success());

    // And the store on disk audits clean.
    let out = Command::new(env!("CARGO_BIN_EXE_ledger"))
        .args(["verify", "--data", &data_s])
        .output()
        .expect("run verify");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `ledger bench` with `args`; its standard output, once it succeeded.
fn bench(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_ledger"))
        .arg("bench")
        .args(args)
        .env("LEDGER_LOG", "warn")
        .output()
        .expect("run bench");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

#[test]
fn bench_reports_http_beside_in_process_rates() {
    let text = bench(&["--clients", "1,2", "--per-client", "20", "--rounds", "2"]);
    assert!(text.contains("best of 2 rounds"), "{text}");
    // Which field arithmetic verified the signatures, so that figures from
    // two machines are read alike.
    let backend = ledger::keys::ed25519_backend();
    assert!(
        text.contains(&format!(
            "signatures are verified with curve25519-dalek's {backend} field arithmetic"
        )),
        "{text}"
    );
    // The rates table: the rows before the CPU tables that open with a
    // client count.
    let rates = text
        .split("\nCPU while the clock ran")
        .next()
        .expect("some output");
    let rows: Vec<Vec<&str>> = rates
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|w| w.first().is_some_and(|c| c.parse::<usize>().is_ok()))
        .collect();
    assert_eq!(rows.len(), 2, "{text}");
    for row in &rows {
        let local: f64 = row[1].parse().expect("in-process rate");
        let service: f64 = row[2].parse().expect("in-service rate");
        let http: f64 = row[3].parse().expect("HTTP rate");
        assert!(local > 0.0 && service > 0.0 && http > 0.0, "{text}");
    }
    // Round by round: one paired ratio per round, and their median.
    let paired: Vec<&str> = text
        .lines()
        .filter_map(|l| {
            l.trim()
                .strip_prefix("round by round, HTTP/1.1 to in-process: ")
        })
        .collect();
    assert_eq!(paired.len(), 2, "{text}");
    for line in paired {
        let (rounds, median) = line.split_once(" (median ").expect("a median");
        let ratios: Vec<f64> = rounds
            .split(", ")
            .map(|r| r.trim_end_matches('%').parse().expect("a ratio"))
            .collect();
        assert_eq!(ratios.len(), 2, "{line}");
        assert!(ratios.iter().all(|r| *r > 0.0), "{line}");
        let median: f64 = median.trim_end_matches("%)").parse().expect("median");
        let (lo, hi) = (ratios[0].min(ratios[1]), ratios[0].max(ratios[1]));
        assert!(median >= lo - 1.0 && median <= hi + 1.0, "{line}");
    }
    // The transport floor: one line per client count, its rate above the
    // service's (it does no work but the transport's), and the share the
    // service's HTTP rate reaches of it.
    let http_rates: Vec<f64> = rows
        .iter()
        .map(|w| w[3].parse().expect("HTTP rate"))
        .collect();
    let floors: Vec<&str> = text
        .lines()
        .filter_map(|l| {
            l.trim().strip_prefix(
                "transport floor (the same requests, answered at once, `bench/floor.rs`): ",
            )
        })
        .collect();
    assert_eq!(floors.len(), 2, "{text}");
    for (line, http) in floors.iter().zip(&http_rates) {
        let (rate, share) = line
            .split_once("/s; HTTP/1.1 appends reach ")
            .expect("a rate and a share");
        let rate: f64 = rate.parse().expect("the floor's rate");
        let share: f64 = share.trim_end_matches("% of it").parse().expect("a share");
        assert!(rate > *http, "the floor no faster than the service: {line}");
        let expected = 100.0 * http / rate;
        assert!((share - expected).abs() <= 1.0, "{line}: {expected:.1}%");
    }
    // Where the CPU went: one row per kind of run and client count, each
    // with a mean group size and a total the parts add up to.
    for kind in ["in process", "in service", "HTTP/1.1", "transport floor"] {
        for clients in [1, 2] {
            let label = format!("{kind}, {clients} clients");
            let line = text
                .lines()
                .find(|l| l.starts_with(&label))
                .unwrap_or_else(|| panic!("no CPU row {label:?}: {text}"));
            let mut words = line[label.len()..].split_whitespace();
            let group = words.next().expect("a group figure");
            if kind == "transport floor" {
                // The floor stores nothing: no group commits.
                assert_eq!(group, "-", "{line}");
            } else {
                let group: f64 = group.parse().expect("a mean group");
                assert!(group >= 1.0, "mean group: {line}");
            }
            let figures: Vec<f64> = words
                .map(|w| w.trim_end_matches('%').parse().expect("a figure"))
                .collect();
            // busy, HTTP, runtime, signatures, writer, disk, client, rest,
            // outside, total, tick
            assert_eq!(figures.len(), 11, "{line}");
            assert!(figures[10] > 0.0, "tick: {line}");
            assert!(figures[0] >= 0.0, "busy: {line}");
            // Runs this short may last only a few clock ticks, so the
            // figures themselves are not checked here (bench/cpu.rs's tests
            // check that a thread's CPU lands in its part); only that the
            // parts add up to the total, each rounded to a tenth.
            let parts: f64 = figures[1..9].iter().sum();
            assert!((parts - figures[9]).abs() <= 0.1 * 8.0 + 1e-9, "{line}");
        }
    }
    // The HTTP run's CPU split by the store and the transport: one row per
    // client count, the totals those rows of the CPU table give, and a rest
    // that is what is left of the HTTP run's.
    let total_of = |label: &str| -> f64 {
        let line = text
            .lines()
            .find(|l| l.starts_with(label))
            .unwrap_or_else(|| panic!("no CPU row {label:?}: {text}"));
        let words: Vec<&str> = line.split_whitespace().collect();
        words[words.len() - 2].parse().expect("a total")
    };
    let split_at = text
        .lines()
        .position(|l| l.starts_with("The HTTP/1.1 run's CPU per event"))
        .unwrap_or_else(|| panic!("no split of the HTTP run's CPU: {text}"));
    let splits: Vec<Vec<f64>> = text
        .lines()
        .skip(split_at + 2)
        .map(|l| {
            l.split_whitespace()
                .map(|w| w.parse::<f64>().expect("a figure"))
                .collect()
        })
        .collect();
    assert_eq!(splits.len(), 2, "{text}");
    for (row, clients) in splits.iter().zip([1, 2]) {
        assert_eq!(row.len(), 5, "{row:?}");
        assert_eq!(row[0], clients as f64, "{row:?}");
        let whole = total_of(&format!("HTTP/1.1, {clients} clients"));
        let store = total_of(&format!("in process, {clients} clients"));
        let floor = total_of(&format!("transport floor, {clients} clients"));
        assert!((row[1] - whole).abs() <= 0.05, "{row:?} against {whole}");
        assert!((row[2] - store).abs() <= 0.05, "{row:?} against {store}");
        assert!((row[3] - floor).abs() <= 0.05, "{row:?} against {floor}");
        assert!((row[4] - (whole - store - floor)).abs() <= 0.2, "{row:?}");
    }
}

/// `--prefill`: every store holds the prefill before its clock starts (the
/// bench checks each store's size after filling it and fails otherwise),
/// a last case shorter than ten included, and the runs still report.
#[test]
fn bench_measures_stores_that_hold_a_prefill() {
    let text = bench(&[
        "--clients",
        "2",
        "--per-client",
        "5",
        "--rounds",
        "1",
        "--prefill",
        "45",
    ]);
    assert!(
        text.contains("every store holds 45 events (cases of 10) before its clock starts"),
        "{text}"
    );
    let row: Vec<&str> = text
        .lines()
        .map(str::trim_start)
        .find(|l| l.starts_with("2 "))
        .unwrap_or_else(|| panic!("no row for 2 clients: {text}"))
        .split_whitespace()
        .collect();
    for (i, what) in [(1, "in process"), (2, "in service"), (3, "HTTP")] {
        let rate: f64 = row[i].parse().expect("a rate");
        assert!(rate > 0.0, "{what}: {text}");
    }
    // The timed events only: 2 clients × 5, the prefill not counted.
    let line = text
        .lines()
        .find(|l| l.starts_with("in process, 2 clients"))
        .unwrap_or_else(|| panic!("no CPU row: {text}"));
    let group: f64 = line["in process, 2 clients".len()..]
        .split_whitespace()
        .next()
        .and_then(|g| g.parse().ok())
        .expect("a mean group");
    assert!((1.0..=2.0).contains(&group), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ledger_witness_process_cosigns_the_served_checkpoint() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let data_s = data.to_str().expect("utf-8").to_owned();
    let server = Server::spawn(
        &[
            "--data",
            &data_s,
            "--listen",
            "127.0.0.1:0",
            "--demo",
            "--demo-cases",
            "20",
            "--witness-interval",
            "1",
        ],
        &[],
    );
    let log_vkey = std::fs::read_to_string(data.join("ledger.pub"))
        .expect("ledger.pub")
        .trim()
        .to_owned();
    let wdir = dir.path().join("witness");
    let witness = Server::spawn_verb(
        "witness",
        &[
            "--data",
            wdir.to_str().expect("utf-8"),
            "--name",
            "supervision.example/w1",
            "--log",
            &log_vkey,
            "--listen",
            "127.0.0.1:0",
        ],
        &[],
    );
    let wkey = witness
        .stdout
        .iter()
        .find_map(|l| l.strip_prefix("witness key:"))
        .expect("witness key line")
        .trim()
        .to_owned();
    let client = reqwest::Client::new();
    let token = admin_token(&data);
    let res = client
        .post(format!("{}/v1/admin/witnesses", server.base))
        .bearer_auth(&token)
        .json(&json!({"verifier_key": wkey, "url": witness.base}))
        .send()
        .await
        .expect("register witness");
    assert_eq!(res.status(), 201);

    let verifier = ledger::cosignature::CosignatureVerifier::from_verifier_key_string(&wkey)
        .expect("cosignature vkey");
    let log_key = ledger::note::NoteVerifier::from_verifier_key_string(&log_vkey).expect("vkey");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let bytes = client
            .get(format!("{}/checkpoint", server.base))
            .send()
            .await
            .expect("checkpoint")
            .bytes()
            .await
            .expect("body");
        let (cp, note) =
            ledger::checkpoint::Checkpoint::verify_note(&bytes, &log_key).expect("log-signed");
        let cosigned = note
            .signatures
            .iter()
            .any(|s| ledger::cosignature::verify_cosignature(&verifier, &note.text, s).is_ok());
        if cosigned {
            assert!(cp.size >= 13);
            break;
        }
        assert!(Instant::now() < deadline, "no cosignature within 20 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(server.stop().success());
    assert!(witness.stop().success());
    // The witness kept its state.
    let state = std::fs::read_to_string(wdir.join("witness-state.json")).expect("state");
    assert!(
        state.contains("ledger.localhost/public-service-log"),
        "{state}"
    );
}
