//! The HTTP/1.1 transport floor for `ledger bench`: what a request costs
//! before the service does anything with it.
//!
//! The requests of an HTTP run (the same signed bodies and paths, a bearer
//! token as long as the service's), sent by the same load client over
//! loopback to a server built on the same stack as `ledger serve` — axum's
//! `serve` over hyper, on a multi-thread runtime of its own — whose one
//! handler reads the whole body and answers at once with an append answer
//! of the usual size. Its rate is the most any HTTP/1.1 service could reach
//! on this machine with this client; its CPU per request (the bench's CPU
//! table) is what the service's HTTP run pays for the transport alone, so
//! what that run costs beyond the store (the in-process run) and the floor
//! is the service's own work.
//!
//! Deliberately not done here: parsing or checking the body, tokens,
//! middleware (request ids, spans, metrics, timeouts, body limits), storing,
//! read models. Any of them would make this a slower service, not a floor.

use axum::Router;
use axum::body::Bytes;
use axum::http::header::CONTENT_TYPE;
use axum::routing::post;

/// The append path of `ledger serve`, answering every request with `answer`
/// (`application/json`) once its body has been read.
pub fn router(answer: Bytes) -> Router {
    Router::new().route(
        "/v1/streams/{stream}/events",
        post(move |body: Bytes| {
            let answer = answer.clone();
            async move {
                // The body is read in full, as any handler must; nothing
                // else is done with it.
                drop(body);
                ([(CONTENT_TYPE, "application/json")], answer)
            }
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt as _;

    #[tokio::test]
    async fn answers_an_append_with_the_given_answer_and_nothing_else() {
        let app = router(Bytes::from_static(b"{\"receipts\":[]}"));
        let res = app
            .clone()
            .oneshot(
                Request::post("/v1/streams/case-1/events")
                    .body(Body::from("not even JSON"))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()[CONTENT_TYPE], "application/json");
        let body = axum::body::to_bytes(res.into_body(), 1 << 10)
            .await
            .unwrap();
        assert_eq!(&body[..], b"{\"receipts\":[]}");
        // Only the append path: anything else is not found.
        let res = app
            .oneshot(Request::get("/v1/log").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
    }
}
