//! Applicants' personal data over HTTP: `POST /v1/applicants`,
//! `GET /v1/applicants/{ref}`, `DELETE /v1/applicants/{ref}`.
//!
//! Names, ID numbers, phone numbers and addresses live in the erasable
//! store ([`crate::personal`]), never in the log; case events carry the
//! `applicant_ref` this endpoint answers. Who may do what:
//!
//! | endpoint | who |
//! |---|---|
//! | `POST` | admin, department (the department is noted as having recorded the applicant) |
//! | `GET` | admin and inspectors: any record; a department: the records it recorded itself |
//! | `DELETE` | admin |
//!
//! Every call that touches a record leaves an event carrying only the
//! reference, the role and the token id, in the service-written
//! `access-<YYYY-MM-DD>` stream: `applicant.recorded` before a record is
//! written, `access.read` (resource `applicant`) before one is returned, and
//! `applicant.erased` before one is erased. The event comes first, so no
//! read, write or erasure goes unrecorded; a store failure after it answers
//! 503 and the call may be retried.
//!
//! What this does not do: link a reference back to cases (the log does
//! that), or keep any history of a record.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ledger::Actor;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::auth::{Caller, Role};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath};
use crate::personal::{
    Address, Applicant, ApplicantRecord, ApplicantRef, IdNumber, PersonName, PhoneNumber,
};
use crate::policy;
use crate::state::AppState;
use crate::wire::ReceiptView;

/// The event recording that a department or the admin wrote a record.
pub const APPLICANT_RECORDED: &str = "applicant.recorded";
/// The event recording an erasure.
pub const APPLICANT_ERASED: &str = "applicant.erased";

/// An applicant's personal data as a department enters it. Unknown members
/// are refused.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplicantBody {
    /// 姓名, 1 to 64 characters.
    pub name: String,
    /// 公民身份号码: 18 characters, the last a digit or X, with the
    /// GB 11643-1999 check character. Spaces are ignored.
    pub id_number: String,
    /// Digits, optionally a leading `+`; spaces and hyphens are dropped;
    /// 7 to 15 digits.
    pub phone: Option<String>,
    /// 地址, 1 to 200 characters.
    pub address: Option<String>,
}

impl ApplicantBody {
    fn validate(self) -> Result<Applicant, ApiError> {
        Ok(Applicant {
            name: PersonName::parse(&self.name)?,
            id_number: IdNumber::parse(&self.id_number)?,
            phone: self.phone.as_deref().map(PhoneNumber::parse).transpose()?,
            address: self.address.as_deref().map(Address::parse).transpose()?,
        })
    }
}

/// The reference case events carry for this applicant.
#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct ApplicantRecorded {
    /// 64 hex digits: HMAC-SHA-256 of the ID number under the ledger's
    /// personal-data key. The same person always gets the same reference.
    pub applicant_ref: String,
    /// Whether the record is new (201) or replaced an earlier one (200).
    pub created: bool,
}

/// What an erasure answers.
#[derive(Serialize, Deserialize, ToSchema, Debug)]
pub struct ApplicantErased {
    pub applicant_ref: String,
    /// The `applicant.erased` event recording the erasure in the log.
    pub record: ReceiptView,
}

/// Appends `event_type` for `applicant_ref` by `caller` to today's access
/// stream: the reference, role and token id only.
async fn record(
    state: &AppState,
    caller: &Caller,
    event_type: &str,
    applicant_ref: &ApplicantRef,
) -> Result<ledger::Receipt, ApiError> {
    let actor = Actor {
        department: caller.0.department.clone(),
        officer: Some(caller.0.subject.clone()),
    };
    let payload = json!({
        "applicant_ref": applicant_ref.as_str(),
        "role": caller.role().as_str(),
        "token_id": caller.0.id,
    });
    state
        .append_service_event(policy::access_stream_now(), event_type, actor, payload)
        .await
}

fn parse_ref(text: &str) -> Result<ApplicantRef, ApiError> {
    text.parse()
        .map_err(|e: crate::personal::FieldError| ApiError::malformed(e.to_string()))
}

/// Personal data must not be cached anywhere on the way.
fn no_store(mut res: Response) -> Response {
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// Record an applicant's personal data; answers the pseudonymous reference.
#[utoipa::path(
    post, path = "/v1/applicants", tag = "applicants",
    request_body = ApplicantBody,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Recorded", body = ApplicantRecorded),
        (status = 200, description = "The same person was recorded before; the record is replaced", body = ApplicantRecorded),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not admin or a department", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field does not fit; `field` names it. Unknown fields are refused", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn record_applicant(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<ApplicantBody>,
) -> ApiResult<Response> {
    caller.require(&[Role::Admin, Role::Department])?;
    let applicant = body.validate()?;
    let applicants = state.private_data()?.applicants();
    let applicant_ref = applicants.reference(&applicant.id_number);
    record(&state, &caller, APPLICANT_RECORDED, &applicant_ref).await?;
    let (applicant_ref, created) = applicants
        .put(applicant, caller.0.department.to_string())
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(ApplicantRecorded {
            applicant_ref: applicant_ref.to_string(),
            created,
        }),
    )
        .into_response())
}

/// Read an applicant's personal data; the read is recorded in the log.
#[utoipa::path(
    get, path = "/v1/applicants/{ref}", tag = "applicants",
    params(("ref" = String, Path, description = "The applicant reference (64 hex digits)")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = ApplicantRecord),
        (status = 400, description = "Not a reference", body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not admin or inspector, nor the department that recorded the applicant", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No record (never recorded, or erased)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn read_applicant(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(applicant_ref): ApiPath<String>,
) -> ApiResult<Response> {
    let applicant_ref = parse_ref(&applicant_ref)?;
    let applicants = state.private_data()?.applicants();
    match caller.role() {
        Role::Admin | Role::Inspector => {}
        Role::Department => {
            if !applicants
                .recorded_by(&applicant_ref, caller.0.department.as_str())
                .await?
            {
                return Err(ApiError::forbidden(format!(
                    "a department reads only the applicants it recorded; {} did not record {applicant_ref}",
                    caller.0.department
                )));
            }
        }
        other => {
            return Err(ApiError::forbidden(format!(
                "role {} may not read personal data",
                other.as_str()
            )));
        }
    }
    policy::record_access(
        &state,
        &caller,
        json!({"resource": "applicant", "applicant_ref": applicant_ref.as_str()}),
    )
    .await?;
    let found = applicants
        .get(&applicant_ref)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no applicant {applicant_ref}")))?;
    Ok(no_store(Json(found).into_response()))
}

/// Erase an applicant's personal data (admin). The log keeps the
/// reference, so every proof stays valid; the erasure itself is recorded.
#[utoipa::path(
    delete, path = "/v1/applicants/{ref}", tag = "applicants",
    params(("ref" = String, Path, description = "The applicant reference (64 hex digits)")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Erased: the bytes are overwritten in the store's file", body = ApplicantErased),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No record (never recorded, or already erased); nothing is recorded", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn erase_applicant(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(applicant_ref): ApiPath<String>,
) -> ApiResult<Json<ApplicantErased>> {
    caller.require(&[Role::Admin])?;
    let applicant_ref = parse_ref(&applicant_ref)?;
    let applicants = state.private_data()?.applicants();
    let receipt = applicants
        .erase_after(&applicant_ref, async || {
            record(&state, &caller, APPLICANT_ERASED, &applicant_ref).await
        })
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no applicant {applicant_ref}")))?;
    Ok(Json(ApplicantErased {
        applicant_ref: applicant_ref.to_string(),
        record: ReceiptView::from(receipt),
    }))
}
