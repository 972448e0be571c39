//! Public status (办理进度查询) over loopback: query codes at acceptance and
//! by endpoint, the status JSON with nothing personal in it, one 404 for
//! every way of not knowing the case, the per-address rate limit, the QR
//! codes (decoded back to the link) and the status page.

mod common;

use std::collections::BTreeSet;

use api::routes::public::{PNG_MODULE_PIXELS, PUBLIC_RATE_BURST, QUIET_ZONE_MODULES};
use common::{Department, TestService, unsigned_json};
use projections::examples::{self, EXAMPLE_APPLICANT};
use projections::schema::*;
use serde_json::{Value, json};

/// Publishes the example catalogue item (企业设立登记, 3 working days).
async fn publish_item(svc: &TestService) {
    let r = svc
        .post(
            "/v1/streams/catalog/events",
            Some(&svc.admin),
            &json!({"events": [unsigned_json("catalog", ITEM_PUBLISHED, "dept-reform", examples::service_item())]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

/// Opens case `id` for `dept`: notified, accepted, materials received, a
/// work note. Returns the append's answer.
async fn open_case(svc: &TestService, dept: &Department, id: &str) -> Value {
    let stream = format!("case-{id}");
    let events = vec![
        dept.event(
            &stream,
            MATERIALS_NOTIFIED,
            examples::payload(MATERIALS_NOTIFIED).expect("example"),
        ),
        dept.event(
            &stream,
            ACCEPTED,
            examples::payload(ACCEPTED).expect("example"),
        ),
        dept.event(
            &stream,
            MATERIALS_RECEIVED,
            json!({"materials": ["公司章程"]}),
        ),
        dept.event(&stream, NOTE, json!({"text": "电话联系申请人核对住所"})),
    ];
    let r = svc
        .post(
            &format!("/v1/streams/{stream}/events"),
            Some(&dept.token),
            &json!({"events": events}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

/// Every member name and every string value anywhere in `v`.
fn keys_and_strings(v: &Value, keys: &mut BTreeSet<String>, strings: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                keys.insert(k.clone());
                keys_and_strings(x, keys, strings);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| keys_and_strings(x, keys, strings)),
        Value::String(s) => strings.push(s.clone()),
        _ => {}
    }
}

#[tokio::test]
async fn the_code_issued_at_acceptance_shows_the_steps_and_nothing_personal() {
    let svc = TestService::start().await;
    publish_item(&svc).await;
    let dept = svc.department("dept-market").await;
    let opened = open_case(&svc, &dept, "2026-000123").await;
    let code = opened["query_code"]
        .as_str()
        .unwrap_or_else(|| panic!("no query_code in {opened}"))
        .to_owned();
    assert_eq!(code.len(), 10);
    assert!(
        code.bytes()
            .all(|b| b"0123456789ABCDEFGHJKMNPQRSTVWXYZ".contains(&b)),
        "{code}"
    );

    let r = svc
        .get(
            &format!("/v1/public/cases/2026-000123/status?code={code}"),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.headers["cache-control"], "no-store");
    let s = &r.body;
    assert_eq!(s["case"], "2026-000123");
    assert_eq!(s["status"], "accepted");
    assert_eq!(s["status_label"], "已受理");
    assert_eq!(s["item_name"], "企业设立登记");
    let labels: Vec<&str> = s["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|st| st["label"].as_str().expect("label"))
        .collect();
    // The work note (工作记录) is internal: not shown.
    assert_eq!(labels, ["一次性告知", "受理", "材料接收"], "{s}");
    assert_eq!(s["steps"][1]["event_type"], ACCEPTED);
    // Times to the minute, China time.
    let accepted_at = s["accepted_at"].as_str().expect("accepted_at");
    assert!(accepted_at.ends_with(":00+08:00"), "{accepted_at}");
    assert_eq!(s["steps"][1]["occurred_at"], accepted_at);
    assert_eq!(s["time_limit"]["limit_days"], 3);
    assert_eq!(s["time_limit"]["status"], "on_track");
    assert_eq!(s["time_limit"]["status_label"], "正常");
    assert!(s["time_limit"]["deadline"].is_string(), "{s}");

    // Nothing about who did the work, nor about the applicant.
    let (mut keys, mut strings) = (BTreeSet::new(), Vec::new());
    keys_and_strings(s, &mut keys, &mut strings);
    for forbidden in [
        "officer",
        "department",
        "actor",
        "payload",
        "applicant_ref",
        "first_contact_officer",
        "event_id",
        "materials",
        "signature",
        "channel",
    ] {
        assert!(!keys.contains(forbidden), "{forbidden} in {s}");
    }
    for text in &strings {
        for secret in [
            "officer-1",
            "dept-market",
            EXAMPLE_APPLICANT,
            "公司章程",
            "电话联系",
        ] {
            assert!(!text.contains(secret), "{secret} in {s}");
        }
    }

    // As a person types it: lower case, with a hyphen.
    let typed = format!("{}-{}", code[..5].to_lowercase(), &code[5..]);
    let r = svc
        .get(
            &format!("/v1/public/cases/2026-000123/status?code={typed}"),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    // The same code from the endpoint, for the department and the admin only.
    let path = "/v1/cases/2026-000123/query-code";
    let mine = svc.get(path, Some(&dept.token)).await;
    assert_eq!(mine.status, 200, "{}", mine.body);
    assert_eq!(mine.body["query_code"], code.as_str());
    assert_eq!(
        mine.body["status_url"],
        format!("{}/status?case=2026-000123&code={code}", svc.base)
    );
    let admin = svc.get(path, Some(&svc.admin)).await;
    assert_eq!(admin.body["query_code"], code.as_str());
    let tax = svc.department("dept-tax").await;
    svc.get(path, Some(&tax.token))
        .await
        .assert_problem(403, "forbidden");
    let inspector = svc.token("inspector", "supervision-office", "insp-1").await;
    svc.get(path, Some(&inspector))
        .await
        .assert_problem(403, "forbidden");
    svc.get(path, None)
        .await
        .assert_problem(401, "unauthorized");
    svc.get("/v1/cases/nope/query-code", Some(&svc.admin))
        .await
        .assert_problem(404, "not-found");
    svc.stop().await;
}

#[tokio::test]
async fn wrong_or_missing_codes_and_unknown_cases_get_the_same_404() {
    let svc = TestService::start().await;
    let dept = svc.department("dept-market").await;
    let a = open_case(&svc, &dept, "a1").await["query_code"]
        .as_str()
        .expect("code")
        .to_owned();
    let b = open_case(&svc, &dept, "b1").await["query_code"]
        .as_str()
        .expect("code")
        .to_owned();
    assert_ne!(a, b, "each case its own code");
    let flipped = format!("{}{}", &a[..9], if a.ends_with('0') { '1' } else { '0' });
    let queries = [
        format!("/v1/public/cases/a1/status?code={flipped}"),
        "/v1/public/cases/a1/status?code=not-a-code".to_owned(),
        "/v1/public/cases/a1/status".to_owned(),
        "/v1/public/cases/a1/status?code=".to_owned(),
        // Another case's code.
        format!("/v1/public/cases/a1/status?code={b}"),
        // A case that does not exist, with some code.
        format!("/v1/public/cases/zz9/status?code={a}"),
        // Not a case number at all.
        format!("/v1/public/cases/%20x!/status?code={a}"),
        format!("/v1/public/cases/a1/qr.svg?code={flipped}"),
        "/v1/public/cases/a1/qr.png".to_owned(),
        format!("/v1/public/cases/zz9/qr.png?code={a}"),
    ];
    let mut first: Option<Value> = None;
    for q in &queries {
        let r = svc.get(q, None).await;
        r.assert_problem(404, "not-found");
        match &first {
            None => first = Some(r.body.clone()),
            Some(body) => assert_eq!(&r.body, body, "{q}"),
        }
    }
    // The right code does answer.
    let r = svc
        .get(&format!("/v1/public/cases/a1/status?code={a}"), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    svc.stop().await;
}

#[tokio::test]
async fn only_appends_with_an_acceptance_answer_a_query_code() {
    let svc = TestService::start().await;
    let dept = svc.department("dept-market").await;
    let path = "/v1/streams/case-q1/events";
    let notified = json!({"events": [dept.event("case-q1", MATERIALS_NOTIFIED,
        examples::payload(MATERIALS_NOTIFIED).expect("example"))]});
    let r = svc.post(path, Some(&dept.token), &notified).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.get("query_code").is_none(), "{}", r.body);

    let accepted = json!({"events": [dept.event("case-q1", ACCEPTED,
        examples::payload(ACCEPTED).expect("example"))]});
    let r = svc.post(path, Some(&dept.token), &accepted).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let code = r.body["query_code"].as_str().expect("code").to_owned();
    // A retry of the same batch is idempotent, code included.
    let again = svc.post(path, Some(&dept.token), &accepted).await;
    assert_eq!(again.body["receipts"], r.body["receipts"]);
    assert_eq!(again.body["query_code"], code.as_str());
    let r = svc
        .get(&format!("/v1/public/cases/q1/status?code={code}"), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status_label"], "已受理");
    // Without a catalogue item there is no time limit to show.
    assert_eq!(r.body["time_limit"], Value::Null);
    svc.stop().await;
}

#[tokio::test]
async fn public_requests_are_rate_limited_per_address() {
    let svc = TestService::start().await;
    let over = PUBLIC_RATE_BURST as usize + 10;
    let mut limited = None;
    for i in 0..over {
        let r = svc
            .get("/v1/public/cases/x/status?code=0000000000", None)
            .await;
        if r.status == 429 {
            limited = Some((i, r));
            break;
        }
        r.assert_problem(404, "not-found");
    }
    let (at, r) = limited.expect("a 429 within the burst and a few more");
    assert!(at >= PUBLIC_RATE_BURST as usize - 2, "limited after {at}");
    r.assert_problem(429, "rate-limited");
    let retry: u64 = r.headers["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!(retry >= 1);
    // QR codes count against the same bucket; signed-in calls do not.
    svc.get("/v1/public/cases/x/qr.png?code=0000000000", None)
        .await
        .assert_problem(429, "rate-limited");
    let r = svc.get("/v1/log/entries", Some(&svc.admin)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // The bucket is the client's address: another loopback address (any
    // 127/8 source reaches 127.0.0.1) has its own.
    let other = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .expect("client");
    let r = other
        .get(svc.url("/v1/public/cases/x/status?code=0000000000"))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 404);
    svc.stop().await;
}

#[tokio::test]
async fn qr_codes_carry_the_status_link_and_the_page_shows_it() {
    let svc = TestService::start().await;
    let dept = svc.department("dept-market").await;
    let code = open_case(&svc, &dept, "qr-7").await["query_code"]
        .as_str()
        .expect("code")
        .to_owned();
    let link = format!("{}/status?case=qr-7&code={code}", svc.base);

    let png = svc
        .get(&format!("/v1/public/cases/qr-7/qr.png?code={code}"), None)
        .await;
    assert_eq!(png.status, 200);
    assert_eq!(png.content_type, "image/png");
    let decoder = png::Decoder::new(std::io::Cursor::new(&png.bytes));
    let mut reader = decoder.read_info().expect("a PNG");
    let (width, height) = (reader.info().width, reader.info().height);
    let modules = qrcode::QrCode::with_error_correction_level(link.as_bytes(), qrcode::EcLevel::M)
        .expect("qr")
        .width() as u32;
    let side = (modules + 2 * QUIET_ZONE_MODULES) * PNG_MODULE_PIXELS;
    assert_eq!((width, height), (side, side));
    let mut pixels = vec![0; reader.output_buffer_size().expect("size")];
    reader.next_frame(&mut pixels).expect("pixels");
    assert_eq!(reader.info().color_type, png::ColorType::Grayscale);
    // A QR reader gives back exactly the link.
    let mut img =
        rqrr::PreparedImage::prepare_from_greyscale(width as usize, height as usize, |x, y| {
            pixels[y * width as usize + x]
        });
    let grids = img.detect_grids();
    assert_eq!(grids.len(), 1);
    let (_, content) = grids[0].decode().expect("decodes");
    assert_eq!(content, link);

    let svg = svc
        .get(&format!("/v1/public/cases/qr-7/qr.svg?code={code}"), None)
        .await;
    assert_eq!(svg.status, 200);
    assert_eq!(svg.content_type, "image/svg+xml");
    let text = String::from_utf8(svg.bytes).expect("utf-8");
    assert!(text.starts_with("<?xml"), "{text:.80}");
    assert!(text.contains("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert!(text.trim_end().ends_with("</svg>"));

    let page = svc.get("/status?case=qr-7", None).await;
    assert_eq!(page.status, 200);
    assert!(
        page.content_type.starts_with("text/html"),
        "{}",
        page.content_type
    );
    let html = String::from_utf8(page.bytes).expect("utf-8");
    for label in ["办理进度查询", "办件编号", "查询码", "办理过程"] {
        assert!(html.contains(label), "{label}");
    }
    assert!(html.contains("/v1/public/cases/"));
    // Self-contained: nothing fetched from elsewhere.
    assert!(!html.contains("http://") && !html.contains("https://"));
    let csp = page.headers["content-security-policy"]
        .to_str()
        .expect("ascii");
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert_eq!(page.headers["referrer-policy"], "no-referrer");
    svc.stop().await;
}
