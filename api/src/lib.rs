//! The `ledger serve` HTTP service: append, read, subscribe, proofs, tiles
//! and administration over one [`ledger::Store`].
//!
//! # Layout
//!
//! - [`server`]: start-up (data directory, admin token, demo data) and
//!   [`server::serve`], which runs the router on a given listener until a
//!   given shutdown future resolves.
//! - [`routes`]: [`routes::app`], the router; one module per group of
//!   endpoints (`events`, `subscribe`, `transparency`, `admin`, `ops`) and
//!   the OpenAPI document generated from them.
//! - [`state`]: [`state::AppState`], what every handler shares.
//! - [`auth`]: bearer tokens (kept as hashes), roles, the registry
//!   directory, the per-token rate limit.
//! - [`policy`]: who may append to and read which stream; access records.
//! - [`personal`]: what is kept outside the log: applicants' personal data
//!   (erasable), the keys of applicant references and query codes.
//! - [`projector`]: keeps the persisted read models
//!   (`DIR/projections.sqlite`) following the log; rebuilds them.
//! - [`error`]: [`error::ApiError`], RFC 9457 problems with stable types.
//! - [`extract`]: JSON/path/query extractors that reject with problems.
//! - [`wire`]: JSON shapes shared by several endpoints.
//! - [`metrics`]: the Prometheus recorder and the service's metrics.
//! - [`witness`]: C2SP tlog-witness: pushing checkpoints to witnesses,
//!   the pull endpoints' logic, kept cosignatures, and a witness itself.
//! - [`demo`]: the demo cases `ledger init --demo` and `ledger serve --demo` load.
//! - [`console`]: the web console (HTML, CSS, JS modules) embedded in the
//!   binary and served under `/console/`.

pub mod auth;
pub mod console;
pub mod demo;
pub mod error;
pub mod extract;
pub mod metrics;
pub mod personal;
pub mod policy;
pub mod projector;
pub mod routes;
pub mod server;
pub mod state;
pub mod wire;
pub mod witness;

pub use error::{ApiError, ProblemKind};
pub use routes::app;
pub use server::{ServeConfig, Service, serve};
pub use state::{AppState, Settings};
