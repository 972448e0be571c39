//! `ledger bench`: append load over HTTP beside the in-process rate of the
//! same store, in the same run.
//!
//! For each client count, `clients` tasks append one signed event per
//! request to their own case stream, a fixed number each: first straight
//! into a `SqliteStore` (the in-process ceiling), then through `ledger
//! serve`'s router on 127.0.0.1 (a department token, JSON, the real `serve`
//! function). Both use fresh data directories of their own. Events are
//! signed, and requests written out, before the clock starts: the load
//! generator shares the machine with the server and should not spend it
//! on what real clients do on their own machines. For the same reason the
//! HTTP/1.1 figure set against the in-process one comes from a minimal
//! keep-alive client (`bench/wire.rs`, as `wrk` would measure it); the same
//! run by reqwest over HTTP/1.1 and over h2c follow for comparison. Beside
//! them, the transport floor (`bench/floor.rs`): the same requests, by the
//! same client, to a server on the same HTTP stack that reads each and
//! answers at once — what a request costs before the service does anything,
//! so that the HTTP run's cost splits into the store's, the transport's and
//! the service's own. Each client count runs `--rounds` rounds (3 by
//! default) of in process, in service, HTTP and the floor in turn, each on
//! fresh data, and the fastest run of each kind is reported: on a small
//! machine one run's rate moves by a quarter from the next, and taking the
//! best of each side alike keeps the ratio from measuring that. Every store starts empty, or with `--prefill N`
//! holding N events already (signed once, appended untimed into each
//! fresh store, in cases of ten; the service's read models caught up
//! before the clock starts), the size of a store in service. A second table tells, for each kept run, where this
//! process's CPU went by thread (`bench/cpu.rs`: the service's runtime in
//! the HTTP runs, with its request handlers and its projector as under
//! `ledger serve`; the bench's runtime, with the in-process appenders and
//! the in-service projector; signature
//! threads, the writer, syncer and checkpointer, the load client) and how
//! large the store's group commits were.
//!
//! With `--postgres URL` it measures the PostgreSQL backend instead: for
//! each process count (`--processes 1,2`) a fresh database and that many
//! real `ledger serve --store` processes (this binary, sharing one ledger
//! key), the clients (minimal HTTP/1.1 ones) spread over them; then, in
//! the same run and on the
//! same server, the raw rate of PostgreSQL itself — the very rows the
//! one-process run wrote (entry bytes, ids, streams, leaf hashes) inserted
//! by one writer into a table with the `events` table's keys, one
//! multi-row `INSERT … SELECT unnest(…)` committed (durably) per batch of
//! the group size that run reached, best of three copies. Group sizes are counted by the
//! database (`log_head` updates, read once the processes have exited).
//! A second table tells, from `/proc` (`bench/cpu.rs`), where the cores
//! went while each clock ran: µs of one core per event spent by the
//! `ledger serve` processes, by PostgreSQL, by the load generator and by
//! anything else, and how busy the machine was; for the raw copy, per row.
//! The scratch databases are dropped at the end.
//!
//! Deliberately not measured: reads, subscriptions, or the load generator's
//! own signing and JSON (done before the clock starts).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use api::{ServeConfig, Service, Settings};
use clap::Args;
use ed25519_dalek::SigningKey;
use ledger::keys::{KEY_REGISTERED, KeyRegistration, PublicKey};
use ledger::store::sqlite::SqliteConfig;
use ledger::{
    Actor, ActorId, AppendRequest, EventType, ExpectedVersion, KeyId, ProposedEvent, Store,
    StreamId, Timestamp,
};
use serde_json::json;

#[path = "bench/cpu.rs"]
mod cpu;
#[path = "bench/floor.rs"]
mod floor;
#[path = "bench/wire.rs"]
mod wire;

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Concurrent clients per run, comma-separated.
    #[arg(long, default_value = "1,16,64,256", value_delimiter = ',')]
    clients: Vec<usize>,
    /// Events each client appends per run.
    #[arg(long, default_value_t = 200)]
    per_client: usize,
    /// Most events in one run (fewer per client when there are many).
    #[arg(long, default_value_t = 20_000)]
    max_events: usize,
    /// Measure the PostgreSQL backend on this server instead
    /// (postgres://user@host:port/db; scratch databases are created and
    /// dropped there).
    #[arg(long, value_name = "URL")]
    postgres: Option<String>,
    /// Rounds per client count (each: in process, in service, HTTP); the
    /// fastest run of each kind is reported. Not used with --postgres.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// With --postgres: `ledger serve` processes per run, comma-separated.
    #[arg(long, default_value = "1,2", value_delimiter = ',')]
    processes: Vec<usize>,
    /// Events every store already holds when its clock starts, in cases of
    /// ten (appended untimed into each fresh store, the read models caught
    /// up): the rates of a store in service rather than of an empty one.
    /// Not used with --postgres.
    #[arg(long, default_value_t = 0, value_name = "EVENTS")]
    prefill: usize,
}

#[derive(Debug)]
struct Run {
    events: u64,
    elapsed: Duration,
    latencies: Vec<Duration>,
    /// This process's CPU by part while the clock ran (None off Linux).
    threads: Option<cpu::ThreadUse>,
    /// Group commits the embedded store made for the run, where known.
    groups: Option<u64>,
    /// The CPU of the machine and of the given server processes while the
    /// clock ran (the PostgreSQL bench's; None elsewhere or off Linux).
    processes: Option<cpu::CpuUse>,
}

impl Run {
    fn rate(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile(&mut self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        self.latencies.sort_unstable();
        let i = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies[i]
    }
}

struct Signer {
    department: ActorId,
    key: KeyId,
    signing: SigningKey,
}

impl Signer {
    fn new() -> anyhow::Result<Self> {
        let signing = SigningKey::generate(&mut rand::rng());
        Ok(Signer {
            department: ActorId::new("dept-bench")?,
            key: KeyId::derive(&PublicKey::Ed25519(signing.verifying_key())),
            signing,
        })
    }

    fn event(&self, stream: &StreamId, n: u64) -> anyhow::Result<ProposedEvent> {
        let payload = json!({
            "item": "企业设立登记",
            "channel": "window",
            "step": n,
            "note": "材料齐全，当场受理。Materials complete; accepted at the window.",
        });
        Ok(ProposedEvent::new(
            stream.clone(),
            EventType::new("case.step")?,
            Timestamp::now(),
            Actor {
                department: self.department.clone(),
                officer: Some(ActorId::new("officer-1")?),
            },
            payload.as_object().cloned().unwrap_or_default(),
        )
        .sign_ed25519(self.key.clone(), &self.signing)?)
    }

    fn registration(&self) -> ProposedEvent {
        let reg = KeyRegistration::new(
            &PublicKey::Ed25519(self.signing.verifying_key()),
            self.department.clone(),
            None,
        );
        ProposedEvent::new(
            StreamId::registry(),
            // Invariant: a constant that satisfies the event type rules.
            EventType::new(KEY_REGISTERED).expect("valid constant"),
            Timestamp::now(),
            Actor {
                department: ActorId::new("ledger-admin").expect("valid constant"),
                officer: None,
            },
            reg.to_payload(),
        )
    }
}

/// Runs one task per entry of `work`, each calling `append` on its items
/// in order, one at a time; times the whole and each call.
async fn drive<T, F, Fut>(work: Vec<Vec<T>>, append: F) -> anyhow::Result<Run>
where
    T: Send + 'static,
    F: Fn(T) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let append = Arc::new(append);
    let sample = cpu::ThreadSample::take();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for items in work {
        let append = append.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(items.len());
            for item in items {
                let t = Instant::now();
                append(item).await?;
                latencies.push(t.elapsed());
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await??);
    }
    let elapsed = started.elapsed();
    Ok(Run {
        events: latencies.len() as u64,
        elapsed,
        latencies,
        threads: sample
            .zip(cpu::ThreadSample::take())
            .map(|(b, a)| a.since(&b)),
        groups: None,
        processes: None,
    })
}

/// Registers `signer`'s key in `store` (untimed).
async fn register_key(store: &Arc<dyn Store>, signer: &Signer) -> anyhow::Result<()> {
    store
        .append(AppendRequest {
            stream: StreamId::registry(),
            expected: ExpectedVersion::Any,
            events: vec![signer.registration()],
        })
        .await?;
    Ok(())
}

/// Appends `work` (one task per client, one event per append) straight
/// into `store`, timed.
async fn append_in_process(
    store: Arc<dyn Store>,
    work: Vec<Vec<ProposedEvent>>,
) -> anyhow::Result<Run> {
    drive(work, move |ev| {
        let store = store.clone();
        async move {
            store
                .append(AppendRequest {
                    stream: ev.stream.clone(),
                    expected: ExpectedVersion::Any,
                    events: vec![ev],
                })
                .await?;
            Ok(())
        }
    })
    .await
}

/// Events of a prefilled case: a case's length in a store in service is
/// tens of steps, not the hundreds the timed clients append to theirs.
const PREFILL_CASE_EVENTS: usize = 10;

/// What every store of a run holds before its clock starts: signed
/// events in cases of [`PREFILL_CASE_EVENTS`], signed once and appended
/// into each fresh store.
struct Prefill {
    cases: Vec<Vec<ProposedEvent>>,
    events: usize,
}

impl Prefill {
    fn new(signer: &Signer, events: usize) -> anyhow::Result<Prefill> {
        let cases = (0..events.div_ceil(PREFILL_CASE_EVENTS))
            .map(|c| {
                let stream = StreamId::new(&format!("case-prefill-{c}"))?;
                let len = PREFILL_CASE_EVENTS.min(events - c * PREFILL_CASE_EVENTS);
                (0..len as u64).map(|n| signer.event(&stream, n)).collect()
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Prefill { cases, events })
    }

    /// Appends the prefill into `store`, untimed: each case in one
    /// request, 64 requests at a time, after `signer`'s key is registered.
    /// Checks that the store then holds `before` + the prefill.
    async fn fill(&self, store: &Arc<dyn Store>) -> anyhow::Result<()> {
        if self.events == 0 {
            return Ok(());
        }
        let before = store.size().await?;
        const LANES: usize = 64;
        let mut lanes: Vec<Vec<Vec<ProposedEvent>>> = vec![Vec::new(); LANES];
        for (i, case) in self.cases.iter().enumerate() {
            lanes[i % LANES].push(case.clone());
        }
        let tasks: Vec<_> = lanes
            .into_iter()
            .map(|lane| {
                let store = store.clone();
                tokio::spawn(async move {
                    for events in lane {
                        // Invariant: every prefilled case has an event.
                        let stream = events[0].stream.clone();
                        store
                            .append(AppendRequest {
                                stream,
                                expected: ExpectedVersion::NoStream,
                                events,
                            })
                            .await?;
                    }
                    anyhow::Ok(())
                })
            })
            .collect();
        for task in tasks {
            task.await??;
        }
        let after = store.size().await?;
        anyhow::ensure!(
            after == before + self.events as u64,
            "the prefill left {after} entries, not {before} + {}",
            self.events
        );
        Ok(())
    }
}

/// `per_client` signed events for each client's own case stream.
fn signed_work(
    signer: &Signer,
    clients: usize,
    per_client: usize,
) -> anyhow::Result<Vec<Vec<ProposedEvent>>> {
    (0..clients)
        .map(|c| {
            let stream = StreamId::new(&format!("case-bench-{c}"))?;
            (0..per_client as u64)
                .map(|n| signer.event(&stream, n))
                .collect()
        })
        .collect()
}

pub async fn run(args: BenchArgs) -> anyhow::Result<std::process::ExitCode> {
    // The log `ledger serve` keeps (its request spans included).
    super::serve::init_tracing("text")?;
    if let Some(url) = &args.postgres {
        return postgres_bench(&args, url).await;
    }
    let rounds = args.rounds.max(1);
    println!(
        "appends of one signed event per request; up to {} events per client, {} per run; \
         best of {rounds} rounds (in process, in service, HTTP/1.1, transport floor in turn)",
        args.per_client, args.max_events
    );
    println!(
        "HTTP/1.1 by a minimal keep-alive client (wrk-like, `bench/wire.rs`); \
         the same by reqwest, and h2c by reqwest, once, for comparison"
    );
    println!(
        "ratios are to in-process/s, the store alone; \"svc ratio\" is HTTP/1.1 to in-service/s, \
         the store inside the service with its projector following the log, without HTTP"
    );
    println!(
        "signatures are verified with curve25519-dalek's {} field arithmetic",
        ledger::keys::ed25519_backend()
    );
    let signer = Arc::new(Signer::new()?);
    let prefill = Prefill::new(&signer, args.prefill)?;
    if args.prefill > 0 {
        println!(
            "every store holds {} events (cases of {PREFILL_CASE_EVENTS}) before its clock starts, \
             the read models caught up",
            args.prefill
        );
    }
    println!(
        "{:>8} {:>14} {:>13} {:>12} {:>7} {:>10} {:>9} {:>9} {:>12} {:>11} {:>7} {:>8} {:>7} {:>9}",
        "clients",
        "in-process/s",
        "in-service/s",
        "HTTP/1.1/s",
        "ratio",
        "svc ratio",
        "p50",
        "p99",
        "in-proc p99",
        "reqwest/s",
        "ratio",
        "h2c/s",
        "ratio",
        "h2c p99"
    );
    let mut cpu_rows = Vec::new();
    let mut splits = Vec::new();
    for &clients in &args.clients {
        let per_client = args.per_client.min(args.max_events / clients.max(1)).max(1);
        let mut local: Option<Run> = None;
        let mut in_service: Option<Run> = None;
        let mut http: Option<Run> = None;
        let mut transport: Option<Run> = None;
        let mut compared = None;
        // Each round's HTTP rate over its own in-process rate: the two
        // runs a few seconds apart, so a machine that speeds up or slows
        // down between rounds moves both.
        let mut paired = Vec::with_capacity(rounds);
        for round in 0..rounds {
            let in_process = in_process_run(&signer, &prefill, clients, per_client).await?;
            let in_process_rate = in_process.rate();
            keep_faster(&mut local, in_process);
            keep_faster(
                &mut in_service,
                in_service_run(&signer, &prefill, clients, per_client).await?,
            );
            let last = round + 1 == rounds;
            let (run, comparisons) =
                http_round(&signer, &prefill, clients, per_client, last).await?;
            paired.push(100.0 * run.rate() / in_process_rate.max(1e-9));
            keep_faster(&mut http, run);
            keep_faster(
                &mut transport,
                floor_run(&signer, clients, per_client).await?,
            );
            compared = compared.or(comparisons);
        }
        // Invariant: at least one round ran, and each kept its run.
        let (mut local, in_service, mut http, transport) = (
            local.expect("one round"),
            in_service.expect("one round"),
            http.expect("one round"),
            transport.expect("one round"),
        );
        let (reqwest_http, mut http2) = compared.expect("the last round compares");

        let ms = |d: Duration| format!("{:.2} ms", d.as_secs_f64() * 1e3);
        let local_rate = local.rate();
        let ratio = |run: &Run| 100.0 * run.rate() / local_rate.max(1e-9);
        let compared = |run: &anyhow::Result<Run>, width: usize| match run {
            Ok(r) => format!("{:>width$.0} {:>6.0}%", r.rate(), ratio(r)),
            Err(_) => format!("{:>width$} {:>7}", "failed", "-"),
        };
        let h2_p99 = match &mut http2 {
            Ok(r) => ms(r.percentile(0.99)),
            Err(_) => "-".to_owned(),
        };
        println!(
            "{:>8} {:>14.0} {:>13.0} {:>12.0} {:>6.0}% {:>9.0}% {:>9} {:>9} {:>12} {} {} {:>9}",
            clients,
            local.rate(),
            in_service.rate(),
            http.rate(),
            ratio(&http),
            100.0 * http.rate() / in_service.rate().max(1e-9),
            ms(http.percentile(0.50)),
            ms(http.percentile(0.99)),
            ms(local.percentile(0.99)),
            compared(&reqwest_http, 11),
            compared(&http2, 8),
            h2_p99,
        );
        println!(
            "         round by round, HTTP/1.1 to in-process: {} (median {:.0}%)",
            paired
                .iter()
                .map(|r| format!("{r:.0}%"))
                .collect::<Vec<_>>()
                .join(", "),
            median(&mut paired),
        );
        println!(
            "         transport floor (the same requests, answered at once, `bench/floor.rs`): \
             {:.0}/s; HTTP/1.1 appends reach {:.0}% of it",
            transport.rate(),
            100.0 * http.rate() / transport.rate().max(1e-9),
        );
        for (name, run) in [("reqwest HTTP/1.1", &reqwest_http), ("reqwest h2c", &http2)] {
            if let Err(e) = run {
                println!("         {name} run failed: {e:#}");
            }
        }
        for (name, run) in [
            ("in process", &local),
            ("in service", &in_service),
            ("HTTP/1.1", &http),
            ("transport floor", &transport),
        ] {
            if let Some(threads) = &run.threads {
                cpu_rows.push((
                    format!("{name}, {clients} clients"),
                    run.events,
                    run.groups,
                    threads.clone(),
                ));
            }
        }
        if let (Some(store), Some(whole), Some(floor)) = (
            per_event_total(&local),
            per_event_total(&http),
            per_event_total(&transport),
        ) {
            splits.push(CostSplit {
                clients,
                whole,
                store,
                floor,
            });
        }
    }
    print_thread_cpu(&cpu_rows);
    print_cost_splits(&splits);
    Ok(std::process::ExitCode::SUCCESS)
}

/// A run's CPU per event, all parts and the rest of the machine, in µs of
/// one core (None off Linux).
fn per_event_total(run: &Run) -> Option<f64> {
    let threads = run.threads.as_ref()?;
    Some(1e6 * threads.total() / run.events.max(1) as f64)
}

/// The HTTP run's CPU per event, split by the two runs that do part of its
/// work: the store alone (in process) and the transport alone (the floor).
struct CostSplit {
    clients: usize,
    /// The HTTP/1.1 run's total.
    whole: f64,
    /// The in-process run's total.
    store: f64,
    /// The transport floor's total.
    floor: f64,
}

impl CostSplit {
    /// What neither the store nor the transport accounts for: the service's
    /// own work per request, and what smaller group commits cost the store.
    fn rest(&self) -> f64 {
        self.whole - self.store - self.floor
    }
}

fn print_cost_splits(splits: &[CostSplit]) {
    if splits.is_empty() {
        return;
    }
    println!(
        "\nThe HTTP/1.1 run's CPU per event (µs of one core, the table's totals), split: the store \
         (the in-process run), the transport (the floor), and the rest — the service's own work \
         (tokens, JSON, access rules, metrics, logs, read models) and what its smaller group \
         commits cost the store"
    );
    println!(
        "{:>8} {:>9} {:>7} {:>10} {:>7}",
        "clients", "HTTP/1.1", "store", "transport", "rest"
    );
    for split in splits {
        println!(
            "{:>8} {:>9.1} {:>7.1} {:>10.1} {:>7.1}",
            split.clients,
            split.whole,
            split.store,
            split.floor,
            split.rest()
        );
    }
}

/// The median of `values` (the mean of the middle two when their number
/// is even; 0 when there are none), sorting them in place.
fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// Keeps the faster of `best` and `run`.
fn keep_faster(best: &mut Option<Run>, run: Run) {
    if best.as_ref().is_none_or(|b| run.rate() > b.rate()) {
        *best = Some(run);
    }
}

/// The store alone: a fresh embedded store, appended to in process.
async fn in_process_run(
    signer: &Signer,
    prefill: &Prefill,
    clients: usize,
    per_client: usize,
) -> anyhow::Result<Run> {
    let dir = tempfile::tempdir()?;
    let data = ledger::datadir::DataDir::open_or_init(dir.path(), None)?;
    let store = data.open_store(SqliteConfig::default())?;
    let shared: Arc<dyn Store> = Arc::new(store.clone());
    register_key(&shared, signer).await?;
    prefill.fill(&shared).await?;
    let work = signed_work(signer, clients, per_client)?;
    let before = store.stats().groups;
    let run = append_in_process(shared, work).await;
    let groups = store.stats().groups - before;
    store.close();
    run.map(|run| Run {
        groups: Some(groups),
        ..run
    })
}

/// Group commits `store` has made so far, if it is the embedded one.
fn groups_of(store: &api::server::LedgerStore) -> Option<u64> {
    match store {
        api::server::LedgerStore::Embedded(s) => Some(s.stats().groups),
        _ => None,
    }
}

/// In process through the service: the same store with what the service
/// runs beside it (the read-model projector following the log), without
/// HTTP. Set against the HTTP run, it leaves HTTP as the one difference.
async fn in_service_run(
    signer: &Signer,
    prefill: &Prefill,
    clients: usize,
    per_client: usize,
) -> anyhow::Result<Run> {
    let dir = tempfile::tempdir()?;
    let service = Service::open(bench_config(dir.path())).await?;
    let store = service.state.store().clone();
    register_key(&store, signer).await?;
    prefill.fill(&store).await?;
    read_models_caught_up(&service.state).await?;
    let work = signed_work(signer, clients, per_client)?;
    let before = groups_of(&service.store);
    let run = append_in_process(store, work).await;
    let groups = before.zip(groups_of(&service.store)).map(|(b, a)| a - b);
    let run = run.map(|run| Run { groups, ..run });
    service.state.begin_shutdown();
    service.store.close().await;
    run
}

/// Waits until the service's read models have folded every entry (a
/// prefill's take a while), so that no catching up runs while the clock
/// does.
async fn read_models_caught_up(state: &api::AppState) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        match state.read_models().await {
            Ok(_) => return Ok(()),
            Err(e) if Instant::now() > deadline => {
                return Err(anyhow::anyhow!("the read models did not catch up: {e}"));
            }
            // A wait that timed out, or read models not started yet.
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

/// The comparisons by reqwest over HTTP/1.1 and h2c: a failure is
/// reported, not fatal.
type Comparisons = (anyhow::Result<Run>, anyhow::Result<Run>);

/// Over HTTP: a fresh service on loopback, appended to by the minimal
/// client; with `compare`, then by reqwest over HTTP/1.1 and h2c too.
async fn http_round(
    signer: &Signer,
    prefill: &Prefill,
    clients: usize,
    per_client: usize,
    compare: bool,
) -> anyhow::Result<(Run, Option<Comparisons>)> {
    let dir = tempfile::tempdir()?;
    // The service gets a runtime of its own, as in its own process: its
    // request handlers, its projector and their blocking folds share it,
    // as they do under `ledger serve`, and nothing of the bench's own
    // queues behind them.
    let server_rt = ServerRuntime::new()?;
    let service = server_rt
        .spawn(Service::open(bench_config(dir.path())))
        .await??;
    let (listener, addr) = server_rt.listen().await?;
    let base = format!("http://{addr}");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = server_rt.spawn(api::serve(listener, service.state.clone(), async move {
        let _ = stop_rx.await;
    }));
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(clients.max(1))
        .build()?;
    let admin = service
        .new_admin_token
        .clone()
        .context("a fresh data directory has a new admin token")?;
    let token = setup_department(&client, &base, &admin, signer).await?;
    prefill.fill(service.state.store()).await?;
    read_models_caught_up(&service.state).await?;
    let work = wire_work(signer, &[addr], &token, clients, per_client)?;
    let before = groups_of(&service.store);
    let http = wire::run(work, &[]).await?;
    let groups = before.zip(groups_of(&service.store)).map(|(b, a)| a - b);
    let http = Run { groups, ..http };
    let comparisons = if compare {
        // reqwest over HTTP/1.1, then HTTP/2 without TLS (h2c, prior
        // knowledge): the same requests multiplexed on one connection, so
        // many answers share a write. Both read every answer (`post_all`).
        let h2 = reqwest::Client::builder().http2_prior_knowledge().build()?;
        let mut runs = Vec::new();
        for client in [&client, &h2] {
            let bases = std::slice::from_ref(&base);
            runs.push(http_run(client, bases, &token, signer, clients, per_client).await);
        }
        let http2 = runs.pop().context("the h2c run")?;
        let reqwest_http = runs.pop().context("the HTTP/1.1 run")?;
        Some((reqwest_http, http2))
    } else {
        None
    };
    let _ = stop_tx.send(());
    server.await??;
    drop(server_rt);
    service.store.close().await;
    Ok((http, comparisons))
}

/// The transport floor: the HTTP run's requests, by the same client, to
/// a server that reads each and answers at once (`bench/floor.rs`), on a
/// runtime of its own named as the service's, so that its CPU lands in the
/// same column.
async fn floor_run(signer: &Signer, clients: usize, per_client: usize) -> anyhow::Result<Run> {
    let server_rt = ServerRuntime::new()?;
    let (listener, addr) = server_rt.listen().await?;
    // A token as long as the service's; the floor never looks at it.
    let work = wire_work(
        signer,
        &[addr],
        &api::auth::new_token(),
        clients,
        per_client,
    )?;
    let answer = floor_answer(clients, per_client)?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = server_rt.spawn(async move {
        axum::serve(listener, floor::router(answer))
            .with_graceful_shutdown(async move {
                let _ = stop_rx.await;
            })
            .await
    });
    let run = wire::run(work, &[]).await;
    let _ = stop_tx.send(());
    server.await??;
    drop(server_rt);
    run
}

/// An append answer of the usual size for the floor to give: the service's
/// own answer shape, with one receipt as long as the run's last would be.
fn floor_answer(clients: usize, per_client: usize) -> anyhow::Result<axum::body::Bytes> {
    let answer = api::routes::events::AppendResponse {
        receipts: vec![api::wire::ReceiptView {
            event_id: ledger::EventId::generate().0.to_string(),
            stream: format!("case-bench-{}", clients.saturating_sub(1)),
            version: per_client.saturating_sub(1) as u64,
            log_index: (clients * per_client) as u64,
            leaf_hash: "0".repeat(64),
        }],
        query_code: None,
    };
    Ok(serde_json::to_vec(&answer)?.into())
}

/// Where this process's CPU went in each kept run, by part: µs of one
/// core per event.
fn print_thread_cpu(rows: &[(String, u64, Option<u64>, cpu::ThreadUse)]) {
    let Some((_, _, _, first)) = rows.first() else {
        return;
    };
    println!(
        "\nCPU while the clock ran, in µs of one core per event, read from /proc by thread; {} cores; \
         group: mean events per group commit",
        first.cores
    );
    println!(
        "HTTP: the service's runtime in the HTTP runs (request handlers and the projector), \
         the floor's server in the floor runs; runtime: the bench's own, with the in-process \
         appenders and, in service, the projector; disk: syncer and checkpointer; outside: the rest of the machine; tick: one clock \
         tick per event, what each figure may be off by (a short run's figures say little)"
    );
    println!(
        "{:<29} {:>6} {:>5} {:>7} {:>8} {:>10} {:>7} {:>6} {:>7} {:>6} {:>8} {:>7} {:>6}",
        "run",
        "group",
        "busy",
        "HTTP",
        "runtime",
        "signatures",
        "writer",
        "disk",
        "client",
        "rest",
        "outside",
        "total",
        "tick"
    );
    for (name, events, groups, cpu) in rows {
        let per = |secs: f64| 1e6 * secs / (*events).max(1) as f64;
        let group = groups.map_or("-".to_owned(), |g| {
            format!("{:.0}", *events as f64 / g.max(1) as f64)
        });
        println!(
            "{:<29} {:>6} {:>4.0}% {:>7.1} {:>8.1} {:>10.1} {:>7.1} {:>6.1} {:>7.1} {:>6.1} {:>8.1} {:>7.1} {:>6.1}",
            name,
            group,
            100.0 * cpu.busy_share(),
            per(cpu.of(cpu::Part::Http)),
            per(cpu.of(cpu::Part::Runtime)),
            per(cpu.of(cpu::Part::Signatures)),
            per(cpu.of(cpu::Part::Writer)),
            per(cpu.of(cpu::Part::Disk)),
            per(cpu.of(cpu::Part::Client)),
            per(cpu.of(cpu::Part::Rest)),
            per(cpu.outside()),
            per(cpu.total()),
            per(1.0 / cpu::clock_ticks()),
        );
    }
}

/// A fresh service in `dir`, without a rate limit.
fn bench_config(dir: &std::path::Path) -> ServeConfig {
    ServeConfig {
        data: dir.join("data"),
        store: Default::default(),
        origin: None,
        demo: false,
        demo_cases: api::demo::DEFAULT_DEMO_CASES,
        settings: Settings {
            rate_limit: 0.0,
            ..Settings::default()
        },
    }
}

/// The in-process server's runtime, shut down without blocking when
/// dropped — also when a run fails part-way, inside the bench's own runtime,
/// where dropping a runtime the ordinary way panics.
struct ServerRuntime(Option<tokio::runtime::Runtime>);

impl ServerRuntime {
    /// A multi-thread runtime whose threads are named `bench-server`, so
    /// that their CPU lands in the HTTP column.
    fn new() -> anyhow::Result<Self> {
        Ok(ServerRuntime(Some(
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .thread_name("bench-server")
                .build()?,
        )))
    }

    /// A listener on 127.0.0.1 (a free port) registered with this runtime,
    /// and its address.
    async fn listen(&self) -> anyhow::Result<(tokio::net::TcpListener, std::net::SocketAddr)> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let _guard = self.enter();
        Ok((
            tokio::net::TcpListener::from_std(listener.into_std()?)?,
            addr,
        ))
    }
}

impl std::ops::Deref for ServerRuntime {
    type Target = tokio::runtime::Runtime;

    fn deref(&self) -> &Self::Target {
        // Invariant: `Some` from construction until `drop` takes it.
        self.0
            .as_ref()
            .expect("the server runtime is taken only on drop")
    }
}

impl Drop for ServerRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// Posts every request of each list in order, the lists side by side.
async fn post_all(
    client: &reqwest::Client,
    token: &str,
    requests: Vec<Vec<(String, Vec<u8>)>>,
) -> anyhow::Result<Run> {
    let (cl, tk) = (client.clone(), token.to_owned());
    drive(requests, move |(url, body): (String, Vec<u8>)| {
        let (cl, tk) = (cl.clone(), tk.clone());
        async move {
            let res = cl
                .post(url)
                .bearer_auth(&tk)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body)
                .send()
                .await?;
            anyhow::ensure!(res.status() == 200, "append answered {}", res.status());
            // The receipt is read, as a department's client would: an answer
            // dropped unread is a stream the h2 client resets itself.
            res.bytes().await?;
            Ok(())
        }
    })
    .await
}

/// Registers the bench department and its key, and issues its token.
async fn setup_department(
    client: &reqwest::Client,
    base: &str,
    admin: &str,
    signer: &Signer,
) -> anyhow::Result<String> {
    let post = async |path: &str, body: serde_json::Value| -> anyhow::Result<serde_json::Value> {
        let res = client
            .post(format!("{base}{path}"))
            .bearer_auth(admin)
            .json(&body)
            .send()
            .await?;
        anyhow::ensure!(res.status() == 201, "{path} answered {}", res.status());
        Ok(res.json().await?)
    };
    post(
        "/v1/admin/departments",
        json!({"department": "dept-bench", "name": "bench"}),
    )
    .await?;
    post(
        "/v1/admin/keys",
        json!({"department": "dept-bench",
               "public_key": PublicKey::Ed25519(signer.signing.verifying_key()).to_base64()}),
    )
    .await?;
    let token = post(
        "/v1/admin/tokens",
        json!({"role": "department", "department": "dept-bench", "subject": "bench"}),
    )
    .await?;
    token["token"]
        .as_str()
        .map(str::to_owned)
        .context("token in the answer")
}

/// One PostgreSQL run: its HTTP appends and how many groups took them.
struct PgRun {
    http: Run,
    /// Sequencing transactions (groups) that appended or signed.
    groups: u64,
    /// Where the CPU went while the clients appended (None off Linux).
    cpu: Option<cpu::CpuUse>,
}

impl PgRun {
    fn mean_group(&self) -> f64 {
        self.http.events as f64 / self.groups.max(1) as f64
    }
}

async fn postgres_bench(args: &BenchArgs, url: &str) -> anyhow::Result<std::process::ExitCode> {
    let admin = PgAdmin::connect(url).await?;
    println!(
        "PostgreSQL {}: one signed event per HTTP request, up to {} events per client, {} per run",
        admin.version, args.per_client, args.max_events
    );
    println!(
        "{:>9} {:>8} {:>10} {:>9} {:>9} {:>11} {:>11} {:>7}",
        "processes", "clients", "HTTP/s", "p50", "p99", "mean group", "raw PG/s", "ratio"
    );
    let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1e3);
    let mut databases = Vec::new();
    let mut cpu_rows = Vec::new();
    let result = async {
        for &clients in &args.clients {
            let mut raw = None;
            for &processes in &args.processes {
                let db = admin.create().await?;
                databases.push(db.clone());
                let mut run = postgres_run(&admin.url_of(&db), processes, clients, args).await?;
                // The raw rate: the rows this run wrote, in batches of the
                // group size it reached (measured once per client count,
                // on the first run's rows).
                if raw.is_none() {
                    let batch = run.mean_group().round().max(1.0) as usize;
                    let (rate, cpu, rows) = raw_inserts(&admin.url_of(&db), batch).await?;
                    raw = Some(rate);
                    if let Some(cpu) = cpu {
                        cpu_rows.push((format!("raw copy, {batch} rows/txn"), rows, cpu));
                    }
                }
                let raw_rate = raw.unwrap_or(f64::NAN);
                if let Some(cpu) = run.cpu.take() {
                    cpu_rows.push((
                        format!("{processes} process(es), {clients} clients"),
                        run.http.events,
                        cpu,
                    ));
                }
                println!(
                    "{:>9} {:>8} {:>10.0} {:>9} {:>9} {:>11.1} {:>11.0} {:>6.0}%",
                    processes,
                    clients,
                    run.http.rate(),
                    ms(run.http.percentile(0.50)),
                    ms(run.http.percentile(0.99)),
                    run.mean_group(),
                    raw_rate,
                    100.0 * run.http.rate() / raw_rate,
                );
            }
        }
        anyhow::Ok(())
    }
    .await;
    if !cpu_rows.is_empty() {
        print_cpu(&cpu_rows);
    }
    for db in &databases {
        if let Err(e) = admin.drop_db(db).await {
            eprintln!("warning: dropping {db}: {e}");
        }
    }
    result?;
    Ok(std::process::ExitCode::SUCCESS)
}

/// Where the CPU went in each timed part: µs of one core per event (or
/// raw row), and how busy the machine was.
fn print_cpu(rows: &[(String, u64, cpu::CpuUse)]) {
    let cores = rows.first().map_or(1, |(_, _, c)| c.cores);
    println!(
        "\nCPU while the clock ran, in µs of one core per event (or row), read from /proc; \
         {cores} cores; PostgreSQL is every `postgres` process"
    );
    println!(
        "{:<34} {:>6} {:>13} {:>11} {:>12} {:>7} {:>7}",
        "run", "busy", "ledger serve", "PostgreSQL", "load client", "other", "total"
    );
    for (name, events, cpu) in rows {
        let per = |secs: f64| 1e6 * secs / (*events).max(1) as f64;
        println!(
            "{:<34} {:>5.0}% {:>13.1} {:>11.1} {:>12.1} {:>7.1} {:>7.1}",
            name,
            100.0 * cpu.busy_share(),
            per(cpu.servers),
            per(cpu.postgres),
            per(cpu.client),
            per(cpu.other()),
            per(cpu.busy),
        );
    }
}

/// `processes` real `ledger serve --store URL` processes (this binary) on
/// one database with one ledger key, `clients` clients spread over them.
async fn postgres_run(
    url: &str,
    processes: usize,
    clients: usize,
    args: &BenchArgs,
) -> anyhow::Result<PgRun> {
    let dir = tempfile::tempdir()?;
    let location: api::server::StoreLocation = url.parse()?;
    let data: Vec<std::path::PathBuf> = (0..processes.max(1))
        .map(|i| dir.path().join(format!("d{i}")))
        .collect();
    // The first directory makes the key and binds the database to it.
    let (_, store) =
        api::server::LedgerStore::open_with_dir(&data[0], None, &location, ledger::Clock::system())
            .await?;
    store.close().await;
    for d in &data[1..] {
        std::fs::create_dir_all(d)?;
        for file in ["ledger.key", "ledger.pub"] {
            std::fs::copy(data[0].join(file), d.join(file))?;
        }
    }
    let mut servers = Vec::new();
    for d in &data {
        servers.push(ServeProcess::start(d, url)?);
    }
    let bases: Vec<String> = servers.iter().map(|s| s.base.clone()).collect();
    let result = async {
        let signer = Signer::new()?;
        let per_client = args.per_client.min(args.max_events / clients.max(1)).max(1);
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(clients.max(1))
            .build()?;
        let admin = std::fs::read_to_string(data[0].join("admin.token"))?;
        let token = setup_department(&client, &bases[0], admin.trim(), &signer).await?;
        let groups_before = log_head_updates(url).await?;
        let addrs = servers
            .iter()
            .map(|s| {
                s.base
                    .strip_prefix("http://")
                    .and_then(|a| a.parse().ok())
                    .with_context(|| format!("a socket address in {}", s.base))
            })
            .collect::<anyhow::Result<Vec<std::net::SocketAddr>>>()?;
        let work = wire_work(&signer, &addrs, &token, clients, per_client)?;
        let pids: Vec<u32> = servers.iter().map(|s| s.child.id()).collect();
        // Sampled by the load client around its clock, after it connected:
        // a connection that waits (a full accept queue costs a SYN resend,
        // a second) would otherwise count as idle time of the run.
        let mut http = wire::run(work, &pids).await?;
        let cpu = http.processes.take();
        anyhow::Ok((http, groups_before, cpu))
    }
    .await;
    // Stopped (SIGTERM) before the statistics are read: a backend reports
    // its counts when its session ends.
    for s in servers {
        s.stop()?;
    }
    let (http, groups_before, cpu) = result?;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let groups = log_head_updates(url).await?.saturating_sub(groups_before);
    Ok(PgRun { http, groups, cpu })
}

/// Updates of `log_head` so far: one per sequencing transaction.
async fn log_head_updates(url: &str) -> anyhow::Result<u64> {
    let client = pg_connect(url).await?;
    let row = client
        .query_one(
            "SELECT COALESCE(n_tup_upd, 0) FROM pg_stat_user_tables WHERE relname = 'log_head'",
            &[],
        )
        .await?;
    Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
}

/// Copies the rows of `events` into a fresh table with the same keys,
/// `batch` rows per durable single-statement transaction, from one
/// connection; rows per second, the best of [`RAW_RUNS`] copies (the
/// ceiling is what the server can do, not what it did once while still
/// flushing the run before), with the CPU that copy used and its rows.
async fn raw_inserts(url: &str, batch: usize) -> anyhow::Result<(f64, Option<cpu::CpuUse>, u64)> {
    let mut best: (f64, Option<cpu::CpuUse>, u64) = (0.0, None, 0);
    for run in 0..RAW_RUNS {
        let (rate, cpu, rows) = raw_insert_run(url, batch, run).await?;
        if rate > best.0 {
            best = (rate, cpu, rows);
        }
    }
    Ok(best)
}

/// Copies of the rows timed for the raw ceiling.
const RAW_RUNS: usize = 3;

async fn raw_insert_run(
    url: &str,
    batch: usize,
    run: usize,
) -> anyhow::Result<(f64, Option<cpu::CpuUse>, u64)> {
    let client = pg_connect(url).await?;
    client
        .batch_execute(&format!(
            "SET synchronous_commit TO on;
             CREATE TABLE raw_events_{run} (LIKE events INCLUDING ALL);"
        ))
        .await?;
    let rows = client
        .query(
            "SELECT idx, id, stream, version, leaf, entry FROM events ORDER BY idx",
            &[],
        )
        .await?;
    let insert = client
        .prepare(&format!(
            "INSERT INTO raw_events_{run}(idx, id, stream, version, leaf, entry)
             SELECT * FROM unnest($1::bigint[], $2::bytea[], $3::text[], $4::bigint[],
                                  $5::bytea[], $6::bytea[])"
        ))
        .await?;
    // Columns built before the clock starts, as the sequencer has them.
    let batches: Vec<_> = rows
        .chunks(batch.max(1))
        .map(|chunk| {
            let idx: Vec<i64> = chunk.iter().map(|r| r.get(0)).collect();
            let id: Vec<Vec<u8>> = chunk.iter().map(|r| r.get(1)).collect();
            let stream: Vec<String> = chunk.iter().map(|r| r.get(2)).collect();
            let version: Vec<i64> = chunk.iter().map(|r| r.get(3)).collect();
            let leaf: Vec<Vec<u8>> = chunk.iter().map(|r| r.get(4)).collect();
            let entry: Vec<Vec<u8>> = chunk.iter().map(|r| r.get(5)).collect();
            (idx, id, stream, version, leaf, entry)
        })
        .collect();
    let before = cpu::Sample::take(&[]);
    let started = Instant::now();
    for (idx, id, stream, version, leaf, entry) in &batches {
        client
            .execute(&insert, &[idx, id, stream, version, leaf, entry])
            .await?;
    }
    let rate = rows.len() as f64 / started.elapsed().as_secs_f64();
    let cpu = before.zip(cpu::Sample::take(&[])).map(|(b, a)| a.since(&b));
    Ok((rate, cpu, rows.len() as u64))
}

/// `clients` tasks appending `per_client` pre-signed events each through
/// `client`, one request per event; client `c` on `bases[c % n]`.
async fn http_run(
    client: &reqwest::Client,
    bases: &[String],
    token: &str,
    signer: &Signer,
    clients: usize,
    per_client: usize,
) -> anyhow::Result<Run> {
    let requests = signed_work(signer, clients, per_client)?
        .into_iter()
        .enumerate()
        .map(|(c, events)| {
            let base = &bases[c % bases.len()];
            events
                .into_iter()
                .map(|ev| {
                    let url = format!("{base}/v1/streams/{}/events", ev.stream);
                    let body = serde_json::to_vec(&json!({"events": [ev]}))?;
                    anyhow::Ok((url, body))
                })
                .collect::<anyhow::Result<Vec<_>>>()
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    post_all(client, token, requests).await
}

/// `per_client` pre-signed appends for each client, written out as
/// HTTP/1.1 requests; client `c` talks to `addrs[c % n]`.
fn wire_work(
    signer: &Signer,
    addrs: &[std::net::SocketAddr],
    token: &str,
    clients: usize,
    per_client: usize,
) -> anyhow::Result<Vec<(std::net::SocketAddr, Vec<wire::WireRequest>)>> {
    signed_work(signer, clients, per_client)?
        .into_iter()
        .enumerate()
        .map(|(c, events)| {
            let addr = addrs[c % addrs.len()];
            let requests = events
                .into_iter()
                .map(|ev| {
                    let path = format!("/v1/streams/{}/events", ev.stream);
                    let body = serde_json::to_vec(&json!({"events": [ev]}))?;
                    Ok(wire::WireRequest::post_json(&addr, &path, token, &body))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            Ok((addr, requests))
        })
        .collect()
}

/// A `ledger serve` child process of this binary.
struct ServeProcess {
    child: std::process::Child,
    base: String,
}

impl ServeProcess {
    fn start(data: &std::path::Path, store: &str) -> anyhow::Result<ServeProcess> {
        use std::io::BufRead as _;
        let mut child = std::process::Command::new(std::env::current_exe()?)
            .arg("serve")
            .arg("--data")
            .arg(data)
            .args([
                "--store",
                store,
                "--listen",
                "127.0.0.1:0",
                "--rate-limit",
                "0",
            ])
            .env("LEDGER_LOG", "warn")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .context("starting ledger serve")?;
        let stdout = child.stdout.take().context("the child's stdout")?;
        let mut lines = std::io::BufReader::new(stdout).lines();
        loop {
            let Some(line) = lines.next().transpose()? else {
                let _ = child.kill();
                anyhow::bail!(
                    "ledger serve --data {} stopped before listening",
                    data.display()
                );
            };
            if let Some(base) = line.strip_prefix("listening on ") {
                // Its later output is not needed; the pipe is drained so
                // the child never blocks on it.
                std::thread::spawn(move || lines.for_each(drop));
                return Ok(ServeProcess {
                    child,
                    base: base.trim().to_owned(),
                });
            }
        }
    }

    /// SIGTERM and wait.
    fn stop(mut self) -> anyhow::Result<()> {
        let pid = i32::try_from(self.child.id())?;
        // SAFETY: kill(2) on a child this process spawned and still owns.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let status = self.child.wait()?;
        anyhow::ensure!(status.success(), "ledger serve exited with {status}");
        Ok(())
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The server's admin connection: creates and drops scratch databases.
struct PgAdmin {
    client: tokio_postgres::Client,
    config: tokio_postgres::Config,
    version: String,
}

impl PgAdmin {
    async fn connect(url: &str) -> anyhow::Result<PgAdmin> {
        let config: tokio_postgres::Config = url.parse().context("--postgres URL")?;
        let client = pg_connect(url).await?;
        let version: String = client.query_one("SHOW server_version", &[]).await?.get(0);
        Ok(PgAdmin {
            client,
            config,
            version,
        })
    }

    async fn create(&self) -> anyhow::Result<String> {
        let name = format!("ledger_bench_{:016x}", rand::random::<u64>());
        self.client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await?;
        Ok(name)
    }

    async fn drop_db(&self, name: &str) -> anyhow::Result<()> {
        self.client
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await?;
        Ok(())
    }

    /// A URL of the database `name` on this server.
    fn url_of(&self, name: &str) -> String {
        let host = match self.config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
            _ => "127.0.0.1".to_owned(),
        };
        let port = self.config.get_ports().first().copied().unwrap_or(5432);
        let user = self.config.get_user().unwrap_or("postgres");
        let password = self
            .config
            .get_password()
            .map(|p| format!(":{}", String::from_utf8_lossy(p)))
            .unwrap_or_default();
        format!("postgres://{user}{password}@{host}:{port}/{name}")
    }
}

async fn pg_connect(url: &str) -> anyhow::Result<tokio_postgres::Client> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .with_context(|| format!("connecting to PostgreSQL at {url}"))?;
    tokio::spawn(connection);
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::{median, post_all};

    /// reqwest's h2 client counts every stream it resets itself, and past
    /// 1,024 of them closes the connection ("too_many_internal_resets",
    /// hyperium/h2#856). An answer dropped before its body has all arrived
    /// is such a reset, so the comparison runs read every body: against a
    /// server whose answers end a moment after their heads, more requests
    /// than that limit on one h2c connection all succeed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_h2c_comparison_reads_every_answer_and_keeps_its_connection() {
        use axum::body::{Body, Bytes};
        use futures::StreamExt as _;

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let slow_end = axum::Router::new().route(
            "/v1/streams/{stream}/events",
            axum::routing::post(|| async {
                let parts = futures::stream::iter([&b"{\"receipts\":"[..], &b"[]}"[..]]).then(
                    |part| async move {
                        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                        Ok::<_, std::io::Error>(Bytes::from_static(part))
                    },
                );
                Body::from_stream(parts)
            }),
        );
        tokio::spawn(async move { axum::serve(listener, slow_end).await });
        let h2 = reqwest::Client::builder()
            .http2_prior_knowledge()
            .build()
            .unwrap();
        let url = format!("http://{addr}/v1/streams/case-1/events");
        let requests: Vec<Vec<(String, Vec<u8>)>> = (0..64)
            .map(|_| (0..20).map(|_| (url.clone(), b"{}".to_vec())).collect())
            .collect();
        let run = post_all(&h2, "token", requests).await.unwrap();
        assert_eq!(run.events, 1_280);
    }

    #[test]
    fn median_of_odd_even_and_no_rounds() {
        assert_eq!(median(&mut [58.0, 41.0, 49.0]), 49.0);
        assert_eq!(median(&mut [60.0, 40.0]), 50.0);
        assert_eq!(median(&mut [55.0]), 55.0);
        assert_eq!(median(&mut []), 0.0);
    }
}
