//! The HTTP layer: one router factory that tests build without a socket.
//!
//! Every documented route is declared once, with its utoipa annotation, in [`documented_routes`];
//! the same value yields the router the server mounts and the document the contract test checks.

mod apply;
mod audit_events;
mod discovery;
mod docs;
mod extract;
mod health;
pub mod metrics;
mod objects_only;
pub mod operation;
mod params;
mod query;
mod responses;
mod secret_groups;
mod secrets;
mod teams;
mod tokens;
mod users;
mod validate;
mod view;
mod virtual_accounts;

use axum::{
    Router,
    extract::{DefaultBodyLimit, Request, State},
    http::{HeaderValue, Method, header::CACHE_CONTROL},
    middleware::{self, Next},
    response::{IntoResponse, Response},
};
use tower_http::{
    catch_panic::CatchPanicLayer,
    set_header::SetResponseHeaderLayer,
    trace::{DefaultOnResponse, TraceLayer},
};
use tracing::Level;
use utoipa::{
    Modify, OpenApi,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};
use utoipa_axum::{router::OpenApiRouter, routes};

pub use docs::{OPENAPI_JSON, OPENAPI_YAML};
pub use extract::MAX_BODY_BYTES;

/// Tenant names follow the group-name rule, so `<tenant>:<group>` FQNs stay unambiguous.
pub fn is_tenant_name(name: &str) -> bool {
    crate::model::is_group_name(name)
}

use crate::{error::ApiError, state::AppState};

#[derive(OpenApi)]
#[openapi(
    info(title = "secret-groups", version = "1.5.0", license(name = "Apache-2.0")),
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
        responses::TooManyRequests,
        responses::ServiceUnavailable,
    )),
    tags(
        (name = "Secret Groups", description = "Named sets of secrets."),
        (name = "Secrets", description = "The secrets of the groups."),
        (name = "Personal Access Tokens", description = "A user's API tokens."),
        (name = "Virtual Accounts", description = "Service identities."),
        (name = "Users", description = "The tenant's users."),
        (name = "Teams", description = "Named sets of users."),
        (name = "Health", description = "Liveness and readiness probes."),
        (name = "TrueFoundry CLI", description = "What TrueFoundry's CLI and SDK call besides the resource APIs."),
        (name = "Audit Events", description = "Who read which secret, who changed what, who was refused."),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearerAuth",
            SecurityScheme::Http(
                HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("tfy_sg_ token").build(),
            ),
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
        .routes(routes!(tokens::list_personal_access_tokens, tokens::create_personal_access_token))
        .routes(routes!(tokens::create_personal_access_token_for_user))
        .routes(routes!(tokens::revoke_all_personal_access_tokens))
        .routes(routes!(tokens::delete_personal_access_token))
        .routes(routes!(virtual_accounts::list_virtual_accounts, virtual_accounts::create_or_update_virtual_account))
        .routes(routes!(virtual_accounts::virtual_account_exists))
        .routes(routes!(virtual_accounts::get_virtual_account, virtual_accounts::delete_virtual_account))
        .routes(routes!(virtual_accounts::get_virtual_account_token))
        .routes(routes!(virtual_accounts::regenerate_virtual_account_token))
        .routes(routes!(users::list_users))
        .routes(routes!(users::update_user_roles))
        .routes(routes!(users::deactivate_user))
        .routes(routes!(users::activate_user))
        .routes(routes!(users::get_user, users::delete_user))
        .routes(routes!(users::get_current_user))
        .routes(routes!(teams::create_or_update_team))
        .routes(routes!(teams::list_teams))
        .routes(routes!(teams::get_team, teams::delete_team))
        .routes(routes!(teams::list_team_members))
        .routes(routes!(discovery::get_min_cli_version))
        .routes(routes!(discovery::get_tenant_id))
        .routes(routes!(discovery::get_session))
        .routes(routes!(apply::apply_manifest))
        .routes(routes!(apply::delete_manifest))
        .routes(routes!(apply::resolve_dependency_tree))
        .routes(routes!(audit_events::list_audit_events))
}

/// The document as the server's code declares it (OpenAPI 3.1, from utoipa).
pub fn declared_openapi() -> utoipa::openapi::OpenApi {
    documented_routes().split_for_parts().1
}

/// The whole application: API, documents, Swagger UI, and the layers every request passes.
pub fn app(state: AppState) -> Router {
    let (api, openapi) = documented_routes().split_for_parts();
    let operations = operation::Operations::from_document(&openapi);
    // The request series, labelled by the same operationIds (SG_METRICS=off: not counted).
    let http_metrics = state.metrics.enabled.then(|| crate::metrics::http(operations.ids()));
    // After routing (route_layer), where the matched route names the operation.
    // The audit capture runs inside the operation tag (it names events by the operation).
    let mut routes = api
        .route_layer(middleware::from_fn_with_state(state.clone(), crate::audit::capture::capture))
        .route_layer(middleware::from_fn(move |request, next| operation::tag(operations.clone(), request, next)))
        .merge(docs::router());
    if state.metrics.on_api_listener() {
        // Beside the documents, outside the OpenAPI document (see api/metrics.rs).
        routes = routes.merge(metrics::route());
    }
    let app = routes
        .fallback(|| async { ApiError::not_found("no such route").into_response() })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed().into_response() })
        .layer(middleware::from_fn_with_state(state.clone(), forget_verified_tokens))
        .layer(middleware::from_fn(head_limits))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        // Inside the access log's span, so that a panic's 500 is logged there with its request
        // id, like any other answer.
        .layer(CatchPanicLayer::custom(|_panic| ApiError::internal("handler panicked").into_response()))
        // Only method and path are recorded; bodies and headers (tokens, values) never are.
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        // Outside everything else, so no answer escapes it (errors and panics included): answers
        // carry values and tokens, and no cache on the way may keep them.
        .layer(SetResponseHeaderLayer::overriding(CACHE_CONTROL, HeaderValue::from_static("no-store")))
        // Who the client is, before anything asks (the failure limit, later the audit trail).
        .layer(middleware::from_fn_with_state(state.trusted_proxies.clone(), crate::client_addr::remember));
    // Every answer counted, refusals by the layers above included.
    let app = match http_metrics {
        Some(http) => app.layer(middleware::from_fn(move |request, next| metrics::observe(http, request, next))),
        None => app,
    };
    // Outermost: every answer carries its id, including those refused by the layers above.
    app.layer(middleware::from_fn(crate::request_id::assign)).with_state(state)
}

/// The access log's span: method, path (never the query: `fqn` and search terms name secrets)
/// and the request id.
fn request_span(request: &Request) -> tracing::Span {
    let id = request.extensions().get::<crate::request_id::RequestId>().map_or("", |id| id.as_str());
    tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %id)
}

/// The request-head limits of `crate::conn`, checked again here where the head is parsed: the
/// connection guard counts bytes as they arrive and lets a head through that is near a limit,
/// and servers built on another accept loop (the tests' harness) get the same answers.
async fn head_limits(request: Request, next: Next) -> Response {
    let target = request.uri().path_and_query().map_or(0, |target| target.as_str().len());
    if target > crate::conn::MAX_URI_BYTES {
        return ApiError::uri_too_long(crate::conn::MAX_URI_BYTES).into_response();
    }
    let headers = request.headers();
    let bytes: usize = headers.iter().map(|(name, value)| name.as_str().len() + value.len() + 4).sum();
    if headers.len() > crate::conn::MAX_HEADERS || bytes > crate::conn::MAX_HEAD_BYTES {
        return ApiError::headers_too_large(crate::conn::MAX_HEAD_BYTES).into_response();
    }
    next.run(request).await
}

/// Clears the verified-token cache after every successful request that may have changed an
/// identity: any write outside the secret routes (users, tokens, virtual accounts, teams). One
/// rule at the edge rather than a call in each handler, so a new identity route cannot forget
/// it. Secret-group writes change group roles, which are never cached.
async fn forget_verified_tokens(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let may_change_identities = !matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS)
        && !path.starts_with("/api/svc/v1/secret-groups")
        && !path.starts_with("/api/svc/v1/secrets");
    let response = next.run(request).await;
    if may_change_identities && response.status().is_success() {
        state.token_cache.clear();
    }
    response
}
