//! Witnessing by C2SP tlog-witness (<https://c2sp.org/tlog-witness>), both
//! sides.
//!
//! The log side:
//! - [`add_checkpoint_body`] builds an `add-checkpoint` request: `old <size>`,
//!   the base64 consistency proof lines, a blank line, the checkpoint note.
//! - [`spawn_pusher`] submits each new checkpoint to every registered witness
//!   that has a submission URL (push mode), starting from the size the
//!   witness last cosigned (learnt from its `409` answer if unknown), and
//!   keeps the C2SP tlog-cosignatures it returns.
//! - A witness that can only reach out (pull mode) fetches the same request
//!   body from `GET /v1/witness/add-checkpoint?old_size=N` and posts the
//!   signature lines it would have answered to `POST /v1/witness/cosignatures`.
//! - [`Cosignatures`] keeps verified cosignatures in
//!   `DIR/cosignatures.jsonl` (one JSON object per line, fsynced), so
//!   `/checkpoint` is served with the cosignatures collected for it. They are
//!   kept outside the log on purpose: recording a cosignature in the log would
//!   grow it, and the new checkpoint would need cosigning again.
//!
//! The witness side: [`Witness`] verifies a submitted checkpoint against the
//! log keys it trusts and a consistency proof from the size it last cosigned,
//! persists its new state atomically with that check, and cosigns; served by
//! [`witness_router`] at `POST /add-checkpoint`.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use ledger::checkpoint::Checkpoint;
use ledger::cosignature::{CosignatureVerifier, Cosigner, cosign, verify_cosignature};
use ledger::merkle::{Hash, verify_consistency};
use ledger::note::{Note, NoteSignature, NoteVerifier};
use ledger::store::StoredCheckpoint;
use serde::{Deserialize, Serialize};

use crate::state::AppState;

/// The content type of a `409` answer's size (tlog-witness).
pub const TLOG_SIZE_CONTENT_TYPE: &str = "text/x.tlog.size";

/// Most consistency proof lines a request may carry (tlog-witness).
pub const MAX_PROOF_LINES: usize = 63;

/// The body of an `add-checkpoint` request.
pub fn add_checkpoint_body(old_size: u64, proof: &[Hash], note: &[u8]) -> Vec<u8> {
    let mut body = format!("old {old_size}\n").into_bytes();
    for h in proof {
        body.extend_from_slice(h.to_base64().as_bytes());
        body.push(b'\n');
    }
    body.push(b'\n');
    body.extend_from_slice(note);
    body
}

/// A parsed `add-checkpoint` request.
#[derive(Debug)]
pub struct AddCheckpoint {
    pub old_size: u64,
    pub proof: Vec<Hash>,
    pub note: Vec<u8>,
}

/// Parses an `add-checkpoint` request body.
pub fn parse_add_checkpoint(body: &[u8]) -> Result<AddCheckpoint, String> {
    let text = std::str::from_utf8(body).map_err(|_| "body is not UTF-8".to_owned())?;
    let (first, mut rest) = text
        .split_once('\n')
        .ok_or_else(|| "no old size line".to_owned())?;
    let old = first
        .strip_prefix("old ")
        .ok_or_else(|| "first line is not \"old <size>\"".to_owned())?;
    if old.is_empty() || (old.len() > 1 && old.starts_with('0')) {
        return Err("old size is not a canonical decimal".into());
    }
    let old_size: u64 = old
        .parse()
        .map_err(|_| "old size is not a decimal".to_owned())?;
    let mut proof = Vec::new();
    loop {
        let (line, tail) = rest
            .split_once('\n')
            .ok_or_else(|| "no blank line before the checkpoint".to_owned())?;
        rest = tail;
        if line.is_empty() {
            break;
        }
        if proof.len() == MAX_PROOF_LINES {
            return Err(format!("more than {MAX_PROOF_LINES} proof lines"));
        }
        proof.push(Hash::from_base64(line).ok_or_else(|| format!("bad proof line {line:?}"))?);
    }
    Ok(AddCheckpoint {
        old_size,
        proof,
        note: rest.as_bytes().to_vec(),
    })
}

/// One stored cosignature.
#[derive(Serialize, Deserialize, Clone, Debug)]
struct StoredCosignature {
    size: u64,
    /// Root hash, base64 (as in the checkpoint).
    root: String,
    witness: String,
    /// The note signature line, without its newline.
    line: String,
}

/// Verified cosignatures, by checkpoint, kept in a JSON-lines file.
pub struct Cosignatures {
    path: Option<PathBuf>,
    inner: Mutex<CosignatureIndex>,
}

#[derive(Default)]
struct CosignatureIndex {
    /// size → (root, witness) → signature line.
    by_size: BTreeMap<u64, BTreeMap<(String, String), String>>,
    /// witness → largest size it cosigned.
    latest: HashMap<String, u64>,
}

impl CosignatureIndex {
    fn insert(&mut self, c: StoredCosignature) {
        let latest = self.latest.entry(c.witness.clone()).or_default();
        *latest = (*latest).max(c.size);
        self.by_size
            .entry(c.size)
            .or_default()
            .insert((c.root, c.witness), c.line);
    }
}

impl Cosignatures {
    /// Cosignatures kept only in memory (tests, read-only use).
    pub fn in_memory() -> Self {
        Cosignatures {
            path: None,
            inner: Mutex::default(),
        }
    }

    /// Loads `path` (if it exists) and appends to it from now on.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let mut index = CosignatureIndex::default();
        if path.exists() {
            for line in fs::read_to_string(path)?.lines() {
                // A torn last line (crash mid-write) is skipped: that
                // cosignature was never reported as kept.
                if let Ok(c) = serde_json::from_str::<StoredCosignature>(line) {
                    index.insert(c);
                }
            }
        }
        Ok(Cosignatures {
            path: Some(path.to_owned()),
            inner: Mutex::new(index),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CosignatureIndex> {
        // A poisoned lock only means a panic mid-insert; the maps are valid.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keeps `sig` (already verified) by `witness` on the checkpoint.
    pub fn add(
        &self,
        cp: &StoredCheckpoint,
        witness: &str,
        sig: &NoteSignature,
    ) -> std::io::Result<()> {
        let line = sig.to_line();
        let c = StoredCosignature {
            size: cp.size,
            root: cp.root.to_base64(),
            witness: witness.to_owned(),
            line: line.trim_end_matches('\n').to_owned(),
        };
        let mut index = self.lock();
        if let Some(path) = &self.path {
            let mut f = fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?;
            let mut text = serde_json::to_string(&c).map_err(std::io::Error::other)?;
            text.push('\n');
            f.write_all(text.as_bytes())?;
            f.sync_data()?;
        }
        index.insert(c);
        Ok(())
    }

    /// The signature lines collected for this checkpoint.
    pub fn lines_for(&self, cp: &StoredCheckpoint) -> Vec<String> {
        let root = cp.root.to_base64();
        self.lock()
            .by_size
            .get(&cp.size)
            .map(|m| {
                m.iter()
                    .filter(|((r, _), _)| *r == root)
                    .map(|(_, line)| line.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The largest size `witness` cosigned, as far as this log knows.
    pub fn latest(&self, witness: &str) -> Option<u64> {
        self.lock().latest.get(witness).copied()
    }

    /// The witnesses whose cosignatures on this checkpoint are kept, by
    /// name, sorted.
    pub fn witnesses_for(&self, cp: &StoredCheckpoint) -> Vec<String> {
        let root = cp.root.to_base64();
        self.lock()
            .by_size
            .get(&cp.size)
            .map(|m| {
                m.keys()
                    .filter(|(r, _)| *r == root)
                    .map(|(_, w)| w.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Up to `limit` tree sizes below `before` (all when `None`), newest
    /// first, at which one root hash carries a kept cosignature by every
    /// witness in `by` (by at least one witness when `by` is empty).
    pub fn sizes_cosigned_by(&self, by: &[String], before: Option<u64>, limit: usize) -> Vec<u64> {
        let index = self.lock();
        let upper = before.map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded);
        index
            .by_size
            .range((std::ops::Bound::Unbounded, upper))
            .rev()
            .filter(|(_, sigs)| {
                let mut roots: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
                for (root, witness) in sigs.keys() {
                    roots.entry(root).or_default().push(witness);
                }
                roots
                    .values()
                    .any(|ws| by.iter().all(|w| ws.contains(&w.as_str())))
            })
            .map(|(size, _)| *size)
            .take(limit)
            .collect()
    }
}

/// The checkpoint note with the cosignatures collected for it appended.
pub fn cosigned_note(state: &AppState, cp: &StoredCheckpoint) -> Vec<u8> {
    let mut note = cp.note.clone();
    for line in state.cosignatures().lines_for(cp) {
        note.extend_from_slice(line.as_bytes());
        note.push(b'\n');
    }
    note
}

/// Why cosignature lines were not kept.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CosignError {
    #[error("cosignature lines do not parse: {detail}")]
    Malformed { detail: String },
    #[error("no line is a valid cosignature by a registered witness")]
    NoValidCosignature,
    #[error("storing cosignatures: {source}")]
    Io { source: std::io::Error },
}

/// Verifies `lines` (note signature lines) as cosignatures on `cp` by
/// registered witnesses; keeps the valid ones; returns their witnesses.
pub fn accept_cosignatures(
    state: &AppState,
    cp: &StoredCheckpoint,
    lines: &[u8],
) -> Result<Vec<String>, CosignError> {
    let mut combined = cp.note.clone();
    combined.extend_from_slice(lines);
    let note = Note::parse(&combined).map_err(|e| CosignError::Malformed {
        detail: e.to_string(),
    })?;
    let witnesses: Vec<(String, CosignatureVerifier)> = state
        .directory()
        .witnesses()
        .filter_map(|w| {
            CosignatureVerifier::from_verifier_key_string(w.verifier_key)
                .ok()
                .map(|v| (w.name.to_owned(), v))
        })
        .collect();
    let mut accepted = Vec::new();
    for sig in &note.signatures {
        for (name, verifier) in &witnesses {
            if verify_cosignature(verifier, &note.text, sig).is_ok() {
                state
                    .cosignatures()
                    .add(cp, name, sig)
                    .map_err(|source| CosignError::Io { source })?;
                accepted.push(name.clone());
            }
        }
    }
    if accepted.is_empty() {
        return Err(CosignError::NoValidCosignature);
    }
    Ok(accepted)
}

/// Submits the latest checkpoint to every registered witness with a
/// submission URL, every `interval`, until shutdown.
pub fn spawn_pusher(state: AppState, interval: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        let shutdown = state.shutdown_signal();
        tokio::pin!(shutdown);
        loop {
            push_once(&state, &client).await;
            tokio::select! {
                _ = &mut shutdown => break,
                _ = tokio::time::sleep(interval) => {}
            }
        }
    })
}

/// One round of push: each witness with a URL that has not cosigned the
/// latest checkpoint is asked to.
pub async fn push_once(state: &AppState, client: &reqwest::Client) {
    let Ok(Some(cp)) = state.store().latest_checkpoint().await else {
        return;
    };
    let targets: Vec<(String, String)> = state
        .directory()
        .witnesses()
        .filter_map(|w| w.url.map(|u| (w.name.to_owned(), u.to_owned())))
        .collect();
    for (name, url) in targets {
        if state.cosignatures().latest(&name) == Some(cp.size) {
            continue;
        }
        if let Err(e) = push_to(state, client, &cp, &name, &url).await {
            tracing::warn!(witness = %name, %url, "add-checkpoint failed: {e}");
        }
    }
}

async fn push_to(
    state: &AppState,
    client: &reqwest::Client,
    cp: &StoredCheckpoint,
    name: &str,
    url: &str,
) -> Result<(), String> {
    let endpoint = format!("{}/add-checkpoint", url.trim_end_matches('/'));
    let mut old = state.cosignatures().latest(name).unwrap_or(0);
    // At most two tries: the second with the size a 409 told us.
    for _ in 0..2 {
        if old > cp.size {
            return Err(format!(
                "witness has cosigned size {old}, beyond our checkpoint {}",
                cp.size
            ));
        }
        let proof = if old == 0 {
            Vec::new()
        } else {
            state
                .store()
                .consistency_proof(old, cp.size)
                .await
                .map_err(|e| e.to_string())?
                .hashes
        };
        let res = client
            .post(&endpoint)
            .body(add_checkpoint_body(old, &proof, &cp.note))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = res.status();
        let body = res.bytes().await.map_err(|e| e.to_string())?;
        match status.as_u16() {
            200 => {
                let accepted = accept_cosignatures(state, cp, &body).map_err(|e| e.to_string())?;
                tracing::info!(witness = %name, size = cp.size, ?accepted, "cosigned");
                return Ok(());
            }
            409 => {
                let text = String::from_utf8_lossy(&body);
                old = text
                    .trim()
                    .parse()
                    .map_err(|_| format!("409 without a size: {text:?}"))?;
            }
            other => {
                return Err(format!(
                    "{other}: {}",
                    String::from_utf8_lossy(&body)
                        .chars()
                        .take(200)
                        .collect::<String>()
                ));
            }
        }
    }
    Err("witness kept answering 409".into())
}

// ---------------------------------------------------------------------------
// The witness side.

/// The latest checkpoint a witness cosigned for one log.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
struct Cosigned {
    size: u64,
    root: [u8; 32],
}

/// A C2SP tlog-witness: cosigns checkpoints of the logs it trusts after
/// checking their consistency with what it cosigned before.
pub struct Witness {
    cosigner: Cosigner,
    logs: HashMap<String, NoteVerifier>,
    state_path: Option<PathBuf>,
    state: Mutex<HashMap<String, Cosigned>>,
}

/// A witness's refusal: an HTTP status and a text body.
#[derive(Debug, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    pub body: String,
    pub content_type: &'static str,
}

impl Refusal {
    fn new(status: StatusCode, body: impl Into<String>) -> Self {
        Refusal {
            status,
            body: body.into(),
            content_type: "text/plain; charset=utf-8",
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut res = (self.status, self.body).into_response();
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(self.content_type),
        );
        res
    }
}

impl Witness {
    /// A witness trusting `logs` (their signed-note verifier keys; the key
    /// name is the origin), keeping its state in `state_path` if given.
    pub fn new(
        cosigner: Cosigner,
        logs: Vec<NoteVerifier>,
        state_path: Option<PathBuf>,
    ) -> std::io::Result<Self> {
        let state = match &state_path {
            Some(p) if p.exists() => {
                serde_json::from_slice(&fs::read(p)?).map_err(std::io::Error::other)?
            }
            _ => HashMap::new(),
        };
        Ok(Witness {
            cosigner,
            logs: logs.into_iter().map(|v| (v.name().to_owned(), v)).collect(),
            state_path,
            state: Mutex::new(state),
        })
    }

    pub fn verifier(&self) -> CosignatureVerifier {
        self.cosigner.verifier()
    }

    /// The size this witness last cosigned for `origin`.
    pub fn cosigned_size(&self, origin: &str) -> Option<u64> {
        self.cosigned(origin).map(|(size, _)| size)
    }

    /// The size and root hash this witness last cosigned for `origin`.
    pub fn cosigned(&self, origin: &str) -> Option<(u64, Hash)> {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(origin)
            .map(|c| (c.size, Hash(c.root)))
    }

    /// Whether `origin` is a log this witness witnesses.
    pub fn knows(&self, origin: &str) -> bool {
        self.logs.contains_key(origin)
    }

    /// Handles one `add-checkpoint` request body; answers the cosignature
    /// lines or a refusal exactly as tlog-witness prescribes.
    pub fn add_checkpoint(&self, body: &[u8], now_secs: u64) -> Result<String, Refusal> {
        let req =
            parse_add_checkpoint(body).map_err(|e| Refusal::new(StatusCode::BAD_REQUEST, e))?;
        let note = Note::parse(&req.note)
            .map_err(|e| Refusal::new(StatusCode::BAD_REQUEST, e.to_string()))?;
        let cp = Checkpoint::parse(&note.text)
            .map_err(|e| Refusal::new(StatusCode::BAD_REQUEST, e.to_string()))?;
        let Some(log_key) = self.logs.get(&cp.origin) else {
            return Err(Refusal::new(
                StatusCode::NOT_FOUND,
                format!(
                    "unknown log origin {:?}: this witness does not witness it",
                    cp.origin
                ),
            ));
        };
        if note.verify(std::slice::from_ref(log_key)).is_err() {
            return Err(Refusal::new(
                StatusCode::FORBIDDEN,
                "no signature by a trusted log key",
            ));
        }
        if req.old_size > cp.size {
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                "old size is larger than the checkpoint",
            ));
        }
        // Check against the recorded state and persist the new one under one lock.
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let recorded = state.get(&cp.origin).copied();
        let recorded_size = recorded.map_or(0, |c| c.size);
        if req.old_size != recorded_size {
            return Err(Refusal {
                status: StatusCode::CONFLICT,
                body: format!("{recorded_size}\n"),
                content_type: TLOG_SIZE_CONTENT_TYPE,
            });
        }
        match recorded {
            None => {
                if !req.proof.is_empty() {
                    return Err(Refusal::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "the proof must be empty from size 0",
                    ));
                }
            }
            Some(old) if old.size == cp.size => {
                // tlog-witness: same size, different root hash: 409.
                if old.root != cp.root {
                    return Err(Refusal::new(
                        StatusCode::CONFLICT,
                        format!(
                            "same size, different root hash: this witness cosigned size {} with root {}, the checkpoint has root {}",
                            old.size,
                            Hash(old.root).to_base64(),
                            Hash(cp.root).to_base64()
                        ),
                    ));
                }
            }
            Some(old) => {
                if verify_consistency(
                    old.size,
                    cp.size,
                    &Hash(old.root),
                    &Hash(cp.root),
                    &req.proof,
                )
                .is_err()
                {
                    // tlog-witness: a proof that does not verify: 422.
                    return Err(Refusal::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        format!(
                            "the consistency proof does not verify: size {} with root {} does not extend size {} with root {}, which this witness cosigned",
                            cp.size,
                            Hash(cp.root).to_base64(),
                            old.size,
                            Hash(old.root).to_base64()
                        ),
                    ));
                }
            }
        }
        let mut next = state.clone();
        next.insert(
            cp.origin.clone(),
            Cosigned {
                size: cp.size,
                root: cp.root,
            },
        );
        if let Some(path) = &self.state_path {
            persist(path, &next).map_err(|e| {
                Refusal::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("persisting: {e}"),
                )
            })?;
        }
        *state = next;
        drop(state);
        let sig = cosign(&self.cosigner, &note.text, now_secs)
            .map_err(|e| Refusal::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
        Ok(sig.to_line())
    }
}

fn persist(path: &Path, state: &HashMap<String, Cosigned>) -> std::io::Result<()> {
    write_atomically(
        path,
        &serde_json::to_vec(state).map_err(std::io::Error::other)?,
    )
}

/// Replaces `path` with `bytes` so that a crash leaves either the old file
/// or the new one, never a mix: the bytes go to `<path>.tmp` (fsynced),
/// which is renamed over `path`, and the directory is fsynced so that the
/// rename itself is durable. A witness's state and an outside monitor's are
/// kept this way.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut f = fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    fs::rename(&tmp, path)?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    fs::File::open(dir)?.sync_all()
}

/// `POST /add-checkpoint` for `witness`.
pub fn witness_router(witness: std::sync::Arc<Witness>) -> Router {
    async fn handle(
        State(w): State<std::sync::Arc<Witness>>,
        body: Bytes,
    ) -> Result<Response, Refusal> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let lines = w.add_checkpoint(&body, now)?;
        Ok(lines.into_response())
    }
    Router::new()
        .route("/add-checkpoint", post(handle))
        .with_state(witness)
}
