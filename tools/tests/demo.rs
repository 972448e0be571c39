//! `ledger serve --demo` as a real process: the demo's catalogue and
//! departments are in the log, its cases have timelines recorded months
//! ago, and a restart with `--demo` adds nothing.

use serde_json::Value;

#[path = "support/loopback.rs"]
mod loopback;

use loopback::Running;

/// `ledger serve --demo` with 300 demo cases in `data`.
fn serve_demo(data: &std::path::Path) -> Running {
    Running::serve(data, &["--demo", "--demo-cases", "300"])
}

async fn get(client: &reqwest::Client, url: String, token: &str) -> Value {
    let res = client
        .get(&url)
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    assert_eq!(res.status().as_u16(), 200, "{url}");
    res.json().await.expect("json")
}

/// Every event of a stream, paged.
async fn stream(client: &reqwest::Client, base: &str, token: &str, name: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut from = 0;
    loop {
        let url = format!("{base}/v1/streams/{name}/events?from={from}&limit=1000");
        let page = get(client, url, token).await;
        let events = page["events"].as_array().expect("events").clone();
        if events.is_empty() {
            return out;
        }
        from += events.len();
        out.extend(events);
        if page["next"].is_null() {
            return out;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_demo_loads_a_city_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let client = reqwest::Client::new();

    let server = serve_demo(&data);
    let token = std::fs::read_to_string(data.join("admin.token"))
        .expect("admin.token")
        .trim()
        .to_owned();
    let base = server.base.clone();

    // The catalogue: at least 30 items, some revised.
    let catalog = stream(&client, &base, &token, "catalog").await;
    let items: std::collections::BTreeSet<&str> = catalog
        .iter()
        .filter(|e| e["event"]["type"] == "catalog.item_published")
        .filter_map(|e| e["event"]["payload"]["item_id"].as_str())
        .collect();
    assert!(items.len() >= 30, "{items:?}");
    assert!(
        catalog
            .iter()
            .any(|e| e["event"]["type"] == "catalog.item_revised")
    );

    // At least ten departments registered, with Chinese names.
    let registry = stream(&client, &base, &token, "registry").await;
    let departments: Vec<&Value> = registry
        .iter()
        .filter(|e| e["event"]["type"] == "department.registered")
        .map(|e| &e["event"]["payload"])
        .collect();
    assert!(departments.len() >= 10, "{}", departments.len());
    assert!(
        departments
            .iter()
            .any(|d| d["department"] == "dept-market" && d["name"] == "市市场监督管理局")
    );

    // A demo case has a timeline, recorded months ago, judged by its item.
    let url = format!("{base}/v1/cases/demo-0001/timeline");
    let t = get(&client, url, &token).await;
    assert_eq!(t["item"]["item_id"], "scjg-qysldj", "{t}");
    assert!(
        t["timeline"]["steps"].as_array().expect("steps").len() >= 5,
        "{t}"
    );
    let recorded = t["timeline"]["steps"][0]["recorded_at"]
        .as_str()
        .expect("recorded_at");
    let recorded = chrono::DateTime::parse_from_rfc3339(recorded).expect("rfc 3339");
    assert!(
        chrono::Utc::now().signed_duration_since(recorded) > chrono::Duration::days(90),
        "{recorded}"
    );
    assert!(t["time_limit"]["deadline"].is_string(), "{t}");

    // Complaints are there too.
    let complaint = stream(&client, &base, &token, "complaint-demo-0001").await;
    assert_eq!(complaint[0]["event"]["type"], "complaint.filed");

    let size = get(&client, format!("{base}/v1/log"), &token).await["size"].clone();
    assert!(size.as_u64().expect("size") > 300 * 5, "{size}");
    server.stop();

    // A restart with --demo adds nothing.
    let server = serve_demo(&data);
    let again = get(&client, format!("{}/v1/log", server.base), &token).await["size"].clone();
    assert_eq!(again, size);
    server.stop();
}
