//! Opening a PostgreSQL store: migrations applied once and recorded, and
//! databases it must not write to refused with the reason — another log's
//! database, a schema newer than this build, a server that is not there.

mod postgres_support;

use ledger::Store;
use ledger::note::NoteSigner;
use ledger_postgres::{PostgresConfig, PostgresStore, schema};
use postgres_support::TestDatabase;
use tests::fixtures::{append_one, event};

async fn query_i64(db: &TestDatabase, sql: &str) -> i64 {
    let (client, connection) = db
        .config
        .connect(tokio_postgres::NoTls)
        .await
        .expect("connect to the test database");
    tokio::spawn(connection);
    client.query_one(sql, &[]).await.expect(sql).get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_apply_once_and_the_database_is_bound_to_its_log() {
    let db = TestDatabase::create().await;
    let signer = NoteSigner::generate("schema.example/log").unwrap();
    // Two processes starting at once: one applies, the other waits.
    let (a, b) = tokio::join!(
        db.open(&signer, PostgresConfig::default()),
        db.open(&signer, PostgresConfig::default())
    );
    let store: std::sync::Arc<dyn Store> = std::sync::Arc::new(a.clone());
    append_one(&store, event("case-s", "case.note", "dept-a")).await;
    b.close().await;
    a.close().await;
    let reopened = db.open(&signer, PostgresConfig::default()).await;
    assert_eq!(reopened.size().await.unwrap(), 1);
    reopened.close().await;
    assert_eq!(
        query_i64(&db, "SELECT COUNT(*) FROM schema_migrations").await,
        i64::from(schema::schema_version())
    );
    assert_eq!(
        query_i64(&db, "SELECT MAX(version)::bigint FROM schema_migrations").await,
        i64::from(schema::schema_version())
    );

    // Another log's key: refused, naming what differs; nothing written.
    let other = NoteSigner::generate("other.example/log").unwrap();
    let err = PostgresStore::connect(db.config.clone(), other, PostgresConfig::default())
        .await
        .err()
        .expect("another log's database is refused");
    assert!(err.to_string().contains("belongs to another log"), "{err}");
    assert!(err.to_string().contains("origin"), "{err}");
    assert_eq!(query_i64(&db, "SELECT size FROM log_head").await, 1);

    // A schema from a newer build: refused, not written to.
    {
        let (client, connection) = db.config.connect(tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(connection);
        client
            .batch_execute(
                "INSERT INTO schema_migrations(version, description) VALUES (99, 'from the future')",
            )
            .await
            .unwrap();
    }
    let err = PostgresStore::connect(db.config.clone(), signer.clone(), PostgresConfig::default())
        .await
        .err()
        .expect("a newer schema is refused");
    assert!(err.to_string().contains("schema version 99"), "{err}");
}

#[tokio::test]
async fn an_unreachable_server_is_a_clear_error() {
    let signer = NoteSigner::generate("schema.example/log").unwrap();
    // Port 1 on loopback: nothing listens there.
    let err = PostgresStore::open(
        "postgres://postgres@127.0.0.1:1/nothing",
        signer.clone(),
        PostgresConfig::default(),
    )
    .await
    .err()
    .expect("no server, no store");
    assert!(err.to_string().contains("127.0.0.1:1/nothing"), "{err}");
    let err = PostgresStore::open("mysql://nope", signer, PostgresConfig::default())
        .await
        .err()
        .expect("not a PostgreSQL URL");
    assert!(err.to_string().contains("PostgreSQL URL"), "{err}");
}
