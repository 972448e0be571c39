//! Read-model benchmark (issue 4): rebuilding the persisted read models
//! from scratch over the demo data set scaled up, beside the raw read rate
//! of the same log in the same run; then case-timeline and public-status
//! query latencies over loopback HTTP on that data.
//!
//! `cargo bench -p api --bench read_models`
//! Environment: `READ_MODELS_EVENTS` (default 1,000,000 log entries, as
//! demo cases of about eight events), `READ_MODELS_QUERIES` (default 2,000
//! per kind; 0: no HTTP part), `READ_MODELS_DIR` (keep the generated data directory there
//! and reuse it on the next run).
//!
//! Goals: rebuild ≥ 50 % of the raw read rate; timeline and status p99
//! ≤ 10 ms.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use api::{ServeConfig, Service, Settings};
use ledger::datadir::DataDir;
use ledger::store::sqlite::SqliteConfig;
use ledger::{LogIndex, Store};
use projections::readstore::CaseFilter;

/// The allocator `ledger` itself runs with (tools' binary): the baseline
/// and the rebuild are measured with the same one.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run());
}

async fn run() {
    let events = env_usize("READ_MODELS_EVENTS", 1_000_000);
    let queries = env_usize("READ_MODELS_QUERIES", 2_000);
    let _tmp;
    let data: PathBuf = match std::env::var_os("READ_MODELS_DIR") {
        Some(d) => PathBuf::from(d),
        None => {
            _tmp = tempfile::tempdir().expect("tempdir");
            _tmp.path().join("data")
        }
    };
    println!(
        "# read models: {events} log entries (demo scaled), {} cores",
        cores()
    );
    ensure_data(&data, events).await;

    let dir = DataDir::open_or_init(&data, None).expect("data dir");
    let store = dir.open_store(SqliteConfig::default()).expect("store");
    let shared: Arc<dyn Store> = Arc::new(store.clone());
    let size = shared.size().await.expect("size");
    println!("log size: {size}");

    // Raw read: the whole log, parsed, page by page (what a projection
    // must do at the least).
    let started = Instant::now();
    let mut next = 0u64;
    let mut parsed = 0u64;
    while next < size {
        let page = shared.read_log(LogIndex(next), 2_048).await.expect("read");
        let Some(last) = page.last() else { break };
        next = last.index.0 + 1;
        parsed += page.len() as u64;
    }
    let raw = started.elapsed();
    let raw_rate = parsed as f64 / raw.as_secs_f64();
    println!(
        "raw read (read_log, parsed):   {parsed} entries in {:.2} s = {raw_rate:.0} entries/s",
        raw.as_secs_f64()
    );

    // Rebuild from scratch.
    let target = data.join("projections.bench.sqlite");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", target.display()));
    }
    let started = Instant::now();
    let rebuilt = api::projector::rebuild(
        Arc::clone(&shared),
        &target,
        api::projector::read_store_config().expect("config"),
        |_, _| {},
    )
    .await
    .expect("rebuild");
    let rebuild = started.elapsed();
    let folded = rebuilt.entries;
    let rebuild_rate = folded as f64 / rebuild.as_secs_f64();
    println!(
        "rebuild (projector::rebuild):  {folded} entries in {:.2} s = {rebuild_rate:.0} entries/s",
        rebuild.as_secs_f64()
    );
    let ratio = rebuild_rate / raw_rate;
    println!(
        "rebuild / raw read: {:.1} %  (goal ≥ 50 %: {})",
        ratio * 100.0,
        if ratio >= 0.5 { "PASS" } else { "FAIL" }
    );
    println!(
        "  folds read again from the log: {}, case summaries written: {}",
        rebuilt.stats.refolds, rebuilt.stats.summaries_written
    );
    let file = std::fs::metadata(&target).map(|m| m.len()).unwrap_or(0);
    println!("read store file: {:.1} MB", file as f64 / 1e6);
    store.close();
    // The service uses the rebuilt file.
    std::fs::rename(&target, data.join(api::projector::READ_STORE_FILE)).expect("swap");
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!(
            "{}{suffix}",
            data.join(api::projector::READ_STORE_FILE).display()
        ));
    }

    if queries > 0 {
        queries_over_http(&data, queries).await;
    }
}

async fn ensure_data(data: &Path, events: usize) {
    if data.join("ledger.sqlite").exists() {
        println!("reusing {}", data.display());
        return;
    }
    // About eight entries per demo case.
    let cases = (events / 8).max(100);
    let started = Instant::now();
    let dir = DataDir::open_or_init(data, None).expect("data dir");
    let (clock, hand) = ledger::Clock::manual();
    let store = dir
        .open_store(SqliteConfig {
            clock,
            ..SqliteConfig::default()
        })
        .expect("store");
    let shared: Arc<dyn Store> = Arc::new(store.clone());
    api::demo::load_demo(&shared, hand, cases)
        .await
        .expect("demo");
    println!(
        "generated {cases} demo cases, {} entries, in {:.1} s",
        shared.size().await.expect("size"),
        started.elapsed().as_secs_f64()
    );
    store.close();
}

async fn queries_over_http(data: &Path, queries: usize) {
    let service = Service::open(ServeConfig {
        data: data.to_owned(),
        store: Default::default(),
        origin: None,
        demo: false,
        demo_cases: 0,
        settings: Settings {
            rate_limit: 0.0,
            ..Settings::default()
        },
    })
    .await
    .expect("service");
    let admin = std::fs::read_to_string(data.join("admin.token")).expect("token");
    let admin = admin.trim().to_owned();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let state = service.state.clone();
    let server = tokio::spawn(api::serve(listener, state.clone(), async move {
        let _ = rx.await;
    }));
    let read = state.read_models().await.expect("read models").read_store();
    let (rows, total) = read
        .cases(&CaseFilter::default(), 0, 1_000_000, chrono::Utc::now())
        .expect("cases");
    println!("cases in the read models: {total}");
    // A fixed spread of cases over the whole set.
    let step = (rows.len() / queries.max(1)).max(1);
    let picked: Vec<String> = rows
        .iter()
        .step_by(step)
        .take(queries)
        .map(|r| r.stream.trim_start_matches("case-").to_owned())
        .collect();

    let client = reqwest::Client::new();
    let mut timeline = Vec::with_capacity(picked.len());
    for id in &picked {
        let t = Instant::now();
        let r = client
            .get(format!("{base}/v1/cases/{id}/timeline"))
            .bearer_auth(&admin)
            .send()
            .await
            .expect("timeline");
        assert!(r.status().is_success(), "{}", r.status());
        r.bytes().await.expect("body");
        timeline.push(t.elapsed());
    }
    report("case timeline (admin)", &mut timeline);

    // Query codes, then the public status from many loopback addresses
    // (the public endpoints are rate-limited per address).
    let mut codes = Vec::with_capacity(picked.len());
    for id in &picked {
        let r: serde_json::Value = client
            .get(format!("{base}/v1/cases/{id}/query-code"))
            .bearer_auth(&admin)
            .send()
            .await
            .expect("code")
            .json()
            .await
            .expect("json");
        codes.push(r["query_code"].as_str().expect("code").to_owned());
    }
    let clients: Vec<reqwest::Client> = (2..=250u8)
        .map(|x| {
            reqwest::Client::builder()
                .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, x)))
                .build()
                .expect("client")
        })
        .collect();
    let mut status = Vec::with_capacity(picked.len());
    for (n, (id, code)) in picked.iter().zip(&codes).enumerate() {
        let c = &clients[n % clients.len()];
        let t = Instant::now();
        let r = c
            .get(format!("{base}/v1/public/cases/{id}/status?code={code}"))
            .send()
            .await
            .expect("status");
        assert!(r.status().is_success(), "{}", r.status());
        r.bytes().await.expect("body");
        status.push(t.elapsed());
    }
    report("public status", &mut status);

    let _ = tx.send(());
    server.await.expect("join").expect("served");
    service.store.close().await;
}

fn report(name: &str, samples: &mut [Duration]) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    let p99 = at(0.99);
    println!(
        "{name}: n={} p50={:.2} ms p99={:.2} ms max={:.2} ms  (goal p99 ≤ 10 ms: {})",
        samples.len(),
        at(0.5).as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3,
        samples[samples.len() - 1].as_secs_f64() * 1e3,
        if p99 <= Duration::from_millis(10) {
            "PASS"
        } else {
            "FAIL"
        }
    );
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
