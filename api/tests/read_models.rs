//! The persisted read models behind `/v1/cases` and `/v1/worklogs`: they
//! follow the log, survive restarts without replaying it, are rebuilt when
//! they do not belong to the log, and a rebuild from scratch equals what
//! following live built.

mod common;

use std::sync::Arc;

use common::TestService;
use projections::examples;
use projections::readstore::ReadStore;
use projections::schema::*;
use serde_json::{Value, json};

fn batch(events: Vec<Value>) -> Value {
    json!({"events": events})
}

/// Opens `n` cases of `dept` (accepted), completing every other one.
async fn open_cases(svc: &TestService, dept: &common::Department, prefix: &str, n: usize) {
    for i in 0..n {
        let stream = format!("case-{prefix}{i}");
        let mut events = vec![
            dept.event(&stream, ACCEPTED, examples::payload(ACCEPTED).expect("ex")),
            dept.event(&stream, REVIEWED, json!({"layer": 1, "opinion": "同意"})),
        ];
        if i % 2 == 0 {
            events.push(dept.event(&stream, COMPLETED, json!({})));
        }
        let r = svc
            .post(
                &format!("/v1/streams/{stream}/events"),
                Some(&dept.token),
                &batch(events),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
}

fn read_store_path(svc: &TestService) -> std::path::PathBuf {
    svc.data_dir().join(api::projector::READ_STORE_FILE)
}

#[tokio::test]
async fn cases_are_searched_by_status_department_and_item() {
    let svc = TestService::start().await;
    let market = svc.department("dept-market").await;
    let tax = svc.department("dept-tax").await;
    let r = svc
        .post(
            "/v1/streams/catalog/events",
            Some(&svc.admin),
            &json!({"events": [common::unsigned_json("catalog", ITEM_PUBLISHED, "dept-reform",
                examples::service_item())]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    open_cases(&svc, &market, "m", 5).await;
    open_cases(&svc, &tax, "t", 2).await;

    // Acknowledged appends are in the very next search.
    let all = svc.get("/v1/cases", Some(&svc.admin)).await;
    assert_eq!(all.status, 200, "{}", all.body);
    assert_eq!(all.body["total"], 7);
    let completed = svc
        .get(
            "/v1/cases?status=completed&department=dept-market",
            Some(&svc.admin),
        )
        .await;
    assert_eq!(completed.body["total"], 3, "{}", completed.body);
    assert!(
        completed.body["cases"]
            .as_array()
            .expect("cases")
            .iter()
            .all(|c| c["status_label"] == "已办结" && c["department"] == "dept-market")
    );
    let page = svc
        .get(
            "/v1/cases?item=scjg-qysldj&limit=2&offset=6",
            Some(&svc.admin),
        )
        .await;
    assert_eq!(page.body["cases"].as_array().expect("cases").len(), 1);
    assert_eq!(page.body["total"], 7);
    let one = svc.get("/v1/cases?case=case-m3", Some(&svc.admin)).await;
    assert_eq!(one.body["cases"][0]["stream"], "case-m3");
    assert_eq!(one.body["cases"][0]["steps"], 2);
    let prefix = svc.get("/v1/cases?case=case-t*", Some(&svc.admin)).await;
    assert_eq!(prefix.body["total"], 2);

    // Judged now: open cases are on track, completed ones on time.
    let on_track = svc
        .get("/v1/cases?time_limit=on_track", Some(&svc.admin))
        .await;
    assert_eq!(on_track.body["total"], 3, "{}", on_track.body);
    assert_eq!(on_track.body["cases"][0]["time_limit_status"], "on_track");
    let on_time = svc
        .get("/v1/cases?time_limit=completed_on_time", Some(&svc.admin))
        .await;
    assert_eq!(on_time.body["total"], 4, "{}", on_time.body);
    let backfilled = svc
        .get("/v1/cases?violation=backfilled", Some(&svc.admin))
        .await;
    assert_eq!(backfilled.body["total"], 0, "{}", backfilled.body);

    // A department sees its own cases, whatever it asks for.
    let own = svc.get("/v1/cases", Some(&tax.token)).await;
    assert_eq!(own.body["total"], 2, "{}", own.body);
    svc.get("/v1/cases?department=dept-market", Some(&tax.token))
        .await
        .assert_problem(403, "forbidden");

    // Bad searches are named.
    for (query, needle) in [
        ("status=lost", "status"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("accepted_from=2026-02-30", "accepted_from"),
        ("colour=red", "colour"),
        ("offset=-1", "offset"),
        ("violation=rudeness", "violation"),
        ("time_limit=late", "time_limit"),
    ] {
        let r = svc
            .get(&format!("/v1/cases?{query}"), Some(&svc.admin))
            .await;
        r.assert_problem(400, "malformed-request");
        assert!(
            r.body["detail"].as_str().expect("detail").contains(needle),
            "{query}: {}",
            r.body
        );
    }
    let witness = svc.token("witness", "dept-witness", "w1").await;
    svc.get("/v1/cases", Some(&witness))
        .await
        .assert_problem(403, "forbidden");
    svc.get("/v1/cases", None)
        .await
        .assert_problem(401, "unauthorized");
    svc.stop().await;
}

#[tokio::test]
async fn the_read_models_resume_after_a_restart_without_replaying_the_log() {
    let svc = TestService::start().await;
    let market = svc.department("dept-market").await;
    open_cases(&svc, &market, "r", 4).await;
    assert_eq!(
        svc.get("/v1/cases", Some(&svc.admin)).await.body["total"],
        4
    );
    let size = svc.size().await;
    let path = read_store_path(&svc);
    let svc = svc.restart().await;
    // What the file held at start-up: everything, before anything new.
    let at_start = ReadStore::open(&path, api::projector::read_store_config().expect("config"))
        .expect("open")
        .next_index();
    assert!(
        at_start >= size,
        "saved position {at_start} < log size {size}"
    );
    let market = svc.department("dept-market2").await;
    open_cases(&svc, &market, "s", 1).await;
    assert_eq!(
        svc.get("/v1/cases", Some(&svc.admin)).await.body["total"],
        5
    );
    svc.stop().await;
}

#[tokio::test]
async fn a_read_store_of_another_log_is_rebuilt_and_a_rebuild_equals_following() {
    // A read store built from another ledger's log.
    let other = TestService::start().await;
    let dept = other.department("dept-market").await;
    open_cases(&other, &dept, "x", 3).await;
    let foreign = read_store_path(&other);
    other.get("/v1/cases", Some(&other.admin)).await;

    let svc = TestService::start().await;
    let market = svc.department("dept-market").await;
    open_cases(&svc, &market, "y", 2).await;
    assert_eq!(
        svc.get("/v1/cases", Some(&svc.admin)).await.body["total"],
        2
    );
    let path = read_store_path(&svc);
    let svc = svc.stop_keeping_data().await;
    std::fs::copy(&foreign, &path).expect("copy");
    let _ = std::fs::remove_file(path.with_extension("sqlite-wal"));
    let _ = std::fs::remove_file(path.with_extension("sqlite-shm"));
    other.stop().await;

    let svc = svc.start_again().await;
    let cases = svc.get("/v1/cases", Some(&svc.admin)).await;
    assert_eq!(cases.body["total"], 2, "{}", cases.body);
    assert!(
        cases.body["cases"]
            .as_array()
            .expect("cases")
            .iter()
            .all(|c| c["stream"].as_str().expect("stream").starts_with("case-y"))
    );

    // A rebuild from scratch gives exactly what following built.
    let live = svc.state.read_models().await.expect("models").read().dump();
    let fresh = tempfile::tempdir().expect("dir");
    let rebuilt_path = fresh.path().join("rebuilt.sqlite");
    let store: Arc<dyn ledger::Store> = Arc::clone(&svc.store);
    let folded = api::projector::rebuild(
        store,
        &rebuilt_path,
        api::projector::read_store_config().expect("config"),
        |_, _| {},
    )
    .await
    .expect("rebuild");
    assert_eq!(folded.entries, svc.size().await);
    let rebuilt = ReadStore::open(
        &rebuilt_path,
        api::projector::read_store_config().expect("config"),
    )
    .expect("open")
    .dump();
    assert_eq!(live.expect("dump"), rebuilt.expect("dump"));
    svc.stop().await;
}

/// An embedded store in a new data directory under `dir`, and the same as
/// a `dyn Store`.
fn embedded_store(
    dir: &std::path::Path,
) -> (ledger::store::sqlite::SqliteStore, Arc<dyn ledger::Store>) {
    let data = ledger::datadir::DataDir::open_or_init(&dir.join("data"), None).expect("dir");
    let sqlite = data
        .open_store(ledger::store::sqlite::SqliteConfig::default())
        .expect("store");
    let store: Arc<dyn ledger::Store> = Arc::new(sqlite.clone());
    (sqlite, store)
}

/// Appends `n` events in batches to fresh case streams.
async fn fill(store: &Arc<dyn ledger::Store>, n: usize) {
    for b in 0..n.div_ceil(500) {
        open_notes(store, &format!("case-bulk{b}"), 500.min(n - b * 500)).await;
    }
}

/// Opens `stream` with `n` notes, in one batch.
async fn open_notes(store: &Arc<dyn ledger::Store>, stream: &str, n: usize) {
    let events = (0..n)
        .map(|_| common::unsigned(stream, NOTE, "dept-market", json!({"text": "x"})))
        .collect();
    store
        .append(ledger::AppendRequest {
            stream: ledger::StreamId::new(stream).expect("stream"),
            expected: ledger::ExpectedVersion::NoStream,
            events,
        })
        .await
        .expect("append");
}

#[tokio::test]
async fn an_empty_or_damaged_read_store_on_a_long_log_is_built_before_serving() {
    let dir = tempfile::tempdir().expect("dir");
    let (sqlite, store) = embedded_store(dir.path());
    fill(&store, 10_500).await;
    let size = store.size().await.expect("size");
    let path = dir.path().join("projections.sqlite");
    let config = api::projector::read_store_config().expect("config");

    // Empty: built in one pass, complete as soon as start returns.
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let projector = api::projector::Projector::start(Arc::clone(&store), &path, config.clone(), rx)
        .await
        .expect("start");
    assert_eq!(projector.read().next_index(), size);
    let (_, cases) = projector
        .read()
        .cases(
            &projections::readstore::CaseFilter::default(),
            0,
            1,
            chrono::Utc::now(),
        )
        .expect("cases");
    assert_eq!(cases, 21);
    drop(projector);

    // Damaged: thrown away and built again.
    std::fs::write(&path, b"not a database at all, not even close to one").expect("write");
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let projector = api::projector::Projector::start(Arc::clone(&store), &path, config, rx)
        .await
        .expect("start on a damaged file");
    assert_eq!(projector.read().next_index(), size);
    sqlite.close();
}

/// While appends keep coming, the follower gathers them for its live fold
/// interval before folding; a query that waits for the read models wakes
/// it at once. (With an interval of a minute, a query not waking it would
/// time out.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_query_wakes_the_follower_holding_back_a_fold() {
    let dir = tempfile::tempdir().expect("dir");
    let (sqlite, store) = embedded_store(dir.path());
    let config = api::projector::read_store_config().expect("config");
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let projector = api::projector::Projector::start_folding_every(
        Arc::clone(&store),
        &dir.path().join("projections.sqlite"),
        config,
        rx,
        std::time::Duration::from_secs(60),
    )
    .await
    .expect("start");
    let wait = std::time::Duration::from_secs(5);
    // The first live fold happens at once; the next one is held back.
    for round in 0..3 {
        open_notes(&store, &format!("case-wake{round}"), 20).await;
        let started = std::time::Instant::now();
        projector
            .caught_up(wait)
            .await
            .unwrap_or_else(|e| panic!("round {round}: {e:?}"));
        let size = store.size().await.expect("size");
        assert_eq!(projector.read().next_index(), size, "round {round}");
        assert!(started.elapsed() < wait, "round {round}");
    }
    sqlite.close();
}
