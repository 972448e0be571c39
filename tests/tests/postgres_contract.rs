//! The contract suite against the PostgreSQL backend, on a real server (a
//! fresh database per test; see `postgres_support`).

mod postgres_support;

tests::contract_suite!(postgres_support::Postgres::new().await);
