//! The web console end to end, in headless Chromium and in headless Firefox
//! against a real `ledger serve --demo` over loopback, one test each:
//! `api/console-tests/e2e.mjs` (one scenario; playwright-core driving
//! Debian's `/usr/bin/chromium`, puppeteer-core driving Debian's
//! `/usr/bin/firefox-esr` over WebDriver BiDi) signs in, finds a case,
//! opens its timeline and sees every step verified in the browser,
//! replays it as of an earlier moment, follows its complaint, opens the
//! public status page from its QR link, and visits the dashboards, work
//! logs and log health. One step of the case is a note signed by a key
//! registered for its department, and the browser checks that author
//! signature too, also under a department's token (every role reads the
//! `registry` stream); once the log has grown past the checkpoint the
//! witness cosigned, the browser verifies the case against that checkpoint
//! (`GET /v1/checkpoints?cosigned_by=…`, its size shown) and log health says
//! the witness has not yet cosigned the latest (not ✗).
//! Then the server is stopped, one byte of one of the case's entries and one
//! of the signed note are changed in `DIR/ledger.sqlite`, the server is
//! started again, and the browser must mark those steps ✗, the note's for
//! its signature too.
//!
//! `api/console-tests/verify.test.mjs` checks the browser's verifier on its
//! own against SPEC.md §8 and the evidence-bundle test vector.
//!
//! Screenshots land in `target/console-e2e/{chromium,firefox}/{verified,tampered}/`.
//! Without the browser, Node.js or npm a test fails; it never skips.

#[path = "support/loopback.rs"]
mod loopback;

use std::path::{Path, PathBuf};
use std::process::Command;

use loopback::{
    Running, admin_post, admin_token, enrol_witness, ledger, log_vkey, settled_size, stdout,
};
use serde_json::{Value, json};

/// The stream version of the case whose entry is altered.
const TAMPERED_VERSION: u64 = 2;

/// A browser the scenario runs in, as `e2e.mjs --browser` names it.
#[derive(Clone, Copy, Debug)]
enum Browser {
    Chromium,
    Firefox,
}

impl Browser {
    fn name(self) -> &'static str {
        match self {
            Browser::Chromium => "chromium",
            Browser::Firefox => "firefox",
        }
    }

    /// Debian's executable, and the package that installs it.
    fn executable(self) -> (&'static str, &'static str) {
        match self {
            Browser::Chromium => ("/usr/bin/chromium", "chromium"),
            Browser::Firefox => ("/usr/bin/firefox-esr", "firefox-esr"),
        }
    }
}

/// The npm packages that drive the browsers, pinned in package-lock.json.
const DRIVERS: [&str; 2] = ["playwright-core", "puppeteer-core"];

/// One browser test at a time: each starts a server and a browser; both at
/// once on a two-core machine saved a few seconds of about 35 and made
/// each browser's waits compete for the cores.
static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn console_tests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../api/console-tests")
}

fn screenshots(browser: Browser, phase: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/console-e2e")
        .join(browser.name())
        .join(phase);
    // A previous run's pictures (a failure.png among them) would mislead.
    if dir.exists() {
        std::fs::remove_dir_all(&dir).expect("remove old screenshots");
    }
    std::fs::create_dir_all(&dir).expect("screenshot directory");
    dir
}

/// Fails loudly when a tool the test needs is missing.
fn require_tools(browser: Option<Browser>) {
    if let Some(browser) = browser {
        let (exe, package) = browser.executable();
        assert!(
            Path::new(exe).exists(),
            "{exe} is missing: apt-get install -y {package} (.ci/run installs it)"
        );
    }
    for tool in ["node", "npm"] {
        let found = Command::new(tool).arg("--version").output();
        assert!(
            found.as_ref().is_ok_and(|o| o.status.success()),
            "{tool} is missing or broken ({found:?}): the console test needs Node.js 20 and npm"
        );
    }
}

/// `npm ci` unless the pinned browser drivers are installed already.
fn install_drivers() {
    let dir = console_tests_dir();
    let lock: Value = serde_json::from_slice(
        &std::fs::read(dir.join("package-lock.json")).expect("package-lock.json"),
    )
    .expect("lock JSON");
    let installed = |package: &str| {
        let pinned = lock["packages"][format!("node_modules/{package}")]["version"]
            .as_str()
            .unwrap_or_else(|| panic!("{package} in the lock"))
            .to_owned();
        let current = std::fs::read(dir.join(format!("node_modules/{package}/package.json")))
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .and_then(|v| v["version"].as_str().map(str::to_owned));
        current.as_deref() == Some(pinned.as_str())
    };
    if DRIVERS.iter().all(|p| installed(p)) {
        return;
    }
    let out = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(&dir)
        .output()
        .expect("run npm ci");
    assert!(
        out.status.success(),
        "npm ci failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs the browser test; its stdout, after asserting it passed.
async fn e2e(
    browser: Browser,
    base: &str,
    token: &str,
    case: &str,
    phase: &str,
    extra: &[&str],
) -> String {
    let shots = screenshots(browser, phase);
    let mut args: Vec<String> = vec![
        "e2e.mjs".into(),
        base.into(),
        token.into(),
        shots.to_string_lossy().into_owned(),
        "--case".into(),
        case.into(),
        "--browser".into(),
        browser.name().into(),
    ];
    args.extend(extra.iter().map(|a| (*a).to_owned()));
    let dir = console_tests_dir();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .args(&args)
            .current_dir(dir)
            .output()
            .expect("run node")
    })
    .await
    .expect("join");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let name = browser.name();
    println!("--- e2e {name} {phase} ---\n{stdout}{stderr}");
    assert!(
        out.status.success() && stdout.lines().last() == Some("E2E PASS"),
        "the {phase} test in {name} failed ({:?}):\n{stdout}\n{stderr}",
        out.status
    );
    stdout
}

async fn get_json(base: &str, token: &str, path: &str) -> Value {
    let res = reqwest::Client::new()
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    assert!(res.status().is_success(), "{path}: {}", res.status());
    res.json().await.expect("json")
}

/// A case with a complaint about it and more than `TAMPERED_VERSION` steps
/// (any such case when no complaint's case has them).
async fn pick_case(base: &str, token: &str) -> String {
    let complaints = get_json(base, token, "/v1/complaints").await;
    let mut candidates: Vec<String> = complaints["complaints"]
        .as_array()
        .expect("complaints")
        .iter()
        .filter_map(|c| c["case"].as_str().map(str::to_owned))
        .collect();
    let delivered = get_json(base, token, "/v1/cases?status=delivered&limit=20").await;
    candidates.extend(
        delivered["cases"]
            .as_array()
            .expect("cases")
            .iter()
            .filter_map(|c| c["stream"].as_str().map(str::to_owned)),
    );
    // Preferably one with violations, so their wording is checked too.
    let mut without_violations = None;
    for stream in candidates {
        let id = stream.trim_start_matches("case-").to_owned();
        let tl = get_json(base, token, &format!("/v1/cases/{id}/timeline")).await;
        if tl["timeline"]["steps"].as_array().map_or(0, Vec::len) > TAMPERED_VERSION as usize + 1 {
            if violation_count(&tl) > 0 {
                return id;
            }
            without_violations.get_or_insert(id);
        }
    }
    without_violations
        .unwrap_or_else(|| panic!("no demo case with more than {TAMPERED_VERSION} steps"))
}

fn violation_count(timeline: &Value) -> usize {
    timeline["violations"].as_array().map_or(0, Vec::len)
}

/// Changes one byte of the entry of `stream` at `version` in the store:
/// a letter of the officer's id, so the entry stays well-formed JSON and
/// only the hashes can tell.
fn tamper(data: &Path, stream: &str, version: u64) -> (Vec<u8>, Vec<u8>) {
    let db = rusqlite::Connection::open(data.join("ledger.sqlite")).expect("open store");
    let entry: Vec<u8> = db
        .query_row(
            "SELECT entry FROM events WHERE stream = ?1 AND version = ?2",
            rusqlite::params![stream, version as i64],
            |r| r.get(0),
        )
        .expect("the entry");
    let marker = b"\"officer\":\"";
    let at = entry
        .windows(marker.len())
        .position(|w| w == marker)
        .expect("an officer in the entry")
        + marker.len();
    let mut altered = entry.clone();
    altered[at] = if altered[at] == b'z' {
        b'y'
    } else {
        altered[at] + 1
    };
    let changed = db
        .execute(
            "UPDATE events SET entry = ?1 WHERE stream = ?2 AND version = ?3",
            rusqlite::params![altered, stream, version as i64],
        )
        .expect("update");
    assert_eq!(changed, 1);
    (entry, altered)
}

/// A key registered for `department` (`ledger keygen --department`, `POST
/// /v1/admin/keys`) signs one `case.note` that `ledger append` adds to
/// `stream` with the department's token; the note's stream version.
async fn append_signed_note(
    base: &str,
    admin: &str,
    department: &str,
    department_token: &str,
    stream: &str,
    dir: &Path,
) -> u64 {
    let key = dir.join("department");
    let o = ledger(&[
        "keygen",
        "--out",
        key.to_str().expect("utf-8"),
        "--department",
        department,
        "--json",
    ])
    .await;
    assert!(o.status.success(), "{}", loopback::stderr(&o));
    let keys: Value = serde_json::from_str(&stdout(&o)).expect("keygen JSON");
    admin_post(base, admin, "/v1/admin/keys", keys["register_key"].clone()).await;
    let token_file = dir.join("department.token");
    std::fs::write(&token_file, department_token).expect("token file");
    let note = dir.join("note.json");
    let event =
        json!({"stream": stream, "type": "case.note", "payload": {"text": "复核：材料已归档"}});
    std::fs::write(&note, event.to_string()).expect("note");
    let o = ledger(&[
        "append",
        note.to_str().expect("utf-8"),
        "--key",
        key.with_extension("key").to_str().expect("utf-8"),
        "--server",
        base,
        "--token-file",
        token_file.to_str().expect("utf-8"),
        "--department",
        department,
        "--officer",
        "console-e2e",
        "--json",
    ])
    .await;
    assert!(o.status.success(), "{}{}", stdout(&o), loopback::stderr(&o));
    let receipt: Value = serde_json::from_str(stdout(&o).trim()).expect("receipt JSON");
    assert_eq!(receipt["stream"], stream, "{receipt}");
    receipt["version"].as_u64().expect("version")
}

/// A witness (`ledger keygen`, registered, `ledger witness --pull --once`)
/// cosigns the latest checkpoint; its cosignature verifier key.
async fn cosign_once(base: &str, admin: &str, data: &Path, dir: &Path) -> String {
    const NAME: &str = "supervision.example/w1";
    let key = dir.join("witness");
    let o = ledger(&[
        "keygen",
        "--out",
        key.to_str().expect("utf-8"),
        "--name",
        NAME,
        "--json",
    ])
    .await;
    assert!(o.status.success(), "{}", loopback::stderr(&o));
    let keys: Value = serde_json::from_str(&stdout(&o)).expect("keygen JSON");
    let vkey = keys["witness_verifier_key"]
        .as_str()
        .expect("vkey")
        .to_owned();
    let token = enrol_witness(base, admin, &vkey).await;
    settled_size(base).await;
    let o = ledger(&[
        "witness",
        "--data",
        dir.join("witness-state").to_str().expect("utf-8"),
        "--name",
        NAME,
        "--key",
        key.with_extension("key").to_str().expect("utf-8"),
        "--log",
        &log_vkey(data),
        "--pull",
        base,
        "--token",
        &token,
        "--once",
    ])
    .await;
    assert!(o.status.success(), "{}{}", stdout(&o), loopback::stderr(&o));
    let note = reqwest::get(format!("{base}/checkpoint"))
        .await
        .expect("checkpoint")
        .text()
        .await
        .expect("text");
    assert!(note.contains(&format!("\n\u{2014} {NAME} ")), "{note}");
    vkey
}

#[test]
fn the_browser_verifier_passes_the_spec_and_bundle_vectors() {
    require_tools(None);
    let out = Command::new("node")
        .arg("verify.test.mjs")
        .current_dir(console_tests_dir())
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.lines().last() == Some("VERIFY PASS"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("leaf hash"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_chromium_the_console_verifies_a_case_and_shows_a_tampered_step() {
    verifies_a_case_and_shows_a_tampered_step(Browser::Chromium).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_firefox_the_console_verifies_a_case_and_shows_a_tampered_step() {
    verifies_a_case_and_shows_a_tampered_step(Browser::Firefox).await;
}

async fn verifies_a_case_and_shows_a_tampered_step(browser: Browser) {
    require_tools(Some(browser));
    let _one = ONE_BROWSER.lock().await;
    install_drivers();
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let server = Running::serve(&data, &["--demo", "--demo-cases", "150"]);
    let token = admin_token(&data);
    settled_size(&server.base).await;
    let case = pick_case(&server.base, &token).await;
    let found = get_json(&server.base, &token, &format!("/v1/cases?case=case-{case}")).await;
    let department = found["cases"][0]["department"]
        .as_str()
        .expect("the case's department")
        .to_owned();
    let issued = admin_post(
        &server.base,
        &token,
        "/v1/admin/tokens",
        json!({"role": "department", "department": department, "subject": "console-e2e"}),
    )
    .await;
    let department_token = issued["token"].as_str().expect("token").to_owned();
    let stream = format!("case-{case}");
    let signed = append_signed_note(
        &server.base,
        &token,
        &department,
        &department_token,
        &stream,
        dir.path(),
    )
    .await;
    assert!(signed > TAMPERED_VERSION);
    let signed = signed.to_string();
    let witness_key = cosign_once(&server.base, &token, &data, dir.path()).await;

    // The console is served from the binary, under a strict policy.
    let res = reqwest::get(format!("{}/console/", server.base))
        .await
        .expect("console");
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-security-policy"]
            .to_str()
            .expect("ascii")
            .starts_with("default-src 'self'")
    );

    let out = e2e(
        browser,
        &server.base,
        &token,
        &case,
        "verified",
        &[
            "--witness-key",
            &witness_key,
            "--department-token",
            &department_token,
            "--department",
            &department,
            "--signed",
            &signed,
        ],
    )
    .await;
    assert!(out.contains("all ✓ in the browser"), "{out}");
    let violations = violation_count(
        &get_json(&server.base, &token, &format!("/v1/cases/{case}/timeline")).await,
    );
    assert!(violations > 0, "the demo has cases with violations");
    assert!(
        out.contains(&format!("violations worded in Chinese: {violations}")),
        "{out}"
    );
    assert!(
        out.contains(&format!("violations worded in English: {violations}")),
        "{out}"
    );
    assert!(
        out.contains(&format!("author signature of step {signed}: ✓")),
        "{out}"
    );
    assert!(out.contains("not yet cosigned"), "{out}");
    assert!(out.contains("the case verified against size"), "{out}");
    assert!(out.contains("authors' signatures too"), "{out}");
    assert!(out.contains("own cases"), "{out}");
    assert!(out.contains("public status page from the QR link"), "{out}");
    server.stop();

    // One byte of one entry changed behind the server's back, and one of
    // the signed note (its officer, which the department signed).
    let (before, after) = tamper(&data, &stream, TAMPERED_VERSION);
    assert_eq!(before.iter().zip(&after).filter(|(a, b)| a != b).count(), 1);
    let signed_version: u64 = signed.parse().expect("version");
    let (before, after) = tamper(&data, &stream, signed_version);
    assert_eq!(before.iter().zip(&after).filter(|(a, b)| a != b).count(), 1);
    let server = Running::serve(&data, &[]);
    let version = TAMPERED_VERSION.to_string();
    let out = e2e(
        browser,
        &server.base,
        &token,
        &case,
        "tampered",
        &["--tampered", &version, "--signed", &signed],
    )
    .await;
    assert!(
        out.contains(&format!("tampered step {TAMPERED_VERSION}: ✗")),
        "{out}"
    );
    assert!(
        out.contains(&format!("author signature of step {signed}: ✗")),
        "{out}"
    );
    server.stop();
}
