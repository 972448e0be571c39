//! Server-Sent Events: catch-up, live, resume with Last-Event-ID, slow
//! subscribers, and subscriptions ending at shutdown.

mod common;

use std::time::Duration;

use common::{TestService, unsigned_json};
use futures::StreamExt;
use serde_json::{Value, json};

struct Sse {
    body: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buf: String,
}

#[derive(Debug)]
struct Message {
    id: Option<String>,
    event: String,
    data: Value,
}

impl Sse {
    async fn open(svc: &TestService, path: &str, token: &str, last_id: Option<u64>) -> Sse {
        let mut req = svc.client.get(svc.url(path)).bearer_auth(token);
        if let Some(id) = last_id {
            req = req.header("last-event-id", id.to_string());
        }
        let res = req.send().await.expect("subscribe");
        assert_eq!(res.status(), 200);
        assert_eq!(
            res.headers()["content-type"].to_str().expect("ct"),
            "text/event-stream"
        );
        Sse {
            body: res.bytes_stream().boxed(),
            buf: String::new(),
        }
    }

    async fn next(&mut self) -> Message {
        tokio::time::timeout(Duration::from_secs(10), self.next_inner())
            .await
            .expect("an event within 10 s")
    }

    async fn next_inner(&mut self) -> Message {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut id = None;
                let mut event = String::new();
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = Some(v.trim().to_owned());
                    } else if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if event.is_empty() && data.is_empty() {
                    continue; // keep-alive comment
                }
                return Message {
                    id,
                    event,
                    data: serde_json::from_str(&data).expect("json data"),
                };
            }
            let chunk = self.body.next().await.expect("stream open").expect("chunk");
            self.buf
                .push_str(std::str::from_utf8(&chunk).expect("utf-8"));
        }
    }
}

async fn append(svc: &TestService, stream: &str, n: usize) -> Vec<Value> {
    let events: Vec<Value> = (0..n)
        .map(|i| unsigned_json(stream, "case.step", "dept-market", json!({"i": i})))
        .collect();
    let r = svc
        .post(
            &format!("/v1/streams/{stream}/events"),
            Some(&svc.admin),
            &json!({"events": events}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["receipts"].as_array().expect("receipts").clone()
}

#[tokio::test]
async fn log_subscription_catches_up_goes_live_and_resumes() {
    let svc = TestService::start().await;
    append(&svc, "case-a", 3).await;
    let size = svc.size().await;
    let mut sub = Sse::open(&svc, "/v1/log/subscribe", &svc.admin, None).await;
    for i in 0..size {
        let m = sub.next().await;
        assert_eq!(m.event, "event");
        assert_eq!(m.id.as_deref(), Some(i.to_string().as_str()));
        assert_eq!(m.data["log_index"], i);
    }
    let live = append(&svc, "case-b", 1).await;
    let m = sub.next().await;
    assert_eq!(m.id, Some(size.to_string()));
    assert_eq!(m.data["event"]["id"], live[0]["event_id"]);
    drop(sub);

    // Resume after the last event seen before the live one.
    let mut sub = Sse::open(&svc, "/v1/log/subscribe", &svc.admin, Some(size - 1)).await;
    let m = sub.next().await;
    assert_eq!(m.id, Some(size.to_string()));
    // And from a query position.
    let mut sub2 = Sse::open(&svc, "/v1/log/subscribe?from=1", &svc.admin, None).await;
    assert_eq!(sub2.next().await.id.as_deref(), Some("1"));
    svc.stop().await;
}

#[tokio::test]
async fn stream_subscription_sends_only_its_stream_and_resumes_by_version() {
    let svc = TestService::start().await;
    append(&svc, "case-s1", 3).await;
    append(&svc, "case-s2", 2).await;
    let mut sub = Sse::open(
        &svc,
        "/v1/streams/case-s1/subscribe?from=1",
        &svc.admin,
        None,
    )
    .await;
    for v in 1..3u64 {
        let m = sub.next().await;
        assert_eq!(m.id, Some(v.to_string()));
        assert_eq!(m.data["event"]["stream"], "case-s1");
        assert_eq!(m.data["event"]["version"], v);
    }
    append(&svc, "case-s2", 2).await;
    let live = append(&svc, "case-s1", 1).await;
    let m = sub.next().await;
    assert_eq!(m.id.as_deref(), Some("3"));
    assert_eq!(m.data["event"]["id"], live[0]["event_id"]);
    drop(sub);
    let mut sub = Sse::open(&svc, "/v1/streams/case-s1/subscribe", &svc.admin, Some(2)).await;
    let m = sub.next().await;
    assert_eq!(m.id.as_deref(), Some("3"));
    svc.stop().await;
}

#[tokio::test]
async fn a_slow_subscriber_does_not_hold_up_appends_and_gets_everything() {
    let svc = TestService::start().await;
    let start = svc.size().await;
    // Subscribed, but not reading while 600 events are appended.
    let mut sub = Sse::open(
        &svc,
        &format!("/v1/log/subscribe?from={start}"),
        &svc.admin,
        None,
    )
    .await;
    let began = std::time::Instant::now();
    for n in 0..6 {
        append(&svc, &format!("case-slow-{n}"), 100).await;
    }
    assert!(
        began.elapsed() < Duration::from_secs(10),
        "appends were held up: {:?}",
        began.elapsed()
    );
    for i in 0..600u64 {
        let m = sub.next().await;
        assert_eq!(m.data["log_index"], start + i);
    }
    svc.stop().await;
}

#[tokio::test]
async fn shutdown_ends_open_subscriptions() {
    let svc = TestService::start().await;
    let mut sub = Sse::open(&svc, "/v1/log/subscribe", &svc.admin, None).await;
    let _ = sub.next().await;
    tokio::time::timeout(Duration::from_secs(10), svc.stop())
        .await
        .expect("graceful shutdown does not wait for subscribers forever");
}
