//! The `ledger` command line. For now: `init` (a data directory, with demo
//! cases on request) and `verify --data` (a full audit of a store on disk).
//! The service (`ledger serve`) and the other verbs come with later issues.
