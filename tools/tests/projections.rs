//! `ledger projections status | rebuild` on a real data directory.

use std::process::Command;

fn ledger(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ledger"))
        .args(args)
        .output()
        .expect("run ledger")
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn rebuild_folds_the_whole_log_and_status_reports_the_position() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    let data = data.to_str().expect("utf-8 path");
    let out = ledger(&["init", "--data", data, "--demo", "--demo-cases", "40"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let size: u64 = stdout(&out)
        .lines()
        .find_map(|l| l.strip_prefix("log size:"))
        .expect("log size line")
        .trim()
        .parse()
        .expect("a number");
    assert!(size > 40, "the demo has events: {size}");

    let out = ledger(&["projections", "status", "--data", data]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        stdout(&out).contains("no read models yet"),
        "{}",
        stdout(&out)
    );

    let out = ledger(&["projections", "rebuild", "--data", data]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout(&out).contains(&format!("from {size} entries")),
        "{}",
        stdout(&out)
    );
    assert!(!dir.path().join("data/projections.sqlite.rebuild").exists());

    let out = ledger(&["projections", "status", "--data", data]);
    assert!(
        stdout(&out).contains(&format!("at {size} of {size} log entries (0 behind)")),
        "{}",
        stdout(&out)
    );
    let read = projections::readstore::ReadStore::open(
        &dir.path().join("data/projections.sqlite"),
        projections::readstore::ReadStoreConfig::official(),
    )
    .expect("open");
    let (_, cases) = read
        .cases(&Default::default(), 0, 10, chrono::Utc::now())
        .expect("cases");
    assert!(cases > 0, "the rebuilt read models hold the demo cases");
    assert!(!read.catalogue().is_empty());

    // Rebuilding again gives the same read models.
    let first = read.dump().expect("dump");
    drop(read);
    let out = ledger(&["projections", "rebuild", "--data", data]);
    assert_eq!(out.status.code(), Some(0));
    let again = projections::readstore::ReadStore::open(
        &dir.path().join("data/projections.sqlite"),
        projections::readstore::ReadStoreConfig::official(),
    )
    .expect("open")
    .dump()
    .expect("dump");
    assert_eq!(first, again);
}

#[test]
fn no_ledger_no_rebuild() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("nothing");
    let out = ledger(&[
        "projections",
        "rebuild",
        "--data",
        data.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no ledger store here"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!data.join("projections.sqlite").exists());
}
