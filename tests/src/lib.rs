//! The backend contract suite and what several tests share.
//!
//! # Layout
//! - [`fixtures`]: department keys, signed events, key registration.
//! - [`contract`]: the one test suite every [`ledger::Store`] backend must
//!   pass, generic over a [`contract::Backend`] that can (re)open a store.
//!   `contract_suite!(backend_fn)` stamps out one `#[tokio::test]` per case.
//! - [`postgres`]: a fresh PostgreSQL database per test (created, dropped),
//!   and the contract suite's PostgreSQL backend.
//!
//! Binaries: `crash_appender` appends under load and prints each receipt
//! once acknowledged, for the SIGKILL crash test.

pub mod contract;
pub mod fixtures;
pub mod postgres;
