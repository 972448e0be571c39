//! Appending and reading events: `/v1/streams/{stream}/events`,
//! `/v1/log/entries`, `/v1/events/{id}`.

use std::time::Instant;

use axum::Json;
use axum::extract::State;
use ledger::store::{Direction, StoredEvent};
use ledger::{
    AppendRequest, EventId, ExpectedVersion, LogIndex, ProposedEvent, StreamId, StreamVersion,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{COMPLAINT_ASSIGNED, Caller, Role, is_case_stream, is_complaint_stream};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::policy::{self, AppendPlan};
use crate::state::AppState;
use crate::wire::{EventPage, EventView, ReceiptView, page_size};

/// The expectation an append checks atomically with its write.
#[derive(Deserialize, Serialize, ToSchema, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(untagged)]
pub enum ExpectedVersionWire {
    /// `"any"`, `"no_stream"` or `"stream_exists"`.
    State(ExpectedState),
    /// The stream's last event must be at exactly this version.
    #[schema(format = Int64)]
    Exact(u64),
}

#[derive(Deserialize, Serialize, ToSchema, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ExpectedState {
    Any,
    NoStream,
    StreamExists,
}

impl Default for ExpectedVersionWire {
    fn default() -> Self {
        ExpectedVersionWire::State(ExpectedState::Any)
    }
}

impl From<ExpectedVersionWire> for ExpectedVersion {
    fn from(w: ExpectedVersionWire) -> Self {
        match w {
            ExpectedVersionWire::State(ExpectedState::Any) => ExpectedVersion::Any,
            ExpectedVersionWire::State(ExpectedState::NoStream) => ExpectedVersion::NoStream,
            ExpectedVersionWire::State(ExpectedState::StreamExists) => {
                ExpectedVersion::StreamExists
            }
            ExpectedVersionWire::Exact(v) => ExpectedVersion::Exact(StreamVersion(v)),
        }
    }
}

/// One event as its author proposes it (SPEC.md §2, without the members the
/// ledger adds). Documentation shape of the items of `events`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ProposedEventWire {
    /// ULID chosen by the author; retries with the same id are idempotent.
    id: String,
    /// Optional; must equal the path's stream when present.
    stream: Option<String>,
    #[schema(rename = "type")]
    event_type: String,
    /// RFC 3339, UTC, ending in `Z`.
    occurred_at: String,
    #[schema(value_type = Object)]
    actor: Value,
    #[schema(value_type = Object)]
    payload: Value,
    /// `{"alg": "ed25519", "key": "<key id>", "sig": "<base64>"}`.
    #[schema(value_type = Option<Object>)]
    signature: Option<Value>,
}

/// An append of one event or an atomic batch (1 to 1000) to one stream.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppendBody {
    /// Default `"any"`.
    #[serde(default)]
    pub expected_version: ExpectedVersionWire,
    #[schema(value_type = Vec<ProposedEventWire>)]
    pub events: Vec<Value>,
}

#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct AppendResponse {
    /// One receipt per event, in order. A retry of an acknowledged batch
    /// returns the original receipts.
    pub receipts: Vec<ReceiptView>,
    /// Present when the batch holds a `case.accepted` event: the case's
    /// query code (办理进度查询码) for the applicant, to check progress at
    /// `/status` without signing in (also `GET /v1/cases/{id}/query-code`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_code: Option<String>,
}

/// Parses a stream name from a path.
pub fn parse_stream(name: &str) -> Result<StreamId, ApiError> {
    StreamId::new(name).map_err(ApiError::from_request_part)
}

fn proposed(stream: &StreamId, raw: Vec<Value>) -> Result<Vec<ProposedEvent>, ApiError> {
    raw.into_iter()
        .enumerate()
        .map(|(i, mut v)| {
            let obj = v
                .as_object_mut()
                .ok_or_else(|| ApiError::schema(format!("events[{i}] is not an object")))?;
            obj.entry("stream")
                .or_insert_with(|| Value::String(stream.to_string()));
            serde_json::from_value::<ProposedEvent>(v)
                .map_err(|e| ApiError::schema(format!("events[{i}]: {e}")))
        })
        .collect()
}

/// Refuses (422) an event of a known domain type (`catalog.*`, `case.*`,
/// `complaint.*`) whose payload does not fit its schema or that is in the
/// wrong kind of stream; the problem names the field. Other types pass.
fn check_domain_schemas(stream: &StreamId, events: &[ProposedEvent]) -> Result<(), ApiError> {
    for (i, ev) in events.iter().enumerate() {
        let event_type = ev.event_type.as_str();
        if projections::schema::label(event_type).is_none() {
            continue;
        }
        let payload = Value::Object(ev.payload.clone());
        if let Err(e) =
            projections::schema::validate_in_stream(stream.as_str(), event_type, &payload)
        {
            let mut problem = ApiError::schema(format!("events[{i}]: {e}"));
            if let Some(path) = e.path() {
                let field = if path == "." {
                    format!("events[{i}].payload")
                } else {
                    format!("events[{i}].payload.{path}")
                };
                problem = problem.with("field", field);
            }
            return Err(problem);
        }
    }
    Ok(())
}

/// Append one event or a batch to a stream.
#[utoipa::path(
    post, path = "/v1/streams/{stream}/events", tag = "events",
    params(("stream" = String, Path, description = "Stream name, e.g. case-2026-000123")),
    request_body = AppendBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Durable; one receipt per event", body = AppendResponse),
        (status = 400, description = "Malformed JSON or stream name", body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Version conflict (with `current_version`), idempotency conflict, partial retry", body = Problem, content_type = "application/problem+json"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
        (status = 415, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Schema violation (a domain payload that does not fit names the `field`), bad signature, unknown or revoked key", body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn append(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(stream): ApiPath<String>,
    ApiJson(body): ApiJson<AppendBody>,
) -> ApiResult<Json<AppendResponse>> {
    let started = Instant::now();
    let count = body.events.len();
    let result = append_inner(&state, &caller, &stream, body).await;
    let outcome = match &result {
        Ok(_) => "ok",
        Err(e) => e.kind.slug(),
    };
    crate::metrics::record_append(outcome, count, started.elapsed().as_secs_f64());
    result
}

async fn append_inner(
    state: &AppState,
    caller: &Caller,
    stream: &str,
    body: AppendBody,
) -> ApiResult<Json<AppendResponse>> {
    if state.is_shutting_down() {
        return Err(ApiError::new(
            crate::error::ProblemKind::Unavailable,
            "the service is shutting down",
        ));
    }
    let stream = parse_stream(stream)?;
    let events = proposed(&stream, body.events)?;
    let expected: ExpectedVersion = body.expected_version.into();
    let plan = policy::authorize_append(state, caller, &stream, &events).await?;
    check_domain_schemas(&stream, &events)?;
    let assignments = is_complaint_stream(&stream)
        && events
            .iter()
            .any(|e| e.event_type.as_str() == COMPLAINT_ASSIGNED);
    let accepted = is_case_stream(&stream)
        && events
            .iter()
            .any(|e| e.event_type.as_str() == projections::schema::ACCEPTED);
    let ids: Vec<EventId> = events.iter().map(|e| e.id).collect();
    let request = AppendRequest {
        stream: stream.clone(),
        expected,
        events,
    };
    let receipts = match plan {
        AppendPlan::AsAsked => state.store().append(request).await?,
        AppendPlan::OpenCase => {
            // Open the case only if nobody else has meanwhile; if someone
            // has, decide again on who owns it now.
            let mut open = request.clone();
            if expected == ExpectedVersion::Any {
                open.expected = ExpectedVersion::NoStream;
            }
            match state.store().append(open).await {
                Err(ledger::Error::WrongExpectedVersion {
                    current: Some(_), ..
                }) if expected != ExpectedVersion::NoStream => {
                    match policy::authorize_append(state, caller, &stream, &request.events).await? {
                        AppendPlan::AsAsked => state.store().append(request).await?,
                        AppendPlan::OpenCase => {
                            return Err(ApiError::internal("stream exists and does not"));
                        }
                    }
                }
                other => other?,
            }
        }
    };
    if assignments {
        let mut stored: Vec<StoredEvent> = Vec::new();
        for id in ids {
            if let Some(ev) = state.store().event_by_id(id).await? {
                stored.push(ev);
            }
        }
        state.note_appended(&stored);
    }
    let query_code = if accepted {
        Some(
            state
                .private_data()?
                .query_codes()
                .code_for(&stream)
                .to_string(),
        )
    } else {
        None
    };
    Ok(Json(AppendResponse {
        receipts: receipts.into_iter().map(ReceiptView::from).collect(),
        query_code,
    }))
}

#[derive(Deserialize, Serialize, ToSchema, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum DirectionWire {
    #[default]
    Forwards,
    Backwards,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StreamReadQuery {
    /// First version to return (default: 0 forwards, the last backwards).
    pub from: Option<u64>,
    /// `forwards` (default) or `backwards`.
    pub direction: Option<DirectionWire>,
    /// Page size, 1 to 1000 (default 100).
    pub limit: Option<usize>,
}

/// Read a stream forwards or backwards, paged.
#[utoipa::path(
    get, path = "/v1/streams/{stream}/events", tag = "events",
    params(("stream" = String, Path, description = "Stream name"), StreamReadQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page; `next` is the version to continue from", body = EventPage),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such stream", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn read_stream(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(stream): ApiPath<String>,
    ApiQuery(q): ApiQuery<StreamReadQuery>,
) -> ApiResult<Json<EventPage>> {
    let stream = parse_stream(&stream)?;
    let record = policy::authorize_read(&state, &caller, &stream).await?;
    let limit = page_size(q.limit);
    let direction = q.direction.unwrap_or_default();
    let Some(last) = state.store().stream_version(&stream).await? else {
        return Err(ApiError::not_found(format!("no stream {stream}")));
    };
    let (from, dir) = match direction {
        DirectionWire::Forwards => (q.from.unwrap_or(0), Direction::Forwards),
        DirectionWire::Backwards => (q.from.unwrap_or(last.0).min(last.0), Direction::Backwards),
    };
    if record {
        policy::record_access(
            &state,
            &caller,
            json!({"resource": "stream", "stream": stream.as_str(), "from": from}),
        )
        .await?;
    }
    let events = state
        .store()
        .read_stream(&stream, StreamVersion(from), dir, limit)
        .await?;
    let next = if events.len() < limit {
        None
    } else {
        match dir {
            Direction::Forwards => events.last().map(|e| e.event.version.0 + 1),
            Direction::Backwards => events.last().and_then(|e| e.event.version.0.checked_sub(1)),
        }
    };
    let events = events.iter().map(EventView::of).collect::<Result<_, _>>()?;
    Ok(Json(EventPage { events, next }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogReadQuery {
    /// First log index to return (default 0).
    pub from: Option<u64>,
    /// Page size, 1 to 1000 (default 100).
    pub limit: Option<usize>,
}

/// Read the global log from an index, paged (admin, inspector).
#[utoipa::path(
    get, path = "/v1/log/entries", tag = "events",
    params(LogReadQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page; `next` is the log index to continue from", body = EventPage),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn read_log(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<LogReadQuery>,
) -> ApiResult<Json<EventPage>> {
    caller.require(&[Role::Admin, Role::Inspector])?;
    let limit = page_size(q.limit);
    let from = q.from.unwrap_or(0);
    if caller.role() == Role::Inspector {
        policy::record_access(
            &state,
            &caller,
            json!({"resource": "log", "from": from, "limit": limit}),
        )
        .await?;
    }
    let events = state.store().read_log(LogIndex(from), limit).await?;
    let next = if events.len() < limit {
        None
    } else {
        events.last().map(|e| e.index.0 + 1)
    };
    let events = events.iter().map(EventView::of).collect::<Result<_, _>>()?;
    Ok(Json(EventPage { events, next }))
}

/// Get one event by its id.
#[utoipa::path(
    get, path = "/v1/events/{id}", tag = "events",
    params(("id" = String, Path, description = "Event ULID")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = EventView),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn event_by_id(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<EventView>> {
    let id: EventId = id.parse().map_err(ApiError::from_request_part)?;
    let stored = state
        .store()
        .event_by_id(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no event {id}")))?;
    let record = policy::authorize_read(&state, &caller, &stored.event.stream).await?;
    if record {
        policy::record_access(
            &state,
            &caller,
            json!({"resource": "event", "stream": stored.event.stream.as_str(), "event_id": id.to_string()}),
        )
        .await?;
    }
    Ok(Json(EventView::of(&stored)?))
}
