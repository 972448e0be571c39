//! Fresh PostgreSQL databases for the tests of the PostgreSQL backend and
//! of `ledger serve --store postgres://…`.
//!
//! Each test creates its own database (`ledger_test_<random>`) on the server
//! at `LEDGER_TEST_POSTGRES` (default `postgres://postgres@127.0.0.1:5432/postgres`,
//! trust auth), so tests run in parallel, and drops it when done. An
//! unreachable server fails the test with a message saying so: CI starts
//! the server, and a silent skip would hide a backend that was never tested.

use std::sync::{Arc, Mutex};

use crate::contract::Backend;
use ledger::Store;
use ledger::note::{NoteSigner, NoteVerifier};
use ledger_postgres::{PostgresConfig, PostgresStore};
use rand::RngExt;

/// The server the tests use.
pub fn admin_url() -> String {
    std::env::var("LEDGER_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

async fn admin() -> tokio_postgres::Client {
    let url = admin_url();
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "PostgreSQL is not reachable at {url} ({e}). The PostgreSQL backend's tests need a \
                 server: start one (.ci/run does), or point LEDGER_TEST_POSTGRES at one."
            )
        });
    tokio::spawn(connection);
    client
}

/// A database of its own, dropped with this value.
pub struct TestDatabase {
    pub name: String,
    pub config: tokio_postgres::Config,
}

impl TestDatabase {
    pub async fn create() -> Self {
        let name = format!("ledger_test_{:016x}", rand::rng().random::<u64>());
        admin()
            .await
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
        let mut config: tokio_postgres::Config = admin_url().parse().expect("a PostgreSQL URL");
        config.dbname(&name);
        TestDatabase { name, config }
    }

    /// The database's URL, for `--store` (the server's URL with this
    /// database's name).
    pub fn url(&self) -> String {
        let admin = admin_url();
        let (base, query) = match admin.split_once('?') {
            Some((b, q)) => (b.to_owned(), format!("?{q}")),
            None => (admin.clone(), String::new()),
        };
        let host_start = base.find("://").map_or(0, |i| i + 3);
        let base = match base[host_start..].find('/') {
            Some(slash) => &base[..host_start + slash],
            None => &base[..],
        };
        format!("{base}/{}{query}", self.name)
    }

    /// Waits until no session is connected to this database. A client
    /// killed mid-transaction leaves its server backend running the
    /// statements it had already sent, `COMMIT` included, until the server
    /// notices the closed socket: a test that counts the log after killing
    /// its writers waits for those backends first.
    pub async fn wait_for_no_sessions(&self) {
        let admin = admin().await;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let row = admin
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = $1",
                    &[&self.name],
                )
                .await
                .unwrap_or_else(|e| panic!("reading pg_stat_activity: {e}"));
            let sessions: i64 = row.get(0);
            if sessions == 0 {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{sessions} session(s) still connected to {} after 30 s",
                self.name
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    pub async fn open(&self, signer: &NoteSigner, config: PostgresConfig) -> PostgresStore {
        PostgresStore::connect(self.config.clone(), signer.clone(), config)
            .await
            .unwrap_or_else(|e| panic!("opening the store in {}: {e}", self.name))
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        // A runtime of its own: drop may run inside or outside one.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            rt.block_on(async {
                admin()
                    .await
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await
            })
        })
        .join();
        if let Ok(Err(e)) = dropped {
            eprintln!("dropping test database {}: {e}", self.name);
        }
    }
}

/// The contract suite's backend: one database, reopened as a restart would.
pub struct Postgres {
    pub db: TestDatabase,
    pub signer: NoteSigner,
    open: Mutex<Option<PostgresStore>>,
}

impl Postgres {
    pub async fn new() -> Self {
        Postgres {
            db: TestDatabase::create().await,
            signer: NoteSigner::generate("test.example/log").expect("a log key"),
            open: Mutex::new(None),
        }
    }
}

#[async_trait::async_trait]
impl Backend for Postgres {
    async fn open(&self) -> Arc<dyn Store> {
        let store = self.db.open(&self.signer, PostgresConfig::default()).await;
        *self.open.lock().unwrap() = Some(store.clone());
        Arc::new(store)
    }

    async fn close(&self, store: Arc<dyn Store>) {
        drop(store);
        let open = self.open.lock().unwrap().take();
        if let Some(s) = open {
            s.close().await;
        }
    }

    fn log_key(&self) -> NoteVerifier {
        self.signer.verifier()
    }
}
