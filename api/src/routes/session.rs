//! `GET /v1/whoami`: what the service knows about the bearer of a token —
//! its role, department and subject — so a client (the web console) can
//! show only what that role may use.
//!
//! What it does not do: issue, refresh or revoke tokens (`/v1/admin`
//! does), or say anything about other tokens. Only the token's own id (its
//! SHA-256, as recorded in `token.issued`) is answered, never the token.

use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{Caller, Role};
use crate::error::Problem;

/// The caller of a request, as the token registry describes it.
#[derive(Serialize, Deserialize, ToSchema, Debug, Clone, PartialEq, Eq)]
pub struct WhoAmI {
    /// `admin`, `department`, `inspector`, `complaint_handler` or `witness`.
    pub role: Role,
    /// The organisation the holder acts for (`actor.department`).
    pub department: String,
    /// The holder (`actor.officer` of events the service writes for them).
    pub subject: String,
    /// The token's id: hex SHA-256 of the token.
    pub token_id: String,
}

/// The role, department and subject of the bearer token.
#[utoipa::path(
    get, path = "/v1/whoami", tag = "session",
    security(("bearer" = [])),
    responses(
        (status = 200, body = WhoAmI),
        (status = 401, description = "No, unknown or revoked token", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn whoami(caller: Caller) -> Json<WhoAmI> {
    let t = caller.0;
    Json(WhoAmI {
        role: t.role,
        department: t.department.to_string(),
        subject: t.subject.to_string(),
        token_id: t.id,
    })
}
