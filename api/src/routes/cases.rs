//! Case read models: `/v1/cases/{id}/timeline`.
//!
//! The timeline is folded from the case stream on each request (with the
//! `catalog` stream for the item's rules); read models kept between
//! requests are for later. The working-day calendar is the official one
//! shipped with `projections`, or the file named by `LEDGER_CALENDAR`.

use std::sync::OnceLock;

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use ledger::store::{Direction, StoredEvent};
use ledger::{Event, StreamId, StreamVersion, Timestamp};
use projections::rules::{self, RuleConfig};
use projections::{CaseTimeline, Catalogue, WorkingDayCalendar};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiPath, ApiQuery};
use crate::policy;
use crate::state::AppState;

/// The stream of the service catalogue.
pub const CATALOG_STREAM: &str = "catalog";

/// Events read per page while folding.
const PAGE: usize = 1_000;

/// The working-day calendar: `LEDGER_CALENDAR` if set, else the official one.
fn calendar() -> Result<&'static WorkingDayCalendar, ApiError> {
    static CALENDAR: OnceLock<Result<WorkingDayCalendar, String>> = OnceLock::new();
    CALENDAR
        .get_or_init(|| match std::env::var_os("LEDGER_CALENDAR") {
            None => Ok(WorkingDayCalendar::official()),
            Some(path) => std::fs::read_to_string(&path)
                .map_err(|e| format!("{}: {e}", path.to_string_lossy()))
                .and_then(|text| {
                    WorkingDayCalendar::from_toml(&text)
                        .map_err(|e| format!("{}: {e}", path.to_string_lossy()))
                }),
        })
        .as_ref()
        .map_err(|e| ApiError::internal(format!("working-day calendar: {e}")))
}

/// Reads a stream's events in order, up to the first recorded after `until`.
async fn read_events(
    state: &AppState,
    stream: &StreamId,
    until: Option<DateTime<Utc>>,
) -> Result<Vec<Event>, ApiError> {
    let mut out = Vec::new();
    let mut from = 0u64;
    loop {
        let page: Vec<StoredEvent> = state
            .store()
            .read_stream(stream, StreamVersion(from), Direction::Forwards, PAGE)
            .await?;
        let full = page.len() == PAGE;
        for stored in page {
            if until.is_some_and(|t| stored.event.recorded_at.datetime() > t) {
                return Ok(out);
            }
            from = stored.event.version.0 + 1;
            out.push(stored.event);
        }
        if !full {
            return Ok(out);
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TimelineQuery {
    /// RFC 3339 instant (UTC, `…Z`): the case as it stood then, judged then.
    /// Default: now.
    pub as_of: Option<String>,
}

/// A case's timeline with its time limit and rule checks.
#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct TimelineView {
    pub stream: String,
    /// The moment the case is shown and judged at.
    pub as_of: String,
    /// Steps, status (with 中文 label), acceptance, stopped-clock periods,
    /// materials held and requested, reviews, commitment, completion.
    #[schema(value_type = Object)]
    pub timeline: Value,
    /// The catalogue item version the case was accepted under, if known.
    #[schema(value_type = Option<Object>)]
    pub item: Option<Value>,
    /// 限时办结: deadline, working days used and left, status
    /// (`on_track`, `at_risk`, `overdue`, `completed_on_time`, `completed_late`).
    #[schema(value_type = Option<Object>)]
    pub time_limit: Option<Value>,
    /// Rule violations, each `{kind, label, events, detail}`.
    #[schema(value_type = Vec<Object>)]
    pub violations: Vec<Value>,
}

/// A case's timeline, as it stands now or as it stood at `as_of`.
#[utoipa::path(
    get, path = "/v1/cases/{id}/timeline", tag = "cases",
    params(("id" = String, Path, description = "Case id: the stream is `case-{id}`"), TimelineQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The case timeline, time limit and violations", body = TimelineView),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such case (or nothing recorded by `as_of`)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn case_timeline(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<TimelineQuery>,
) -> ApiResult<Json<TimelineView>> {
    let stream = StreamId::new(&format!("case-{id}")).map_err(ApiError::from_request_part)?;
    let as_of = match &q.as_of {
        Some(text) => Some(
            Timestamp::parse(text)
                .map_err(|e| ApiError::malformed(format!("as_of: {e}")))?
                .datetime(),
        ),
        None => None,
    };
    let record = policy::authorize_read(&state, &caller, &stream).await?;
    if state.store().stream_version(&stream).await?.is_none() {
        return Err(ApiError::not_found(format!("no case {stream}")));
    }
    if record {
        policy::record_access(
            &state,
            &caller,
            json!({"resource": "timeline", "stream": stream.as_str(), "as_of": q.as_of}),
        )
        .await?;
    }
    let now = as_of.unwrap_or_else(Utc::now);
    let events = read_events(&state, &stream, as_of).await?;
    if events.is_empty() {
        return Err(ApiError::not_found(format!(
            "nothing recorded in {stream} by {}",
            Timestamp::from_datetime(now).as_str()
        )));
    }
    let timeline = CaseTimeline::fold(stream.as_str(), &events);
    let catalog = StreamId::new(CATALOG_STREAM).map_err(|e| ApiError::internal(e.to_string()))?;
    let catalogue = Catalogue::fold(&read_events(&state, &catalog, as_of).await?);
    let item = timeline
        .accepted
        .as_ref()
        .and_then(|a| catalogue.item(&a.item_id, a.item_version));
    let calendar = calendar()?;
    let config = RuleConfig::default();
    let time_limit =
        item.and_then(|i| rules::time_limit(&timeline, i, calendar, config.time_limits, now));
    let violations = rules::check(&timeline, item, calendar, &config, now);
    Ok(Json(TimelineView {
        stream: stream.to_string(),
        as_of: Timestamp::from_datetime(now).as_str().to_owned(),
        timeline: to_json(&timeline)?,
        item: item.map(to_json).transpose()?,
        time_limit: time_limit.as_ref().map(to_json).transpose()?,
        violations: violations.iter().map(to_json).collect::<Result<_, _>>()?,
    }))
}

/// A read model as JSON for a response.
fn to_json<T: Serialize>(v: &T) -> Result<Value, ApiError> {
    serde_json::to_value(v).map_err(|e| ApiError::internal(format!("read model to JSON: {e}")))
}
