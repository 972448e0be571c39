//! Start-up and the serving loop.
//!
//! [`Service::open`] opens (initialising on first use) a data directory:
//! the ledger key (via [`DataDir::open_or_init`]), the log's store — the
//! embedded one in the directory, or a PostgreSQL database shared with other
//! processes ([`StoreLocation`], [`LedgerStore`]) — and the admin bearer
//! token `DIR/admin.token` (mode 0600), whose hash is recorded in the
//! `registry` stream the first time. [`serve`] runs the router on a listener
//! the caller bound, until the caller's shutdown future resolves; then it
//! stops accepting, refuses new appends, lets in-flight requests finish and
//! ends subscriptions.
//!
//! # Several processes on one PostgreSQL database
//!
//! Each process has a data directory of its own, and every one of them
//! must hold the same ledger key (`ledger.key`, `ledger.pub`): initialise
//! one (`ledger init --data d1 --store postgres://…`) and copy its key files
//! into the others before their first start. A process whose key is not the
//! database's is refused at start (the database records its log's origin
//! and verifier key). What stays per process, in its directory: the admin
//! token (each one's hash is recorded in the shared log, so every process
//! accepts every token), the read models (`projections.sqlite`, following
//! the shared log), witness cosignatures, and the personal-data store with
//! its keys (copy `status.key` too for query codes that every process
//! accepts). Token and directory changes made through one process reach
//! the others within the follower's latency; an unknown token is looked up
//! in the log again before it is refused.

use std::fs;
use std::future::Future;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ledger::datadir::DataDir;
use ledger::store::sqlite::{SqliteConfig, SqliteStore};
use ledger::{Clock, Store, StreamId};
use ledger_postgres::{PostgresConfig, PostgresStore};
use serde_json::json;
use tokio::net::TcpListener;

use crate::auth::{ADMIN_DEPARTMENT, Role, TOKEN_ISSUED, TokenIssued, hash_token, new_token};
use crate::state::{AppState, Settings, admin_actor};
use crate::witness::Cosignatures;

/// The ledger's signing key in a data directory ([`DataDir`]).
const LEDGER_KEY_FILE: &str = "ledger.key";
/// Its public half.
const LEDGER_PUB_FILE: &str = "ledger.pub";

/// Everything `ledger serve` needs besides the listen address.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    pub data: PathBuf,
    /// Where the log is kept (default: the embedded store in `data`).
    pub store: StoreLocation,
    /// The checkpoint origin on first start (default
    /// [`ledger::datadir::DEFAULT_ORIGIN`]); must match later.
    pub origin: Option<String>,
    /// Load the demo data set (once; see [`crate::demo`]).
    pub demo: bool,
    /// How many demo cases (default [`crate::demo::DEFAULT_DEMO_CASES`]).
    pub demo_cases: usize,
    pub settings: Settings,
}

/// Start-up failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    #[error(transparent)]
    Ledger {
        #[from]
        source: ledger::Error,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {reason}")]
    AdminToken { path: PathBuf, reason: String },
    #[error("recording the admin token: {detail}")]
    Bootstrap { detail: String },
    #[error(transparent)]
    Demo {
        #[from]
        source: crate::demo::DemoLoadError,
    },
    #[error("read models: {detail}")]
    ReadModels { detail: String },
    #[error("personal data: {source}")]
    PrivateData {
        source: crate::personal::PersonalError,
    },
    /// `--store` is neither `embedded` nor a `postgres://` URL.
    #[error("--store {given:?}: expected `embedded` or a postgres://user@host/database URL")]
    StoreLocation { given: String },
}

/// Where the log is kept.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum StoreLocation {
    /// The embedded SQLite store, `DIR/ledger.sqlite`: one process.
    #[default]
    Embedded,
    /// A PostgreSQL database (`postgres://user@host:port/database`), which
    /// several processes may share.
    Postgres { url: String },
}

impl std::str::FromStr for StoreLocation {
    type Err = ServeError;

    fn from_str(s: &str) -> Result<Self, ServeError> {
        if s == "embedded" {
            Ok(StoreLocation::Embedded)
        } else if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            Ok(StoreLocation::Postgres { url: s.to_owned() })
        } else {
            Err(ServeError::StoreLocation {
                given: s.to_owned(),
            })
        }
    }
}

/// An opened log store, with what closing it takes.
#[derive(Clone)]
pub enum LedgerStore {
    Embedded(SqliteStore),
    Postgres(PostgresStore),
}

impl LedgerStore {
    /// Opens the store at `location` for the log of `dir`'s key, stamping
    /// `recorded_at` with `clock`. A PostgreSQL database that belongs to
    /// another log (another key or origin) is refused.
    pub async fn open(
        dir: &DataDir,
        location: &StoreLocation,
        clock: Clock,
    ) -> Result<Self, ledger::Error> {
        match location {
            StoreLocation::Embedded => Ok(LedgerStore::Embedded(dir.open_store(SqliteConfig {
                clock,
                ..SqliteConfig::default()
            })?)),
            StoreLocation::Postgres { url } => {
                let config = PostgresConfig {
                    clock,
                    ..PostgresConfig::default()
                };
                // A database bound to another key or origin is refused
                // (`ledger_meta`), naming both.
                let store = PostgresStore::open(url, dir.signer().clone(), config).await?;
                Ok(LedgerStore::Postgres(store))
            }
        }
    }

    /// Opens (initialising on first use) the data directory `data` and the
    /// store at `location` for its key. A key created now for a PostgreSQL
    /// database that turns out to belong to another log is removed again:
    /// the refusal leaves the directory as it was, ready for the right key.
    pub async fn open_with_dir(
        data: &Path,
        origin: Option<&str>,
        location: &StoreLocation,
        clock: Clock,
    ) -> Result<(DataDir, LedgerStore), ledger::Error> {
        let new_key = !data.join(LEDGER_KEY_FILE).exists();
        let dir = DataDir::open_or_init(data, origin)?;
        match LedgerStore::open(&dir, location, clock).await {
            Ok(store) => Ok((dir, store)),
            Err(e) => {
                if new_key && *location != StoreLocation::Embedded {
                    for file in [LEDGER_KEY_FILE, LEDGER_PUB_FILE] {
                        let _ = fs::remove_file(data.join(file));
                    }
                }
                Err(e)
            }
        }
    }

    /// The store, for the service and the read models.
    pub fn shared(&self) -> Arc<dyn Store> {
        match self {
            LedgerStore::Embedded(s) => Arc::new(s.clone()),
            LedgerStore::Postgres(s) => Arc::new(s.clone()),
        }
    }

    /// Whether other processes may append to this log too.
    pub fn is_shared(&self) -> bool {
        matches!(self, LedgerStore::Postgres(_))
    }

    /// Where the log is, for start-up messages.
    pub fn describe(&self, dir: &DataDir) -> String {
        match self {
            LedgerStore::Embedded(_) => format!("embedded, {}", dir.store_path().display()),
            LedgerStore::Postgres(s) => format!("PostgreSQL, {}", s.database()),
        }
    }

    /// Stops taking appends and lets the work already queued finish.
    pub async fn close(&self) {
        match self {
            LedgerStore::Embedded(s) => s.close(),
            LedgerStore::Postgres(s) => s.close().await,
        }
    }
}

/// An opened service: its state, its store, and the admin token if this
/// start created it (to be shown once).
pub struct Service {
    pub state: AppState,
    pub store: LedgerStore,
    /// Where the log is ([`LedgerStore::describe`]).
    pub store_description: String,
    pub new_admin_token: Option<String>,
    pub admin_token_path: PathBuf,
}

impl Service {
    /// Opens or initialises `config.data` and builds the service state.
    pub async fn open(config: ServeConfig) -> Result<Service, ServeError> {
        // The demo is recorded at its own times, by a clock it sets.
        let (clock, demo_clock) = if config.demo {
            let (clock, hand) = ledger::Clock::manual();
            (clock, Some(hand))
        } else {
            (ledger::Clock::system(), None)
        };
        let (dir, store) = LedgerStore::open_with_dir(
            &config.data,
            config.origin.as_deref(),
            &config.store,
            clock,
        )
        .await?;
        let shared = store.shared();
        if let Some(hand) = demo_clock {
            crate::demo::load_demo(&shared, hand, config.demo_cases).await?;
        }
        let token_path = config.data.join("admin.token");
        let (token, created) = admin_token(&token_path)?;
        let origin = dir.signer().name().to_owned();
        let verifier_key = dir.signer().verifier().to_verifier_key_string();
        let cosignature_path = config.data.join("cosignatures.jsonl");
        let cosignatures =
            Cosignatures::open(&cosignature_path).map_err(|source| ServeError::Io {
                path: cosignature_path,
                source,
            })?;
        let state =
            AppState::new(shared, origin, verifier_key, config.settings, cosignatures).await?;
        let id = hash_token(&token);
        let known = {
            let d = state.directory();
            d.token(&id).is_some() || d.is_revoked(&id)
        };
        if !known {
            let payload = TokenIssued {
                token_hash: id,
                role: Role::Admin,
                // Invariant: constants that satisfy the actor id rules.
                department: ledger::ActorId::new(ADMIN_DEPARTMENT).expect("valid constant"),
                subject: ledger::ActorId::new("admin").expect("valid constant"),
            };
            state
                .append_service_event(
                    StreamId::registry(),
                    TOKEN_ISSUED,
                    admin_actor(None),
                    json!(payload),
                )
                .await
                .map_err(|e| ServeError::Bootstrap {
                    detail: e.to_string(),
                })?;
        }
        let read_store = config.data.join(crate::projector::READ_STORE_FILE);
        let projector = crate::projector::Projector::start(
            Arc::clone(state.store()),
            &read_store,
            crate::projector::read_store_config().map_err(|e| ServeError::ReadModels {
                detail: e.to_string(),
            })?,
            state.shutdown_watch(),
        )
        .await
        .map_err(|e| ServeError::ReadModels {
            detail: e.to_string(),
        })?;
        state.attach_projector(projector);
        if store.is_shared() {
            // Tokens, departments and assignments recorded by other processes.
            state.follow_directory();
        }
        // Query-code and personal-data keys next to admin.token, and the
        // erasable personal-data store.
        let private = crate::personal::PrivateData::open(&config.data)
            .map_err(|source| ServeError::PrivateData { source })?;
        state.attach_private_data(Arc::new(private));
        store.shared().checkpoint_now().await?;
        Ok(Service {
            state,
            store_description: store.describe(&dir),
            store,
            new_admin_token: created.then_some(token),
            admin_token_path: token_path,
        })
    }
}

/// Reads `path`, or creates it (0600) with a new token. Returns the token
/// and whether it was created now.
fn admin_token(path: &Path) -> Result<(String, bool), ServeError> {
    let io = |source| ServeError::Io {
        path: path.to_owned(),
        source,
    };
    if path.exists() {
        let meta = fs::metadata(path).map_err(io)?;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(ServeError::AdminToken {
                path: path.to_owned(),
                reason: format!(
                    "readable by others (mode {:o}); it must be 0600",
                    meta.permissions().mode() & 0o777
                ),
            });
        }
        let token = fs::read_to_string(path).map_err(io)?.trim().to_owned();
        if token.is_empty() {
            return Err(ServeError::AdminToken {
                path: path.to_owned(),
                reason: "empty".into(),
            });
        }
        return Ok((token, false));
    }
    let token = new_token();
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io)?;
    writeln!(f, "{token}").map_err(io)?;
    f.sync_all().map_err(io)?;
    Ok((token, true))
}

/// Serves `state` on `listener` until `shutdown` resolves, then shuts down
/// gracefully: no new connections, new appends refused (503), in-flight
/// requests finish, subscriptions end. Returns when every connection is done.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = crate::routes::app(state.clone());
    let on_shutdown = state.clone();
    let pusher = crate::witness::spawn_pusher(state.clone(), state.settings().witness_interval);
    // Public links (QR codes) default to the address served, unless
    // `ledger serve --public-url` set one.
    if let Ok(addr) = listener.local_addr() {
        state.set_public_url(&format!("http://{addr}"));
    }
    // Small request/response exchanges: no Nagle delay.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("TCP_NODELAY: {e}");
        }
    });
    // Client addresses for the public endpoints' per-address rate limit.
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!("shutting down: finishing in-flight requests");
            on_shutdown.begin_shutdown();
        })
        .await;
    state.begin_shutdown();
    // The pusher stops at shutdown; a push in flight is only an HTTP call.
    pusher.abort();
    served
}
