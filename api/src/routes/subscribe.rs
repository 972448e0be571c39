//! Server-Sent Events subscriptions: the whole log, or one stream.
//!
//! A subscription catches up from its position (query `from`, or one past
//! the `Last-Event-ID` header, which takes precedence), then follows live.
//! SSE ids are log indexes for the log and stream versions for a stream, so
//! a reconnect with `Last-Event-ID` resumes exactly after the last event
//! seen. Each event is `event: event` with an [`EventView`] as data; a
//! failure ends the subscription with one `event: error` carrying a problem.
//!
//! Memory per subscriber is bounded by one page of events: the response is
//! pulled as the client's socket drains, so a slow subscriber only falls
//! behind (it re-reads from storage), never blocks appends or buffers
//! without bound.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures::stream::{BoxStream, Stream, StreamExt};
use ledger::store::{Direction, StoredEvent, follow};
use ledger::{LogIndex, StreamId, StreamVersion};
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;

use crate::auth::{Caller, Role};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiPath, ApiQuery};
use crate::metrics::SubscriberGauge;
use crate::policy;
use crate::routes::events::parse_stream;
use crate::state::AppState;
use crate::wire::EventView;

const PAGE: usize = 256;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SubscribeQuery {
    /// First position to send (log index or stream version; default 0).
    /// `Last-Event-ID` overrides it.
    pub from: Option<u64>,
}

fn start_position(headers: &HeaderMap, from: Option<u64>) -> Result<u64, ApiError> {
    match headers.get("last-event-id") {
        Some(v) => {
            let last: u64 = v
                .to_str()
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .ok_or_else(|| ApiError::malformed("Last-Event-ID must be a decimal integer"))?;
            Ok(last.saturating_add(1))
        }
        None => Ok(from.unwrap_or(0)),
    }
}

fn to_sse(ev: &StoredEvent, id: u64) -> SseEvent {
    match EventView::of(ev) {
        Ok(view) => SseEvent::default()
            .event("event")
            .id(id.to_string())
            .json_data(view)
            .unwrap_or_else(|e| error_event(&ApiError::internal(e.to_string()))),
        Err(e) => error_event(&e),
    }
}

fn error_event(e: &ApiError) -> SseEvent {
    SseEvent::default()
        .event("error")
        .data(e.body().to_string())
}

fn respond(
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    kind: &'static str,
    events: impl Stream<Item = SseEvent> + Send + 'static,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>> + Send + 'static> {
    let gauge = SubscriberGauge::new(kind);
    let events = events.take_until(shutdown).map(move |e| {
        // The gauge lives as long as the subscription's stream.
        let _ = &gauge;
        Ok(e)
    });
    Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

/// Subscribe to the whole log (admin, inspector).
#[utoipa::path(
    get, path = "/v1/log/subscribe", tag = "subscriptions",
    params(SubscribeQuery, ("Last-Event-ID" = Option<String>, Header, description = "Resume after this log index")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "text/event-stream; `id` = log index, `data` = EventView", body = String, content_type = "text/event-stream"),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn subscribe_log(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<SubscribeQuery>,
) -> ApiResult<Sse<impl Stream<Item = Result<SseEvent, Infallible>> + Send + 'static>> {
    caller.require(&[Role::Admin, Role::Inspector])?;
    let from = start_position(&headers, q.from)?;
    if caller.role() == Role::Inspector {
        policy::record_access(
            &state,
            &caller,
            json!({"resource": "log-subscription", "from": from}),
        )
        .await?;
    }
    let mut failed = false;
    let events = follow(state.store().clone(), LogIndex(from))
        .take_while(move |r| {
            let go = !failed;
            failed = r.is_err();
            futures::future::ready(go)
        })
        .map(|r| match r {
            Ok(ev) => to_sse(&ev, ev.index.0),
            Err(e) => error_event(&e.into()),
        });
    Ok(respond(state.shutdown_signal(), "log", events))
}

struct StreamFollow {
    store: std::sync::Arc<dyn ledger::Store>,
    stream: StreamId,
    next_version: u64,
    live_from: u64,
    buf: VecDeque<StoredEvent>,
    live: Option<BoxStream<'static, Result<StoredEvent, ledger::Error>>>,
    done: bool,
}

impl StreamFollow {
    async fn next(&mut self) -> Option<SseEvent> {
        if self.done {
            return None;
        }
        loop {
            if let Some(ev) = self.buf.pop_front() {
                self.next_version = ev.event.version.0 + 1;
                return Some(to_sse(&ev, ev.event.version.0));
            }
            match &mut self.live {
                None => {
                    let page = self
                        .store
                        .read_stream(
                            &self.stream,
                            StreamVersion(self.next_version),
                            Direction::Forwards,
                            PAGE,
                        )
                        .await;
                    match page {
                        Err(e) => return Some(self.fail(e)),
                        Ok(page) if page.is_empty() => {
                            // Caught up: follow the log from where it stood
                            // before catching up; versions already sent are
                            // skipped below.
                            self.live =
                                Some(follow(self.store.clone(), LogIndex(self.live_from)).boxed());
                        }
                        Ok(page) => self.buf.extend(page),
                    }
                }
                Some(live) => match live.next().await {
                    None => return None,
                    Some(Err(e)) => return Some(self.fail(e)),
                    Some(Ok(ev)) => {
                        if ev.event.stream == self.stream && ev.event.version.0 >= self.next_version
                        {
                            self.buf.push_back(ev);
                        }
                    }
                },
            }
        }
    }

    fn fail(&mut self, e: ledger::Error) -> SseEvent {
        self.done = true;
        error_event(&e.into())
    }
}

/// Subscribe to one stream (whoever may read it).
#[utoipa::path(
    get, path = "/v1/streams/{stream}/subscribe", tag = "subscriptions",
    params(("stream" = String, Path, description = "Stream name"), SubscribeQuery,
           ("Last-Event-ID" = Option<String>, Header, description = "Resume after this stream version")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "text/event-stream; `id` = stream version, `data` = EventView", body = String, content_type = "text/event-stream"),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn subscribe_stream(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(stream): ApiPath<String>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<SubscribeQuery>,
) -> ApiResult<Sse<impl Stream<Item = Result<SseEvent, Infallible>> + Send + 'static>> {
    let stream = parse_stream(&stream)?;
    let record = policy::authorize_read(&state, &caller, &stream).await?;
    let from = start_position(&headers, q.from)?;
    if record {
        policy::record_access(
            &state,
            &caller,
            json!({"resource": "stream-subscription", "stream": stream.as_str(), "from": from}),
        )
        .await?;
    }
    let live_from = state.store().size().await?;
    let follower = StreamFollow {
        store: state.store().clone(),
        stream,
        next_version: from,
        live_from,
        buf: VecDeque::new(),
        live: None,
        done: false,
    };
    let events =
        futures::stream::unfold(
            follower,
            |mut f| async move { f.next().await.map(|e| (e, f)) },
        );
    Ok(respond(state.shutdown_signal(), "stream", events))
}
