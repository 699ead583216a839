//! The HTTP layer: one router factory that tests build without a socket.
//!
//! Every documented route is declared once, with its utoipa annotation, in [`documented_routes`];
//! the same value yields the router the server mounts and the document the contract test checks.

mod docs;
mod extract;
mod health;
mod objects_only;
mod responses;
mod secret_groups;
mod secrets;
mod validate;
mod view;

use axum::{Router, extract::DefaultBodyLimit, response::IntoResponse};
use tower_http::{
    catch_panic::CatchPanicLayer,
    trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer},
};
use tracing::Level;
use utoipa::{
    Modify, OpenApi,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};
use utoipa_axum::{router::OpenApiRouter, routes};

pub use docs::{OPENAPI_JSON, OPENAPI_YAML};
pub use extract::MAX_BODY_BYTES;

use crate::{error::ApiError, state::AppState};

#[derive(OpenApi)]
#[openapi(
    info(title = "secret-groups", version = "1.0.0", license(name = "Apache-2.0")),
    security(("bearerAuth" = [])),
    modifiers(&BearerAuth),
    components(responses(
        responses::BadRequest,
        responses::Unauthorized,
        responses::Forbidden,
        responses::NotFound,
        responses::Conflict,
        responses::PayloadTooLarge,
        responses::UnprocessableEntity,
    )),
    tags(
        (name = "Secret Groups", description = "Named sets of secrets."),
        (name = "Secrets", description = "The secrets of the groups."),
        (name = "Health", description = "Liveness and readiness probes."),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearerAuth",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("sgt_ token").build()),
        );
    }
}

/// Every documented route (one `routes!` per path: utoipa-axum would otherwise register each
/// handler on every path of the group).
fn documented_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health::liveness))
        .routes(routes!(health::readiness))
        .routes(routes!(
            secret_groups::list_secret_groups,
            secret_groups::create_secret_group,
            secret_groups::create_or_update_secret_group
        ))
        .routes(routes!(
            secret_groups::get_secret_group,
            secret_groups::update_secret_group,
            secret_groups::delete_secret_group
        ))
        .routes(routes!(secrets::list_secrets))
        .routes(routes!(secrets::get_secret, secrets::delete_secret))
}

/// The document as the server's code declares it (OpenAPI 3.1, from utoipa).
pub fn declared_openapi() -> utoipa::openapi::OpenApi {
    documented_routes().split_for_parts().1
}

/// The whole application: API, documents, Swagger UI, and the layers every request passes.
pub fn app(state: AppState) -> Router {
    let (api, _) = documented_routes().split_for_parts();
    api.merge(docs::router())
        .fallback(|| async { ApiError::not_found("no such route").into_response() })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed().into_response() })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        // Only method and path are recorded; bodies and headers (tokens, values) never are.
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(Level::INFO))
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .layer(CatchPanicLayer::custom(|_panic| ApiError::internal("handler panicked").into_response()))
        .with_state(state)
}
