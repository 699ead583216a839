//! The checked-in OpenAPI document, served as-is (`/openapi.yaml`) and as JSON (`/openapi.json`),
//! and Swagger UI showing it (`/swagger-ui/`, assets compiled into the binary).
//!
//! What is served is the checked-in document, not utoipa's rendering of the handlers: the
//! document is the contract, and a test proves the handlers match it.

use std::sync::LazyLock;

use axum::{Router, http::header, routing::get};
use utoipa_swagger_ui::SwaggerUi;

use crate::state::AppState;

/// `openapi/secret-groups.yaml`, compiled in.
pub const OPENAPI_YAML: &str = include_str!("../../../openapi/secret-groups.yaml");

/// The document as JSON; parsed once. A document that is not valid YAML fails the build's tests
/// and the client's build script long before a server could start with it.
pub static OPENAPI_JSON: LazyLock<serde_json::Value> =
    LazyLock::new(|| yaml_serde::from_str(OPENAPI_YAML).unwrap_or(serde_json::Value::Null));

pub fn router() -> Router<AppState> {
    let swagger = SwaggerUi::new("/swagger-ui").external_url_unchecked("/openapi.json", OPENAPI_JSON.clone());
    Router::new()
        .route("/openapi.yaml", get(|| async { ([(header::CONTENT_TYPE, "application/yaml")], OPENAPI_YAML) }))
        .merge(swagger)
}
