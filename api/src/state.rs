//! The state every handler shares: the store, the log's identity, the
//! registry directory, settings, the rate limiter and the shutdown signal.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock, RwLockReadGuard};
use std::time::Duration;

use ledger::store::{Direction, StoredEvent};
use ledger::{
    Actor, ActorId, AppendRequest, EventType, ExpectedVersion, LogIndex, ProposedEvent, Receipt,
    Store, StreamId, StreamVersion, Timestamp,
};
use serde_json::{Map, Value};
use tokio::sync::watch;

use crate::auth::{ADMIN_DEPARTMENT, Directory, RateLimiter, TokenRecord};
use crate::error::ApiError;
use crate::personal::PrivateData;
use crate::projector::Projector;
use crate::routes::public::AddressLimiter;
use crate::witness::Cosignatures;

/// Tunables of the service.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Largest request body, in bytes.
    pub body_limit: usize,
    /// Longest a request may take before it is answered 503.
    pub request_timeout: Duration,
    /// Requests per second per token (≤ 0: unlimited).
    pub rate_limit: f64,
    /// Burst size of the per-token limit.
    pub rate_burst: f64,
    /// How often new checkpoints are pushed to witnesses.
    pub witness_interval: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            body_limit: 4 * 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            rate_limit: 2_000.0,
            rate_burst: 4_000.0,
            witness_interval: Duration::from_secs(2),
        }
    }
}

/// Shared by every handler; cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

struct Inner {
    store: Arc<dyn Store>,
    origin: String,
    verifier_key: String,
    settings: Settings,
    directory: RwLock<Directory>,
    /// The department that opened each case stream (its version 0).
    owners: Mutex<HashMap<StreamId, ActorId>>,
    rate: RateLimiter,
    /// Registry changes are checked and appended one at a time.
    registry_lock: tokio::sync::Mutex<()>,
    /// The log position up to which the directory has read the log; held
    /// while reading more ([`AppState::follow_directory`]).
    directory_next: tokio::sync::Mutex<u64>,
    /// Whether other processes append to the log too: the directory then
    /// follows it, and an unknown token is looked up again.
    directory_follows: AtomicBool,
    shutdown: watch::Sender<bool>,
    metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    cosignatures: Cosignatures,
    /// The persisted read models, once started ([`AppState::attach_projector`]).
    projector: OnceLock<Arc<Projector>>,
    /// Query-code key and personal-data store, once opened
    /// ([`AppState::attach_private_data`]).
    private_data: OnceLock<Arc<PrivateData>>,
    /// Base of public links ([`AppState::set_public_url`]).
    public_url: OnceLock<String>,
    /// Per-client-address limit of the public endpoints.
    public_rate: AddressLimiter,
}

impl AppState {
    /// Builds the state over `store`, loading the directory (tokens,
    /// departments, witnesses, complaint assignments) from the whole log.
    pub async fn new(
        store: Arc<dyn Store>,
        origin: String,
        verifier_key: String,
        settings: Settings,
        cosignatures: Cosignatures,
    ) -> Result<Self, ledger::Error> {
        let mut directory = Directory::default();
        let mut next = 0u64;
        loop {
            let page = store.read_entries(LogIndex(next), 1_000).await?;
            let Some(last) = page.last() else { break };
            next = last.index.0 + 1;
            // Only registry events and complaint assignments matter; their
            // canonical bytes carry these members verbatim (a quote inside a
            // string value is escaped), so most entries are never parsed.
            for raw in page.into_iter().filter(|r| directory_relevant(&r.entry)) {
                directory.apply(&StoredEvent::from_raw(raw)?);
            }
        }
        let rate = RateLimiter::new(settings.rate_limit, settings.rate_burst);
        Ok(AppState(Arc::new(Inner {
            store,
            origin,
            verifier_key,
            settings,
            directory: RwLock::new(directory),
            owners: Mutex::default(),
            rate,
            registry_lock: tokio::sync::Mutex::new(()),
            directory_next: tokio::sync::Mutex::new(next),
            directory_follows: AtomicBool::new(false),
            shutdown: watch::channel(false).0,
            metrics: crate::metrics::handle(),
            cosignatures,
            projector: OnceLock::new(),
            private_data: OnceLock::new(),
            public_url: OnceLock::new(),
            public_rate: AddressLimiter::default(),
        })))
    }

    /// Gives the handlers the read models; once (later calls are ignored).
    pub fn attach_projector(&self, projector: Arc<Projector>) {
        let _ = self.0.projector.set(projector);
    }

    /// The read models, caught up with every append acknowledged before
    /// this call (waiting at most a few seconds).
    pub async fn read_models(&self) -> Result<&Projector, ApiError> {
        let projector = self
            .0
            .projector
            .get()
            .ok_or_else(|| ApiError::unavailable("the read models are not running"))?;
        projector.caught_up(Duration::from_secs(5)).await?;
        Ok(projector)
    }

    /// The shutdown flag, for tasks that must stop with the service.
    pub fn shutdown_watch(&self) -> watch::Receiver<bool> {
        self.0.shutdown.subscribe()
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.0.store
    }

    pub fn origin(&self) -> &str {
        &self.0.origin
    }

    /// The signed-note verifier key of the log.
    pub fn verifier_key(&self) -> &str {
        &self.0.verifier_key
    }

    pub fn settings(&self) -> &Settings {
        &self.0.settings
    }

    /// Witness cosignatures collected for checkpoints.
    pub fn cosignatures(&self) -> &Cosignatures {
        &self.0.cosignatures
    }

    /// Gives the handlers the keys and the personal-data store; once
    /// (later calls are ignored).
    pub fn attach_private_data(&self, data: Arc<PrivateData>) {
        let _ = self.0.private_data.set(data);
    }

    /// The query-code key and the personal-data store.
    pub fn private_data(&self) -> Result<&PrivateData, ApiError> {
        self.0
            .private_data
            .get()
            .map(Arc::as_ref)
            .ok_or_else(|| ApiError::unavailable("the personal-data store is not open"))
    }

    /// Sets the base of public links (status page, QR codes), e.g.
    /// `https://zwfw.example.gov.cn`; the first call wins (`serve` sets
    /// `http://{listen address}` unless one was set before).
    pub fn set_public_url(&self, url: &str) {
        let _ = self.0.public_url.set(url.trim_end_matches('/').to_owned());
    }

    /// The base of public links; empty (links relative to the host) until set.
    pub fn public_url(&self) -> &str {
        self.0.public_url.get().map_or("", String::as_str)
    }

    /// The per-address limit of the public endpoints.
    pub fn public_rate_limiter(&self) -> &AddressLimiter {
        &self.0.public_rate
    }

    pub fn rate_limiter(&self) -> &RateLimiter {
        &self.0.rate
    }

    pub fn metrics(&self) -> Option<&metrics_exporter_prometheus::PrometheusHandle> {
        self.0.metrics.as_ref()
    }

    pub fn directory(&self) -> RwLockReadGuard<'_, Directory> {
        // A poisoned lock means a panic mid-apply; the maps are still valid.
        self.0.directory.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The record of the token with id (hash) `id`. When other processes
    /// share the log, a token not known here is looked up once more after
    /// reading what they appended since: a token issued through another
    /// process is accepted at once, not only when the follower has seen it.
    pub async fn token(&self, id: &str) -> Option<TokenRecord> {
        if let Some(record) = self.directory().token(id) {
            return Some(record.clone());
        }
        if !self.0.directory_follows.load(Ordering::Relaxed) {
            return None;
        }
        if let Err(e) = self.read_directory_changes().await {
            tracing::warn!("directory: reading the log: {e}");
        }
        self.directory().token(id).cloned()
    }

    /// Keeps the directory following the log (for a log other processes
    /// append to), until shutdown. Applying an event twice (once when this
    /// process appends it, once here) changes nothing.
    pub fn follow_directory(&self) {
        if self.0.directory_follows.swap(true, Ordering::Relaxed) {
            return;
        }
        let state = self.clone();
        let mut shutdown = self.shutdown_watch();
        tokio::spawn(async move {
            loop {
                if *shutdown.borrow() {
                    return;
                }
                let next = *state.0.directory_next.lock().await;
                tokio::select! {
                    _ = state.0.store.wait_for_size(next + 1, Duration::from_secs(5)) => {}
                    _ = shutdown.changed() => return,
                }
                if let Err(e) = state.read_directory_changes().await {
                    tracing::warn!("directory: reading the log: {e}");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        _ = shutdown.changed() => return,
                    }
                }
            }
        });
    }

    /// Applies the directory changes in the log after the directory's
    /// position, up to the end of the log.
    async fn read_directory_changes(&self) -> Result<(), ledger::Error> {
        const PAGE: usize = 1_000;
        let mut next = self.0.directory_next.lock().await;
        loop {
            let page = self.0.store.read_entries(LogIndex(*next), PAGE).await?;
            let Some(last) = page.last() else {
                return Ok(());
            };
            let after = last.index.0 + 1;
            let full = page.len() == PAGE;
            let changes = page
                .into_iter()
                .filter(|r| directory_relevant(&r.entry))
                .map(StoredEvent::from_raw)
                .collect::<Result<Vec<_>, _>>()?;
            self.note_appended(&changes);
            *next = after;
            if !full {
                return Ok(());
            }
        }
    }

    /// Applies events just appended through this service to the directory.
    pub fn note_appended(&self, events: &[StoredEvent]) {
        let mut d = self.0.directory.write().unwrap_or_else(|p| p.into_inner());
        for ev in events {
            d.apply(ev);
        }
    }

    /// Signals every long-lived response (subscriptions) to end.
    pub fn begin_shutdown(&self) {
        self.0.shutdown.send_replace(true);
    }

    pub fn is_shutting_down(&self) -> bool {
        *self.0.shutdown.borrow()
    }

    /// Resolves once shutdown has begun.
    pub fn shutdown_signal(&self) -> impl std::future::Future<Output = ()> + Send + use<> {
        let mut rx = self.0.shutdown.subscribe();
        async move {
            // An error means the sender is gone: the service is gone too.
            let _ = rx.wait_for(|down| *down).await;
        }
    }

    /// The department that opened `stream`, if it exists.
    pub async fn owner(&self, stream: &StreamId) -> Result<Option<ActorId>, ApiError> {
        if let Some(d) = self
            .0
            .owners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(stream)
        {
            return Ok(Some(d.clone()));
        }
        let first = self
            .0
            .store
            .read_stream(stream, StreamVersion(0), Direction::Forwards, 1)
            .await?;
        let owner = first.first().map(|e| e.event.actor.department.clone());
        if let Some(d) = &owner {
            self.0
                .owners
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(stream.clone(), d.clone());
        }
        Ok(owner)
    }

    /// Appends one event the service itself writes (registry changes, access
    /// records) and applies it to the directory.
    pub async fn append_service_event(
        &self,
        stream: StreamId,
        event_type: &str,
        actor: Actor,
        payload: Value,
    ) -> Result<Receipt, ApiError> {
        let payload: Map<String, Value> = match payload {
            Value::Object(m) => m,
            other => return Err(ApiError::internal(format!("payload {other} is no object"))),
        };
        let event = ProposedEvent::new(
            stream.clone(),
            EventType::new(event_type)?,
            Timestamp::now(),
            actor,
            payload,
        );
        let receipts = self
            .0
            .store
            .append(AppendRequest {
                stream,
                expected: ExpectedVersion::Any,
                events: vec![event],
            })
            .await?;
        let receipt = receipts
            .into_iter()
            .next()
            .ok_or_else(|| ApiError::internal("append of one event returned no receipt"))?;
        if receipt.stream.is_registry()
            && let Some(stored) = self.0.store.event_by_id(receipt.event_id).await?
        {
            self.note_appended(&[stored]);
        }
        Ok(receipt)
    }

    /// Runs `f` holding the registry lock: checks and the append it guards
    /// see no other registry change in between.
    pub async fn registry_change<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: AsyncFnOnce() -> Result<T, ApiError>,
    {
        let _guard = self.0.registry_lock.lock().await;
        f().await
    }
}

/// The actor of registry events the service writes.
pub fn admin_actor(officer: Option<ActorId>) -> Actor {
    Actor {
        // Invariant: a constant that satisfies the actor id rules.
        department: ActorId::new(ADMIN_DEPARTMENT).expect("valid constant"),
        officer,
    }
}

/// Whether a raw log entry may be a directory change (a false positive is
/// parsed and ignored; a false negative is impossible for canonical entries).
fn directory_relevant(entry: &[u8]) -> bool {
    const MARKERS: [&[u8]; 2] = [
        b"\"stream\":\"registry\"",
        b"\"type\":\"complaint.assigned\"",
    ];
    MARKERS
        .iter()
        .any(|m| entry.windows(m.len()).any(|w| w == *m))
}

#[cfg(test)]
mod tests {
    use super::directory_relevant;

    #[test]
    fn directory_entries_are_found_by_their_canonical_members() {
        assert!(directory_relevant(
            br#"{"id":"X","stream":"registry","type":"token.issued"}"#
        ));
        assert!(directory_relevant(
            br#"{"stream":"complaint-1","type":"complaint.assigned"}"#
        ));
        assert!(!directory_relevant(
            br#"{"payload":{"note":"\"stream\":\"registry\""},"stream":"case-1","type":"case.step"}"#
        ));
    }
}
