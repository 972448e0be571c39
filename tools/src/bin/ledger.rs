//! `ledger` — initialise a data directory and audit a store.
//!
//! Exit codes: 0 done / verified; 1 verification found a problem (named by
//! kind and position); 2 usage, input or storage error.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use ledger::audit::verify_store;
use ledger::datadir::DataDir;
use ledger::store::sqlite::{SqliteConfig, SqliteStore};
use ledger::{
    Actor, ActorId, AppendRequest, EventType, ExpectedVersion, ProposedEvent, Store, StreamId,
    Timestamp,
};

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
    /// Initialise a data directory (ledger key 0600, store), optionally with demo cases.
    ///
    /// Example: ledger init --data ./data --demo
    Init {
        #[arg(long, env = "LEDGER_DATA", default_value = "./data")]
        data: PathBuf,
        /// Checkpoint origin (the log's name); kept once chosen.
        #[arg(long, env = "LEDGER_ORIGIN")]
        origin: Option<String>,
        /// Append a few example cases.
        #[arg(long)]
        demo: bool,
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
    match rt.block_on(run(cli.command)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Init { data, origin, demo } => {
            let dir = DataDir::open_or_init(&data, origin.as_deref())?;
            let store = dir.open_store(SqliteConfig::default())?;
            if demo {
                append_demo(&store).await?;
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

/// A few example cases, each a short timeline.
async fn append_demo(store: &SqliteStore) -> anyhow::Result<()> {
    let steps: [(&str, serde_json::Value); 4] = [
        (
            "case.materials_notified",
            serde_json::json!({"materials": ["营业执照申请书", "身份证明", "住所使用证明"]}),
        ),
        (
            "case.accepted",
            serde_json::json!({"item": "企业设立登记", "channel": "window", "first_contact_officer": "officer-1"}),
        ),
        (
            "case.reviewed",
            serde_json::json!({"layer": 1, "opinion": "同意"}),
        ),
        (
            "case.decided",
            serde_json::json!({"decision": "准予", "basis": "《市场主体登记管理条例》"}),
        ),
    ];
    let store: Arc<dyn Store> = Arc::new(store.clone());
    for n in 1..=3 {
        let stream = StreamId::new(&format!("case-demo-{n:04}"))?;
        let events = steps
            .iter()
            .map(|(t, payload)| {
                Ok(ProposedEvent::new(
                    stream.clone(),
                    EventType::new(t)?,
                    Timestamp::now(),
                    Actor {
                        department: ActorId::new("dept-market")?,
                        officer: Some(ActorId::new("officer-1")?),
                    },
                    payload.as_object().cloned().unwrap_or_default(),
                ))
            })
            .collect::<Result<Vec<_>, ledger::Error>>()?;
        let request = AppendRequest {
            stream,
            expected: ExpectedVersion::NoStream,
            events,
        };
        match store.append(request).await {
            Ok(_) | Err(ledger::Error::WrongExpectedVersion { .. }) => {} // already there
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
