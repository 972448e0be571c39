//! The router: every endpoint, registered with its OpenAPI description, and
//! the layers around them.

pub mod admin;
pub mod applicants;
pub mod cases;
pub mod dashboards;
pub mod events;
pub mod ops;
pub mod public;
pub mod session;
pub mod subscribe;
pub mod transparency;
pub mod witness;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::Problem;
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Public-service case ledger",
        description = "A verifiable work-log ledger: signed, hash-chained events on an RFC 6962 \
Merkle log with C2SP checkpoints and tiles.\n\n\
**Numbers.** Stream versions, log indexes and tree sizes are plain JSON integers; they stay \
below 2^53 in any real log, so every JSON parser reads them exactly.\n\n\
**Hashes** are lower-case hex. **Errors** are RFC 9457 `application/problem+json` with a \
stable `type` of the form `urn:ledger:problem:<kind>`.\n\n\
**Auth.** `Authorization: Bearer <token>`; roles admin, department, inspector, \
complaint_handler, witness. The transparency endpoints, proofs and operations need none.",
    ),
    components(schemas(Problem, events::DirectionWire)),
    modifiers(&BearerAuth),
    tags(
        (name = "events", description = "Append and read"),
        (name = "cases", description = "Case read models: timelines, time limits, rule checks, work logs"),
        (name = "supervision", description = "Department scorecards, the fairness report, complaints and their timelines"),
        (name = "public", description = "办理进度查询: a case's progress by number and query code, QR codes (no sign-in)"),
        (name = "applicants", description = "Applicants' personal data, outside the log and erasable; every read recorded"),
        (name = "subscriptions", description = "Server-Sent Events"),
        (name = "proofs", description = "RFC 9162 proofs (public)"),
        (name = "transparency", description = "C2SP tlog-tiles and the log's identity (public)"),
        (name = "witness", description = "C2SP tlog-witness pull mode (witness)"),
        (name = "admin", description = "Tokens, departments, witnesses, keys (admin)"),
        (name = "operations", description = "Health and metrics"),
        (name = "session", description = "Who the bearer token is: role, department, subject"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Every documented route.
pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(events::append, events::read_stream))
        .routes(routes!(events::read_log))
        .routes(routes!(events::event_by_id))
        .routes(routes!(cases::case_timeline))
        .routes(routes!(cases::work_log))
        .routes(routes!(public::query_code))
        .routes(routes!(public::case_status))
        .routes(routes!(public::qr_svg))
        .routes(routes!(public::qr_png))
        .routes(routes!(public::status_page))
        .routes(routes!(applicants::record_applicant))
        .routes(routes!(
            applicants::read_applicant,
            applicants::erase_applicant
        ))
        .routes(routes!(cases::search_cases))
        .routes(routes!(dashboards::scorecards))
        .routes(routes!(dashboards::fairness_report))
        .routes(routes!(dashboards::list_complaints))
        .routes(routes!(dashboards::complaint_timeline))
        .routes(routes!(subscribe::subscribe_log))
        .routes(routes!(subscribe::subscribe_stream))
        .routes(routes!(transparency::log_info))
        .routes(routes!(transparency::inclusion_proof))
        .routes(routes!(transparency::consistency_proof))
        .routes(routes!(transparency::checkpoint))
        .routes(routes!(transparency::list_checkpoints))
        .routes(routes!(transparency::checkpoint_by_size))
        .routes(routes!(admin::issue_token))
        .routes(routes!(admin::revoke_token))
        .routes(routes!(admin::register_department))
        .routes(routes!(admin::register_witness))
        .routes(routes!(admin::register_key))
        .routes(routes!(admin::revoke_key))
        .routes(routes!(witness::pull_checkpoint))
        .routes(routes!(witness::post_cosignatures))
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .routes(routes!(ops::metrics))
        .routes(routes!(session::whoami))
}

/// The OpenAPI 3.1 document, generated from the handlers.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api_router().into_openapi()
}

/// The whole service as a router over `state`.
pub fn app(state: AppState) -> Router {
    let (router, mut doc) = api_router().split_for_parts();
    // The tile route's wildcard is documented as `/tile/{path}`.
    let tile = transparency_tile_doc();
    doc.paths.paths.extend(tile.paths.paths);
    let doc = Arc::new(doc);
    let body_limit = state.settings().body_limit;
    router
        .route("/tile/{*path}", get(transparency::tile))
        .route(
            "/openapi.json",
            get(move || {
                let doc = doc.clone();
                async move { axum::Json(doc.as_ref().clone()) }
            }),
        )
        .merge(crate::console::router())
        .fallback(ops::not_found)
        .method_not_allowed_fallback(ops::method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            ops::observe,
        ))
        .with_state(state)
}

fn transparency_tile_doc() -> utoipa::openapi::OpenApi {
    #[derive(OpenApi)]
    #[openapi(paths(transparency::tile))]
    struct TileDoc;
    TileDoc::openapi()
}

/// Every route path the router serves, as written in the OpenAPI document.
pub fn documented_paths() -> Vec<String> {
    let mut doc = openapi();
    doc.paths.paths.extend(transparency_tile_doc().paths.paths);
    doc.paths.paths.keys().cloned().collect()
}
