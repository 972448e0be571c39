//! The service's one error type and its RFC 9457 `application/problem+json`
//! rendering.
//!
//! Every failure a handler, extractor or middleware can produce becomes an
//! [`ApiError`]; its [`ApiError::kind`] names a stable problem `type` URI
//! (`urn:ledger:problem:<kind>`) and the HTTP status. Each
//! [`ledger::Error`] variant is mapped deliberately in
//! `impl From<ledger::Error> for ApiError`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// Prefix of every problem `type` URI.
pub const PROBLEM_TYPE_PREFIX: &str = "urn:ledger:problem:";

/// The content type of problem details (RFC 9457 §3).
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// Kinds of problem, each with a stable `type` URI and one HTTP status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProblemKind {
    /// 400: the request is not well-formed (bad JSON syntax, bad path or query).
    Malformed,
    /// 401: no bearer token, or one the service does not know.
    Unauthorized,
    /// 403: the token's role may not do this.
    Forbidden,
    /// 404: no such resource (route, stream, event, tile, tree size).
    NotFound,
    /// 405: the route exists but not with this method.
    MethodNotAllowed,
    /// 409: the stream is not at the expected version.
    VersionConflict,
    /// 409: an event id already in the log with other content.
    IdempotencyConflict,
    /// 409: a retried batch that mixes old and new events.
    PartialRetry,
    /// 413: the request body is over the size limit.
    PayloadTooLarge,
    /// 415: the body is not `application/json`.
    UnsupportedMediaType,
    /// 422: well-formed JSON that breaks the event schema or batch rules.
    SchemaViolation,
    /// 422: one log entry would exceed 65,535 bytes.
    EntryTooLarge,
    /// 422: the author signature does not verify.
    BadSignature,
    /// 422: the signature names a key that was never registered.
    UnknownKey,
    /// 422: the key is revoked, not yet valid, or another department's.
    KeyNotValid,
    /// 422: a signature algorithm this ledger cannot check.
    UnsupportedAlgorithm,
    /// 422: a registry change that does not apply (e.g. a key registered twice).
    InvalidRegistryChange,
    /// 429: the token's request rate is over its limit.
    RateLimited,
    /// 500: stored data is damaged, or a bug.
    Internal,
    /// 503: storage failed (nothing was kept), the request timed out, or the
    /// service is shutting down.
    Unavailable,
}

impl ProblemKind {
    /// Every kind, for documentation and tests.
    pub const ALL: [ProblemKind; 20] = [
        ProblemKind::Malformed,
        ProblemKind::Unauthorized,
        ProblemKind::Forbidden,
        ProblemKind::NotFound,
        ProblemKind::MethodNotAllowed,
        ProblemKind::VersionConflict,
        ProblemKind::IdempotencyConflict,
        ProblemKind::PartialRetry,
        ProblemKind::PayloadTooLarge,
        ProblemKind::UnsupportedMediaType,
        ProblemKind::SchemaViolation,
        ProblemKind::EntryTooLarge,
        ProblemKind::BadSignature,
        ProblemKind::UnknownKey,
        ProblemKind::KeyNotValid,
        ProblemKind::UnsupportedAlgorithm,
        ProblemKind::InvalidRegistryChange,
        ProblemKind::RateLimited,
        ProblemKind::Internal,
        ProblemKind::Unavailable,
    ];

    /// The last segment of the `type` URI.
    pub fn slug(self) -> &'static str {
        match self {
            ProblemKind::Malformed => "malformed-request",
            ProblemKind::Unauthorized => "unauthorized",
            ProblemKind::Forbidden => "forbidden",
            ProblemKind::NotFound => "not-found",
            ProblemKind::MethodNotAllowed => "method-not-allowed",
            ProblemKind::VersionConflict => "version-conflict",
            ProblemKind::IdempotencyConflict => "idempotency-conflict",
            ProblemKind::PartialRetry => "partial-retry",
            ProblemKind::PayloadTooLarge => "payload-too-large",
            ProblemKind::UnsupportedMediaType => "unsupported-media-type",
            ProblemKind::SchemaViolation => "schema-violation",
            ProblemKind::EntryTooLarge => "entry-too-large",
            ProblemKind::BadSignature => "bad-signature",
            ProblemKind::UnknownKey => "unknown-key",
            ProblemKind::KeyNotValid => "key-not-valid",
            ProblemKind::UnsupportedAlgorithm => "unsupported-algorithm",
            ProblemKind::InvalidRegistryChange => "invalid-registry-change",
            ProblemKind::RateLimited => "rate-limited",
            ProblemKind::Internal => "internal",
            ProblemKind::Unavailable => "unavailable",
        }
    }

    /// The problem `type` URI.
    pub fn type_uri(self) -> String {
        format!("{PROBLEM_TYPE_PREFIX}{}", self.slug())
    }

    pub fn status(self) -> StatusCode {
        match self {
            ProblemKind::Malformed => StatusCode::BAD_REQUEST,
            ProblemKind::Unauthorized => StatusCode::UNAUTHORIZED,
            ProblemKind::Forbidden => StatusCode::FORBIDDEN,
            ProblemKind::NotFound => StatusCode::NOT_FOUND,
            ProblemKind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ProblemKind::VersionConflict
            | ProblemKind::IdempotencyConflict
            | ProblemKind::PartialRetry => StatusCode::CONFLICT,
            ProblemKind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ProblemKind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ProblemKind::SchemaViolation
            | ProblemKind::EntryTooLarge
            | ProblemKind::BadSignature
            | ProblemKind::UnknownKey
            | ProblemKind::KeyNotValid
            | ProblemKind::UnsupportedAlgorithm
            | ProblemKind::InvalidRegistryChange => StatusCode::UNPROCESSABLE_ENTITY,
            ProblemKind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ProblemKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ProblemKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The short, human-readable summary (RFC 9457 `title`): the same for
    /// every occurrence of the kind.
    pub fn title(self) -> &'static str {
        match self {
            ProblemKind::Malformed => "Malformed request",
            ProblemKind::Unauthorized => "Missing or unknown bearer token",
            ProblemKind::Forbidden => "Not permitted for this token's role",
            ProblemKind::NotFound => "Not found",
            ProblemKind::MethodNotAllowed => "Method not allowed",
            ProblemKind::VersionConflict => "Stream is not at the expected version",
            ProblemKind::IdempotencyConflict => "Event id already used with other content",
            ProblemKind::PartialRetry => "Batch mixes recorded and new events",
            ProblemKind::PayloadTooLarge => "Request body too large",
            ProblemKind::UnsupportedMediaType => "Body must be application/json",
            ProblemKind::SchemaViolation => "Request breaks the event schema",
            ProblemKind::EntryTooLarge => "Event too large for one log entry",
            ProblemKind::BadSignature => "Author signature does not verify",
            ProblemKind::UnknownKey => "Signing key is not registered",
            ProblemKind::KeyNotValid => "Signing key is not valid for this event",
            ProblemKind::UnsupportedAlgorithm => "Unsupported signature algorithm",
            ProblemKind::InvalidRegistryChange => "Registry change does not apply",
            ProblemKind::RateLimited => "Too many requests for this token",
            ProblemKind::Internal => "Internal error",
            ProblemKind::Unavailable => "Service unavailable",
        }
    }
}

/// An RFC 9457 problem: what every failed request answers.
#[derive(Debug, thiserror::Error)]
#[error("{}: {detail}", kind.slug())]
pub struct ApiError {
    pub kind: ProblemKind,
    pub detail: String,
    /// Extension members (e.g. `current_version` on a version conflict).
    pub extensions: Map<String, Value>,
    /// Seconds after which a rate-limited client may retry.
    pub retry_after: Option<u64>,
}

/// The problem document's shape, for the OpenAPI document.
#[derive(Serialize, ToSchema)]
pub struct Problem {
    /// `urn:ledger:problem:<kind>`; stable per kind.
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Present on `version-conflict`: the stream's current version, or null
    /// if the stream does not exist.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_version: Option<u64>,
}

impl ApiError {
    pub fn new(kind: ProblemKind, detail: impl Into<String>) -> Self {
        ApiError {
            kind,
            detail: detail.into(),
            extensions: Map::new(),
            retry_after: None,
        }
    }

    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extensions.insert(key.to_owned(), value.into());
        self
    }

    pub fn malformed(detail: impl Into<String>) -> Self {
        Self::new(ProblemKind::Malformed, detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(ProblemKind::NotFound, detail)
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(ProblemKind::Forbidden, detail)
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(ProblemKind::Unauthorized, detail)
    }

    pub fn schema(detail: impl Into<String>) -> Self {
        Self::new(ProblemKind::SchemaViolation, detail)
    }

    pub fn internal(detail: impl Into<String>) -> Self {
        Self::new(ProblemKind::Internal, detail)
    }

    /// 503: try again shortly (e.g. the read models are catching up).
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(ProblemKind::Unavailable, detail)
    }

    /// A ledger error met while parsing a path or query: the request itself
    /// is malformed (400), not its body's content (422).
    pub fn from_request_part(e: ledger::Error) -> Self {
        Self::malformed(e.to_string())
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        let mut m = Map::new();
        m.insert("type".into(), self.kind.type_uri().into());
        m.insert("title".into(), self.kind.title().into());
        m.insert("status".into(), self.kind.status().as_u16().into());
        m.insert("detail".into(), self.detail.clone().into());
        for (k, v) in &self.extensions {
            m.insert(k.clone(), v.clone());
        }
        Value::Object(m)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.kind.status();
        if self.kind == ProblemKind::Unavailable {
            tracing::warn!(kind = self.kind.slug(), detail = %self.detail, "request refused");
        } else if status.is_server_error() {
            tracing::error!(kind = self.kind.slug(), detail = %self.detail, "request failed");
        } else {
            tracing::debug!(kind = self.kind.slug(), detail = %self.detail, "request refused");
        }
        let body = self.body().to_string();
        let mut res = (status, body).into_response();
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(PROBLEM_CONTENT_TYPE),
        );
        if let Some(secs) = self.retry_after {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res
    }
}

impl From<ledger::Error> for ApiError {
    fn from(e: ledger::Error) -> Self {
        use ledger::Error as E;
        let detail = e.to_string();
        let kind = match &e {
            // Input that parses as JSON but breaks SPEC.md's rules.
            E::InvalidStreamId { .. }
            | E::InvalidEventId { .. }
            | E::InvalidEventType { .. }
            | E::InvalidActorId { .. }
            | E::InvalidTimestamp { .. }
            | E::InvalidKeyId { .. }
            | E::InvalidPayload { .. }
            | E::StreamMismatch { .. }
            | E::DuplicateIdInBatch { .. }
            | E::EmptyBatch
            | E::BatchTooLarge { .. } => ProblemKind::SchemaViolation,
            E::EntryTooLarge { .. } => ProblemKind::EntryTooLarge,
            E::UnsupportedAlgorithm { .. } => ProblemKind::UnsupportedAlgorithm,
            E::InvalidRegistryEvent { .. } => ProblemKind::InvalidRegistryChange,
            E::UnknownKey { .. } => ProblemKind::UnknownKey,
            E::KeyRevoked { .. } | E::KeyNotYetValid { .. } | E::KeyDepartmentMismatch { .. } => {
                ProblemKind::KeyNotValid
            }
            E::BadSignature { .. } => ProblemKind::BadSignature,
            E::WrongExpectedVersion { current, .. } => {
                let current = current.map(|v| v.0);
                return ApiError::new(ProblemKind::VersionConflict, detail)
                    .with("current_version", current);
            }
            E::IdempotencyConflict { .. } => ProblemKind::IdempotencyConflict,
            E::PartialRetry { .. } => ProblemKind::PartialRetry,
            // Tree sizes, indexes, tiles and bundles beyond the log: tlog-tiles
            // clients expect 404 for tiles that do not exist (yet).
            E::OutOfRange { .. } => ProblemKind::NotFound,
            // Damaged stored bytes: the operator's problem, not the caller's.
            E::MalformedEntry { .. } | E::Corrupt { .. } => ProblemKind::Internal,
            // Nothing of the failed operation was kept: the client may retry.
            E::Storage { .. } | E::Closed => ProblemKind::Unavailable,
            // A variant added to the ledger after this mapping was written.
            _ => ProblemKind::Internal,
        };
        ApiError::new(kind, detail)
    }
}

/// Handlers' result type.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_unique_and_statuses_are_errors() {
        let mut seen = std::collections::HashSet::new();
        for k in ProblemKind::ALL {
            assert!(seen.insert(k.slug()), "{k:?}");
            assert!(k.status().is_client_error() || k.status().is_server_error());
        }
    }

    #[test]
    fn version_conflict_carries_the_current_version() {
        let e: ApiError = ledger::Error::WrongExpectedVersion {
            stream: ledger::StreamId::new("case-1").expect("valid"),
            expected: ledger::ExpectedVersion::NoStream,
            current: Some(ledger::StreamVersion(4)),
        }
        .into();
        let body = e.body();
        assert_eq!(body["status"], 409);
        assert_eq!(body["type"], "urn:ledger:problem:version-conflict");
        assert_eq!(body["current_version"], 4);
    }
}
