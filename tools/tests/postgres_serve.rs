//! `ledger serve --store postgres://…` as real processes over loopback, two
//! and three of them on one PostgreSQL database (each test its own fresh
//! database; an unreachable server fails the test, saying so).
//!
//! Clients append signed events concurrently over HTTP, through every
//! process, to streams shared by all and to streams of their own; the
//! department, its key and its token are registered through one process
//! and used through the others at once. Afterwards: `verify_store` on the
//! database, `ledger monitor` (the external tiles check) passing against
//! every process with the same checkpoint, and every acknowledged receipt's
//! event found by id at its log index. One process is killed with SIGKILL
//! under load: the others keep answering and nothing acknowledged is lost.
//! Read models of one process include what another appended. A process with
//! another key, a bad `--store` and an unreachable server are refused.

#[path = "support/loopback.rs"]
mod loopback;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ledger::audit::verify_store;
use ledger::note::NoteSigner;
use ledger::{EventId, ProposedEvent, Store};
use ledger_postgres::{PostgresConfig, PostgresStore};
use loopback::{
    Running, admin_post, admin_token, ledger, same_key_dir, settled_size, stderr, stdout,
};
use projections::examples;
use projections::schema::{ACCEPTED, ITEM_PUBLISHED, REVIEWED};
use serde_json::{Value, json};
use tests::fixtures::{DepartmentKey, signed};
use tests::postgres::TestDatabase;

const DEPARTMENT: &str = "dept-market";

/// `n` data directories holding one ledger key (the first initialised by
/// `ledger init --store`), each served by its own `ledger serve` process.
struct Cluster {
    // Fields drop in order: the processes stop before their database goes.
    servers: Vec<Option<Running>>,
    db: TestDatabase,
    _dir: tempfile::TempDir,
    data: Vec<PathBuf>,
    bases: Vec<String>,
}

impl Cluster {
    async fn start(n: usize) -> Cluster {
        let db = TestDatabase::create().await;
        let dir = tempfile::tempdir().expect("tempdir");
        let data: Vec<PathBuf> = (0..n).map(|i| dir.path().join(format!("d{i}"))).collect();
        let url = db.url();
        let init = ledger(&[
            "init",
            "--data",
            data[0].to_str().expect("utf-8"),
            "--store",
            &url,
        ])
        .await;
        assert!(init.status.success(), "init: {}", stderr(&init));
        assert!(
            stdout(&init).contains("store:          PostgreSQL"),
            "{}",
            stdout(&init)
        );
        for d in &data[1..] {
            same_key_dir(&data[0], d);
        }
        let servers: Vec<Option<Running>> = data
            .iter()
            .map(|d| Some(Running::serve(d, &["--store", &url])))
            .collect();
        let bases = servers.iter().flatten().map(|s| s.base.clone()).collect();
        Cluster {
            db,
            _dir: dir,
            data,
            servers,
            bases,
        }
    }

    fn admin(&self, i: usize) -> String {
        admin_token(&self.data[i])
    }

    fn signer(&self) -> NoteSigner {
        let text = std::fs::read_to_string(self.data[0].join("ledger.key")).expect("ledger.key");
        NoteSigner::from_signer_key_string(text.trim()).expect("a ledger key")
    }

    /// A store of this test's own on the database, as an auditor would open.
    async fn store(&self) -> PostgresStore {
        self.db
            .open(&self.signer(), PostgresConfig::default())
            .await
    }

    /// Registers the department and its key through process `via`, and
    /// issues its token there.
    async fn department(&self, via: usize, key: &DepartmentKey) -> String {
        let (base, admin) = (&self.bases[via], self.admin(via));
        admin_post(
            base,
            &admin,
            "/v1/admin/departments",
            json!({"department": DEPARTMENT, "name": "市场监督管理局"}),
        )
        .await;
        admin_post(
            base,
            &admin,
            "/v1/admin/keys",
            json!({"department": DEPARTMENT, "public_key": key.public().to_base64()}),
        )
        .await;
        let token = admin_post(
            base,
            &admin,
            "/v1/admin/tokens",
            json!({"role": "department", "department": DEPARTMENT, "subject": "officer-1"}),
        )
        .await;
        token["token"].as_str().expect("token").to_owned()
    }

    /// SIGKILL of process `i`.
    fn kill(&mut self, i: usize) {
        drop(self.servers[i].take().expect("running"));
    }
}

/// A receipt the service answered 200 with.
#[derive(Clone, Debug)]
struct Acked {
    id: EventId,
    index: u64,
    stream: String,
}

/// What the clients of one load saw.
struct Load {
    acked: Vec<Acked>,
    /// Failed requests per process the client started on.
    failures: Vec<u64>,
}

/// `per_server` clients per process in `bases`, each appending until
/// `stop` is set (or `max` appends), one signed event per request: even
/// requests to one of three streams every client shares, odd ones to the
/// client's own stream. A client whose process stops answering retries the
/// same event (same id) on the next process.
async fn load(
    bases: &[String],
    token: &str,
    key: &DepartmentKey,
    per_server: usize,
    max: usize,
    stop: Arc<AtomicBool>,
) -> Load {
    let bases = Arc::new(bases.to_vec());
    let failures: Arc<Vec<AtomicU64>> =
        Arc::new((0..bases.len()).map(|_| AtomicU64::new(0)).collect());
    let mut tasks = Vec::new();
    for s in 0..bases.len() {
        for c in 0..per_server {
            let (bases, failures, stop) = (bases.clone(), failures.clone(), stop.clone());
            let (token, key) = (token.to_owned(), key.clone());
            tasks.push(tokio::spawn(async move {
                let client = reqwest::Client::builder()
                    .timeout(Duration::from_secs(30))
                    .build()
                    .expect("client");
                let mut at = s;
                let mut acked = Vec::new();
                for n in 0..max {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let stream = if n % 2 == 0 {
                        format!("case-shared-{}", n % 3)
                    } else {
                        format!("case-own-{s}-{c}")
                    };
                    let body = json!({"events": [signed(&stream, "case.step", &key)]});
                    let mut tries = 0;
                    let answer = loop {
                        let sent = client
                            .post(format!("{}/v1/streams/{stream}/events", bases[at]))
                            .bearer_auth(&token)
                            .json(&body)
                            .send()
                            .await;
                        match sent {
                            Ok(res) if res.status() == 200 => {
                                break res.json::<Value>().await.expect("receipt json");
                            }
                            Ok(res) => {
                                let status = res.status();
                                panic!(
                                    "{stream}: {status} {}",
                                    res.text().await.unwrap_or_default()
                                );
                            }
                            Err(e) => {
                                failures[s].fetch_add(1, Ordering::Relaxed);
                                tries += 1;
                                assert!(tries < 20, "{stream}: no process answers: {e}");
                                at = (at + 1) % bases.len();
                                tokio::time::sleep(Duration::from_millis(50)).await;
                            }
                        }
                    };
                    for r in answer["receipts"].as_array().expect("receipts") {
                        acked.push(Acked {
                            id: r["event_id"]
                                .as_str()
                                .expect("id")
                                .parse()
                                .expect("event id"),
                            index: r["log_index"].as_u64().expect("log_index"),
                            stream: r["stream"].as_str().expect("stream").to_owned(),
                        });
                    }
                }
                acked
            }));
        }
    }
    let mut acked = Vec::new();
    for t in tasks {
        acked.extend(t.await.expect("client task"));
    }
    Load {
        acked,
        failures: failures.iter().map(|f| f.load(Ordering::Relaxed)).collect(),
    }
}

/// One log, one tree, nothing lost: every receipt's event is found by id
/// at its log index, indexes are unique, `verify_store` is clean, and
/// `ledger monitor` passes against every process in `alive` with the same
/// checkpoint (size and root) as the database's latest.
async fn check_one_log(cluster: &Cluster, alive: &[usize], acked: &[Acked]) {
    let store = cluster.store().await;
    let mut indexes = HashSet::new();
    for a in acked {
        assert!(
            indexes.insert(a.index),
            "log index {} acknowledged twice",
            a.index
        );
        let found = store
            .event_by_id(a.id)
            .await
            .expect("event_by_id")
            .unwrap_or_else(|| panic!("acknowledged event {} ({}) is missing", a.id, a.stream));
        assert_eq!(found.index.0, a.index, "event {} moved", a.id);
        assert_eq!(found.event.stream.as_str(), a.stream);
    }

    // The checkpoint settles on the whole log; every process serves it.
    let mut sizes = Vec::new();
    for &i in alive {
        sizes.push(settled_size(&cluster.bases[i]).await);
    }
    let size = store.size().await.expect("size");
    assert!(
        sizes.iter().all(|s| *s == size),
        "sizes {sizes:?}, database {size}"
    );
    assert!(size >= acked.len() as u64);

    let summary = verify_store(&store, &cluster.signer().verifier(), |_| {})
        .await
        .expect("reads")
        .unwrap_or_else(|p| panic!("verify_store: {p:?}"));
    assert_eq!(summary.entries, size);

    let pub_key = cluster.data[0].join("ledger.pub");
    let mut seen = HashMap::new();
    for &i in alive {
        let out = ledger(&[
            "monitor",
            &cluster.bases[i],
            "--log-key-file",
            pub_key.to_str().expect("utf-8"),
        ])
        .await;
        assert!(
            out.status.success(),
            "monitor of process {i}: {}{}",
            stdout(&out),
            stderr(&out)
        );
        let line = stdout(&out)
            .lines()
            .find(|l| l.starts_with("checkpoint:"))
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("no checkpoint line: {}", stdout(&out)));
        seen.insert(i, line);
    }
    let latest = store
        .latest_checkpoint()
        .await
        .expect("checkpoint")
        .expect("one");
    let want = format!(
        "checkpoint:   ✓ size {}, root {}: signed by the log key",
        latest.size,
        latest.root.to_base64()
    );
    assert_eq!(latest.size, size);
    for (i, line) in seen {
        assert_eq!(line, want, "process {i}");
    }
    store.close().await;
}

async fn get(base: &str, token: &str, path: &str) -> (u16, Value) {
    let res = reqwest::Client::new()
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .expect("get");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn processes_share_one_log(n: usize) {
    let cluster = Cluster::start(n).await;
    let key = DepartmentKey::generate(DEPARTMENT);
    // Registered through the last process, used through every one at once.
    let token = cluster.department(n - 1, &key).await;
    let stop = Arc::new(AtomicBool::new(false));
    let loaded = load(&cluster.bases, &token, &key, 8, 25, stop).await;
    assert_eq!(loaded.acked.len(), n * 8 * 25);
    assert!(
        loaded.failures.iter().all(|f| *f == 0),
        "{:?}",
        loaded.failures
    );
    // Every process answered for the streams every client shares.
    let per_process: HashSet<&str> = loaded.acked.iter().map(|a| a.stream.as_str()).collect();
    assert!(per_process.contains("case-shared-0"));
    let all: Vec<usize> = (0..n).collect();
    check_one_log(&cluster, &all, &loaded.acked).await;

    // Each shared stream has contiguous versions across the processes.
    let store = cluster.store().await;
    for s in 0..3 {
        let stream = ledger::StreamId::new(&format!("case-shared-{s}")).expect("stream");
        let events = store
            .read_stream(
                &stream,
                ledger::StreamVersion(0),
                ledger::store::Direction::Forwards,
                10_000,
            )
            .await
            .expect("read");
        let versions: Vec<u64> = events.iter().map(|e| e.event.version.0).collect();
        let want: Vec<u64> = (0..versions.len() as u64).collect();
        assert_eq!(versions, want, "{stream}");
    }
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_on_one_database_keep_one_log() {
    processes_share_one_log(2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_processes_on_one_database_keep_one_log() {
    processes_share_one_log(3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_process_killed_under_load_loses_nothing_acknowledged() {
    let mut cluster = Cluster::start(3).await;
    let key = DepartmentKey::generate(DEPARTMENT);
    let token = cluster.department(0, &key).await;
    let stop = Arc::new(AtomicBool::new(false));
    let running = {
        let (bases, token, key, stop) = (
            cluster.bases.clone(),
            token.clone(),
            key.clone(),
            stop.clone(),
        );
        tokio::spawn(async move { load(&bases, &token, &key, 6, 100_000, stop).await })
    };
    // Under load: wait for appends through every process, then kill one.
    let store = cluster.store().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while store.size().await.expect("size") < 300 {
        assert!(Instant::now() < deadline, "no load");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let victim = 1;
    cluster.kill(victim);
    let killed_at = store.size().await.expect("size");
    // The others keep taking appends.
    let deadline = Instant::now() + Duration::from_secs(30);
    while store.size().await.expect("size") < killed_at + 300 {
        assert!(Instant::now() < deadline, "the survivors stopped appending");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let loaded = running.await.expect("load");
    store.close().await;
    for (i, f) in loaded.failures.iter().enumerate() {
        if i != victim {
            assert_eq!(*f, 0, "clients of surviving process {i} saw failures");
        }
    }
    assert!(loaded.acked.len() >= 600, "{}", loaded.acked.len());
    let alive: Vec<usize> = (0..3).filter(|i| *i != victim).collect();
    check_one_log(&cluster, &alive, &loaded.acked).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn read_models_include_what_another_process_appended() {
    let cluster = Cluster::start(2).await;
    let key = DepartmentKey::generate(DEPARTMENT);
    let token = cluster.department(0, &key).await;
    admin_post(
        &cluster.bases[1],
        &cluster.admin(1),
        "/v1/streams/catalog/events",
        json!({"events": [with_payload(
            tests::fixtures::event("catalog", ITEM_PUBLISHED, "dept-reform"),
            examples::service_item(),
        )]}),
    )
    .await;
    for (writer, reader) in [(0usize, 1usize), (1, 0)] {
        let stream = format!("case-xp-{writer}");
        let events: Vec<Value> = [
            (ACCEPTED, examples::payload(ACCEPTED).expect("example")),
            (REVIEWED, json!({"layer": 1, "opinion": "同意"})),
        ]
        .into_iter()
        .map(|(t, payload)| {
            let ev = with_payload(tests::fixtures::event(&stream, t, DEPARTMENT), payload);
            serde_json::to_value(ev.sign_ed25519(key.id.clone(), &key.signing).expect("sign"))
                .expect("json")
        })
        .collect();
        admin_post(
            &cluster.bases[writer],
            &token,
            &format!("/v1/streams/{stream}/events"),
            json!({"events": events}),
        )
        .await;
        let id = stream.trim_start_matches("case-");
        // Read-your-writes through the process that appended.
        let (status, own) = get(
            &cluster.bases[writer],
            &token,
            &format!("/v1/cases?case={stream}"),
        )
        .await;
        assert_eq!(status, 200, "{own}");
        assert_eq!(own["total"], 1, "{own}");
        assert_eq!(own["cases"][0]["steps"], 2, "{own}");
        // The other process's read models catch up within seconds.
        let started = Instant::now();
        loop {
            let (status, other) = get(
                &cluster.bases[reader],
                &token,
                &format!("/v1/cases?case={stream}"),
            )
            .await;
            assert_eq!(status, 200, "{other}");
            if other["total"] == 1 && other["cases"][0]["steps"] == 2 {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "process {reader} never showed {stream}: {other}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let (status, timeline) = get(
            &cluster.bases[reader],
            &token,
            &format!("/v1/cases/{id}/timeline"),
        )
        .await;
        assert_eq!(status, 200, "{timeline}");
        assert_eq!(
            timeline["timeline"]["steps"]
                .as_array()
                .expect("steps")
                .len(),
            2
        );
        assert_eq!(timeline["item"]["name"], "企业设立登记", "{timeline}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_demo_on_postgres_is_served_by_a_second_process() {
    let db = TestDatabase::create().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (d0, d1) = (dir.path().join("d0"), dir.path().join("d1"));
    let url = db.url();
    let out = ledger(&[
        "init",
        "--data",
        d0.to_str().expect("utf-8"),
        "--store",
        &url,
        "--demo",
        "--demo-cases",
        "30",
    ])
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    // Cases whose first contact lies later today are left out: the count
    // printed is what the log holds.
    let loaded: u64 = stdout(&out)
        .lines()
        .find_map(|l| l.strip_prefix("demo:"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a demo line: {}", stdout(&out)));
    assert!((25..=30).contains(&loaded), "{}", stdout(&out));
    assert!(
        !d0.join("ledger.sqlite").exists(),
        "the log is not in the directory"
    );
    same_key_dir(&d0, &d1);
    let server = Running::serve(&d1, &["--store", &url]);
    let (status, cases) = get(&server.base, &admin_token(&d1), "/v1/cases?limit=1").await;
    assert_eq!(status, 200, "{cases}");
    assert_eq!(cases["total"], loaded, "{cases}");
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_with_another_key_is_refused_and_changes_nothing() {
    let cluster = Cluster::start(1).await;
    let other = cluster._dir.path().join("other");
    let url = cluster.db.url();
    let out = ledger(&[
        "serve",
        "--data",
        other.to_str().expect("utf-8"),
        "--store",
        &url,
        "--listen",
        "127.0.0.1:0",
    ])
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(err.contains("belongs to another log"), "{err}");
    assert!(err.contains("copy ledger.key"), "{err}");
    // The key made for the refused start is gone: copying the right one in
    // is all it takes.
    assert_eq!(files(&other), Vec::<String>::new());
    same_key_dir(&cluster.data[0], &other);
    let server = Running::serve(&other, &["--store", &url]);
    assert!(
        server.stdout.iter().any(|l| l.contains("PostgreSQL")),
        "{:?}",
        server.stdout
    );
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_store_or_an_unreachable_server_is_refused_clearly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("d");
    let data = data.to_str().expect("utf-8");
    let out = ledger(&["serve", "--data", data, "--store", "mysql://x/y"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("expected `embedded` or a postgres://"),
        "{}",
        stderr(&out)
    );

    let out = ledger(&[
        "serve",
        "--data",
        data,
        "--store",
        "postgres://postgres@127.0.0.1:1/nowhere",
    ])
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("connecting to PostgreSQL database 127.0.0.1:1/nowhere"),
        "{}",
        stderr(&out)
    );
    assert_eq!(files(Path::new(data)), Vec::<String>::new());

    // The TOML key and the environment variable name the store too.
    let config = dir.path().join("serve.toml");
    std::fs::write(
        &config,
        "store = \"postgres://postgres@127.0.0.1:1/fromtoml\"\n",
    )
    .expect("write");
    let out = ledger(&[
        "serve",
        "--data",
        data,
        "--config",
        config.to_str().expect("utf-8"),
    ])
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("127.0.0.1:1/fromtoml"),
        "{}",
        stderr(&out)
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ledger"))
        .args(["serve", "--data", data])
        .env("LEDGER_STORE", "postgres://postgres@127.0.0.1:1/fromenv")
        .env("LEDGER_LOG", "warn")
        .output()
        .expect("run ledger");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("127.0.0.1:1/fromenv"),
        "{}",
        stderr(&out)
    );
}

/// `ev` with `payload` (an object) instead of the fixture's.
fn with_payload(mut ev: ProposedEvent, payload: Value) -> ProposedEvent {
    match payload {
        Value::Object(map) => ev.payload = map,
        other => panic!("payload {other} is no object"),
    }
    ev
}

fn files(dir: &Path) -> Vec<String> {
    match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    }
}
