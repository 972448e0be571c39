//! Appends under concurrent load to a data directory and prints one line per
//! acknowledged event — `ack <event id> <log index> <stream> <version>` —
//! until killed. The crash test SIGKILLs it and checks every acked event.
//!
//! Usage: crash_appender DATA_DIR [TASKS]

use std::sync::Arc;

use anyhow::Context;
use ledger::Store;
use ledger::datadir::DataDir;
use ledger::store::sqlite::SqliteConfig;
use tests::fixtures::append_until_killed;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    // As `ledger` does: the crash tests then run the wrapped page cache.
    ledger::store::page_cache::install();
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .context("usage: crash_appender DATA_DIR [TASKS]")?;
    let tasks: usize = args
        .next()
        .map_or(Ok(16), |t| t.parse())
        .context("TASKS must be a number")?;
    let data = DataDir::open_or_init(dir.as_ref(), Some("crash.example/log"))?;
    // A small WAL limit, so the writer restarts the WAL many times a round
    // and the kills land around restarts too.
    let store: Arc<dyn Store> = Arc::new(data.open_store(SqliteConfig {
        wal_restart_bytes: 64 << 10,
        ..SqliteConfig::default()
    })?);
    println!("ready");
    append_until_killed(store, tasks).await;
    Ok(())
}
