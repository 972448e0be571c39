//! Bearer tokens, roles, the registry directory, and the per-token rate limit.
//!
//! Tokens are random 256-bit strings shown once; the service keeps only
//! their SHA-256 (hex), which is also the token's public id. Every token
//! issue and revocation is an event in the `registry` stream
//! (`token.issued` / `token.revoked`, carrying the hash, never the token), so
//! the token table is rebuilt from the log at start-up. Departments
//! (`department.registered`) and witnesses (`witness.registered`) are kept
//! the same way; the ledger's own `KeyRegistry` ignores these types.
//!
//! Complaint assignments (`complaint.assigned` in a `complaint-…` stream,
//! payload `{"handler": <subject>, "cases": [<case stream>…]}`) decide which
//! cases a complaint handler may read.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use base64::Engine as _;
use ledger::store::StoredEvent;
use ledger::{ActorId, StreamId};
use rand::RngExt as _;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, ProblemKind};
use crate::state::AppState;

pub const TOKEN_ISSUED: &str = "token.issued";
pub const TOKEN_REVOKED: &str = "token.revoked";
pub const DEPARTMENT_REGISTERED: &str = "department.registered";
pub const WITNESS_REGISTERED: &str = "witness.registered";
pub const COMPLAINT_ASSIGNED: &str = "complaint.assigned";

/// The department id the service's own registry events carry.
pub const ADMIN_DEPARTMENT: &str = "ledger-admin";

/// What a token may do (see the role matrix in README.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, including the `/v1/admin` endpoints.
    Admin,
    /// Appends to and reads its own department's case streams (and, like
    /// every role, reads the public `registry` stream).
    Department,
    /// Reads everything (each read of a case is recorded).
    Inspector,
    /// Writes complaint streams; reads the cases of complaints assigned to it.
    ComplaintHandler,
    /// Cosigns checkpoints.
    Witness,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Department => "department",
            Role::Inspector => "inspector",
            Role::ComplaintHandler => "complaint_handler",
            Role::Witness => "witness",
        }
    }
}

/// A live token, as the registry describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRecord {
    /// Hex SHA-256 of the token: its id.
    pub id: String,
    pub role: Role,
    /// The organisation the holder acts for (`actor.department`).
    pub department: ActorId,
    /// The holder (`actor.officer` of events the service writes for them).
    pub subject: ActorId,
}

/// The `token.issued` payload.
#[derive(Serialize, Deserialize)]
pub struct TokenIssued {
    pub token_hash: String,
    pub role: Role,
    pub department: ActorId,
    pub subject: ActorId,
}

/// The `token.revoked` payload.
#[derive(Serialize, Deserialize)]
pub struct TokenRevoked {
    pub token_hash: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A new random token: `ledger_` + 43 base64url characters (256 bits).
pub fn new_token() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    format!(
        "ledger_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// A token's id: hex SHA-256 of its UTF-8 bytes.
pub fn hash_token(token: &str) -> String {
    hex::encode(ledger::sha256::digest(token.as_bytes()))
}

/// What the service knows from the log about who may do what.
#[derive(Default, Debug)]
pub struct Directory {
    tokens: HashMap<String, TokenRecord>,
    revoked: HashSet<String>,
    departments: HashMap<ActorId, String>,
    witnesses: HashMap<String, WitnessRecord>,
    assignments: HashMap<ActorId, HashSet<StreamId>>,
}

impl Directory {
    /// Applies one event of the log, in log order. Events that are not
    /// directory changes, or are malformed, are ignored (the log is the
    /// record; the service wrote only well-formed ones).
    pub fn apply(&mut self, stored: &StoredEvent) {
        let ev = &stored.event;
        let payload = serde_json::Value::Object(ev.payload.clone());
        if ev.stream.is_registry() {
            match ev.event_type.as_str() {
                TOKEN_ISSUED => {
                    if let Ok(t) = serde_json::from_value::<TokenIssued>(payload)
                        && !self.revoked.contains(&t.token_hash)
                    {
                        self.tokens.insert(
                            t.token_hash.clone(),
                            TokenRecord {
                                id: t.token_hash,
                                role: t.role,
                                department: t.department,
                                subject: t.subject,
                            },
                        );
                    }
                }
                TOKEN_REVOKED => {
                    if let Ok(t) = serde_json::from_value::<TokenRevoked>(payload) {
                        self.tokens.remove(&t.token_hash);
                        self.revoked.insert(t.token_hash);
                    }
                }
                DEPARTMENT_REGISTERED => {
                    if let (Some(d), Some(name)) = (
                        payload["department"]
                            .as_str()
                            .and_then(|d| ActorId::new(d).ok()),
                        payload["name"].as_str(),
                    ) {
                        self.departments.insert(d, name.to_owned());
                    }
                }
                WITNESS_REGISTERED => {
                    if let (Some(name), Some(key)) =
                        (payload["name"].as_str(), payload["verifier_key"].as_str())
                    {
                        self.witnesses.insert(
                            name.to_owned(),
                            WitnessRecord {
                                verifier_key: key.to_owned(),
                                url: payload["url"].as_str().map(str::to_owned),
                            },
                        );
                    }
                }
                _ => {}
            }
        } else if is_complaint_stream(&ev.stream)
            && ev.event_type.as_str() == COMPLAINT_ASSIGNED
            && let Some(handler) = payload["handler"]
                .as_str()
                .and_then(|h| ActorId::new(h).ok())
        {
            let cases = payload["cases"].as_array().into_iter().flatten();
            let entry = self.assignments.entry(handler).or_default();
            for case in cases {
                if let Some(s) = case.as_str().and_then(|c| StreamId::new(c).ok()) {
                    entry.insert(s);
                }
            }
        }
    }

    pub fn token(&self, id: &str) -> Option<&TokenRecord> {
        self.tokens.get(id)
    }

    pub fn is_revoked(&self, id: &str) -> bool {
        self.revoked.contains(id)
    }

    pub fn department_registered(&self, d: &ActorId) -> bool {
        self.departments.contains_key(d)
    }

    pub fn witness(&self, name: &str) -> Option<WitnessView<'_>> {
        self.witnesses.get_key_value(name).map(|(n, w)| w.view(n))
    }

    pub fn witnesses(&self) -> impl Iterator<Item = WitnessView<'_>> {
        self.witnesses.iter().map(|(n, w)| w.view(n))
    }

    /// Is `case` named in a complaint assigned to `handler`?
    pub fn assigned(&self, handler: &ActorId, case: &StreamId) -> bool {
        self.assignments
            .get(handler)
            .is_some_and(|cases| cases.contains(case))
    }
}

/// A registered witness.
#[derive(Debug, Clone)]
struct WitnessRecord {
    verifier_key: String,
    url: Option<String>,
}

impl WitnessRecord {
    fn view<'a>(&'a self, name: &'a str) -> WitnessView<'a> {
        WitnessView {
            name,
            verifier_key: &self.verifier_key,
            url: self.url.as_deref(),
        }
    }
}

/// A registered witness: its name, cosignature verifier key, and the
/// submission prefix of its `add-checkpoint` endpoint when it takes pushes.
#[derive(Debug, Clone, Copy)]
pub struct WitnessView<'a> {
    pub name: &'a str,
    pub verifier_key: &'a str,
    pub url: Option<&'a str>,
}

/// `case-…` streams: one public-service case each.
pub fn is_case_stream(s: &StreamId) -> bool {
    s.as_str().starts_with("case-")
}

/// `complaint-…` streams: one complaint each.
pub fn is_complaint_stream(s: &StreamId) -> bool {
    s.as_str().starts_with("complaint-")
}

/// `access-…` streams: the service's record of who read which case.
pub fn is_access_stream(s: &StreamId) -> bool {
    s.as_str().starts_with("access-")
}

/// The authenticated caller of a request.
#[derive(Clone, Debug)]
pub struct Caller(pub TokenRecord);

impl Caller {
    pub fn role(&self) -> Role {
        self.0.role
    }

    /// Refuses unless the caller has one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), ApiError> {
        if roles.contains(&self.0.role) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "role {} may not use this endpoint",
                self.0.role.as_str()
            )))
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| ApiError::unauthorized("this endpoint needs a bearer token"))?;
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| ApiError::unauthorized("Authorization must be \"Bearer <token>\""))?;
        let id = hash_token(token);
        let record = state
            .token(&id)
            .await
            .ok_or_else(|| ApiError::unauthorized("unknown or revoked token"))?;
        state.rate_limiter().check(&id)?;
        Ok(Caller(record))
    }
}

/// A token bucket per token id: `rate` requests per second, bursts of `burst`.
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    /// `rate` ≤ 0 disables the limit.
    pub fn new(rate: f64, burst: f64) -> Self {
        RateLimiter {
            rate,
            burst: burst.max(1.0),
            buckets: Mutex::default(),
        }
    }

    pub fn check(&self, id: &str) -> Result<(), ApiError> {
        if self.rate <= 0.0 {
            return Ok(());
        }
        let now = Instant::now();
        // A poisoned lock only means another request panicked mid-update; the
        // buckets are still usable numbers.
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let (tokens, last) = buckets.entry(id.to_owned()).or_insert((self.burst, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * self.rate).min(self.burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            let wait = ((1.0 - *tokens) / self.rate).ceil().max(1.0) as u64;
            let mut e = ApiError::new(
                ProblemKind::RateLimited,
                format!("over {} requests per second for this token", self.rate),
            );
            e.retry_after = Some(wait);
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hashed() {
        let a = new_token();
        let b = new_token();
        assert_ne!(a, b);
        assert_eq!(a.len(), "ledger_".len() + 43);
        assert_eq!(hash_token(&a).len(), 64);
        assert_ne!(hash_token(&a), hash_token(&b));
    }

    #[test]
    fn rate_limiter_refuses_past_the_burst() {
        let r = RateLimiter::new(1.0, 3.0);
        for _ in 0..3 {
            r.check("t").expect("within burst");
        }
        let e = r.check("t").expect_err("over");
        assert_eq!(e.kind, ProblemKind::RateLimited);
        assert!(e.retry_after.is_some());
        // Other tokens have their own bucket.
        r.check("u").expect("own bucket");
        RateLimiter::new(0.0, 0.0).check("t").expect("disabled");
    }
}
