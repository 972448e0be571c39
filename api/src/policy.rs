//! Who may append to and read which stream, and the access record of reads.
//!
//! | stream            | append                                   | read |
//! |-------------------|------------------------------------------|------|
//! | `case-…`          | admin; the department that opened it (signed, own `actor.department`) | admin, inspector*, its department, complaint handlers it is assigned to* |
//! | `complaint-…`     | admin; complaint handlers (not `complaint.assigned`) | admin, inspector, complaint handlers |
//! | `registry`        | only through `/v1/admin`                 | every signed-in role (†) |
//! | `access-…`        | only the service itself                  | admin, inspector |
//! | anything else     | admin                                    | admin, inspector |
//!
//! (*) recorded: each read of a case by an inspector or a complaint handler
//! appends an `access.read` event to the stream `access-<YYYY-MM-DD>` (UTC
//! day of the read), never to the case's own stream, so a read does not
//! move a case's version.
//!
//! (†) The registry holds only public facts: department ids and names,
//! witness names, verifier keys and push URLs, department public keys and
//! their revocations, and tokens as their SHA-256 hash with role,
//! department and holder id (`token.issued` never carries the token). Its
//! entries are served to anyone, without a token, in the tlog-tiles entry
//! bundles; the stream read only pages them. Every role needs them to check
//! authors' signatures (SPEC.md §5) — the console does so in the browser.
//! Like an inspector's reads of streams other than cases, a registry read
//! is not recorded: it shows nothing about any case.

use ledger::{Actor, ProposedEvent, StreamId};
use serde_json::{Value, json};

use crate::auth::{
    COMPLAINT_ASSIGNED, Caller, Role, is_access_stream, is_case_stream, is_complaint_stream,
};
use crate::error::ApiError;
use crate::state::AppState;

/// The event type of access records.
pub const ACCESS_READ: &str = "access.read";

/// The access stream for reads made now: `access-<YYYY-MM-DD>` (UTC).
pub fn access_stream_now() -> StreamId {
    let day = chrono::Utc::now().format("%Y-%m-%d");
    // Invariant: "access-" + a date is a valid stream id.
    StreamId::new(&format!("access-{day}")).expect("valid access stream id")
}

/// What an authorised append must do beyond the caller's request.
pub enum AppendPlan {
    /// Append as asked.
    AsAsked,
    /// A department opening a new case: append only if the stream is still
    /// absent, so two departments cannot both open it.
    OpenCase,
}

/// Checks that `caller` may append `events` to `stream`.
pub async fn authorize_append(
    state: &AppState,
    caller: &Caller,
    stream: &StreamId,
    events: &[ProposedEvent],
) -> Result<AppendPlan, ApiError> {
    if stream.is_registry() {
        return Err(ApiError::forbidden(
            "the registry stream changes only through /v1/admin",
        ));
    }
    if is_access_stream(stream) {
        return Err(ApiError::forbidden(
            "access streams are written only by the service",
        ));
    }
    let own_department = |what: &str| -> Result<(), ApiError> {
        for ev in events {
            if ev.actor.department != caller.0.department {
                return Err(ApiError::forbidden(format!(
                    "event {}: actor.department is {}, but this {what} token acts for {}",
                    ev.id, ev.actor.department, caller.0.department
                )));
            }
        }
        Ok(())
    };
    match caller.role() {
        Role::Admin => Ok(AppendPlan::AsAsked),
        Role::Department => {
            if !is_case_stream(stream) {
                return Err(ApiError::forbidden(
                    "a department appends only to case-… streams",
                ));
            }
            own_department("department")?;
            if let Some(ev) = events.iter().find(|e| e.signature.is_none()) {
                return Err(ApiError::schema(format!(
                    "event {}: a department's events must carry its signature",
                    ev.id
                )));
            }
            match state.owner(stream).await? {
                None => Ok(AppendPlan::OpenCase),
                Some(d) if d == caller.0.department => Ok(AppendPlan::AsAsked),
                Some(d) => Err(ApiError::forbidden(format!(
                    "{stream} is a case of {d}, not of {}",
                    caller.0.department
                ))),
            }
        }
        Role::ComplaintHandler => {
            if !is_complaint_stream(stream) {
                return Err(ApiError::forbidden(
                    "a complaint handler appends only to complaint-… streams",
                ));
            }
            own_department("complaint handler")?;
            if events
                .iter()
                .any(|e| e.event_type.as_str() == COMPLAINT_ASSIGNED)
            {
                return Err(ApiError::forbidden(
                    "complaints are assigned by an administrator",
                ));
            }
            Ok(AppendPlan::AsAsked)
        }
        Role::Inspector | Role::Witness => Err(ApiError::forbidden(format!(
            "role {} may not append",
            caller.role().as_str()
        ))),
    }
}

/// Checks that `caller` may read `stream`; returns whether the read must be
/// recorded as an access event.
pub async fn authorize_read(
    state: &AppState,
    caller: &Caller,
    stream: &StreamId,
) -> Result<bool, ApiError> {
    // (†) in the table above: public already, read by every role, not recorded.
    if stream.is_registry() {
        return Ok(false);
    }
    let case = is_case_stream(stream);
    match caller.role() {
        Role::Admin => Ok(false),
        Role::Inspector => Ok(case),
        Role::Department => {
            if case && state.owner(stream).await?.as_ref() == Some(&caller.0.department) {
                Ok(false)
            } else {
                Err(ApiError::forbidden(format!(
                    "{stream} is not a case of {}",
                    caller.0.department
                )))
            }
        }
        Role::ComplaintHandler => {
            if is_complaint_stream(stream) {
                Ok(false)
            } else if case && state.directory().assigned(&caller.0.subject, stream) {
                Ok(true)
            } else {
                Err(ApiError::forbidden(format!(
                    "{stream} is not named in a complaint assigned to {}",
                    caller.0.subject
                )))
            }
        }
        Role::Witness => Err(ApiError::forbidden("a witness reads only the public log")),
    }
}

/// Appends the access record of a read, before the data is returned.
pub async fn record_access(
    state: &AppState,
    caller: &Caller,
    resource: Value,
) -> Result<(), ApiError> {
    let mut payload = json!({
        "role": caller.role().as_str(),
        "token_id": caller.0.id,
    });
    if let (Some(p), Value::Object(r)) = (payload.as_object_mut(), resource) {
        p.extend(r);
    }
    let actor = Actor {
        department: caller.0.department.clone(),
        officer: Some(caller.0.subject.clone()),
    };
    state
        .append_service_event(access_stream_now(), ACCESS_READ, actor, payload)
        .await?;
    Ok(())
}
