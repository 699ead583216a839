//! Liveness and readiness probes (no token needed).

use axum::{Json, extract::State};

use crate::{error::ApiError, model::HealthStatus, state::AppState};

/// Liveness probe
///
/// Answers 200 while the process is serving requests. It does not touch the database.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "Health",
    operation_id = "getLiveness",
    security(),
    responses((status = 200, description = "The process is alive.", body = HealthStatus))
)]
pub async fn liveness() -> Json<HealthStatus> {
    Json(HealthStatus { status: "ok".to_owned() })
}

/// Readiness probe
///
/// Answers 200 when the database takes a write (a one-row probe, at most once a second), 503
/// otherwise: a database that answers reads but cannot write (disk full, read-only) is not ready.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "Health",
    operation_id = "getReadiness",
    security(),
    responses(
        (status = 200, description = "The database is reachable; the server can take traffic.", body = HealthStatus),
        (status = 503, description = "The database is not reachable or cannot take writes.", body = crate::model::HttpError),
    )
)]
pub async fn readiness(State(state): State<AppState>) -> Result<Json<HealthStatus>, ApiError> {
    if state.db.ready().await { Ok(Json(HealthStatus { status: "ok".to_owned() })) } else { Err(ApiError::not_ready()) }
}
