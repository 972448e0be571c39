//! The PostgreSQL test support lives in the `tests` library
//! ([`tests::postgres`]), shared with `tools`' tests of `ledger serve`.

pub use tests::postgres::*;
