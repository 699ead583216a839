//! Which documented operation a request is: the document's `operationId` (e.g. `getSecret`),
//! looked up from the route that matched and the method, in a table built once from the same
//! declared routes that serve the document.
//!
//! Metrics label requests by it and the audit trail names actions by it, so both speak the
//! document's vocabulary and neither can carry an id or a name (bounded cardinality). It must not
//! decide anything about the request.

use std::{collections::HashMap, sync::Arc};

use axum::{
    extract::{MatchedPath, Request},
    http::Method,
    middleware::Next,
    response::Response,
};

/// The `operationId` of the request being served; in the request's and the answer's extensions
/// (absent for undocumented routes: the documents, Swagger UI, unknown paths).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operation(pub &'static str);

/// Route template → method → `operationId`, for every documented operation (keyed by route
/// first, so a lookup borrows the matched route instead of allocating a key per request).
#[derive(Debug, Clone, Default)]
pub struct Operations(Arc<HashMap<String, HashMap<Method, &'static str>>>);

impl Operations {
    /// The table of `openapi`'s operations. The ids are leaked once at start-up (a few dozen
    /// short strings) so that every request can carry a `&'static str`, not an allocation.
    pub fn from_document(openapi: &utoipa::openapi::OpenApi) -> Self {
        let mut table: HashMap<String, HashMap<Method, &'static str>> = HashMap::new();
        for (path, item) in &openapi.paths.paths {
            let methods = [
                (Method::GET, &item.get),
                (Method::PUT, &item.put),
                (Method::POST, &item.post),
                (Method::DELETE, &item.delete),
                (Method::PATCH, &item.patch),
                (Method::HEAD, &item.head),
            ];
            for (method, operation) in methods {
                if let Some(id) = operation.as_ref().and_then(|op| op.operation_id.clone()) {
                    table.entry(path.clone()).or_default().insert(method, &*Box::leak(id.into_boxed_str()));
                }
            }
        }
        Self(Arc::new(table))
    }

    /// The operation of `method` on the route template `route`; HEAD is served by GET's handler.
    pub fn find(&self, method: &Method, route: &str) -> Option<Operation> {
        let method = if method == Method::HEAD { &Method::GET } else { method };
        self.0.get(route)?.get(method).copied().map(Operation)
    }

    /// Every documented `operationId` (metrics pre-register their series with these).
    pub fn ids(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.0.values().flat_map(|methods| methods.values().copied())
    }
}

/// Route middleware (runs after routing, where the matched route is known): tags the request
/// and its answer with the operation.
pub async fn tag(operations: Operations, mut request: Request, next: Next) -> Response {
    let found =
        request.extensions().get::<MatchedPath>().and_then(|route| operations.find(request.method(), route.as_str()));
    if let Some(operation) = found {
        request.extensions_mut().insert(operation);
    }
    let mut response = next.run(request).await;
    if let Some(operation) = found {
        response.extensions_mut().insert(operation);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_operation_is_found_by_its_route_and_method() {
        let operations = Operations::from_document(&crate::api::declared_openapi());
        assert_eq!(operations.find(&Method::GET, "/api/svc/v1/secrets/{id}"), Some(Operation("getSecret")));
        assert_eq!(operations.find(&Method::HEAD, "/api/svc/v1/secrets/{id}"), Some(Operation("getSecret")));
        assert_eq!(operations.find(&Method::POST, "/api/svc/v1/secrets"), Some(Operation("listSecrets")));
        assert_eq!(operations.find(&Method::PUT, "/api/svc/v1/secrets/{id}"), None);
        assert_eq!(operations.find(&Method::GET, "/api/svc/v1/secrets/abc"), None, "templates, not paths");
        let ids: std::collections::HashSet<_> = operations.ids().collect();
        assert_eq!(ids.len(), operations.ids().count(), "operationIds are unique");
        assert!(ids.len() > 25, "{ids:?}");
    }
}
