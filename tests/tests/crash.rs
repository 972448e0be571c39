//! Crash test: a child process appending under concurrent load is killed
//! with SIGKILL at random moments; after each kill every acknowledged event
//! is present, where its receipt said, and `verify_store` is clean.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use ledger::audit::verify_store;
use ledger::datadir::DataDir;
use ledger::store::sqlite::SqliteConfig;
use ledger::{EventId, Store};
use rand::RngExt;

const KILLS: usize = 24;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_events_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let mut acked: HashMap<EventId, (u64, String, u64)> = HashMap::new();
    let mut rng = rand::rng();
    for round in 0..KILLS {
        let mut child = Command::new(env!("CARGO_BIN_EXE_crash_appender"))
            .arg(dir.path())
            .arg("16")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn crash_appender");
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut lines = Vec::new();
            for line in BufReader::new(stdout).lines() {
                match line {
                    Ok(l) => lines.push(l),
                    Err(_) => break,
                }
            }
            lines
        });
        let wait_ms = rng.random_range(150..900);
        std::thread::sleep(Duration::from_millis(wait_ms));
        // SIGKILL: no destructors, no flush, no goodbye.
        unsafe {
            libc::kill(child.id() as i32, libc::SIGKILL);
        }
        let status = child.wait().unwrap();
        assert!(
            !status.success(),
            "round {round}: child exited on its own: {status:?}"
        );
        let lines = reader.join().unwrap();
        assert_eq!(
            lines.first().map(String::as_str),
            Some("ready"),
            "round {round}: child did not start"
        );
        let mut new = 0;
        for line in &lines[1..] {
            let parts: Vec<&str> = line.split(' ').collect();
            if parts.len() != 5 || parts[0] != "ack" {
                continue; // a line cut by the kill was never a complete ack
            }
            let id: EventId = parts[1].parse().unwrap();
            acked.insert(
                id,
                (
                    parts[2].parse().unwrap(),
                    parts[3].to_owned(),
                    parts[4].parse().unwrap(),
                ),
            );
            new += 1;
        }
        assert!(
            new > 0 || round > 0,
            "round {round}: no appends acknowledged in {wait_ms} ms"
        );

        // Restart on the same files and check everything acknowledged.
        let data = DataDir::open_or_init(dir.path(), None).unwrap();
        let store = data.open_store(SqliteConfig::default()).unwrap();
        for (id, (index, stream, version)) in &acked {
            let got = store
                .event_by_id(*id)
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("round {round}: acknowledged event {id} is lost"));
            assert_eq!(got.index.0, *index, "round {round}: {id} moved");
            assert_eq!(got.event.stream.as_str(), stream);
            assert_eq!(got.event.version.0, *version);
        }
        let verdict = verify_store(&store, &data.signer().verifier(), |_| {})
            .await
            .unwrap();
        let summary = verdict.unwrap_or_else(|p| panic!("round {round}: verify_store found {p}"));
        assert!(summary.entries >= acked.len() as u64);
        store.close();
    }
    eprintln!(
        "crash test: {KILLS} SIGKILLs, {} acknowledged events all present",
        acked.len()
    );
}
