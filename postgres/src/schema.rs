//! Versioned schema migrations, applied when a store opens.
//!
//! Every migration runs once, in order, inside one transaction that holds
//! the migration advisory lock, so several processes starting at once apply
//! each migration exactly once and none of them sees a half-built schema.
//! `schema_migrations` records what was applied and when. A database whose
//! schema is newer than this build is refused rather than written to.
//!
//! The same transaction binds the database to one log: the checkpoint
//! origin and the log's verifier key are recorded on first open and every
//! later open must present the same ones.
//!
//! Deliberately no down-migrations: a ledger only moves forward.

use deadpool_postgres::Pool;
use ledger::Error;
use ledger::note::NoteSigner;

use crate::{LOCK_MIGRATIONS, LOCK_NAMESPACE, pg_error};

/// One forward migration.
struct Migration {
    version: i32,
    description: &'static str,
    sql: &'static str,
}

/// The schema, oldest first. Append only: an applied migration never changes.
const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    description: "the log, tree nodes, checkpoints, the log head and the log's identity",
    sql: "
        CREATE TABLE ledger_meta(key text PRIMARY KEY, value text NOT NULL);
        -- The log; `leaf` is the RFC 6962 leaf hash, i.e. level 0 of the tree.
        CREATE TABLE events(
            idx bigint PRIMARY KEY,
            id bytea NOT NULL UNIQUE,
            stream text NOT NULL,
            version bigint NOT NULL,
            leaf bytea NOT NULL,
            entry bytea NOT NULL,
            UNIQUE (stream, version));
        -- Every complete subtree at level >= 1 (RFC 6962 §2.1 interior nodes).
        CREATE TABLE nodes(
            level smallint NOT NULL,
            idx bigint NOT NULL,
            hash bytea NOT NULL,
            PRIMARY KEY (level, idx));
        CREATE TABLE checkpoints(size bigint PRIMARY KEY, root bytea NOT NULL, note bytea NOT NULL);
        -- The sequencer's state, written in the same transaction as the
        -- entries: size, the tree's right edge (its frontier, largest subtree
        -- first), the last recorded_at and the last checkpoint.
        CREATE TABLE log_head(
            singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
            size bigint NOT NULL,
            frontier bytea NOT NULL,
            last_recorded text,
            checkpoint_size bigint NOT NULL,
            checkpoint_at timestamptz);
        INSERT INTO log_head(size, frontier, checkpoint_size) VALUES (0, '', 0);
    ",
}];

/// Applies the migrations this database lacks and checks it belongs to the
/// log of `signer`.
pub(crate) async fn migrate(pool: &Pool, signer: &NoteSigner, db: &str) -> Result<(), Error> {
    let mut client = pool.get().await.map_err(|e| Error::Storage {
        reason: format!("connecting to PostgreSQL database {db}: {e}"),
    })?;
    let tx = client.transaction().await.map_err(pg_error)?;
    tx.execute(
        "SELECT pg_advisory_xact_lock($1, $2)",
        &[&LOCK_NAMESPACE, &LOCK_MIGRATIONS],
    )
    .await
    .map_err(pg_error)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations(
             version integer PRIMARY KEY,
             description text NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now())",
    )
    .await
    .map_err(pg_error)?;
    let applied: i32 = tx
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            &[],
        )
        .await
        .map_err(pg_error)?
        .get(0);
    let newest = MIGRATIONS.last().map_or(0, |m| m.version);
    if applied > newest {
        return Err(Error::Storage {
            reason: format!(
                "database {db} has schema version {applied}; this build knows only up to {newest}: \
                 run a newer ledger"
            ),
        });
    }
    for m in MIGRATIONS.iter().filter(|m| m.version > applied) {
        tx.batch_execute(m.sql).await.map_err(|e| Error::Storage {
            reason: format!("schema migration {} on {db}: {e}", m.version),
        })?;
        tx.execute(
            "INSERT INTO schema_migrations(version, description) VALUES ($1, $2)",
            &[&m.version, &m.description],
        )
        .await
        .map_err(pg_error)?;
    }
    let verifier = signer.verifier().to_verifier_key_string();
    for (key, value) in [
        ("origin", signer.name()),
        ("verifier_key", verifier.as_str()),
    ] {
        tx.execute(
            "INSERT INTO ledger_meta(key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
            &[&key, &value],
        )
        .await
        .map_err(pg_error)?;
        let stored: String = tx
            .query_one("SELECT value FROM ledger_meta WHERE key = $1", &[&key])
            .await
            .map_err(pg_error)?
            .get(0);
        if stored != value {
            return Err(Error::Storage {
                reason: format!(
                    "database {db}'s {key} is {stored:?}, not {value:?}: it belongs to another \
                     log (every process on one database must use the ledger key that \
                     initialised it: copy ledger.key and ledger.pub from that data directory)"
                ),
            });
        }
    }
    tx.commit().await.map_err(pg_error)
}

/// The newest schema version this build applies.
pub fn schema_version() -> i32 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}
