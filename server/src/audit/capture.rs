//! The capture middleware: opens each documented request's audit scope, and after the handler
//! appends the event that is due (a read of values, a refusal), holding the answer until the
//! event is durable. If it cannot be stored the answer becomes a 500 and the log says why
//! (audit-or-refuse): no value leaves without its read on record.
//!
//! It must not build events (`scope`) nor store them (`appender`; a write's own transaction
//! commits its event).

use std::sync::Arc;

use axum::{
    extract::{MatchedPath, Request, State},
    http::Method,
    middleware::Next,
    response::{IntoResponse as _, Response},
};

use super::scope::{self, Draft};
use crate::{
    api::operation::Operation, client_addr::ClientAddr, error::ApiError, request_id::RequestId, state::AppState,
};

/// Operations that take a POST but write nothing.
const READ_ONLY_POSTS: &[&str] = &["listSecrets"];
/// Operations without a caller, which nothing is ever recorded for: no draft, no cost (the
/// probes are called often).
const NEVER_AUDITED: &[&str] = &["getLiveness", "getReadiness"];

/// Longest path id recorded.
const MAX_PATH_ID: usize = 128;

/// Route middleware, inside the operation tag (it needs the operation).
pub async fn capture(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let (Some(appender), Some(Operation(action))) =
        (&state.audit.appender, request.extensions().get::<Operation>().copied())
    else {
        return next.run(request).await;
    };
    if NEVER_AUDITED.contains(&action) {
        return next.run(request).await;
    }
    let request_id = request.extensions().get::<RequestId>().map(|id| id.to_string()).unwrap_or_default();
    let source = ClientAddr::of(request.extensions()).map(|ip| ip.to_string()).unwrap_or_default();
    let write = !matches!(*request.method(), Method::GET | Method::HEAD) && !READ_ONLY_POSTS.contains(&action);
    let draft = Arc::new(Draft::with_sink(request_id, action, source, write, state.audit.file.clone()));
    request.extensions_mut().insert(draft.clone());
    let path = path_resource(&request);
    let response = scope::run(draft.clone(), async move {
        if let Some((kind, id)) = path {
            scope::resource(&kind, Some(&id), None);
        }
        next.run(request).await
    })
    .await;
    let Some(event) = draft.due(response.status().as_u16()) else {
        return response;
    };
    match appender.append(event).await {
        Ok(()) => response,
        Err(e) => ApiError::internal(format!(
            "audit-or-refuse: {action} answered {} but its audit event could not be stored: {e}",
            response.status().as_u16()
        ))
        .into_response(),
    }
}

/// The object a route's path names (`/secret-groups/{id}` → `("secret-group", id)`), so every
/// event of a request on one object names it, whatever the handler adds.
fn path_resource(request: &Request) -> Option<(String, String)> {
    let template = request.extensions().get::<MatchedPath>()?.as_str();
    let (templates, actual): (Vec<&str>, Vec<&str>) =
        (template.split('/').collect(), request.uri().path().split('/').collect());
    let at = templates.iter().position(|segment| segment.starts_with('{'))?;
    let kind = templates.get(at.checked_sub(1)?)?;
    // Only what the router matched, so at most a path segment; percent-escapes stay as sent.
    // `secret-groups` → `secret-group`: the kind of one object, as handlers name it.
    let kind = kind.strip_suffix('s').unwrap_or(kind);
    // Ids are UUIDs; a longer segment is cut, so a client cannot make events of any size.
    let id = actual.get(at)?;
    Some((kind.to_owned(), id.get(..MAX_PATH_ID).unwrap_or(id).to_owned()))
}
