//! Public transparency endpoints: C2SP tlog-tiles at the root
//! (`/checkpoint`, `/tile/…`), `/v1/log`, stored checkpoints with their
//! cosignatures under `/v1/checkpoints`, and Merkle proofs under
//! `/v1/proofs`. None needs a token.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use ledger::store::StoredCheckpoint;
use ledger::tiles::{TileResource, parse_tile_resource};
use ledger::{EventId, LogIndex};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiPath, ApiQuery};
use crate::state::AppState;

/// The latest signed checkpoint, signing one if the log has none yet.
pub async fn latest_checkpoint(state: &AppState) -> Result<StoredCheckpoint, ApiError> {
    if let Some(cp) = state.store().latest_checkpoint().await? {
        return Ok(cp);
    }
    state
        .store()
        .checkpoint_now()
        .await?
        .ok_or_else(|| ApiError::not_found("the log has no checkpoint yet"))
}

/// A checkpoint covering at least `size` entries (signing a new one if the
/// latest is older).
async fn checkpoint_covering(state: &AppState, size: u64) -> Result<StoredCheckpoint, ApiError> {
    let cp = latest_checkpoint(state).await?;
    if cp.size >= size {
        return Ok(cp);
    }
    let cp = state
        .store()
        .checkpoint_now()
        .await?
        .ok_or_else(|| ApiError::internal("no checkpoint after signing one"))?;
    if cp.size >= size {
        Ok(cp)
    } else {
        Err(ApiError::not_found(format!(
            "no checkpoint covers {size} entries"
        )))
    }
}

/// The stored checkpoint of exactly `size`, if one was signed.
async fn checkpoint_of(state: &AppState, size: u64) -> Result<Option<StoredCheckpoint>, ApiError> {
    Ok(state
        .store()
        .checkpoints(size, 1)
        .await?
        .into_iter()
        .find(|c| c.size == size))
}

/// The checkpoint note with the witness cosignatures collected for it.
fn note_text(state: &AppState, cp: &StoredCheckpoint) -> String {
    String::from_utf8_lossy(&crate::witness::cosigned_note(state, cp)).into_owned()
}

/// The log's latest checkpoint: a C2SP signed note (tlog-checkpoint), with
/// the witness cosignatures (tlog-cosignature) collected for it.
#[utoipa::path(
    get, path = "/checkpoint", tag = "transparency",
    responses(
        (status = 200, description = "C2SP tlog-checkpoint signed note", body = String, content_type = "text/plain; charset=utf-8"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn checkpoint(State(state): State<AppState>) -> ApiResult<Response> {
    let cp = latest_checkpoint(&state).await?;
    let mut res = crate::witness::cosigned_note(&state, &cp).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(res)
}

/// A stored checkpoint and the witnesses that cosigned it.
#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct CheckpointView {
    /// The tree size the checkpoint commits to.
    #[schema(format = Int64, minimum = 0)]
    pub size: u64,
    /// Its root hash, hex.
    pub root_hash: String,
    /// The C2SP signed note (tlog-checkpoint) with the witness cosignatures
    /// (tlog-cosignature) collected for it, as `/checkpoint` serves the
    /// latest one.
    pub checkpoint: String,
    /// The registered witnesses whose cosignatures the note carries (each
    /// verified against the witness's registered key when it was posted),
    /// by name, sorted. A verifier checks the lines itself.
    pub cosigned_by: Vec<String>,
}

fn checkpoint_view(state: &AppState, cp: &StoredCheckpoint) -> CheckpointView {
    CheckpointView {
        size: cp.size,
        root_hash: cp.root.to_hex(),
        checkpoint: note_text(state, cp),
        cosigned_by: state.cosignatures().witnesses_for(cp),
    }
}

/// A tree size as C2SP writes it: a decimal without leading zeros.
fn parse_size(text: &str) -> Result<u64, ApiError> {
    let canonical = text == "0"
        || (text.starts_with(|c: char| ('1'..='9').contains(&c))
            && text.bytes().all(|b| b.is_ascii_digit()));
    canonical
        .then(|| text.parse().ok())
        .flatten()
        .ok_or_else(|| {
            ApiError::malformed(format!(
                "size {text:?} is not a decimal tree size without leading zeros"
            ))
        })
}

/// The stored checkpoint of one tree size, with its cosignatures.
#[utoipa::path(
    get, path = "/v1/checkpoints/{size}", tag = "transparency",
    params(("size" = u64, Path, description = "Tree size, in decimal without leading zeros")),
    responses(
        (status = 200, body = CheckpointView),
        (status = 400, description = "Not a tree size", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No checkpoint of that size was signed", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn checkpoint_by_size(
    State(state): State<AppState>,
    ApiPath(size): ApiPath<String>,
) -> ApiResult<Json<CheckpointView>> {
    let size = parse_size(&size)?;
    let cp = checkpoint_of(&state, size)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no checkpoint of size {size}")))?;
    Ok(Json(checkpoint_view(&state, &cp)))
}

/// Most checkpoints one list answers.
const MAX_CHECKPOINTS: usize = 100;

/// The query of `GET /v1/checkpoints` (documentation; parsed by
/// [`CheckpointQuery::parse`], since `cosigned_by` repeats).
#[derive(IntoParams, Debug, Default, PartialEq, Eq)]
#[into_params(parameter_in = Query)]
pub struct CheckpointQuery {
    /// A witness name, as in its verifier key and cosignature lines;
    /// repeatable. Only checkpoints that every named witness cosigned.
    /// Absent: checkpoints with at least one cosignature.
    #[param(style = Form, explode, required = false)]
    pub cosigned_by: Vec<String>,
    /// Only checkpoints of a tree size below this one (to page back).
    pub before: Option<u64>,
    /// At most this many, 1 to 100 (default 10).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<usize>,
}

impl CheckpointQuery {
    fn parse(pairs: Vec<(String, String)>) -> Result<Self, ApiError> {
        let mut q = CheckpointQuery::default();
        for (name, value) in pairs {
            match name.as_str() {
                "cosigned_by" if !value.is_empty() => q.cosigned_by.push(value),
                "cosigned_by" => return Err(ApiError::malformed("cosigned_by is empty")),
                "before" if q.before.is_none() => q.before = Some(parse_size(&value)?),
                "limit" if q.limit.is_none() => {
                    q.limit = Some(
                        value
                            .parse()
                            .ok()
                            .filter(|n| (1..=MAX_CHECKPOINTS).contains(n))
                            .ok_or_else(|| {
                                ApiError::malformed(format!(
                                    "limit {value:?} is not a number from 1 to {MAX_CHECKPOINTS}"
                                ))
                            })?,
                    );
                }
                "before" | "limit" => {
                    return Err(ApiError::malformed(format!("{name} is given twice")));
                }
                other => {
                    return Err(ApiError::malformed(format!(
                        "unknown query parameter {other:?}"
                    )));
                }
            }
        }
        Ok(q)
    }
}

/// Stored checkpoints with their cosignatures.
#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct CheckpointList {
    /// Newest first.
    pub checkpoints: Vec<CheckpointView>,
}

/// The newest witnessed checkpoints: those cosigned by every named witness
/// (e.g. the newest checkpoint all the witnesses a verifier trusts have
/// cosigned, with `limit=1`), newest first.
#[utoipa::path(
    get, path = "/v1/checkpoints", tag = "transparency",
    params(CheckpointQuery),
    responses(
        (status = 200, body = CheckpointList),
        (status = 400, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_checkpoints(
    State(state): State<AppState>,
    ApiQuery(pairs): ApiQuery<Vec<(String, String)>>,
) -> ApiResult<Json<CheckpointList>> {
    let q = CheckpointQuery::parse(pairs)?;
    let sizes =
        state
            .cosignatures()
            .sizes_cosigned_by(&q.cosigned_by, q.before, q.limit.unwrap_or(10));
    let mut checkpoints = Vec::with_capacity(sizes.len());
    for size in sizes {
        // Cosignatures are kept only for checkpoints this log signed; the
        // witnesses are checked again against the stored root.
        if let Some(cp) = checkpoint_of(&state, size).await? {
            let view = checkpoint_view(&state, &cp);
            if q.cosigned_by.iter().all(|w| view.cosigned_by.contains(w))
                && !view.cosigned_by.is_empty()
            {
                checkpoints.push(view);
            }
        }
    }
    Ok(Json(CheckpointList { checkpoints }))
}

/// A C2SP tlog-tiles hash tile `tile/<L>/<N>[.p/<W>]` or entry bundle
/// `tile/entries/<N>[.p/<W>]`.
#[utoipa::path(
    get, path = "/tile/{path}", tag = "transparency",
    params(("path" = String, Path, description = "`<L>/<N>[.p/<W>]` or `entries/<N>[.p/<W>]`, with `<N>` in tlog-tiles' `x001/234` form")),
    responses(
        (status = 200, description = "Tile or bundle bytes", body = Vec<u8>, content_type = "application/octet-stream"),
        (status = 400, description = "Not a canonical tile path", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Beyond the tree", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn tile(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<String>,
) -> ApiResult<Response> {
    let resource = parse_tile_resource(&format!("tile/{path}"))
        .map_err(|e| ApiError::malformed(e.to_string()))?;
    let (bytes, full) = match resource {
        TileResource::Hashes(t) => (state.store().hash_tile(t).await?, t.is_full()),
        TileResource::Entries(b) => (state.store().entry_bundle(b).await?, b.is_full()),
    };
    let mut res = bytes.into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    // Full tiles never change; partial ones are immutable too, but clients
    // should move on to wider ones as the log grows.
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if full {
            "public, max-age=31536000, immutable"
        } else {
            "public, max-age=60"
        }),
    );
    Ok(res)
}

/// The log's identity and size.
#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct LogInfo {
    /// The checkpoint origin (the log's name).
    pub origin: String,
    /// The C2SP signed-note verifier key: `<origin>+<key hash>+<base64 key>`.
    pub verifier_key: String,
    /// Entries in the log now.
    #[schema(format = Int64, minimum = 0)]
    pub size: u64,
    /// The latest signed checkpoint's size (≤ `size`).
    #[schema(format = Int64, minimum = 0)]
    pub checkpoint_size: u64,
    /// The latest checkpoint note, exactly as signed.
    pub checkpoint: String,
}

/// Origin, verifier key and size of the log.
#[utoipa::path(
    get, path = "/v1/log", tag = "transparency",
    responses((status = 200, body = LogInfo))
)]
pub async fn log_info(State(state): State<AppState>) -> ApiResult<Json<LogInfo>> {
    let size = state.store().size().await?;
    let cp = latest_checkpoint(&state).await?;
    Ok(Json(LogInfo {
        origin: state.origin().to_owned(),
        verifier_key: state.verifier_key().to_owned(),
        size,
        checkpoint_size: cp.size,
        checkpoint: note_text(&state, &cp),
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InclusionQuery {
    /// The event's ULID (or give `log_index`).
    pub event_id: Option<String>,
    /// The entry's log index (or give `event_id`).
    pub log_index: Option<u64>,
    /// Tree size to prove against (default: the latest checkpoint, signed
    /// afresh if it does not yet cover the entry).
    pub tree_size: Option<u64>,
}

/// An RFC 9162 inclusion proof.
#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct InclusionProofView {
    #[schema(format = Int64, minimum = 0)]
    pub log_index: u64,
    #[schema(format = Int64, minimum = 0)]
    pub tree_size: u64,
    /// The entry's leaf hash, hex.
    pub leaf_hash: String,
    /// The root of the tree of `tree_size`, hex.
    pub root_hash: String,
    /// The audit path, hex, leaf to root.
    pub hashes: Vec<String>,
    /// The signed checkpoint of `tree_size`, when one exists.
    pub checkpoint: Option<String>,
}

/// Inclusion proof of an event (by id or log index).
#[utoipa::path(
    get, path = "/v1/proofs/inclusion", tag = "proofs",
    params(InclusionQuery),
    responses(
        (status = 200, body = InclusionProofView),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn inclusion_proof(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<InclusionQuery>,
) -> ApiResult<Json<InclusionProofView>> {
    let (index, leaf) = match (q.event_id, q.log_index) {
        (Some(id), None) => {
            let id: EventId = id.parse().map_err(ApiError::from_request_part)?;
            let ev = state
                .store()
                .event_by_id(id)
                .await?
                .ok_or_else(|| ApiError::not_found(format!("no event {id}")))?;
            (ev.index.0, ev.leaf_hash.to_hex())
        }
        (None, Some(i)) => {
            let raw = state.store().read_entries(LogIndex(i), 1).await?;
            let entry = raw
                .into_iter()
                .next()
                .filter(|r| r.index.0 == i)
                .ok_or_else(|| ApiError::not_found(format!("no entry at log index {i}")))?;
            (i, ledger::LeafHash::of_entry(&entry.entry).to_hex())
        }
        _ => {
            return Err(ApiError::malformed(
                "give exactly one of event_id and log_index",
            ));
        }
    };
    let (tree_size, checkpoint) = match q.tree_size {
        Some(size) => (size, checkpoint_of(&state, size).await?),
        None => {
            let cp = checkpoint_covering(&state, index + 1).await?;
            (cp.size, Some(cp))
        }
    };
    let proof = state
        .store()
        .inclusion_proof(LogIndex(index), tree_size)
        .await?;
    let root = state.store().tree_root(tree_size).await?;
    Ok(Json(InclusionProofView {
        log_index: index,
        tree_size,
        leaf_hash: leaf,
        root_hash: root.to_hex(),
        hashes: proof.hashes.iter().map(|h| h.to_hex()).collect(),
        checkpoint: checkpoint.as_ref().map(|cp| note_text(&state, cp)),
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConsistencyQuery {
    pub old_size: u64,
    /// Default: the latest checkpoint's size.
    pub new_size: Option<u64>,
}

/// An RFC 9162 consistency proof.
#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct ConsistencyProofView {
    #[schema(format = Int64, minimum = 0)]
    pub old_size: u64,
    #[schema(format = Int64, minimum = 0)]
    pub new_size: u64,
    pub old_root: String,
    pub new_root: String,
    /// The proof, hex.
    pub hashes: Vec<String>,
    /// The signed checkpoint of `new_size`, when one exists.
    pub checkpoint: Option<String>,
}

/// Consistency proof between two tree sizes.
#[utoipa::path(
    get, path = "/v1/proofs/consistency", tag = "proofs",
    params(ConsistencyQuery),
    responses(
        (status = 200, body = ConsistencyProofView),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn consistency_proof(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ConsistencyQuery>,
) -> ApiResult<Json<ConsistencyProofView>> {
    let (new_size, checkpoint) = match q.new_size {
        Some(size) => (size, checkpoint_of(&state, size).await?),
        None => {
            let cp = latest_checkpoint(&state).await?;
            (cp.size, Some(cp))
        }
    };
    if q.old_size > new_size {
        return Err(ApiError::malformed(format!(
            "old_size {} is larger than new_size {new_size}",
            q.old_size
        )));
    }
    let proof = state
        .store()
        .consistency_proof(q.old_size, new_size)
        .await?;
    let old_root = state.store().tree_root(q.old_size).await?;
    let new_root = state.store().tree_root(new_size).await?;
    Ok(Json(ConsistencyProofView {
        old_size: q.old_size,
        new_size,
        old_root: old_root.to_hex(),
        new_root: new_root.to_hex(),
        hashes: proof.hashes.iter().map(|h| h.to_hex()).collect(),
        checkpoint: checkpoint.as_ref().map(|cp| note_text(&state, cp)),
    }))
}
