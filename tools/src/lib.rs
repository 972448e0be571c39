//! The `ledger` command line (the binary is `src/bin/ledger.rs`, one file per
//! verb under `src/bin/ledger/`), and the parts of it worth testing alone.
//!
//! # Layout
//!
//! - [`client`]: the HTTP client of the verbs that talk to a running
//!   `ledger serve` (bearer token, JSON, problems as errors).
//! - [`catalog`]: service items from government spreadsheets (`.xlsx`,
//!   `.xls`, `.csv`) into `catalog` events.
//! - [`monitor`]: an outside monitor of a C2SP tlog-tiles log, with its
//!   durable state.
//!
//! The evidence bundle's format and its offline verification are in
//! `ledger::bundle`, so any verifier can use them without this crate.

pub mod catalog;
pub mod client;
pub mod monitor;
