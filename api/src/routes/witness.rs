//! Pull-mode witnessing (roles witness and admin): a witness that can only
//! reach out fetches the `add-checkpoint` request it would have been sent,
//! checks and cosigns it locally, and posts the signature lines back.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{Caller, Role};
use crate::error::{ApiError, ApiResult, Problem, ProblemKind};
use crate::extract::ApiQuery;
use crate::routes::transparency::latest_checkpoint;
use crate::state::AppState;
use crate::witness::{CosignError, accept_cosignatures, add_checkpoint_body, cosigned_note};

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PullQuery {
    /// The size of the checkpoint the witness last cosigned (0 if none).
    pub old_size: u64,
}

/// The tlog-witness `add-checkpoint` request body for the latest checkpoint.
#[utoipa::path(
    get, path = "/v1/witness/add-checkpoint", tag = "witness",
    params(PullQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "`old <size>`, base64 consistency proof lines, a blank line, the checkpoint note", body = String, content_type = "text/plain; charset=utf-8"),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn pull_checkpoint(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<PullQuery>,
) -> ApiResult<Response> {
    caller.require(&[Role::Witness, Role::Admin])?;
    let cp = latest_checkpoint(&state).await?;
    if q.old_size > cp.size {
        return Err(ApiError::malformed(format!(
            "old_size {} is beyond the latest checkpoint ({})",
            q.old_size, cp.size
        )));
    }
    let proof = if q.old_size == 0 {
        Vec::new()
    } else {
        state
            .store()
            .consistency_proof(q.old_size, cp.size)
            .await?
            .hashes
    };
    let mut res = add_checkpoint_body(q.old_size, &proof, &cp.note).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    Ok(res)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CosignQuery {
    /// The size of the checkpoint the lines cosign.
    pub size: u64,
}

#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct CosignResult {
    /// Registered witnesses whose cosignatures verified and were kept.
    pub accepted: Vec<String>,
    /// The checkpoint note with every cosignature collected for it.
    pub checkpoint: String,
}

/// Post cosignature lines (as an `add-checkpoint` answer) for a checkpoint.
#[utoipa::path(
    post, path = "/v1/witness/cosignatures", tag = "witness",
    params(CosignQuery),
    request_body(content = String, content_type = "text/plain", description = "Note signature lines, each ending in a newline"),
    security(("bearer" = [])),
    responses(
        (status = 200, body = CosignResult),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No checkpoint of that size", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No valid cosignature by a registered witness", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn post_cosignatures(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<CosignQuery>,
    body: Bytes,
) -> ApiResult<Json<CosignResult>> {
    caller.require(&[Role::Witness, Role::Admin])?;
    let cp = state
        .store()
        .checkpoints(q.size, 1)
        .await?
        .into_iter()
        .find(|c| c.size == q.size)
        .ok_or_else(|| ApiError::not_found(format!("no checkpoint of size {}", q.size)))?;
    let accepted = accept_cosignatures(&state, &cp, &body).map_err(|e| match e {
        CosignError::Malformed { .. } => ApiError::malformed(e.to_string()),
        CosignError::NoValidCosignature => ApiError::new(ProblemKind::BadSignature, e.to_string()),
        _ => ApiError::new(ProblemKind::Unavailable, e.to_string()),
    })?;
    Ok(Json(CosignResult {
        accepted,
        checkpoint: String::from_utf8_lossy(&cosigned_note(&state, &cp)).into_owned(),
    }))
}
