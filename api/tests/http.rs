//! The service over loopback: the real `serve` on 127.0.0.1:0 with a real
//! data directory, driven by an HTTP client.

mod common;

use common::{TestService, unsigned_json};
use ledger::checkpoint::Checkpoint;
use ledger::merkle::{Hash, MemoryTree, leaf_hash, verify_consistency, verify_inclusion};
use ledger::note::NoteVerifier;
use ledger::tiles::{decode_entry_bundle, decode_hash_tile, entry_bundle_for, tile_for};
use serde_json::{Value, json};

fn hex_hash(v: &Value) -> Hash {
    Hash::from_hex(v.as_str().expect("hex string")).expect("hash")
}

#[tokio::test]
async fn append_and_read_back_paged_both_ways() {
    let svc = TestService::start().await;
    let dept = svc.department("dept-market").await;
    let stream = "case-2026-000001";
    let events: Vec<Value> = (0..5)
        .map(|i| dept.event(stream, "case.step", json!({"step": i})))
        .collect();
    let r = svc
        .post(
            &format!("/v1/streams/{stream}/events"),
            Some(&dept.token),
            &json!({"expected_version": "no_stream", "events": events}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let receipts = r.body["receipts"].as_array().expect("receipts");
    assert_eq!(receipts.len(), 5);
    for (i, rc) in receipts.iter().enumerate() {
        assert_eq!(rc["version"], i as u64);
        assert_eq!(rc["stream"], stream);
        assert_eq!(rc["event_id"], events[i]["id"]);
        assert_eq!(rc["leaf_hash"].as_str().expect("hex").len(), 64);
    }
    // One more, with an exact expected version.
    let one = dept.event(
        stream,
        "case.decided",
        json!({"decision": "准予", "basis": "《行政许可法》"}),
    );
    let r = svc
        .post(
            &format!("/v1/streams/{stream}/events"),
            Some(&dept.token),
            &json!({"expected_version": 4, "events": [one]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["receipts"][0]["version"], 5);

    // Forwards, two pages of 4 and 2.
    let r = svc
        .get(
            &format!("/v1/streams/{stream}/events?limit=4"),
            Some(&dept.token),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let page = r.body["events"].as_array().expect("events");
    assert_eq!(page.len(), 4);
    assert_eq!(r.body["next"], 4);
    assert_eq!(page[0]["event"]["id"], events[0]["id"]);
    assert_eq!(page[0]["event"]["payload"]["step"], 0);
    assert_eq!(page[0]["event"]["prev"], "0".repeat(64));
    // Each event's leaf hash is the hash of the JCS form of what we got.
    for e in page {
        let entry = serde_json_canonicalizer::to_vec(&e["event"]).expect("jcs");
        assert_eq!(leaf_hash(&entry), hex_hash(&e["leaf_hash"]));
    }
    assert_eq!(page[1]["event"]["prev"], page[0]["leaf_hash"]);
    let r = svc
        .get(
            &format!("/v1/streams/{stream}/events?from=4&limit=4"),
            Some(&dept.token),
        )
        .await;
    assert_eq!(r.body["events"].as_array().expect("events").len(), 2);
    assert_eq!(r.body["next"], Value::Null);
    // Backwards from the end.
    let r = svc
        .get(
            &format!("/v1/streams/{stream}/events?direction=backwards&limit=2"),
            Some(&dept.token),
        )
        .await;
    let page = r.body["events"].as_array().expect("events");
    assert_eq!(page[0]["event"]["version"], 5);
    assert_eq!(page[1]["event"]["version"], 4);
    assert_eq!(r.body["next"], 3);

    // By id, and in the global log.
    let id = events[2]["id"].as_str().expect("id");
    let r = svc
        .get(&format!("/v1/events/{id}"), Some(&dept.token))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["event"]["version"], 2);
    assert_eq!(r.body["log_index"], receipts[2]["log_index"]);
    let from = receipts[0]["log_index"].as_u64().expect("index");
    let r = svc
        .get(
            &format!("/v1/log/entries?from={from}&limit=3"),
            Some(&svc.admin),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let page = r.body["events"].as_array().expect("events");
    assert_eq!(page.len(), 3);
    assert_eq!(page[0]["log_index"], from);
    assert_eq!(r.body["next"], from + 3);
    svc.stop().await;
}

#[tokio::test]
async fn version_conflicts_carry_the_current_version_and_change_nothing() {
    let svc = TestService::start().await;
    let dept = svc.department("dept-market").await;
    let path = "/v1/streams/case-c/events";
    let first = dept.event("case-c", "case.step", json!({}));
    let r = svc
        .post(path, Some(&dept.token), &json!({"events": [first]}))
        .await;
    assert_eq!(r.status, 200);
    let size = svc.size().await;
    for expected in [json!("no_stream"), json!(3), json!(1)] {
        let ev = dept.event("case-c", "case.step", json!({}));
        let r = svc
            .post(
                path,
                Some(&dept.token),
                &json!({"expected_version": expected, "events": [ev]}),
            )
            .await;
        r.assert_problem(409, "version-conflict");
        assert_eq!(r.body["current_version"], 0);
        assert_eq!(svc.size().await, size);
    }
    // stream_exists on a missing stream: current_version null.
    let ev = dept.event("case-missing", "case.step", json!({}));
    let r = svc
        .post(
            "/v1/streams/case-missing/events",
            Some(&dept.token),
            &json!({"expected_version": "stream_exists", "events": [ev]}),
        )
        .await;
    r.assert_problem(409, "version-conflict");
    assert_eq!(r.body["current_version"], Value::Null);
    assert_eq!(svc.size().await, size);
    svc.stop().await;
}

#[tokio::test]
async fn retries_are_idempotent_by_event_id() {
    let svc = TestService::start().await;
    let dept = svc.department("dept-market").await;
    let events: Vec<Value> = (0..3)
        .map(|i| dept.event("case-idem", "case.step", json!({"i": i})))
        .collect();
    let body = json!({"expected_version": "no_stream", "events": events});
    let first = svc
        .post("/v1/streams/case-idem/events", Some(&dept.token), &body)
        .await;
    assert_eq!(first.status, 200);
    let size = svc.size().await;
    let again = svc
        .post("/v1/streams/case-idem/events", Some(&dept.token), &body)
        .await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.body, first.body);
    assert_eq!(svc.size().await, size);
    // The same id with other content is a conflict.
    let mut changed = events[0].clone();
    changed["payload"] = json!({"i": 99});
    let changed = {
        // Re-sign the changed event so only the content differs.
        let mut p: ledger::ProposedEvent = serde_json::from_value(changed).expect("event");
        p.signature = None;
        let p = p
            .sign_ed25519(dept.key.clone(), &dept.signing)
            .expect("sign");
        serde_json::to_value(p).expect("json")
    };
    let r = svc
        .post(
            "/v1/streams/case-idem/events",
            Some(&dept.token),
            &json!({"events": [changed]}),
        )
        .await;
    r.assert_problem(409, "idempotency-conflict");
    // Old and new events mixed.
    let new = dept.event("case-idem", "case.step", json!({}));
    let r = svc
        .post(
            "/v1/streams/case-idem/events",
            Some(&dept.token),
            &json!({"events": [events[0], new]}),
        )
        .await;
    r.assert_problem(409, "partial-retry");
    assert_eq!(svc.size().await, size);
    svc.stop().await;
}

#[tokio::test]
async fn a_batch_with_one_bad_event_writes_nothing() {
    let svc = TestService::start().await;
    let dept = svc.department("dept-market").await;
    let good = dept.event("case-atomic", "case.step", json!({}));
    let mut bad = dept.event("case-atomic", "case.step", json!({"ok": true}));
    bad["payload"]["ok"] = json!(false); // signature no longer matches
    let size = svc.size().await;
    let r = svc
        .post(
            "/v1/streams/case-atomic/events",
            Some(&dept.token),
            &json!({"events": [good, bad]}),
        )
        .await;
    r.assert_problem(422, "bad-signature");
    assert_eq!(svc.size().await, size);
    let r = svc
        .get("/v1/streams/case-atomic/events", Some(&svc.admin))
        .await;
    r.assert_problem(404, "not-found");
    let id = good["id"].as_str().expect("id");
    let r = svc.get(&format!("/v1/events/{id}"), Some(&svc.admin)).await;
    r.assert_problem(404, "not-found");
    svc.stop().await;
}

/// Verifies a checkpoint note from the service with the verifier key from
/// `/v1/log`; returns its size and root.
async fn verified_checkpoint(svc: &TestService, note: &str) -> (u64, Hash) {
    let info = svc.get("/v1/log", None).await;
    assert_eq!(info.status, 200);
    assert_eq!(info.body["origin"], "test.example/ledger");
    let key = NoteVerifier::from_verifier_key_string(
        info.body["verifier_key"].as_str().expect("verifier key"),
    )
    .expect("verifier key parses");
    let (cp, _) = Checkpoint::verify_note_for_origin(note.as_bytes(), "test.example/ledger", &key)
        .expect("checkpoint verifies");
    (cp.size, Hash(cp.root))
}

#[tokio::test]
async fn inclusion_and_consistency_proofs_verify_with_the_ledger_functions() {
    let svc = TestService::start().await;
    let dept = svc.department("dept-market").await;
    let mut receipts = Vec::new();
    for n in 0..4 {
        let events: Vec<Value> = (0..5)
            .map(|i| dept.event(&format!("case-p{n}"), "case.step", json!({"i": i})))
            .collect();
        let r = svc
            .post(
                &format!("/v1/streams/case-p{n}/events"),
                Some(&dept.token),
                &json!({"events": events}),
            )
            .await;
        assert_eq!(r.status, 200);
        receipts.extend(r.body["receipts"].as_array().expect("receipts").clone());
    }
    // By event id, against the latest checkpoint (signed on demand).
    for rc in [&receipts[0], &receipts[7], receipts.last().expect("last")] {
        let id = rc["event_id"].as_str().expect("id");
        let r = svc
            .get(&format!("/v1/proofs/inclusion?event_id={id}"), None)
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let (size, root) =
            verified_checkpoint(&svc, r.body["checkpoint"].as_str().expect("note")).await;
        assert_eq!(r.body["tree_size"], size);
        assert_eq!(hex_hash(&r.body["root_hash"]), root);
        assert_eq!(r.body["leaf_hash"], rc["leaf_hash"]);
        let path: Vec<Hash> = r.body["hashes"]
            .as_array()
            .expect("hashes")
            .iter()
            .map(hex_hash)
            .collect();
        verify_inclusion(
            &hex_hash(&rc["leaf_hash"]),
            rc["log_index"].as_u64().expect("index"),
            size,
            &path,
            &root,
        )
        .expect("inclusion verifies");
        // A tampered path fails.
        if let Some(first) = path.first() {
            let mut bad = path.clone();
            bad[0] = Hash([first.0[0] ^ 1; 32]);
            assert!(
                verify_inclusion(
                    &hex_hash(&rc["leaf_hash"]),
                    rc["log_index"].as_u64().expect("index"),
                    size,
                    &bad,
                    &root
                )
                .is_err()
            );
        }
    }
    // By log index against an explicit older size.
    let idx = receipts[3]["log_index"].as_u64().expect("index");
    let r = svc
        .get(
            &format!("/v1/proofs/inclusion?log_index={idx}&tree_size={}", idx + 2),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let path: Vec<Hash> = r.body["hashes"]
        .as_array()
        .expect("hashes")
        .iter()
        .map(hex_hash)
        .collect();
    let old_root = hex_hash(&r.body["root_hash"]);
    verify_inclusion(
        &hex_hash(&receipts[3]["leaf_hash"]),
        idx,
        idx + 2,
        &path,
        &old_root,
    )
    .expect("inclusion at an older size");

    // Consistency from that older size to the latest checkpoint.
    let r = svc
        .get(
            &format!("/v1/proofs/consistency?old_size={}", idx + 2),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let (size, root) =
        verified_checkpoint(&svc, r.body["checkpoint"].as_str().expect("note")).await;
    assert_eq!(r.body["new_size"], size);
    assert_eq!(hex_hash(&r.body["old_root"]), old_root);
    let proof: Vec<Hash> = r.body["hashes"]
        .as_array()
        .expect("hashes")
        .iter()
        .map(hex_hash)
        .collect();
    verify_consistency(idx + 2, size, &old_root, &root, &proof).expect("consistent");
    assert!(verify_consistency(idx + 2, size, &root, &root, &proof).is_err());

    // Bad proof requests: nothing to prove, beyond the log, malformed.
    let r = svc.get("/v1/proofs/inclusion", None).await;
    r.assert_problem(400, "malformed-request");
    let r = svc
        .get("/v1/proofs/inclusion?log_index=0&tree_size=99999", None)
        .await;
    r.assert_problem(404, "not-found");
    let r = svc
        .get("/v1/proofs/inclusion?event_id=not-a-ulid", None)
        .await;
    r.assert_problem(400, "malformed-request");
    let r = svc
        .get("/v1/proofs/consistency?old_size=5&new_size=2", None)
        .await;
    r.assert_problem(400, "malformed-request");
    let r = svc.get("/v1/proofs/consistency?old_size=x", None).await;
    r.assert_problem(400, "malformed-request");
    svc.stop().await;
}

#[tokio::test]
async fn checkpoint_and_tiles_rebuild_the_tree() {
    let svc = TestService::start_with(common::test_settings(), true).await;
    // A department the demo has not registered.
    let dept = svc.department("dept-tiles").await;
    let r = svc
        .post(
            "/v1/streams/case-tiles/events",
            Some(&dept.token),
            &json!({"events": [dept.event("case-tiles", "case.step", json!({}))]}),
        )
        .await;
    assert_eq!(r.status, 200);
    svc.store.checkpoint_now().await.expect("checkpoint");
    let r = svc.get("/checkpoint", None).await;
    assert_eq!(r.status, 200);
    assert!(
        r.content_type.starts_with("text/plain"),
        "{}",
        r.content_type
    );
    let note = String::from_utf8(r.bytes.clone()).expect("utf-8");
    let (size, root) = verified_checkpoint(&svc, &note).await;
    assert!(size > 12, "demo cases plus registry events: {size}");

    // Entries from the bundles, leaf hashes from the level-0 tile: they
    // agree, and the tree they build has the checkpoint's root.
    let bundle = entry_bundle_for(0, size).expect("bundle");
    let r = svc.get(&format!("/{}", bundle.path()), None).await;
    assert_eq!(r.status, 200, "{}", bundle.path());
    assert_eq!(r.content_type, "application/octet-stream");
    let entries = decode_entry_bundle(&r.bytes).expect("bundle decodes");
    assert_eq!(entries.len() as u64, size);
    let tile = tile_for(0, 0, size).expect("tile");
    let r = svc.get(&format!("/{}", tile.path()), None).await;
    assert_eq!(r.status, 200, "{}", tile.path());
    let hashes = decode_hash_tile(&r.bytes).expect("tile decodes");
    let mut tree = MemoryTree::new();
    for (entry, h) in entries.iter().zip(&hashes) {
        assert_eq!(leaf_hash(entry), *h);
        tree.push(*h);
    }
    assert_eq!(tree.root(), root);

    // Tiles beyond the tree are 404; non-canonical paths 400.
    let wider = ledger::tiles::TileId {
        level: 0,
        index: 0,
        width: (size + 1) as u16,
    };
    svc.get(&format!("/{}", wider.path()), None)
        .await
        .assert_problem(404, "not-found");
    svc.get("/tile/0/001", None)
        .await
        .assert_problem(404, "not-found");
    svc.get("/tile/entries/x", None)
        .await
        .assert_problem(400, "malformed-request");
    svc.get("/tile/0/0", None)
        .await
        .assert_problem(400, "malformed-request");
    svc.stop().await;
}

#[tokio::test]
async fn revoked_tokens_are_refused_and_only_hashes_are_logged() {
    let svc = TestService::start().await;
    let token = svc.token("inspector", "supervision-office", "insp-1").await;
    let r = svc.get("/v1/log/entries", Some(&token)).await;
    assert_eq!(r.status, 200);
    let id = api::auth::hash_token(&token);
    let r = svc
        .post(
            &format!("/v1/admin/tokens/{id}/revoke"),
            Some(&svc.admin),
            &json!({"reason": "left the office"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    svc.get("/v1/log/entries", Some(&token))
        .await
        .assert_problem(401, "unauthorized");
    // Revoking again: no live token.
    svc.post(
        &format!("/v1/admin/tokens/{id}/revoke"),
        Some(&svc.admin),
        &json!({}),
    )
    .await
    .assert_problem(404, "not-found");
    // The registry has the hash, never the token.
    let r = svc
        .get("/v1/streams/registry/events?limit=1000", Some(&svc.admin))
        .await;
    let text = r.body.to_string();
    assert!(text.contains(&id));
    assert!(text.contains("token.revoked"));
    assert!(!text.contains(&token));
    assert!(!text.contains(&svc.admin));
    svc.stop().await;
}

#[tokio::test]
async fn unsigned_department_events_and_foreign_actors_are_refused() {
    let svc = TestService::start().await;
    let dept = svc.department("dept-market").await;
    let size = svc.size().await;
    let r = svc
        .post(
            "/v1/streams/case-u/events",
            Some(&dept.token),
            &json!({"events": [unsigned_json("case-u", "case.step", "dept-market", json!({}))]}),
        )
        .await;
    r.assert_problem(422, "schema-violation");
    let r = svc
        .post(
            "/v1/streams/case-u/events",
            Some(&dept.token),
            &json!({"events": [unsigned_json("case-u", "case.step", "dept-tax", json!({}))]}),
        )
        .await;
    r.assert_problem(403, "forbidden");
    assert_eq!(svc.size().await, size);
    svc.stop().await;
}

#[tokio::test]
async fn metrics_count_appends_by_outcome_and_report_the_log() {
    let svc = TestService::start().await;
    let body = json!({"expected_version": "no_stream",
        "events": [unsigned_json("case-metrics", "case.step", "dept-market", json!({}))]});
    assert_eq!(
        svc.post("/v1/streams/case-metrics/events", Some(&svc.admin), &body)
            .await
            .status,
        200
    );
    let again = json!({"expected_version": "no_stream",
        "events": [unsigned_json("case-metrics", "case.step", "dept-market", json!({}))]});
    svc.post("/v1/streams/case-metrics/events", Some(&svc.admin), &again)
        .await
        .assert_problem(409, "version-conflict");
    // A live subscriber shows in the gauge.
    let sub = svc
        .client
        .get(svc.url("/v1/log/subscribe"))
        .bearer_auth(&svc.admin)
        .send()
        .await
        .expect("subscribe");
    assert_eq!(sub.status(), 200);
    let r = svc.get("/metrics", None).await;
    assert_eq!(r.status, 200);
    let text = String::from_utf8(r.bytes).expect("utf-8");
    for needle in [
        "ledger_appends_total{outcome=\"ok\"}",
        "ledger_appends_total{outcome=\"version-conflict\"}",
        "ledger_append_duration_seconds_bucket",
        "ledger_http_requests_total{method=\"POST\",route=\"/v1/streams/{stream}/events\",status=\"409\"}",
        "ledger_http_request_duration_seconds_bucket",
        "ledger_log_size ",
        "ledger_checkpoint_age_seconds ",
        "ledger_subscribers{kind=\"log\"}",
    ] {
        assert!(text.contains(needle), "{needle} missing from\n{text}");
    }
    drop(sub);
    svc.stop().await;
}

/// Made-up methods are counted as `other`: a client inventing methods adds
/// no series.
#[tokio::test]
async fn requests_with_made_up_methods_are_counted_as_other() {
    let svc = TestService::start().await;
    for method in ["FROBNICATE", "XYZZY"] {
        let r = svc
            .client
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).expect("a method"),
                svc.url("/v1/no-such-thing"),
            )
            .send()
            .await
            .expect("request");
        assert!(r.status().is_client_error(), "{method}: {}", r.status());
    }
    let r = svc.get("/metrics", None).await;
    let text = String::from_utf8(r.bytes).expect("utf-8");
    assert!(
        text.contains("ledger_http_requests_total{method=\"other\",route=\"unmatched\""),
        "no `other` series in\n{text}"
    );
    for made_up in ["FROBNICATE", "XYZZY"] {
        assert!(!text.contains(made_up), "{made_up} became a label");
    }
    svc.stop().await;
}

/// A tlog-tiles client's view: from `/checkpoint` and `/tile/…` alone, fetch
/// every entry bundle and level-0 tile of a log over 512 entries, check them
/// against each other and the level-1 tile, and rebuild the signed root.
#[tokio::test]
async fn a_tiles_client_verifies_a_multi_tile_log_from_the_endpoints_alone() {
    let svc = TestService::start().await;
    for b in 0..6 {
        let events: Vec<Value> = (0..100)
            .map(|i| {
                unsigned_json(
                    &format!("case-t{b}"),
                    "case.step",
                    "dept-market",
                    json!({"i": i}),
                )
            })
            .collect();
        let r = svc
            .post(
                &format!("/v1/streams/case-t{b}/events"),
                Some(&svc.admin),
                &json!({"events": events}),
            )
            .await;
        assert_eq!(r.status, 200);
    }
    svc.store.checkpoint_now().await.expect("checkpoint");
    let note = svc.get("/checkpoint", None).await.bytes;
    let (size, root) = verified_checkpoint(&svc, &String::from_utf8(note).expect("utf-8")).await;
    assert!(size > 600, "{size}");

    let mut leaves = Vec::new();
    let mut n = 0;
    while let Some(tile) = tile_for(0, n, size) {
        let hashes = decode_hash_tile(&svc.get(&format!("/{}", tile.path()), None).await.bytes)
            .expect("tile");
        let bundle = entry_bundle_for(n, size).expect("bundle");
        assert_eq!(bundle.width, tile.width);
        let entries =
            decode_entry_bundle(&svc.get(&format!("/{}", bundle.path()), None).await.bytes)
                .expect("bundle");
        assert_eq!(entries.len(), hashes.len());
        for (e, h) in entries.iter().zip(&hashes) {
            assert_eq!(leaf_hash(e), *h);
            // Every entry is an event in canonical form.
            ledger::Event::from_entry(e).expect("canonical event");
        }
        leaves.extend(hashes);
        n += 1;
    }
    assert_eq!(leaves.len() as u64, size);
    let mut tree = MemoryTree::new();
    for h in &leaves {
        tree.push(*h);
    }
    assert_eq!(tree.root(), root);
    // The level-1 tile holds the roots of each full 256-leaf subtree.
    let l1 = tile_for(1, 0, size).expect("level-1 tile");
    assert_eq!(u64::from(l1.width), size / 256);
    let l1_hashes =
        decode_hash_tile(&svc.get(&format!("/{}", l1.path()), None).await.bytes).expect("tile");
    for (i, h) in l1_hashes.iter().enumerate() {
        let mut sub = MemoryTree::new();
        for leaf in &leaves[i * 256..(i + 1) * 256] {
            sub.push(*leaf);
        }
        assert_eq!(sub.root(), *h);
    }
    // Full tiles are immutable for caches.
    let full = tile_for(0, 0, size).expect("tile");
    assert!(full.is_full());
    let r = svc.get(&format!("/{}", full.path()), None).await;
    assert!(
        r.headers["cache-control"]
            .to_str()
            .expect("ascii")
            .contains("immutable")
    );
    svc.stop().await;
}
