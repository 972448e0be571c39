//! The web console (issue 7): HTML, CSS and JavaScript modules compiled
//! into the binary from `api/console/` and served under `/console/`, with
//! `/` and `/console` redirecting there.
//!
//! The console is a client of the public JSON API and nothing more: it
//! signs in with a bearer token it keeps in the browser's `sessionStorage`,
//! and it verifies what it shows itself (SHA-256 leaf hashes, RFC 9162
//! inclusion proofs, the C2SP signed-note checkpoint and witness
//! cosignatures, the stream's hash chain, and authors' Ed25519 signatures
//! under the department keys of the log's own `registry` stream, whose
//! entries it verifies the same way) with the browser's Web Crypto, against
//! keys the user pinned. No route here reads the store.
//!
//! Every answer carries a strict Content-Security-Policy (`default-src
//! 'self'`: no inline script or style, no other origin), `nosniff`, and an
//! `ETag` (the file's SHA-256) with `Cache-Control: no-cache`, so browsers
//! revalidate and pick up a new binary's files at once.
//!
//! What it deliberately does not do: document these routes in the OpenAPI
//! document (they are files, not API), compress, or serve anything from the
//! working tree (`debug-embed`: debug builds serve the embedded copy too).

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use rust_embed::Embed;

use crate::error::ApiError;
use crate::extract::ApiPath;
use crate::state::AppState;

/// Where the console is mounted.
pub const CONSOLE_PATH: &str = "/console/";

/// The policy every console answer carries: only this origin, for
/// everything; no plugins, no framing, no `<base>` rewriting.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; object-src 'none'; \
     base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/// The console's files, from `api/console/` at build time.
#[derive(Embed)]
#[folder = "console/"]
struct Assets;

/// The console's routes: `/`, `/console` and `/console/…`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to(CONSOLE_PATH) }))
        .route("/console", get(|| async { Redirect::to(CONSOLE_PATH) }))
        .route("/console/", get(index))
        .route("/console/{*path}", get(asset))
}

/// The MIME type of a console file, by extension; `None` for a kind the
/// console does not ship (so a stray file is never served as something
/// the browser would run).
pub fn content_type(path: &str) -> Option<&'static str> {
    let ext = path.rsplit_once('.').map(|(_, e)| e)?;
    Some(match ext {
        "html" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        // HTML Living Standard: JavaScript is served as text/javascript.
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "txt" => "text/plain; charset=utf-8",
        _ => return None,
    })
}

/// The paths of every embedded console file.
pub fn files() -> impl Iterator<Item = String> {
    Assets::iter().map(|p| p.into_owned())
}

async fn index(headers: HeaderMap) -> Result<Response, ApiError> {
    serve("index.html", &headers)
}

async fn asset(ApiPath(path): ApiPath<String>, headers: HeaderMap) -> Result<Response, ApiError> {
    serve(&path, &headers)
}

/// One file, or 304 when the client holds the same bytes, or a 404 problem.
fn serve(path: &str, headers: &HeaderMap) -> Result<Response, ApiError> {
    let not_found = || ApiError::not_found(format!("no console file {path}"));
    let mime = content_type(path).ok_or_else(not_found)?;
    let file = Assets::get(path).ok_or_else(not_found)?;
    let etag = format!("\"{}\"", hex::encode(file.metadata.sha256_hash()));
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut res = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        file.data.into_owned().into_response()
    };
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Case numbers are in the console's URLs; other sites need not see them.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_embedded_file_has_a_content_type() {
        let files: Vec<String> = files().collect();
        assert!(files.iter().any(|f| f == "index.html"), "{files:?}");
        for f in &files {
            assert!(content_type(f).is_some(), "{f} has no content type");
        }
        assert_eq!(
            content_type("app.js"),
            Some("text/javascript; charset=utf-8")
        );
        assert_eq!(content_type("x.exe"), None);
        assert_eq!(content_type("Makefile"), None);
    }

    #[test]
    fn the_console_makes_no_request_to_another_origin() {
        for f in files() {
            let file = Assets::get(&f).expect("listed file");
            // The SVG namespace name is an identifier, never fetched.
            let text =
                String::from_utf8_lossy(&file.data).replace("http://www.w3.org/2000/svg", "");
            for scheme in ["http://", "https://", "//cdn", "@import url("] {
                assert!(!text.contains(scheme), "{f} mentions {scheme}");
            }
        }
    }

    #[test]
    fn modules_and_styles_the_index_names_are_embedded() {
        let index = Assets::get("index.html").expect("index");
        let text = String::from_utf8_lossy(&index.data).into_owned();
        let mut named = 0;
        for attr in ["src=\"", "href=\""] {
            for part in text.split(attr).skip(1) {
                let target = part.split('"').next().expect("attribute value");
                if let Some(file) = target.strip_prefix(CONSOLE_PATH) {
                    assert!(Assets::get(file).is_some(), "{target} is not embedded");
                    named += 1;
                }
            }
        }
        assert!(named >= 2, "index.html names {named} console files");
    }
}
