//! `GET /metrics` (Prometheus text format, no token) and the middleware that counts every
//! request into `crate::metrics`.
//!
//! `/metrics` is infrastructure, like `/openapi.json` and `/swagger-ui/`: it is mounted beside
//! the documented routes, never through `documented_routes`, so it is not in the OpenAPI
//! document (which describes the Secret Groups API that clients and TrueFoundry's SDKs call,
//! and which the contract test holds equal to the checked-in file). It must not count anything
//! itself beyond reading the database pool at scrape; names and labels are `crate::metrics`'s.

use std::time::Instant;

use axum::{
    Router,
    extract::{Request, State},
    http::header::CONTENT_TYPE,
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
};

use super::operation::Operation;
use crate::{error::ApiError, metrics, state::AppState};

/// Where the metrics are served.
pub const PATH: &str = "/metrics";

/// `GET /metrics`, to merge into a router.
pub fn route() -> Router<AppState> {
    Router::new().route(PATH, get(scrape))
}

/// The whole application of a metrics listener of its own (`SG_METRICS_LISTEN`): `/metrics`,
/// anything else a JSON 404; every answer with its `X-Request-Id`.
pub fn router(state: AppState) -> Router {
    route()
        .fallback(|| async { ApiError::not_found("no such route").into_response() })
        .layer(middleware::from_fn(crate::request_id::assign))
        .with_state(state)
}

/// The current metrics; the database pool's gauges are read now.
async fn scrape(State(state): State<AppState>) -> Response {
    let pool = state.db.pool();
    metrics::db_pool(pool.size(), pool.num_idle(), pool.options().get_max_connections());
    ([(CONTENT_TYPE, metrics::CONTENT_TYPE)], metrics::render()).into_response()
}

/// Middleware, outside everything but the request id: counts the request while it is served,
/// then its answer by operation and status, and how long it took. Outside the layers that
/// refuse requests (413, 414, 431, 429…) and catch panics, so those answers count too.
pub async fn observe(http: &'static metrics::Http, request: Request, next: Next) -> Response {
    let _in_flight = metrics::InFlight::enter();
    let started = Instant::now();
    let response = next.run(request).await;
    let operation = response.extensions().get::<Operation>().map(|operation| operation.0);
    http.answered(operation, response.status().as_u16(), started.elapsed());
    response
}
