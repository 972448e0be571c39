//! Public status (办理进度实时查询, seed 二(四)3 and 二(五)3): what an
//! applicant sees with a case number and its query code, without signing in.
//!
//! - `GET /v1/public/cases/{id}/status?code=` — the steps (Chinese label,
//!   type, time to the minute), the current status, acceptance time, and
//!   the time limit; nothing else.
//! - `GET /v1/public/cases/{id}/qr.svg?code=` and `…/qr.png?code=` — a QR
//!   code of the status link `{public_url}/status?case={id}&code={code}`.
//! - `GET /status` — a small self-contained page (no external requests)
//!   that shows the JSON above and the QR code.
//! - `GET /v1/cases/{id}/query-code` — the code, for the admin and the
//!   department owning the case (appends with `case.accepted` also answer it).
//!
//! What it does not show: officers, departments, payloads, applicant
//! references, materials, opinions, or work notes — only the lifecycle
//! steps of known `case.*` types. A wrong or missing code, a malformed case
//! number and an unknown case answer the same 404, so the endpoint does not
//! tell which cases exist; the code is checked before the store is read.
//! Every public request is counted against a token bucket per client
//! address ([`AddressLimiter`]); past it, 429.
//!
//! What it does not do: serve the full web console (issue 7), or trust
//! `X-Forwarded-For` (behind a proxy all clients share the proxy's bucket).

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::Instant;

use axum::Json;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use ledger::StreamId;
use projections::CaseTimeline;
use projections::calendar::china_time;
use projections::rules::{self, RuleConfig};
use projections::schema::{self as domain, NOTE};
use qrcode::{EcLevel, QrCode};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{Caller, Role};
use crate::error::{ApiError, ApiResult, Problem, ProblemKind};
use crate::extract::{ApiPath, ApiQuery};
use crate::personal::QueryCode;
use crate::routes::cases::{calendar, read_events};
use crate::state::AppState;

/// Public requests per second per client address.
pub const PUBLIC_RATE_LIMIT: f64 = 2.0;
/// Burst of public requests per client address.
pub const PUBLIC_RATE_BURST: f64 = 30.0;
/// Client addresses tracked before idle ones are forgotten.
const MAX_TRACKED_ADDRESSES: usize = 50_000;

/// Pixels per QR module in the PNG.
pub const PNG_MODULE_PIXELS: u32 = 8;
/// Light modules around the symbol (ISO/IEC 18004 asks for four).
pub const QUIET_ZONE_MODULES: u32 = 4;

/// The one answer to a wrong code, a missing code, a malformed or unknown
/// case: the same body whichever it was.
fn no_such_case() -> ApiError {
    ApiError::not_found("no case with this number and query code")
}

/// A token bucket per client address (IPv6 by /64, as one host usually
/// holds a whole /64). Idle buckets are forgotten once more than
/// [`MAX_TRACKED_ADDRESSES`] are tracked, so memory stays bounded.
pub struct AddressLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

impl Default for AddressLimiter {
    fn default() -> Self {
        AddressLimiter::new(PUBLIC_RATE_LIMIT, PUBLIC_RATE_BURST)
    }
}

impl AddressLimiter {
    /// `rate` requests per second with bursts of `burst`; `rate` ≤ 0
    /// disables the limit.
    pub fn new(rate: f64, burst: f64) -> Self {
        AddressLimiter {
            rate,
            burst: burst.max(1.0),
            buckets: Mutex::default(),
        }
    }

    /// The bucket of `addr`: IPv4 (and IPv4-mapped IPv6) by address, IPv6
    /// by its /64 prefix.
    fn bucket_of(addr: IpAddr) -> IpAddr {
        match addr.to_canonical() {
            IpAddr::V6(v6) => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(prefix.into())
            }
            v4 => v4,
        }
    }

    /// Takes one request from `addr`'s bucket, or answers 429 with
    /// `Retry-After`. Requests without a known address share one bucket.
    pub fn check(&self, addr: Option<IpAddr>) -> Result<(), ApiError> {
        if self.rate <= 0.0 {
            return Ok(());
        }
        let key = addr.map_or(IpAddr::from([0u8; 4]), Self::bucket_of);
        let now = Instant::now();
        // A poisoned lock means a panic mid-update; the numbers are usable.
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= MAX_TRACKED_ADDRESSES && !buckets.contains_key(&key) {
            // A bucket refilled to the burst is the same as a new one.
            let full_after = self.burst / self.rate;
            buckets.retain(|_, (_, last)| now.duration_since(*last).as_secs_f64() < full_after);
        }
        let (tokens, last) = buckets.entry(key).or_insert((self.burst, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * self.rate).min(self.burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            return Ok(());
        }
        let mut e = ApiError::new(
            ProblemKind::RateLimited,
            format!(
                "over {} public requests per second from this address",
                self.rate
            ),
        );
        e.retry_after = Some(((1.0 - *tokens) / self.rate).ceil().max(1.0) as u64);
        Err(e)
    }
}

/// The client's address, when the server was started with connection info
/// (`serve` does; an in-process `oneshot` has none).
pub struct ClientAddr(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(ClientAddr(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CodeQuery {
    /// The case's query code (办理进度查询码), 10 characters; case, spaces
    /// and hyphens do not matter.
    pub code: Option<String>,
}

/// Checks the rate limit, then the code, before anything is read: the
/// case's stream if `code` is its code, else the one 404.
fn admit(state: &AppState, addr: ClientAddr, id: &str, code: Option<&str>) -> ApiResult<StreamId> {
    state.public_rate_limiter().check(addr.0)?;
    let codes = state.private_data()?.query_codes();
    let stream = StreamId::new(&format!("case-{id}")).map_err(|_| no_such_case())?;
    match code {
        Some(code) if codes.check(&stream, code) => Ok(stream),
        _ => Err(no_such_case()),
    }
}

/// One step as the public sees it.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq, Eq)]
pub struct PublicStep {
    /// The step's event type, e.g. `case.accepted`.
    pub event_type: String,
    /// 中文 label, e.g. 受理.
    pub label: String,
    /// When the step was done, to the minute, China time (RFC 3339, `+08:00`).
    pub occurred_at: String,
}

/// The time limit (限时办结) as the public sees it.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq, Eq)]
pub struct PublicTimeLimit {
    /// 办理时限, working days from acceptance.
    pub limit_days: u32,
    /// The last day to complete (YYYY-MM-DD, China time); null while the
    /// clock is stopped (补正, hearings, expert review, public notice).
    pub deadline: Option<String>,
    /// Working days left (negative when overdue).
    pub remaining_days: i64,
    pub clock_stopped: bool,
    /// `on_track`, `at_risk`, `overdue`, `completed_on_time`, `completed_late`.
    pub status: String,
    /// 正常, 临期, 超期未办结, 按时办结, 超期办结.
    pub status_label: String,
}

/// A case's progress for the applicant: steps and dates, nothing personal.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq, Eq)]
pub struct PublicStatus {
    /// The case number, as in the path.
    pub case: String,
    /// `new`, `notified`, `accepted`, `awaiting_correction`, `paused`,
    /// `decided`, `completed`, `delivered`, `not_accepted`, `withdrawn`.
    pub status: String,
    /// 办理状态, e.g. 已受理.
    pub status_label: String,
    /// 事项名称, when the item is in the catalogue.
    pub item_name: Option<String>,
    /// 受理时间, to the minute, China time; null before acceptance.
    pub accepted_at: Option<String>,
    /// The lifecycle steps in the order recorded.
    pub steps: Vec<PublicStep>,
    /// Null before acceptance, for withdrawn or not accepted cases, or when
    /// the item is not in the catalogue.
    pub time_limit: Option<PublicTimeLimit>,
    /// When this answer was made, to the minute, China time.
    pub as_of: String,
}

/// An instant as the public sees it: RFC 3339 to the minute, China time.
fn to_minute(at: DateTime<Utc>) -> String {
    at.with_timezone(&china_time())
        .format("%Y-%m-%dT%H:%M:00%:z")
        .to_string()
}

/// A serde unit-variant name (`snake_case`), e.g. of a status.
fn variant_name<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        other => format!("{other:?}"),
    }
}

/// Whether the public sees a step of this type: known case lifecycle
/// types, not work notes (internal) nor types the domain does not know.
fn is_public_step(event_type: &str) -> bool {
    event_type.starts_with("case.") && event_type != NOTE && domain::label(event_type).is_some()
}

/// What the applicant sees of `timeline`, judged at `now`.
fn public_view(
    id: &str,
    timeline: &CaseTimeline,
    item: Option<&domain::ServiceItem>,
    time_limit: Option<projections::timelimit::TimeLimit>,
    now: DateTime<Utc>,
) -> PublicStatus {
    PublicStatus {
        case: id.to_owned(),
        status: variant_name(&timeline.status),
        status_label: timeline.status_label.to_owned(),
        item_name: item.map(|i| i.name.as_str().to_owned()),
        accepted_at: timeline
            .accepted
            .as_ref()
            .map(|a| to_minute(a.at.datetime())),
        steps: timeline
            .steps
            .iter()
            .filter(|s| is_public_step(&s.event_type))
            .map(|s| PublicStep {
                event_type: s.event_type.clone(),
                label: s.label.clone(),
                occurred_at: to_minute(s.occurred_at.datetime()),
            })
            .collect(),
        time_limit: time_limit.map(|t| PublicTimeLimit {
            limit_days: t.limit_days,
            deadline: t.deadline.map(|d| d.to_string()),
            remaining_days: t.remaining_days,
            clock_stopped: t.clock_stopped,
            status: variant_name(&t.status),
            status_label: t.status_label.to_owned(),
        }),
        as_of: to_minute(now),
    }
}

/// Answers that must not be cached or leak the code in a referrer.
fn private_response(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    res
}

/// A case's progress by its number and query code (no sign-in).
#[utoipa::path(
    get, path = "/v1/public/cases/{id}/status", tag = "public",
    params(("id" = String, Path, description = "Case number: the stream is `case-{id}`"), CodeQuery),
    responses(
        (status = 200, description = "Steps and dates only: nothing personal, no officers", body = PublicStatus),
        (status = 404, description = "Wrong or missing code, or no such case (one answer for all)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many requests from this address", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn case_status(
    State(state): State<AppState>,
    addr: ClientAddr,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<CodeQuery>,
) -> ApiResult<Response> {
    let stream = admit(&state, addr, &id, q.code.as_deref())?;
    let events = read_events(&state, &stream, None).await?;
    if events.is_empty() {
        return Err(no_such_case());
    }
    let now = Utc::now();
    let timeline = CaseTimeline::fold(stream.as_str(), &events);
    let catalogue = state.read_models().await?.read().catalogue();
    let item = timeline
        .accepted
        .as_ref()
        .and_then(|a| catalogue.item(&a.item_id, a.item_version));
    let calendar = calendar()?;
    let time_limit = item.and_then(|i| {
        rules::time_limit(
            &timeline,
            i,
            calendar,
            RuleConfig::default().time_limits,
            now,
        )
    });
    let view = public_view(&id, &timeline, item, time_limit, now);
    Ok(private_response(Json(view).into_response()))
}

/// The status link a QR code carries.
fn status_link(state: &AppState, id: &str, code: &QueryCode) -> String {
    format!("{}/status?case={id}&code={code}", state.public_url())
}

/// Admits a QR request: the code must be right and the case must exist.
async fn qr_link(
    state: &AppState,
    addr: ClientAddr,
    id: &str,
    code: Option<&str>,
) -> ApiResult<String> {
    let stream = admit(state, addr, id, code)?;
    if state.store().stream_version(&stream).await?.is_none() {
        return Err(no_such_case());
    }
    let code = state.private_data()?.query_codes().code_for(&stream);
    Ok(status_link(state, id, &code))
}

fn qr(link: &str) -> ApiResult<QrCode> {
    // Level M (15 % of the symbol may be damaged): printed receipts get
    // folded and scuffed.
    QrCode::with_error_correction_level(link.as_bytes(), EcLevel::M)
        .map_err(|e| ApiError::internal(format!("QR code of the status link: {e}")))
}

/// The QR code of the status link as SVG.
#[utoipa::path(
    get, path = "/v1/public/cases/{id}/qr.svg", tag = "public",
    params(("id" = String, Path, description = "Case number"), CodeQuery),
    responses(
        (status = 200, description = "QR code of `{public_url}/status?case={id}&code={code}`", body = String, content_type = "image/svg+xml"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn qr_svg(
    State(state): State<AppState>,
    addr: ClientAddr,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<CodeQuery>,
) -> ApiResult<Response> {
    let link = qr_link(&state, addr, &id, q.code.as_deref()).await?;
    let svg = qr(&link)?
        .render::<qrcode::render::svg::Color<'_>>()
        .quiet_zone(true)
        .min_dimensions(256, 256)
        .build();
    Ok(private_response(
        ([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response(),
    ))
}

/// The QR code of the status link as a grayscale PNG, 8 pixels a module.
#[utoipa::path(
    get, path = "/v1/public/cases/{id}/qr.png", tag = "public",
    params(("id" = String, Path, description = "Case number"), CodeQuery),
    responses(
        (status = 200, description = "QR code of the status link, (modules + 8) × 8 pixels square", body = Vec<u8>, content_type = "image/png"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn qr_png(
    State(state): State<AppState>,
    addr: ClientAddr,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<CodeQuery>,
) -> ApiResult<Response> {
    let link = qr_link(&state, addr, &id, q.code.as_deref()).await?;
    let png = qr_to_png(&qr(&link)?)?;
    Ok(private_response(
        ([(header::CONTENT_TYPE, "image/png")], png).into_response(),
    ))
}

/// Renders the module matrix into an 8-bit grayscale PNG: dark modules 0,
/// light 255, [`QUIET_ZONE_MODULES`] of light border, [`PNG_MODULE_PIXELS`]
/// pixels per module.
pub fn qr_to_png(code: &QrCode) -> ApiResult<Vec<u8>> {
    let modules =
        u32::try_from(code.width()).map_err(|_| ApiError::internal("QR code wider than u32"))?;
    let colors = code.to_colors();
    let side_modules = modules + 2 * QUIET_ZONE_MODULES;
    let side = side_modules * PNG_MODULE_PIXELS;
    let mut pixels = Vec::with_capacity((side * side) as usize);
    for y in 0..side {
        let my = (y / PNG_MODULE_PIXELS).checked_sub(QUIET_ZONE_MODULES);
        for x in 0..side {
            let mx = (x / PNG_MODULE_PIXELS).checked_sub(QUIET_ZONE_MODULES);
            let dark = match (mx, my) {
                (Some(mx), Some(my)) if mx < modules && my < modules => {
                    colors[(my * modules + mx) as usize] == qrcode::Color::Dark
                }
                _ => false,
            };
            pixels.push(if dark { 0 } else { 255 });
        }
    }
    let mut out = Vec::new();
    let png_error = |e: png::EncodingError| ApiError::internal(format!("PNG encoding: {e}"));
    let mut encoder = png::Encoder::new(&mut out, side, side);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(png_error)?;
    writer.write_image_data(&pixels).map_err(png_error)?;
    writer.finish().map_err(png_error)?;
    Ok(out)
}

/// The query code of a case and its status link.
#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct QueryCodeView {
    /// The case number.
    pub case: String,
    /// 办理进度查询码: give it to the applicant with the case number.
    pub query_code: String,
    /// The status page for this case, as its QR code carries it.
    pub status_url: String,
}

/// A case's query code (admin; the department owning the case).
#[utoipa::path(
    get, path = "/v1/cases/{id}/query-code", tag = "cases",
    params(("id" = String, Path, description = "Case id: the stream is `case-{id}`")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = QueryCodeView),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not the admin nor the department owning the case", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such case", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn query_code(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<QueryCodeView>> {
    let stream = StreamId::new(&format!("case-{id}")).map_err(ApiError::from_request_part)?;
    caller.require(&[Role::Admin, Role::Department])?;
    let owner = state.owner(&stream).await?;
    match (&owner, caller.role()) {
        (None, Role::Admin) => return Err(ApiError::not_found(format!("no case {stream}"))),
        (Some(_), Role::Admin) => {}
        (Some(d), _) if *d == caller.0.department => {}
        _ => {
            // Whether the case exists is not the other department's business.
            return Err(ApiError::forbidden(format!(
                "{stream} is not a case of {}",
                caller.0.department
            )));
        }
    }
    let code = state.private_data()?.query_codes().code_for(&stream);
    Ok(Json(QueryCodeView {
        case: id.clone(),
        status_url: status_link(&state, &id, &code),
        query_code: code.to_string(),
    }))
}

/// The status page: reads `case` and `code` from its query string, fetches
/// the JSON status and shows it with the QR code. Self-contained.
#[utoipa::path(
    get, path = "/status", tag = "public",
    responses((status = 200, description = "办理进度查询 page (HTML, no external requests)", body = String, content_type = "text/html"))
)]
pub async fn status_page() -> Response {
    let mut res = (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        STATUS_PAGE,
    )
        .into_response();
    res.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
             img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; \
             frame-ancestors 'none'",
        ),
    );
    private_response(res)
}

/// The page itself: inline CSS and script, Chinese labels, text put in with
/// `textContent` only.
const STATUS_PAGE: &str = r#"<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>办理进度查询</title>
<style>
  body { font-family: system-ui, "PingFang SC", "Microsoft YaHei", sans-serif; margin: 0; background: #f4f6f8; color: #1f2933; }
  main { max-width: 40rem; margin: 0 auto; padding: 1rem; }
  h1 { font-size: 1.4rem; }
  form, section { background: #fff; border-radius: 8px; padding: 1rem; margin-bottom: 1rem; box-shadow: 0 1px 2px rgba(0,0,0,.08); }
  label { display: block; margin: .4rem 0 .2rem; }
  input { width: 100%; box-sizing: border-box; padding: .5rem; font-size: 1rem; }
  button { margin-top: .8rem; padding: .5rem 1.5rem; font-size: 1rem; background: #1565c0; color: #fff; border: 0; border-radius: 4px; }
  dl { display: grid; grid-template-columns: 7rem 1fr; gap: .3rem .8rem; margin: 0; }
  dt { color: #52606d; }
  ol { padding-left: 1.2rem; }
  li { margin: .3rem 0; }
  time { color: #52606d; margin-right: .6rem; font-variant-numeric: tabular-nums; }
  .error { color: #b71c1c; }
  .overdue, .completed_late { color: #b71c1c; }
  .at_risk { color: #e65100; }
  #qr { text-align: center; }
  #qr img { width: 12rem; height: 12rem; }
</style>
</head>
<body>
<main>
<h1>办理进度查询</h1>
<form id="ask" method="get" action="/status">
  <label for="case">办件编号</label>
  <input id="case" name="case" required autocomplete="off">
  <label for="code">查询码</label>
  <input id="code" name="code" required autocomplete="off">
  <button type="submit">查询</button>
</form>
<p id="message" role="status"></p>
<section id="result" hidden>
  <dl>
    <dt>事项名称</dt><dd id="item">—</dd>
    <dt>当前状态</dt><dd id="status"></dd>
    <dt>受理时间</dt><dd id="accepted">—</dd>
    <dt>办理时限</dt><dd id="limit">—</dd>
    <dt>截止日期</dt><dd id="deadline">—</dd>
    <dt>时限状态</dt><dd id="limit-status">—</dd>
  </dl>
  <h2>办理过程</h2>
  <ol id="steps"></ol>
  <p><small>查询时间 <span id="as-of"></span></small></p>
</section>
<section id="qr" hidden>
  <img id="qr-img" alt="本页二维码">
  <p><small>扫码查看本页</small></p>
</section>
</main>
<script>
(function () {
  var params = new URLSearchParams(location.search);
  var caseId = params.get("case"), code = params.get("code");
  var $ = function (id) { return document.getElementById(id); };
  var minute = function (t) { return t ? t.slice(0, 16).replace("T", " ") : "—"; };
  if (!caseId || !code) { return; }
  $("case").value = caseId;
  $("code").value = code;
  var base = "/v1/public/cases/" + encodeURIComponent(caseId);
  var q = "?code=" + encodeURIComponent(code);
  $("message").textContent = "正在查询…";
  fetch(base + "/status" + q, { headers: { "Accept": "application/json" } })
    .then(function (res) {
      if (res.status === 404) { throw new Error("未找到该办件，请核对办件编号和查询码。"); }
      if (res.status === 429) { throw new Error("查询过于频繁，请稍后再试。"); }
      if (!res.ok) { throw new Error("查询失败（" + res.status + "），请稍后再试。"); }
      return res.json();
    })
    .then(function (s) {
      $("message").textContent = "";
      $("item").textContent = s.item_name || "—";
      $("status").textContent = s.status_label;
      $("accepted").textContent = minute(s.accepted_at);
      var t = s.time_limit;
      if (t) {
        $("limit").textContent = t.limit_days + " 个工作日";
        $("deadline").textContent = t.clock_stopped ? "暂停计时" : (t.deadline || "—");
        $("limit-status").textContent = t.status_label +
          (t.status === "on_track" || t.status === "at_risk" ? "（剩余 " + t.remaining_days + " 个工作日）" : "");
        $("limit-status").className = t.status;
      }
      var list = $("steps");
      s.steps.forEach(function (step) {
        var li = document.createElement("li");
        var time = document.createElement("time");
        time.textContent = minute(step.occurred_at);
        li.appendChild(time);
        li.appendChild(document.createTextNode(step.label));
        list.appendChild(li);
      });
      $("as-of").textContent = minute(s.as_of);
      $("result").hidden = false;
      $("qr-img").src = base + "/qr.svg" + q;
      $("qr").hidden = false;
    })
    .catch(function (e) {
      $("message").textContent = e.message;
      $("message").className = "error";
    });
})();
</script>
</body>
</html>
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_address_limiter_refuses_past_the_burst_per_address() {
        let limiter = AddressLimiter::new(1.0, 3.0);
        let a: IpAddr = "192.0.2.1".parse().expect("ip");
        for _ in 0..3 {
            limiter.check(Some(a)).expect("within the burst");
        }
        let e = limiter.check(Some(a)).expect_err("over");
        assert_eq!(e.kind, ProblemKind::RateLimited);
        assert!(e.retry_after.is_some_and(|s| s >= 1));
        limiter
            .check(Some("192.0.2.2".parse().expect("ip")))
            .expect("another address has its own bucket");
        // One IPv6 /64 is one bucket; the mapped IPv4 form is the IPv4 bucket.
        let v6 = AddressLimiter::new(1.0, 1.0);
        v6.check(Some("2001:db8::1".parse().expect("ip")))
            .expect("first");
        assert!(v6.check(Some("2001:db8::2".parse().expect("ip"))).is_err());
        v6.check(Some("2001:db8:0:1::1".parse().expect("ip")))
            .expect("another /64");
        v6.check(Some("::ffff:192.0.2.1".parse().expect("ip")))
            .expect("v4");
        assert!(v6.check(Some(a)).is_err());
        AddressLimiter::new(0.0, 0.0).check(None).expect("disabled");
    }

    #[test]
    fn idle_addresses_are_forgotten_when_too_many_are_tracked() {
        let limiter = AddressLimiter::new(1e9, 1.0);
        for i in 0..MAX_TRACKED_ADDRESSES as u32 {
            limiter
                .check(Some(IpAddr::from(i.to_be_bytes())))
                .expect("first");
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
        limiter
            .check(Some(IpAddr::from([255, 255, 255, 255])))
            .expect("new address");
        let tracked = limiter.buckets.lock().expect("lock").len();
        assert!(tracked < MAX_TRACKED_ADDRESSES, "{tracked}");
    }

    #[test]
    fn times_are_shown_to_the_minute_in_china_time() {
        let at = DateTime::parse_from_rfc3339("2026-03-02T01:15:59.999Z")
            .expect("time")
            .with_timezone(&Utc);
        assert_eq!(to_minute(at), "2026-03-02T09:15:00+08:00");
    }

    #[test]
    fn only_lifecycle_steps_are_public() {
        assert!(is_public_step(domain::ACCEPTED));
        assert!(is_public_step(domain::CORRECTION_REQUESTED));
        assert!(!is_public_step(NOTE));
        assert!(!is_public_step("case.step"));
        assert!(!is_public_step(domain::COMPLAINT_FILED));
    }

    #[test]
    fn the_png_is_the_module_matrix_with_a_quiet_zone() {
        let code = QrCode::new(b"http://example/status?case=1&code=0123456789").expect("qr");
        let png = qr_to_png(&code).expect("png");
        let decoder = png::Decoder::new(std::io::Cursor::new(&png));
        let mut reader = decoder.read_info().expect("header");
        let info = reader.info();
        let modules = code.width() as u32;
        let side = (modules + 2 * QUIET_ZONE_MODULES) * PNG_MODULE_PIXELS;
        assert_eq!((info.width, info.height), (side, side));
        assert_eq!(info.color_type, png::ColorType::Grayscale);
        let mut buf = vec![0; reader.output_buffer_size().expect("size")];
        reader.next_frame(&mut buf).expect("frame");
        let at = |mx: u32, my: u32| {
            let p = QUIET_ZONE_MODULES * PNG_MODULE_PIXELS;
            buf[((p + my * PNG_MODULE_PIXELS) * side + p + mx * PNG_MODULE_PIXELS) as usize]
        };
        // The finder pattern's corner is dark; the quiet zone is light.
        assert_eq!(at(0, 0), 0);
        assert_eq!(buf[0], 255);
        let colors = code.to_colors();
        for my in 0..modules {
            for mx in 0..modules {
                let dark = colors[(my * modules + mx) as usize] == qrcode::Color::Dark;
                assert_eq!(at(mx, my), if dark { 0 } else { 255 }, "({mx}, {my})");
            }
        }
    }
}
