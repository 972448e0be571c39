//! The `ledger` binary end to end on a real data directory.

use std::process::Command;

fn ledger(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ledger"))
        .args(args)
        .output()
        .expect("run ledger")
}

#[test]
fn init_demo_verify_then_tamper() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let out = ledger(&[
        "init",
        "--data",
        data,
        "--demo",
        "--demo-cases",
        "20",
        "--origin",
        "cli.example/log",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    // The demo: departments, the catalogue and 20 cases.
    let size = text
        .lines()
        .find_map(|l| l.strip_prefix("log size:"))
        .and_then(|s| s.trim().parse::<u64>().ok())
        .expect("log size line");
    assert!(size > 20 * 4, "{text}");
    assert!(text.contains("verifier key:   cli.example/log+"), "{text}");
    // The key file is private.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.path().join("data/ledger.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    let out = ledger(&["verify", "--data", data]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("✓ {size} entries")));

    // Re-running init with --demo appends nothing new (idempotent demo).
    let out = ledger(&["init", "--data", data, "--demo"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("log size:       {size}")));
    // Asking for another origin is refused.
    let out = ledger(&["init", "--data", data, "--origin", "other.example/log"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not \"other.example/log\""));

    // Flip one byte of entry 5: exit 1, named.
    let c = rusqlite::Connection::open(dir.path().join("data/ledger.sqlite")).unwrap();
    let mut e: Vec<u8> = c
        .query_row("SELECT entry FROM events WHERE idx = 5", [], |r| r.get(0))
        .unwrap();
    e[40] ^= 1;
    c.execute("UPDATE events SET entry = ?1 WHERE idx = 5", [e])
        .unwrap();
    drop(c);
    let out = ledger(&["verify", "--data", data]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("altered entry at log index 5"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // A missing directory is a usage/input error.
    let out = ledger(&[
        "verify",
        "--data",
        dir.path().join("nope").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
}
