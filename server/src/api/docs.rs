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

/// The document as JSON; parsed once, on first use. `crate::api::router` parses it while the
/// server is built, so a document that is not valid YAML stops the server at start-up (and fails
/// the unit test below and the client's build script long before): `null` is never served.
pub static OPENAPI_JSON: LazyLock<serde_json::Value> = LazyLock::new(|| match yaml_serde::from_str(OPENAPI_YAML) {
    Ok(document) => document,
    // The compiled-in document is a build input, not a request: nothing a caller sends reaches
    // here, and a binary built with a broken contract must not run.
    Err(err) => panic!("the compiled-in openapi/secret-groups.yaml is not valid YAML: {err}"),
});

pub fn router() -> Router<AppState> {
    let swagger = SwaggerUi::new("/swagger-ui").external_url_unchecked("/openapi.json", OPENAPI_JSON.clone());
    Router::new()
        .route("/openapi.yaml", get(|| async { ([(header::CONTENT_TYPE, "application/yaml")], OPENAPI_YAML) }))
        .merge(swagger)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compiled_in_document_parses() {
        assert_eq!(OPENAPI_JSON["openapi"], "3.0.3");
        assert!(OPENAPI_JSON["paths"].as_object().is_some_and(|paths| !paths.is_empty()));
    }
}
