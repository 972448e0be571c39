//! Case read models: `/v1/cases/{id}/timeline`, `/v1/worklogs/{department}/{day}`.
//!
//! The timeline is folded from the case stream on each request (one
//! indexed read; the catalogue comes from the persisted read models); work
//! logs and the case search read the persisted read models. The working-day calendar is the official one
//! shipped with `projections`, or the file named by `LEDGER_CALENDAR`.

use std::sync::OnceLock;

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use ledger::store::{Direction, StoredEvent};
use ledger::{Event, StreamId, StreamVersion, Timestamp};
use projections::readstore::{CaseFilter, is_case_status};
use projections::rules::{self, RuleConfig};
use projections::{CaseTimeline, WorkingDayCalendar};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{Caller, Role};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiPath, ApiQuery};
use crate::policy;
use crate::state::AppState;

/// The stream of the service catalogue.
pub const CATALOG_STREAM: &str = "catalog";

/// Events read per page while folding.
const PAGE: usize = 1_000;

/// The working-day calendar: `LEDGER_CALENDAR` if set, else the official one.
pub fn calendar() -> Result<&'static WorkingDayCalendar, ApiError> {
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
pub(crate) async fn read_events(
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
    /// Rule violations, each `{kind, label, events, detail, facts}`: `detail`
    /// in English, `facts` the values it is made of, by name (see
    /// `projections::rules::ViolationFacts`), for wording it in any language.
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
    // Item versions never change once published: the catalogue now answers
    // for any `as_of`.
    let catalogue = state.read_models().await?.read().catalogue();
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
pub(crate) fn to_json<T: Serialize>(v: &T) -> Result<Value, ApiError> {
    serde_json::to_value(v).map_err(|e| ApiError::internal(format!("read model to JSON: {e}")))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WorkLogQuery {
    /// Only this officer's steps (the `actor.officer` of the events).
    pub officer: Option<String>,
}

/// A department's (or one officer's) work log for a day.
#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct WorkLogView {
    pub department: String,
    /// `YYYY-MM-DD`, China time: the day the work was done.
    pub day: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub officer: Option<String>,
    /// Steps on `case-…` and `complaint-…` streams in the order of the
    /// work, each `{event_id, log_index, stream, version, event_type,
    /// label, officer, occurred_at, recorded_at, backfilled}`.
    #[schema(value_type = Vec<Object>)]
    pub entries: Vec<Value>,
}

/// 工作日志: every step a department (or officer) recorded for a day.
///
/// Read from the persisted work logs, which include every step
/// acknowledged before the request.
#[utoipa::path(
    get, path = "/v1/worklogs/{department}/{day}", tag = "cases",
    params(
        ("department" = String, Path, description = "Department id"),
        ("day" = String, Path, description = "YYYY-MM-DD (China time)"),
        WorkLogQuery,
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, body = WorkLogView),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Admin, inspector, or the department itself", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn work_log(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((department, day)): ApiPath<(String, String)>,
    ApiQuery(q): ApiQuery<WorkLogQuery>,
) -> ApiResult<Json<WorkLogView>> {
    let date = chrono::NaiveDate::parse_from_str(&day, "%Y-%m-%d")
        .map_err(|e| ApiError::malformed(format!("day {day:?}: {e}; expected YYYY-MM-DD")))?;
    let department_id = ledger::ActorId::new(&department).map_err(ApiError::from_request_part)?;
    match caller.role() {
        Role::Admin | Role::Inspector => {}
        Role::Department if caller.0.department == department_id => {}
        Role::Department => {
            return Err(ApiError::forbidden(format!(
                "a department reads only its own work log, not {department}"
            )));
        }
        other => {
            return Err(ApiError::forbidden(format!(
                "role {} may not read work logs",
                other.as_str()
            )));
        }
    }
    if caller.role() == Role::Inspector {
        policy::record_access(
            &state,
            &caller,
            json!({"resource": "worklog", "department": department, "day": day, "officer": q.officer}),
        )
        .await?;
    }
    let models = state.read_models().await?;
    let entries = {
        let department = department.clone();
        let officer = q.officer.clone();
        let read = models.read_store();
        read_blocking(move || read.work_log(&department, date, officer.as_deref())).await?
    };
    Ok(Json(WorkLogView {
        department,
        day: date.to_string(),
        officer: q.officer,
        entries: entries.iter().map(to_json).collect::<Result<_, _>>()?,
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CaseSearch {
    /// Case stream (`case-…`), or a prefix ending in `*`.
    pub case: Option<String>,
    /// Handling department (the one that accepted the case).
    pub department: Option<String>,
    /// Catalogue item id.
    pub item: Option<String>,
    /// Status: `new`, `notified`, `accepted`, `awaiting_correction`,
    /// `paused`, `decided`, `completed`, `delivered`, `not_accepted`,
    /// `withdrawn`.
    pub status: Option<String>,
    /// Accepted on or after this day (`YYYY-MM-DD`, China time).
    pub accepted_from: Option<String>,
    /// Accepted before this day (`YYYY-MM-DD`, China time).
    pub accepted_before: Option<String>,
    /// With a violation of this kind, judged now: `material_already_held`,
    /// `material_not_published`, `too_many_review_layers`, `overdue`,
    /// `completed_late`, `backfilled`, `stalled`, `post_check_missing`.
    pub violation: Option<String>,
    /// With this time-limit status, judged now: `on_track`, `at_risk`,
    /// `overdue`, `completed_on_time`, `completed_late`.
    pub time_limit: Option<String>,
    /// Rows to skip (default 0).
    pub offset: Option<usize>,
    /// Rows to return (default 50, at most 500).
    pub limit: Option<usize>,
}

/// A page of cases.
#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct CasePage {
    /// Cases matching the search in all.
    pub total: u64,
    pub offset: usize,
    pub limit: usize,
    /// `{stream, status, status_label, department, item_id, item_version,
    /// item_name, channel, accepted_at, completed_at, deadline,
    /// last_recorded_at, steps, time_limit_status, violations}` (the last
    /// two judged now), most recently accepted first.
    #[schema(value_type = Vec<Object>)]
    pub cases: Vec<Value>,
}

/// Largest page of the case search.
const MAX_CASE_PAGE: usize = 500;

/// Searches cases by number, department, item, status and acceptance day.
///
/// Departments see only the cases they accepted; inspectors' searches are
/// recorded like their reads.
#[utoipa::path(
    get, path = "/v1/cases", tag = "cases",
    params(CaseSearch),
    security(("bearer" = [])),
    responses(
        (status = 200, body = CasePage),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Admin, inspector or department", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn search_cases(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<CaseSearch>,
) -> ApiResult<Json<CasePage>> {
    let day = query_day;
    let mut filter = CaseFilter {
        stream: q.case.clone(),
        department: q.department.clone(),
        item_id: q.item.clone(),
        status: q.status.clone(),
        accepted_from: day("accepted_from", &q.accepted_from)?,
        accepted_before: day("accepted_before", &q.accepted_before)?,
        violation: q
            .violation
            .as_deref()
            .map(|v| named_value("violation", v))
            .transpose()?,
        time_limit: q
            .time_limit
            .as_deref()
            .map(|v| named_value("time_limit", v))
            .transpose()?,
    };
    if let Some(status) = &filter.status
        && !is_case_status(status)
    {
        return Err(ApiError::malformed(format!(
            "status {status:?} is not a case status"
        )));
    }
    let limit = q.limit.unwrap_or(50);
    if limit == 0 || limit > MAX_CASE_PAGE {
        return Err(ApiError::malformed(format!(
            "limit {limit}: must be 1 to {MAX_CASE_PAGE}"
        )));
    }
    let offset = q.offset.unwrap_or(0);
    match caller.role() {
        Role::Admin => {}
        Role::Inspector => {
            policy::record_access(
                &state,
                &caller,
                json!({"resource": "case_search", "case": q.case, "department": q.department,
                       "item": q.item, "status": q.status}),
            )
            .await?;
        }
        Role::Department => {
            let own = caller.0.department.to_string();
            if filter.department.as_ref().is_some_and(|d| *d != own) {
                return Err(ApiError::forbidden(format!(
                    "a department searches only its own cases, not {}'s",
                    filter.department.as_deref().unwrap_or_default()
                )));
            }
            filter.department = Some(own);
        }
        other => {
            return Err(ApiError::forbidden(format!(
                "role {} may not search cases",
                other.as_str()
            )));
        }
    }
    let read = state.read_models().await?.read_store();
    let now = Utc::now();
    let (rows, total) = read_blocking(move || read.cases(&filter, offset, limit, now)).await?;
    Ok(Json(CasePage {
        total,
        offset,
        limit,
        cases: rows.iter().map(to_json).collect::<Result<_, _>>()?,
    }))
}

/// A snake-case enum value from a query parameter, or a 400 naming it.
pub(crate) fn named_value<T: serde::de::DeserializeOwned>(
    name: &str,
    value: &str,
) -> Result<T, ApiError> {
    serde_json::from_value(Value::String(value.to_owned())).map_err(|_| {
        ApiError::malformed(format!("{name} {value:?} is not one of the known values"))
    })
}

/// An optional `YYYY-MM-DD` query parameter, or a 400 naming it.
pub(crate) fn query_day(
    name: &str,
    v: &Option<String>,
) -> Result<Option<chrono::NaiveDate>, ApiError> {
    v.as_deref()
        .map(|text| {
            chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|e| {
                ApiError::malformed(format!("{name} {text:?}: {e}; expected YYYY-MM-DD"))
            })
        })
        .transpose()
}

/// Runs a read of the persisted read models on a blocking thread.
pub(crate) async fn read_blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, projections::readstore::ReadStoreError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("read models: {e}")))?
        .map_err(|e| ApiError::internal(e.to_string()))
}
