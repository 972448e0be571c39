//! A small HTTP client for the verbs that talk to a running `ledger serve`:
//! a base URL, an optional bearer token, JSON in and out, and errors that
//! name the request and the server's RFC 9457 problem.
//!
//! It does no retries and no TLS (the service listens on loopback or behind
//! an operator's proxy); verbs that must be safe to re-run rely on the
//! service's idempotency by event id, not on this client.

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// A failed request: the connection, the status, or the body.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The server could not be reached or the connection broke.
    #[error("{method} {url}: {source}")]
    Connection {
        method: &'static str,
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// The server answered with an error status; `detail` is its problem
    /// document's title and detail, or the body's start.
    #[error("{method} {url}: {status}: {detail}")]
    Status {
        method: &'static str,
        url: String,
        status: reqwest::StatusCode,
        /// The problem's `type` (`urn:ledger:problem:<kind>`) when given.
        kind: Option<String>,
        detail: String,
    },
    /// The body was not the JSON expected.
    #[error("{method} {url}: the answer is not the expected JSON: {source}")]
    Body {
        method: &'static str,
        url: String,
        #[source]
        source: serde_json::Error,
    },
}

impl ClientError {
    /// The problem's kind: the last part of its `type`
    /// (`urn:ledger:problem:version-conflict` → `version-conflict`).
    pub fn problem_kind(&self) -> Option<&str> {
        match self {
            ClientError::Status { kind: Some(k), .. } => Some(k.rsplit(':').next().unwrap_or(k)),
            _ => None,
        }
    }
}

/// A client of one server.
#[derive(Clone, Debug)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Client {
    /// `base` is the server's root URL (`http://127.0.0.1:8080`); a trailing
    /// slash is ignored.
    pub fn new(base: &str, token: Option<String>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            // Invariant: the builder fails only on TLS backend set-up, and
            // this client has none.
            .expect("an HTTP client without TLS builds");
        Client {
            http,
            base: base.trim_end_matches('/').to_owned(),
            token,
        }
    }

    /// The server's root URL, without a trailing slash.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// GET `path` (starting with `/`) and parse the JSON answer.
    pub async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let bytes = self.get_bytes(path).await?;
        serde_json::from_slice(&bytes).map_err(|source| ClientError::Body {
            method: "GET",
            url: self.url(path),
            source,
        })
    }

    /// GET `path` and return the body as it came (tiles, checkpoints).
    pub async fn get_bytes(&self, path: &str) -> Result<bytes::Bytes, ClientError> {
        let url = self.url(path);
        let req = self.authorised(self.http.get(&url));
        self.send("GET", url, req).await
    }

    /// POST `body` as JSON to `path` and parse the JSON answer.
    pub async fn post_json<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        let url = self.url(path);
        let req = self.authorised(self.http.post(&url).json(body));
        let bytes = self.send("POST", url.clone(), req).await?;
        serde_json::from_slice(&bytes).map_err(|source| ClientError::Body {
            method: "POST",
            url,
            source,
        })
    }

    /// POST `body` as it is (`text/plain`, e.g. C2SP note signature lines)
    /// to `path` and parse the JSON answer.
    pub async fn post_text<T: DeserializeOwned>(
        &self,
        path: &str,
        body: Vec<u8>,
    ) -> Result<T, ClientError> {
        let url = self.url(path);
        let req = self.authorised(
            self.http
                .post(&url)
                .header(reqwest::header::CONTENT_TYPE, "text/plain; charset=utf-8")
                .body(body),
        );
        let bytes = self.send("POST", url.clone(), req).await?;
        serde_json::from_slice(&bytes).map_err(|source| ClientError::Body {
            method: "POST",
            url,
            source,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    fn authorised(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    }

    async fn send(
        &self,
        method: &'static str,
        url: String,
        req: reqwest::RequestBuilder,
    ) -> Result<bytes::Bytes, ClientError> {
        let connection = |source| ClientError::Connection {
            method,
            url: url.clone(),
            source,
        };
        let resp = req.send().await.map_err(connection)?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(connection)?;
        if status.is_success() {
            return Ok(body);
        }
        let (kind, detail) = problem_of(&body);
        Err(ClientError::Status {
            method,
            url,
            status,
            kind,
            detail,
        })
    }
}

/// The `type` and a readable `title: detail` of an RFC 9457 problem body,
/// or the body's first 200 characters.
fn problem_of(body: &[u8]) -> (Option<String>, String) {
    let text = String::from_utf8_lossy(body);
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v) if v.get("title").is_some() || v.get("detail").is_some() => {
            let kind = v.get("type").and_then(|t| t.as_str()).map(str::to_owned);
            let title = v.get("title").and_then(|t| t.as_str()).unwrap_or("");
            let detail = v.get("detail").and_then(|t| t.as_str()).unwrap_or("");
            let joined = match (title.is_empty(), detail.is_empty()) {
                (false, false) => format!("{title}: {detail}"),
                (false, true) => title.to_owned(),
                _ => detail.to_owned(),
            };
            (kind, joined)
        }
        _ => (None, text.chars().take(200).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_bodies_are_summarised() {
        let (kind, detail) = problem_of(
            br#"{"type":"urn:ledger:problem:conflict","title":"Version conflict","detail":"stream is at 3"}"#,
        );
        assert_eq!(kind.as_deref(), Some("urn:ledger:problem:conflict"));
        assert_eq!(detail, "Version conflict: stream is at 3");
        let (kind, detail) = problem_of(b"plain failure");
        assert_eq!(kind, None);
        assert_eq!(detail, "plain failure");
    }
}
