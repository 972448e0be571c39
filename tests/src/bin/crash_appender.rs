//! Appends under concurrent load to a data directory and prints one line per
//! acknowledged event — `ack <event id> <log index> <stream> <version>` —
//! until killed. The crash test SIGKILLs it and checks every acked event.
//!
//! Usage: crash_appender DATA_DIR [TASKS]

use std::io::Write;
use std::sync::Arc;

use anyhow::Context;
use ledger::datadir::DataDir;
use ledger::store::sqlite::SqliteConfig;
use ledger::{AppendRequest, ExpectedVersion, Store};
use tests::fixtures::event;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .context("usage: crash_appender DATA_DIR [TASKS]")?;
    let tasks: usize = args
        .next()
        .map_or(Ok(16), |t| t.parse())
        .context("TASKS must be a number")?;
    let data = DataDir::open_or_init(dir.as_ref(), Some("crash.example/log"))?;
    let store: Arc<dyn Store> = Arc::new(data.open_store(SqliteConfig::default())?);
    let out = Arc::new(std::sync::Mutex::new(std::io::stdout()));
    println!("ready");
    let mut handles = Vec::new();
    for t in 0..tasks {
        let store = store.clone();
        let out = out.clone();
        handles.push(tokio::spawn(async move {
            let mut n: u64 = 0;
            loop {
                n += 1;
                let stream = format!("case-crash-{}", (t as u64 + n) % 8);
                let batch = if n.is_multiple_of(5) { 3 } else { 1 };
                let events = (0..batch)
                    .map(|_| event(&stream, "case.note", "dept-crash"))
                    .collect();
                let request = AppendRequest {
                    stream: ledger::StreamId::new(&stream).expect("valid"),
                    expected: ExpectedVersion::Any,
                    events,
                };
                match store.append(request).await {
                    Ok(receipts) => {
                        let mut out = out.lock().unwrap_or_else(|p| p.into_inner());
                        for r in receipts {
                            let _ = writeln!(
                                out,
                                "ack {} {} {} {}",
                                r.event_id, r.log_index, r.stream, r.version
                            );
                        }
                        let _ = out.flush();
                    }
                    Err(e) => {
                        eprintln!("append failed: {e}");
                        std::process::exit(3);
                    }
                }
            }
        }));
    }
    // The tasks append until the process is killed.
    futures::future::join_all(handles).await;
    Ok(())
}
