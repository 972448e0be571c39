//! Extractors whose rejections are [`ApiError`] problems, so a bad JSON body,
//! path or query answers in the same RFC 9457 shape as every other failure.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts};
use axum::http::StatusCode;

use crate::error::{ApiError, ProblemKind};

/// `axum::Json`, rejecting with a problem: 400 bad syntax, 413 too large,
/// 415 not JSON, 422 well-formed JSON of the wrong shape.
///
/// A body declared `application/json` is parsed by serde_json directly;
/// only when that fails is it parsed again by `axum::Json`, whose
/// path-tracking parser names where the problem is. Every append goes
/// through here, and a good body needs no path. Any other content type is
/// left to `axum::Json` whole, so the verdicts are its own.
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        match body::<T, S>(req, state).await? {
            Body::Read(value) => Ok(ApiJson(value)),
            Body::Plain(bytes) => read_plain(&bytes).map(ApiJson),
        }
    }
}

/// A request body: plain JSON, still to be read, or anything else, read
/// whole by `axum::Json` (whose verdicts it then gets).
enum Body<T> {
    Plain(axum::body::Bytes),
    Read(T),
}

async fn body<T, S>(req: axum::extract::Request, state: &S) -> Result<Body<T>, ApiError>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    if !plainly_json(req.headers()) {
        let axum::Json(value) = axum::Json::<T>::from_request(req, state).await?;
        return Ok(Body::Read(value));
    }
    let bytes = axum::body::Bytes::from_request(req, state)
        .await
        .map_err(JsonRejection::from)?;
    Ok(Body::Plain(bytes))
}

/// A plain JSON body read as `T` by serde_json; only a body that fails is
/// read again by `axum::Json`, for its path-naming message.
fn read_plain<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    match serde_json::from_slice(bytes) {
        Ok(value) => Ok(value),
        Err(_) => {
            let axum::Json(value) = axum::Json::<T>::from_bytes(bytes)?;
            Ok(value)
        }
    }
}

/// [`ApiJson`] with a faster reading tried first: a plain JSON body is
/// read as `F`, and only a body `F` refuses is read as `T` (then, failing
/// that, by `axum::Json` for its message), so the verdicts and errors are
/// `T`'s. `F` must accept only bodies `T` accepts, meaning the same.
pub enum ApiJsonOr<F, T> {
    /// The body, read the fast way.
    Fast(F),
    /// The body `F` refused, or one not plainly JSON, read as `T`.
    Slow(T),
}

impl<F, T, S> FromRequest<S> for ApiJsonOr<F, T>
where
    F: serde::de::DeserializeOwned,
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        match body::<T, S>(req, state).await? {
            Body::Read(value) => Ok(ApiJsonOr::Slow(value)),
            Body::Plain(bytes) => match serde_json::from_slice(&bytes) {
                Ok(fast) => Ok(ApiJsonOr::Fast(fast)),
                Err(_) => read_plain(&bytes).map(ApiJsonOr::Slow),
            },
        }
    }
}

/// `Content-Type: application/json`, with at most a UTF-8 charset: a
/// subset of what `axum::Json` accepts.
fn plainly_json(headers: &axum::http::HeaderMap) -> bool {
    let Some(value) = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mut parts = value.split(';').map(str::trim);
    let essence = parts.next().unwrap_or_default();
    essence.eq_ignore_ascii_case("application/json")
        && parts.all(|p| {
            p.eq_ignore_ascii_case("charset=utf-8") || p.eq_ignore_ascii_case("charset=\"utf-8\"")
        })
}

/// `axum::extract::Path`, rejecting with a 400 problem.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

/// `axum::extract::Query`, rejecting with a 400 problem.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let kind = match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ProblemKind::PayloadTooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ProblemKind::UnsupportedMediaType,
            StatusCode::UNPROCESSABLE_ENTITY => ProblemKind::SchemaViolation,
            _ => ProblemKind::Malformed,
        };
        ApiError::new(kind, rejection.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::malformed(rejection.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::malformed(rejection.body_text())
    }
}
