//! Crash test for the PostgreSQL backend: two appender processes on one
//! database, as two `ledger serve` processes would be; one of them, chosen
//! at random, is killed with SIGKILL mid-load — often while it holds the
//! sequencing lock inside a transaction — and replaced, round after round.
//! The survivor must keep appending (the lock passes on), and at the end
//! every acknowledged event is in the log where its receipt said, the log
//! has no gaps, and `verify_store` is clean.
//!
//! The appender is this test binary run again with `LEDGER_PG_CRASH_CHILD`
//! set: `appender_child` then appends until killed and prints one line per
//! acknowledged event, `ack <event id> <log index> <stream> <version>`.

mod postgres_support;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use ledger::audit::verify_store;
use ledger::note::NoteSigner;
use ledger::{EventId, Store};
use ledger_postgres::{PostgresConfig, PostgresStore};
use postgres_support::TestDatabase;
use rand::RngExt;
use tests::fixtures::append_until_killed;

const KILLS: usize = 8;
const CHILD_ENV: &str = "LEDGER_PG_CRASH_CHILD";
const KEY_ENV: &str = "LEDGER_PG_CRASH_KEY";

/// An acknowledged event: log index, stream, version.
type Acked = HashMap<EventId, (u64, String, u64)>;

struct Appender {
    child: Child,
    lines: JoinHandle<Vec<String>>,
}

fn spawn_appender(db: &TestDatabase, signer: &NoteSigner) -> Appender {
    let mut url = postgres_support::admin_url();
    // The child opens the test database: replace the database name.
    if let Some(slash) = url.rfind('/') {
        url.truncate(slash);
    }
    url = format!("{url}/{}", db.name);
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "appender_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, url)
        .env(KEY_ENV, signer.to_signer_key_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn the appender");
    let stdout = child.stdout.take().expect("piped stdout");
    let lines = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<_>>()
    });
    Appender { child, lines }
}

/// SIGKILLs the appender and records what it acknowledged.
fn kill(mut appender: Appender, acked: &mut Acked) -> usize {
    // SIGKILL: no destructors, no rollback sent, no goodbye.
    unsafe {
        libc::kill(appender.child.id() as i32, libc::SIGKILL);
    }
    let status = appender.child.wait().expect("wait for the appender");
    assert_eq!(
        status.signal(),
        Some(libc::SIGKILL),
        "the appender ended on its own ({status:?}): see its error above"
    );
    let lines = appender.lines.join().expect("reader thread");
    let mut new = 0;
    for line in lines {
        let parts: Vec<&str> = line.split(' ').collect();
        if parts.len() != 5 || parts[0] != "ack" {
            continue; // harness output, or a line cut by the kill
        }
        acked.insert(
            parts[1].parse().expect("event id"),
            (
                parts[2].parse().expect("index"),
                parts[3].to_owned(),
                parts[4].parse().expect("version"),
            ),
        );
        new += 1;
    }
    new
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_events_survive_sigkill_of_either_process() {
    let db = TestDatabase::create().await;
    let signer = NoteSigner::generate("crash.example/log").unwrap();
    // Create the schema once, so the children start on an existing log.
    db.open(&signer, PostgresConfig::default())
        .await
        .close()
        .await;

    let mut acked = Acked::new();
    let mut rng = rand::rng();
    let mut pair = [spawn_appender(&db, &signer), spawn_appender(&db, &signer)];
    for round in 0..KILLS {
        let wait_ms = rng.random_range(400..1_200);
        std::thread::sleep(Duration::from_millis(wait_ms));
        let victim = rng.random_range(0..2);
        let fresh = spawn_appender(&db, &signer);
        let dead = std::mem::replace(&mut pair[victim], fresh);
        let new = kill(dead, &mut acked);
        assert!(
            new > 0,
            "round {round}: the killed appender acknowledged nothing in {wait_ms} ms"
        );
    }
    // The survivors last a moment longer: the log kept growing without the
    // killed processes.
    std::thread::sleep(Duration::from_millis(500));
    let [first, second] = pair;
    let tail = kill(first, &mut acked) + kill(second, &mut acked);
    assert!(tail > 0, "no appends after the last kill");
    // A killed child's backend may still be committing what it sent: the
    // log is counted once every child's session has ended.
    db.wait_for_no_sessions().await;

    let store = db.open(&signer, PostgresConfig::default()).await;
    let size = store.size().await.unwrap();
    for (id, (index, stream, version)) in &acked {
        let got = store
            .event_by_id(*id)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("acknowledged event {id} is lost"));
        assert_eq!(got.index.0, *index, "{id} moved");
        assert_eq!(got.event.stream.as_str(), stream);
        assert_eq!(got.event.version.0, *version);
    }
    let summary = verify_store(&store, &signer.verifier(), |_| {})
        .await
        .unwrap()
        .unwrap_or_else(|p| panic!("verify_store found {p}"));
    assert_eq!(summary.entries, size);
    assert!(size >= acked.len() as u64);
    eprintln!(
        "postgres crash test: {KILLS} SIGKILLs, {} acknowledged events all present in a log of {size}",
        acked.len()
    );
    store.close().await;
}

/// The appender process; does nothing unless run by the test above.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appender_child() {
    let Ok(url) = std::env::var(CHILD_ENV) else {
        return;
    };
    let signer = NoteSigner::from_signer_key_string(&std::env::var(KEY_ENV).expect("log key"))
        .expect("a signer key");
    let store: Arc<dyn Store> = Arc::new(
        PostgresStore::open(&url, signer, PostgresConfig::default())
            .await
            .expect("open the store"),
    );
    append_until_killed(store, 16).await;
}
