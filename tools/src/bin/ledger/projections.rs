//! `ledger projections rebuild | status`: the persisted read models
//! (`DIR/projections.sqlite`) of a data directory.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use api::projector::{READ_STORE_FILE, rebuild, remove_sqlite};
use clap::Subcommand;
use ledger::Store;
use ledger::store::sqlite::SqliteStore;
use projections::readstore::ReadStore;

#[derive(Subcommand)]
pub enum ProjectionsCommand {
    /// Rebuild the read models from the whole log, into a new file that
    /// then replaces DIR/projections.sqlite. A running `ledger serve` keeps
    /// its open file until restarted.
    ///
    /// Example: ledger projections rebuild --data ./data
    Rebuild {
        #[arg(long, env = "LEDGER_DATA", default_value = "./data")]
        data: PathBuf,
    },
    /// How far the read models are behind the log.
    ///
    /// Example: ledger projections status --data ./data
    Status {
        #[arg(long, env = "LEDGER_DATA", default_value = "./data")]
        data: PathBuf,
    },
}

pub async fn run(command: ProjectionsCommand) -> anyhow::Result<ExitCode> {
    match command {
        ProjectionsCommand::Rebuild { data } => {
            let store = open_log(&data)?;
            let target = data.join(READ_STORE_FILE);
            let building = data.join(format!("{READ_STORE_FILE}.rebuild"));
            remove_sqlite(&building)?;
            let started = Instant::now();
            let last_report = std::sync::Mutex::new(Instant::now());
            let rebuilt = rebuild(
                store,
                &building,
                api::projector::read_store_config()?,
                move |at, of| {
                    let mut last = last_report.lock().unwrap_or_else(|e| e.into_inner());
                    if last.elapsed().as_secs_f64() >= 1.0 || at == of {
                        *last = Instant::now();
                        eprint!("\r  {at} / {of} entries");
                    }
                },
            )
            .await?;
            let folded = rebuilt.entries;
            eprintln!();
            let seconds = started.elapsed().as_secs_f64();
            remove_sqlite(&target)?;
            std::fs::rename(&building, &target).with_context(|| {
                format!("renaming {} to {}", building.display(), target.display())
            })?;
            println!(
                "rebuilt {} from {folded} entries in {seconds:.1} s ({:.0} entries/s)",
                target.display(),
                folded as f64 / seconds.max(1e-9)
            );
            Ok(ExitCode::SUCCESS)
        }
        ProjectionsCommand::Status { data } => {
            let store = open_log(&data)?;
            let size = store.size().await?;
            let path = data.join(READ_STORE_FILE);
            if !path.exists() {
                println!(
                    "no read models yet ({} is created by `ledger serve`); log size {size}",
                    path.display()
                );
                return Ok(ExitCode::SUCCESS);
            }
            let read = ReadStore::open(&path, api::projector::read_store_config()?)?;
            let at = read.next_index();
            println!(
                "read models at {at} of {size} log entries ({} behind)",
                size.saturating_sub(at)
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn open_log(data: &Path) -> anyhow::Result<Arc<dyn Store>> {
    let path = data.join("ledger.sqlite");
    if !path.exists() {
        anyhow::bail!("{}: no ledger store here", path.display());
    }
    Ok(Arc::new(SqliteStore::open_for_audit(&path)?))
}
