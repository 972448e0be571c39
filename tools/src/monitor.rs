//! An outside monitor of a C2SP tlog-tiles log (issue 5; being built).
