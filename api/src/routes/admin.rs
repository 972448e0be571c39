//! Administration under `/v1/admin` (role `admin` only): tokens, departments,
//! witnesses, department keys. Every change is one event in `registry`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use ledger::event::SignatureAlgorithm;
use ledger::keys::{KEY_REGISTERED, KEY_REVOKED, KeyRegistration, KeyRevocation, PublicKey};
use ledger::{ActorId, KeyId, StreamId, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::auth::{
    Caller, DEPARTMENT_REGISTERED, Role, TOKEN_ISSUED, TOKEN_REVOKED, TokenIssued, TokenRevoked,
    WITNESS_REGISTERED, hash_token, new_token,
};
use crate::error::{ApiError, ApiResult, Problem, ProblemKind};
use crate::extract::{ApiJson, ApiPath};
use crate::state::{AppState, admin_actor};
use crate::wire::ReceiptView;

fn actor_id(field: &str, value: &str) -> Result<ActorId, ApiError> {
    ActorId::new(value).map_err(|e| ApiError::schema(format!("{field}: {e}")))
}

fn already(detail: String) -> ApiError {
    ApiError::new(ProblemKind::InvalidRegistryChange, detail)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueToken {
    pub role: Role,
    /// The organisation the holder acts for; for role `department`, a
    /// registered department.
    pub department: String,
    /// Who holds the token (an officer id).
    pub subject: String,
}

#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct IssuedToken {
    /// The bearer token. Shown once; the service keeps only its hash.
    pub token: String,
    /// Hex SHA-256 of the token: its id for revocation.
    pub token_id: String,
    pub role: Role,
    pub department: String,
    pub subject: String,
    pub receipt: ReceiptView,
}

#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct RegistryReceipt {
    /// The `registry` event that records the change.
    pub receipt: ReceiptView,
}

/// Issue a bearer token.
#[utoipa::path(
    post, path = "/v1/admin/tokens", tag = "admin", request_body = IssueToken,
    security(("bearer" = [])),
    responses(
        (status = 201, body = IssuedToken),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn issue_token(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<IssueToken>,
) -> ApiResult<(StatusCode, Json<IssuedToken>)> {
    caller.require(&[Role::Admin])?;
    let department = actor_id("department", &body.department)?;
    let subject = actor_id("subject", &body.subject)?;
    let issued = state
        .registry_change(async || {
            if body.role == Role::Department
                && !state.directory().department_registered(&department)
            {
                return Err(ApiError::schema(format!(
                    "department {department} is not registered"
                )));
            }
            let token = new_token();
            let payload = TokenIssued {
                token_hash: hash_token(&token),
                role: body.role,
                department: department.clone(),
                subject: subject.clone(),
            };
            let receipt = state
                .append_service_event(
                    StreamId::registry(),
                    TOKEN_ISSUED,
                    admin_actor(Some(caller.0.subject.clone())),
                    json!(payload),
                )
                .await?;
            Ok(IssuedToken {
                token_id: payload.token_hash,
                token,
                role: body.role,
                department: department.to_string(),
                subject: subject.to_string(),
                receipt: receipt.into(),
            })
        })
        .await?;
    Ok((StatusCode::CREATED, Json(issued)))
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct Revoke {
    pub reason: Option<String>,
}

/// Revoke a bearer token by its id.
#[utoipa::path(
    post, path = "/v1/admin/tokens/{token_id}/revoke", tag = "admin",
    params(("token_id" = String, Path, description = "Hex SHA-256 of the token")),
    request_body = Revoke,
    security(("bearer" = [])),
    responses(
        (status = 200, body = RegistryReceipt),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn revoke_token(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(token_id): ApiPath<String>,
    ApiJson(body): ApiJson<Revoke>,
) -> ApiResult<Json<RegistryReceipt>> {
    caller.require(&[Role::Admin])?;
    let receipt = state
        .registry_change(async || {
            if state.directory().token(&token_id).is_none() {
                return Err(ApiError::not_found(format!("no live token {token_id}")));
            }
            let payload = TokenRevoked {
                token_hash: token_id.clone(),
                reason: body.reason.clone(),
            };
            state
                .append_service_event(
                    StreamId::registry(),
                    TOKEN_REVOKED,
                    admin_actor(Some(caller.0.subject.clone())),
                    json!(payload),
                )
                .await
        })
        .await?;
    Ok(Json(RegistryReceipt {
        receipt: receipt.into(),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterDepartment {
    /// Department id (`actor.department` of its events).
    pub department: String,
    /// Its name, e.g. 市市场监督管理局.
    pub name: String,
}

/// Register a department.
#[utoipa::path(
    post, path = "/v1/admin/departments", tag = "admin", request_body = RegisterDepartment,
    security(("bearer" = [])),
    responses(
        (status = 201, body = RegistryReceipt),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn register_department(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<RegisterDepartment>,
) -> ApiResult<(StatusCode, Json<RegistryReceipt>)> {
    caller.require(&[Role::Admin])?;
    let department = actor_id("department", &body.department)?;
    if body.name.trim().is_empty() {
        return Err(ApiError::schema("name must not be empty"));
    }
    let receipt = state
        .registry_change(async || {
            if state.directory().department_registered(&department) {
                return Err(already(format!(
                    "department {department} is already registered"
                )));
            }
            state
                .append_service_event(
                    StreamId::registry(),
                    DEPARTMENT_REGISTERED,
                    admin_actor(Some(caller.0.subject.clone())),
                    json!({"department": department.as_str(), "name": body.name}),
                )
                .await
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(RegistryReceipt {
            receipt: receipt.into(),
        }),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterWitness {
    /// The witness's C2SP vkey (`<name>+<key hash>+<base64(0x04 || key)>`).
    pub verifier_key: String,
    /// Its tlog-witness submission prefix (`http(s)://…`): the service pushes
    /// each new checkpoint to `<url>/add-checkpoint`. Absent for a witness
    /// that pulls (`/v1/witness/…`).
    pub url: Option<String>,
}

/// Register a witness by its cosignature verifier key.
#[utoipa::path(
    post, path = "/v1/admin/witnesses", tag = "admin", request_body = RegisterWitness,
    security(("bearer" = [])),
    responses(
        (status = 201, body = RegistryReceipt),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn register_witness(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<RegisterWitness>,
) -> ApiResult<(StatusCode, Json<RegistryReceipt>)> {
    caller.require(&[Role::Admin])?;
    let verifier =
        ledger::cosignature::CosignatureVerifier::from_verifier_key_string(&body.verifier_key)
            .map_err(|e| ApiError::schema(format!("verifier_key: {e}")))?;
    let name = verifier.name().to_owned();
    if let Some(url) = &body.url
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        return Err(ApiError::schema("url must start with http:// or https://"));
    }
    let receipt = state
        .registry_change(async || {
            if state.directory().witness(&name).is_some() {
                return Err(already(format!("witness {name} is already registered")));
            }
            state
                .append_service_event(
                    StreamId::registry(),
                    WITNESS_REGISTERED,
                    admin_actor(Some(caller.0.subject.clone())),
                    json!({"name": name, "verifier_key": body.verifier_key, "url": body.url}),
                )
                .await
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(RegistryReceipt {
            receipt: receipt.into(),
        }),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterKey {
    /// A registered department.
    pub department: String,
    /// `ed25519` (default).
    pub alg: Option<String>,
    /// The public key, standard base64.
    pub public_key: String,
    /// RFC 3339 UTC; default: when the registration is recorded.
    pub valid_from: Option<String>,
}

#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct RegisteredKey {
    /// `<alg>:<16 hex digits>` (SPEC.md §5).
    pub key: String,
    pub receipt: ReceiptView,
}

/// Register a department's public key.
#[utoipa::path(
    post, path = "/v1/admin/keys", tag = "admin", request_body = RegisterKey,
    security(("bearer" = [])),
    responses(
        (status = 201, body = RegisteredKey),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn register_key(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<RegisterKey>,
) -> ApiResult<(StatusCode, Json<RegisteredKey>)> {
    caller.require(&[Role::Admin])?;
    let department = actor_id("department", &body.department)?;
    let alg = SignatureAlgorithm::parse(body.alg.as_deref().unwrap_or("ed25519"))?;
    let public = PublicKey::from_base64(alg, &body.public_key)
        .map_err(|e| ApiError::schema(format!("public_key: {e}")))?;
    let valid_from = body
        .valid_from
        .as_deref()
        .map(Timestamp::parse)
        .transpose()?;
    let registration = KeyRegistration::new(&public, department.clone(), valid_from);
    let key = registration.key.to_string();
    let receipt = state
        .registry_change(async || {
            if !state.directory().department_registered(&department) {
                return Err(ApiError::schema(format!(
                    "department {department} is not registered"
                )));
            }
            state
                .append_service_event(
                    StreamId::registry(),
                    KEY_REGISTERED,
                    admin_actor(Some(caller.0.subject.clone())),
                    serde_json::Value::Object(registration.to_payload()),
                )
                .await
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(RegisteredKey {
            key,
            receipt: receipt.into(),
        }),
    ))
}

/// Revoke a department key.
#[utoipa::path(
    post, path = "/v1/admin/keys/{key}/revoke", tag = "admin",
    params(("key" = String, Path, description = "Key id, e.g. ed25519:3f1c0e9a5b7d2c41")),
    request_body = Revoke,
    security(("bearer" = [])),
    responses(
        (status = 200, body = RegistryReceipt),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown or already revoked key", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn revoke_key(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(key): ApiPath<String>,
    ApiJson(body): ApiJson<Revoke>,
) -> ApiResult<Json<RegistryReceipt>> {
    caller.require(&[Role::Admin])?;
    let key = KeyId::new(&key).map_err(ApiError::from_request_part)?;
    let revocation = KeyRevocation {
        key,
        reason: body.reason,
    };
    let receipt = state
        .registry_change(async || {
            state
                .append_service_event(
                    StreamId::registry(),
                    KEY_REVOKED,
                    admin_actor(Some(caller.0.subject.clone())),
                    serde_json::Value::Object(revocation.to_payload()),
                )
                .await
        })
        .await?;
    Ok(Json(RegistryReceipt {
        receipt: receipt.into(),
    }))
}
