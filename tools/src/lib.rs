//! The `ledger` command line (the binary is `src/bin/ledger.rs`): `serve`
//! (the HTTP service), `witness` (a C2SP tlog-witness), `bench` (HTTP
//! append load beside the in-process rate), `init` (a data directory, with
//! demo cases on request) and `verify --data` (a full audit of a store on
//! disk). The other verbs come with later issues.
