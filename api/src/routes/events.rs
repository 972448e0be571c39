//! Appending and reading events: `/v1/streams/{stream}/events`,
//! `/v1/log/entries`, `/v1/events/{id}`.

use std::time::Instant;

use axum::Json;
use axum::extract::State;
use ledger::event::AuthorSignature;
use ledger::store::{Direction, StoredEvent};
use ledger::{
    Actor, AppendRequest, EventId, EventType, ExpectedVersion, LogIndex, ProposedEvent, StreamId,
    StreamVersion, Timestamp,
};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{COMPLAINT_ASSIGNED, Caller, Role, is_case_stream, is_complaint_stream};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJsonOr, ApiPath, ApiQuery};
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
    /// Each event's JSON text, read into its type by [`proposed`].
    #[schema(value_type = Vec<ProposedEventWire>)]
    pub events: Vec<Box<RawValue>>,
}

/// A well-formed append body read in one pass, every event straight into
/// its types: what nearly every append is. A body this refuses is read
/// again as an [`AppendBody`], whose verdicts and errors stand (a test holds
/// the two readings to agree).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TypedAppendBody {
    #[serde(default)]
    expected_version: ExpectedVersionWire,
    events: Vec<TypedProposedEvent>,
}

/// An event of a well-formed body, read straight into its types (the
/// common case, without building it as a JSON value first); any event this
/// refuses is read again the long way, whose errors name the event and the
/// member.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TypedProposedEvent {
    id: EventId,
    #[serde(default, deserialize_with = "present_stream")]
    stream: Option<StreamId>,
    #[serde(rename = "type")]
    event_type: EventType,
    occurred_at: Timestamp,
    actor: Actor,
    payload: Map<String, Value>,
    #[serde(default)]
    signature: Option<AuthorSignature>,
}

/// A `stream` member, when there is one: `null` is refused (as the long
/// way refuses it), not taken for "absent".
fn present_stream<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<StreamId>, D::Error> {
    StreamId::deserialize(d).map(Some)
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

fn proposed(stream: &StreamId, raw: Vec<Box<RawValue>>) -> Result<Vec<ProposedEvent>, ApiError> {
    raw.iter()
        .enumerate()
        .map(|(i, raw)| match read_typed(stream, raw.get()) {
            Some(ev) => Ok(ev),
            None => read_by_value(stream, i, raw.get()),
        })
        .collect()
}

/// `events[i]` read straight into its types; `None` for anything
/// [`read_by_value`] must word (it accepts all this accepts, alike).
fn read_typed(stream: &StreamId, text: &str) -> Option<ProposedEvent> {
    let ev = serde_json::from_str::<TypedProposedEvent>(text).ok()?;
    Some(ev.proposed(stream))
}

impl TypedProposedEvent {
    /// The event, in the path's stream unless it names its own.
    fn proposed(self, stream: &StreamId) -> ProposedEvent {
        ProposedEvent {
            id: self.id,
            stream: self.stream.unwrap_or_else(|| stream.clone()),
            event_type: self.event_type,
            occurred_at: self.occurred_at,
            actor: self.actor,
            payload: self.payload,
            signature: self.signature,
        }
    }
}

/// An append body, read in one pass where it can be.
type AppendInput = ApiJsonOr<TypedAppendBody, AppendBody>;

/// The expected version and the events of an append body.
fn read_body(
    stream: &StreamId,
    body: AppendInput,
) -> Result<(ExpectedVersion, Vec<ProposedEvent>), ApiError> {
    match body {
        ApiJsonOr::Fast(body) => Ok((
            body.expected_version.into(),
            body.events
                .into_iter()
                .map(|ev| ev.proposed(stream))
                .collect(),
        )),
        ApiJsonOr::Slow(body) => Ok((body.expected_version.into(), proposed(stream, body.events)?)),
    }
}

/// `events[i]` read as a JSON value, given the path's stream when it names
/// none, then as a [`ProposedEvent`]: errors name the event and the member.
fn read_by_value(stream: &StreamId, i: usize, text: &str) -> Result<ProposedEvent, ApiError> {
    let mut v: Value =
        serde_json::from_str(text).map_err(|e| ApiError::schema(format!("events[{i}]: {e}")))?;
    let obj = v
        .as_object_mut()
        .ok_or_else(|| ApiError::schema(format!("events[{i}] is not an object")))?;
    obj.entry("stream")
        .or_insert_with(|| Value::String(stream.to_string()));
    serde_json::from_value::<ProposedEvent>(v)
        .map_err(|e| ApiError::schema(format!("events[{i}]: {e}")))
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
        if let Err(e) =
            projections::schema::validate_object_in_stream(stream.as_str(), event_type, &ev.payload)
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
    body: AppendInput,
) -> ApiResult<Json<AppendResponse>> {
    let started = Instant::now();
    let count = match &body {
        ApiJsonOr::Fast(b) => b.events.len(),
        ApiJsonOr::Slow(b) => b.events.len(),
    };
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
    body: AppendInput,
) -> ApiResult<Json<AppendResponse>> {
    if state.is_shutting_down() {
        return Err(ApiError::new(
            crate::error::ProblemKind::Unavailable,
            "the service is shutting down",
        ));
    }
    let stream = parse_stream(stream)?;
    let (expected, events) = read_body(&stream, body)?;
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

#[cfg(test)]
mod tests {
    use ed25519_dalek::SigningKey;
    use ledger::keys::PublicKey;
    use ledger::{ActorId, KeyId};

    use super::*;

    fn stream() -> StreamId {
        StreamId::new("case-typed-read").expect("stream")
    }

    /// A signed event as a client writes it, without its `stream` member.
    fn signed_event_json() -> String {
        let signing = SigningKey::from_bytes(&[7; 32]);
        let key = KeyId::derive(&PublicKey::Ed25519(signing.verifying_key()));
        let event = ProposedEvent::new(
            stream(),
            EventType::new("case.note").expect("type"),
            Timestamp::parse("2026-03-02T09:30:00Z").expect("time"),
            Actor {
                department: ActorId::new("dept-a").expect("actor"),
                officer: Some(ActorId::new("officer-1").expect("officer")),
            },
            json!({"note": "材料齐全", "n": 3, "nested": {"list": [1, true, null, "x"]}})
                .as_object()
                .cloned()
                .expect("object"),
        )
        .sign_ed25519(key, &signing)
        .expect("sign");
        let mut v = serde_json::to_value(&event).expect("JSON");
        v.as_object_mut().expect("object").remove("stream");
        v.to_string()
    }

    /// The typed reading accepts only what the long way accepts, and reads
    /// it alike; what it refuses, the long way words.
    fn agree(text: &str) {
        if let Some(fast) = read_typed(&stream(), text) {
            let slow = read_by_value(&stream(), 0, text);
            assert_eq!(
                slow.as_ref().ok(),
                Some(&fast),
                "typed reading accepted {text}, the long way said {:?}",
                slow.as_ref().err().map(|e| e.to_string())
            );
        }
    }

    #[test]
    fn typed_and_value_readings_agree_on_worked_examples() {
        let base = signed_event_json();
        let fast = read_typed(&stream(), &base).expect("a well-formed event reads typed");
        assert_eq!(fast.stream, stream(), "no stream member: the path's");
        assert!(fast.signature.is_some());
        agree(&base);
        let with = |member: &str| base.replacen('{', &format!("{{{member},"), 1);
        for text in [
            with(r#""stream":"case-typed-read""#),
            with(r#""stream":"case-other""#),
            with(r#""stream":null"#),
            with(r#""stream":7"#),
            with(r#""signature":null"#),
            with(r#""extra":1"#),
            with(r#""id":"01ARZ3NDEKTSV4RRFFQ69G5FAV""#),
            base.replace(r#""payload":{"#, r#""payload":[{"#)
                .replace(r#"}},"#, r#"}}],"#),
        ] {
            agree(&text);
        }
        // `stream: null` is refused by both, not read as "absent".
        let null = with(r#""stream":null"#);
        assert!(read_typed(&stream(), &null).is_none());
        assert!(read_by_value(&stream(), 0, &null).is_err());
        // A duplicated member: the long way keeps the last; the typed
        // reading leaves it to the long way.
        let dup = with(r#""stream":"case-other""#).replacen('{', r#"{"stream":"case-x","#, 1);
        assert!(read_typed(&stream(), &dup).is_none());
        agree(&dup);
    }

    /// The one-pass reading of a whole body accepts only bodies the
    /// two-step reading accepts, and reads them alike.
    fn agree_body(text: &str) -> bool {
        let Ok(fast) = serde_json::from_str::<TypedAppendBody>(text) else {
            return false;
        };
        let fast = read_body(&stream(), ApiJsonOr::Fast(fast)).expect("a typed body reads");
        let slow = serde_json::from_str::<AppendBody>(text)
            .map_err(|e| e.to_string())
            .and_then(|b| read_body(&stream(), ApiJsonOr::Slow(b)).map_err(|e| e.to_string()));
        let slow = slow.unwrap_or_else(|e| panic!("one pass read {text}, two steps said {e}"));
        assert_eq!(fast.0, slow.0, "expected version of {text}");
        assert_eq!(fast.1, slow.1, "events of {text}");
        true
    }

    #[test]
    fn one_pass_and_two_step_body_readings_agree() {
        let ev = signed_event_json();
        let other = ev.replacen('{', r#"{"stream":"case-other","#, 1);
        let dup = ev.replacen('{', r#"{"stream":"case-x","stream":"case-y","#, 1);
        let cases = [
            (format!(r#"{{"events":[{ev}]}}"#), true),
            (
                format!(r#"{{"expected_version":3,"events":[{ev},{other}]}}"#),
                true,
            ),
            (
                format!(r#"{{"events":[{ev}],"expected_version":"no_stream"}}"#),
                true,
            ),
            (r#"{"expected_version":"any","events":[]}"#.to_owned(), true),
            (
                format!(r#"{{"expected_version":"sometimes","events":[{ev}]}}"#),
                false,
            ),
            (format!(r#"{{"events":[{ev}],"extra":1}}"#), false),
            (format!(r#"{{"events":[{ev}],"events":[{ev}]}}"#), false),
            (format!(r#"{{"events":{ev}}}"#), false),
            // One event the one pass refuses sends the whole body the
            // long way, which keeps a duplicated member's last value.
            (format!(r#"{{"events":[{ev},{dup}]}}"#), false),
        ];
        for (text, typed) in cases {
            assert_eq!(agree_body(&text), typed, "{text}");
        }
        let two_step = serde_json::from_str::<AppendBody>(&format!(r#"{{"events":[{ev},{dup}]}}"#))
            .expect("the long way reads a duplicated member");
        let (_, events) = read_body(&stream(), ApiJsonOr::Slow(two_step)).expect("reads");
        assert_eq!(events[1].stream.as_str(), "case-y");
        // Every one-byte change of a body.
        let body = format!(r#"{{"expected_version":0,"events":[{ev}]}}"#);
        let mut typed = 0;
        for text in one_byte_changes(&body) {
            typed += usize::from(agree_body(&text));
        }
        assert!(
            typed > 0,
            "some changes (inside strings) still read in one pass"
        );
    }

    #[test]
    fn typed_and_value_readings_agree_on_every_one_byte_change() {
        let base = signed_event_json();
        let mut typed = 0;
        for text in one_byte_changes(&base) {
            agree(&text);
            typed += usize::from(read_typed(&stream(), &text).is_some());
        }
        assert!(typed > 0, "some changes (inside strings) still read typed");
    }

    /// Every text one byte away from `text` that is still UTF-8: each byte
    /// removed, doubled, or changed (to `1` if it was `0`, else to `0`).
    fn one_byte_changes(text: &str) -> Vec<String> {
        let bytes = text.as_bytes();
        let mut out = Vec::new();
        for at in 0..bytes.len() {
            let mut removed = bytes.to_vec();
            removed.remove(at);
            let mut doubled = bytes.to_vec();
            doubled.insert(at, bytes[at]);
            let mut changed = bytes.to_vec();
            changed[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
            for variant in [removed, doubled, changed] {
                if let Ok(text) = String::from_utf8(variant) {
                    out.push(text);
                }
            }
        }
        out
    }
}
