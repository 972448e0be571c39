//! `ledger` — serve the ledger over HTTP, initialise a data directory, audit a store.
//!
//! Exit codes: 0 done / verified / shut down cleanly; 1 verification found a
//! problem (named by kind and position); 2 usage, input or storage error.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[path = "ledger/append.rs"]
mod append;
#[path = "ledger/bench.rs"]
mod bench;
#[path = "ledger/catalog.rs"]
mod catalog;
#[path = "ledger/export.rs"]
mod export;
#[path = "ledger/keygen.rs"]
mod keygen;
#[path = "ledger/monitor.rs"]
mod monitor;
#[path = "ledger/projections.rs"]
mod projections_cmd;
#[path = "ledger/serve.rs"]
mod serve;
#[path = "ledger/verify.rs"]
mod verify;
#[path = "ledger/witness.rs"]
mod witness;

/// mimalloc: frees from another thread than the allocating one are common
/// here (pipelines, blocking tasks) and cost glibc malloc dearly.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Turns transparent huge pages off for this process (`PR_SET_THP_DISABLE`,
/// prctl(2); Linux ≥ 3.15), before the heap grows.
///
/// mimalloc advises its arenas `MADV_HUGEPAGE` and gives memory it no
/// longer uses back with `MADV_DONTNEED`. When a freed range is touched
/// again, the kernel maps a fresh 2 MiB page for it and zeroes all of it,
/// though the allocator wanted a few KiB. Under HTTP load (`ledger bench
/// --clients 256`, `perf record -a`) that zeroing (`clear_page_erms` under
/// `do_huge_pmd_anonymous_page`) took 4.4–5.6 % of all CPU samples; with
/// huge pages off, 0.1–0.2 %. Timed runs showed no loss from the smaller
/// pages either (nor a gain beyond the machine's run-to-run noise). Where
/// the call fails (an old kernel, a sandbox), the process runs as before.
fn disable_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: prctl(2) with PR_SET_THP_DISABLE takes plain integers and
    // touches no memory of ours.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

#[derive(Parser)]
#[command(
    name = "ledger",
    version,
    about = "Verifiable work-log ledger for public-service cases"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP service on the embedded store or PostgreSQL (initialising DIR on first start).
    ///
    /// Example: ledger serve --data ./data --listen 127.0.0.1:8080 --demo
    Serve(serve::ServeArgs),
    /// Append load over HTTP (1, 16, 64, 256 clients) beside the in-process rate of the same store.
    ///
    /// Example: ledger bench --clients 1,16,64,256 --seconds 5
    Bench(bench::BenchArgs),
    /// Run a C2SP tlog-witness that cosigns checkpoints of the logs given.
    ///
    /// Example: ledger witness --name supervision.example/w1 --log "$(cat data/ledger.pub)"
    Witness(witness::WitnessArgs),
    /// Initialise a data directory (ledger key 0600, store), optionally with the demo data set.
    ///
    /// Example: ledger init --data ./data --demo
    /// (or, on PostgreSQL: ledger init --data ./d1 --store postgres://postgres@127.0.0.1/ledger)
    Init {
        #[arg(long, env = "LEDGER_DATA", default_value = "./data")]
        data: PathBuf,
        /// Where the log is kept: `embedded` (DIR/ledger.sqlite) or a
        /// postgres://user@host:port/database URL (bound to this key).
        #[arg(long, env = "LEDGER_STORE", default_value = "embedded")]
        store: String,
        /// Checkpoint origin (the log's name); kept once chosen.
        #[arg(long, env = "LEDGER_ORIGIN")]
        origin: Option<String>,
        /// Load the demo data set: a city's departments, service catalogue,
        /// and months of cases and complaints up to today.
        #[arg(long)]
        demo: bool,
        /// How many demo cases (default 10000).
        #[arg(long, env = "LEDGER_DEMO_CASES", default_value_t = api::demo::DEFAULT_DEMO_CASES)]
        demo_cases: usize,
    },
    /// The persisted read models: rebuild them from the log, or see how far behind they are.
    ///
    /// Example: ledger projections rebuild --data ./data
    Projections {
        #[command(subcommand)]
        action: projections_cmd::ProjectionsCommand,
    },
    /// Verify an evidence bundle offline, or audit a whole store on disk.
    ///
    /// Example: ledger verify case-2026-000123.bundle.json --trust trust.toml
    /// (or: ledger verify --data ./data)
    Verify(verify::VerifyArgs),
    /// Create a department's or witness's Ed25519 key pair.
    ///
    /// Example: ledger keygen --out keys/dept-gov
    Keygen(keygen::KeygenArgs),
    /// Append events from a JSON or NDJSON file (or stdin), signed with a department key.
    ///
    /// Example: ledger append --server http://127.0.0.1:8080 --token-file dept.token --key keys/dept-gov.key events.ndjson
    Append(append::AppendArgs),
    /// The service catalogue: import service items from a spreadsheet.
    ///
    /// Example: ledger catalog import items.xlsx --server http://127.0.0.1:8080 --token-file data/admin.token --department dept-zwfw
    Catalog {
        #[command(subcommand)]
        action: catalog::CatalogCommand,
    },
    /// Export an evidence bundle for one case or complaint.
    ///
    /// Example: ledger export case 2026-000123 --server http://127.0.0.1:8080 -o case.bundle.json
    Export {
        #[command(subcommand)]
        what: export::ExportCommand,
    },
    /// Audit a live server through its public tiles, as an outside monitor.
    ///
    /// Example: ledger monitor http://127.0.0.1:8080 --log-key-file data/ledger.pub --state monitor.json
    Monitor(monitor::MonitorArgs),
}

fn main() -> ExitCode {
    disable_transparent_huge_pages();
    // Before any SQLite connection: see `page_cache` for what it saves.
    ledger::store::page_cache::install();
    let cli = Cli::parse();
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let code = match rt.block_on(run(cli.command)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    };
    // Everything acknowledged is durable by now and the store is closed;
    // background work still running (a read-model batch, a witness push)
    // may be abandoned rather than hold the exit.
    rt.shutdown_timeout(std::time::Duration::from_secs(5));
    code
}

async fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve(args) => serve::run(args).await,
        Command::Bench(args) => bench::run(args).await,
        Command::Witness(args) => witness::run(args).await,
        Command::Projections { action } => projections_cmd::run(action).await,
        Command::Init {
            data,
            store,
            origin,
            demo,
            demo_cases,
        } => {
            let location: api::server::StoreLocation = store.parse()?;
            // The demo is recorded at its own times, by a clock it sets.
            let (clock, demo_clock) = if demo {
                let (clock, hand) = ledger::Clock::manual();
                (clock, Some(hand))
            } else {
                (ledger::Clock::system(), None)
            };
            let (dir, opened) =
                api::server::LedgerStore::open_with_dir(&data, origin.as_deref(), &location, clock)
                    .await?;
            let store = opened.shared();
            if let Some(hand) = demo_clock {
                match api::demo::load_demo(&store, hand, demo_cases).await? {
                    api::demo::DemoOutcome::Loaded(l) => println!(
                        "demo:           {} cases, {} complaints, {} events in {:.1} s",
                        l.cases,
                        l.complaints,
                        l.events,
                        l.elapsed.as_secs_f64()
                    ),
                    api::demo::DemoOutcome::AlreadyThere => {
                        println!("demo:           already there; nothing added")
                    }
                }
            }
            store.checkpoint_now().await?;
            println!("data directory: {}", data.display());
            println!("store:          {}", opened.describe(&dir));
            println!("origin:         {}", dir.signer().name());
            println!(
                "verifier key:   {}",
                dir.signer().verifier().to_verifier_key_string()
            );
            println!("log size:       {}", store.size().await?);
            opened.close().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify(args) => verify::run(args).await,
        Command::Keygen(args) => keygen::run(args).await,
        Command::Append(args) => append::run(args).await,
        Command::Catalog { action } => catalog::run(action).await,
        Command::Export { what } => export::run(what).await,
        Command::Monitor(args) => monitor::run(args).await,
    }
}
