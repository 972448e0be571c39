//! `ledger` — serve the ledger over HTTP, initialise a data directory, audit a store.
//!
//! Exit codes: 0 done / verified / shut down cleanly; 1 verification found a
//! problem (named by kind and position); 2 usage, input or storage error.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use ledger::Store;
use ledger::audit::verify_store;
use ledger::datadir::DataDir;
use ledger::store::sqlite::{SqliteConfig, SqliteStore};

#[path = "ledger/bench.rs"]
mod bench;
#[path = "ledger/projections.rs"]
mod projections_cmd;
#[path = "ledger/serve.rs"]
mod serve;
#[path = "ledger/witness.rs"]
mod witness;

/// mimalloc: frees from another thread than the allocating one are common
/// here (pipelines, blocking tasks) and cost glibc malloc dearly.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Run the HTTP service on the embedded store (initialising DIR on first start).
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
    Init {
        #[arg(long, env = "LEDGER_DATA", default_value = "./data")]
        data: PathBuf,
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
    /// Audit a whole store on disk: entries, links, signatures, tree, checkpoints.
    ///
    /// Example: ledger verify --data ./data
    Verify {
        #[arg(long, env = "LEDGER_DATA")]
        data: PathBuf,
    },
}

fn main() -> ExitCode {
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
            origin,
            demo,
            demo_cases,
        } => {
            let dir = DataDir::open_or_init(&data, origin.as_deref())?;
            // The demo is recorded at its own times, by a clock it sets.
            let (clock, demo_clock) = if demo {
                let (clock, hand) = ledger::Clock::manual();
                (clock, Some(hand))
            } else {
                (ledger::Clock::system(), None)
            };
            let store = dir.open_store(SqliteConfig {
                clock,
                ..SqliteConfig::default()
            })?;
            if let Some(hand) = demo_clock {
                let shared: Arc<dyn Store> = Arc::new(store.clone());
                match api::demo::load_demo(&shared, hand, demo_cases).await? {
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
            println!("origin:         {}", dir.signer().name());
            println!(
                "verifier key:   {}",
                dir.signer().verifier().to_verifier_key_string()
            );
            println!("log size:       {}", store.size().await?);
            store.close();
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify { data } => {
            let pub_path = data.join("ledger.pub");
            let text = std::fs::read_to_string(&pub_path)
                .map_err(|e| anyhow::anyhow!("reading {}: {e}", pub_path.display()))?;
            let key = ledger::note::NoteVerifier::from_verifier_key_string(text.trim())?;
            let store = SqliteStore::open_for_audit(&data.join("ledger.sqlite"))?;
            match verify_store(&store, &key, |_| {}).await? {
                Ok(summary) => {
                    println!(
                        "✓ {} entries, {} checkpoints, {} keys: every entry, link, signature, tree hash and checkpoint verified",
                        summary.entries, summary.checkpoints, summary.keys
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(problem) => {
                    println!("✗ {problem}");
                    Ok(ExitCode::from(1))
                }
            }
        }
    }
}
