//! Extractors whose every rejection is an `HttpError` body (axum's own answer with plain text
//! otherwise). The query string is read in `super::query`.

use std::marker::PhantomData;

use axum::{
    extract::{FromRequest, FromRequestParts, Path, Request},
    http::{header, request::Parts},
};
use serde::de::DeserializeOwned;

use super::objects_only::ObjectsOnly;
use crate::{error::ApiError, state::AppState};

/// The largest request body accepted, 4 MiB as README says; larger ones get 413.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// A JSON request body. Not JSON or not sent as JSON → 400; JSON of the wrong shape (missing
/// field, wrong type) → 422; too large → 413; not sent within the body timeout → 408; no body
/// memory free in time → 503 (see `crate::body_budget`). Unknown fields are ignored and `null`
/// counts as absent for optional fields, as TrueFoundry's API does (the document marks them
/// nullable; the few it does not refuse `null`, see `model::present`).
///
/// Handlers take it after `Caller`, so nothing is read from an unauthenticated client. Where
/// the route alone decides whether the caller may act, take [`PendingJson`] instead and ask
/// `crate::authz` before reading the body.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let pending = PendingJson::<T>::from_request(req, state).await?;
        Ok(JsonBody(pending.read(state).await?))
    }
}

/// A JSON request body not read yet: [`PendingJson::read`] reads it, once authorization has
/// been decided, so a caller who may not act never makes the server buffer a byte of it.
pub struct PendingJson<T> {
    request: Request,
    _type: PhantomData<fn() -> T>,
}

impl<T> FromRequest<AppState> for PendingJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(PendingJson { request: req, _type: PhantomData })
    }
}

impl<T: DeserializeOwned> PendingJson<T> {
    /// Reads and parses the body (see [`JsonBody`] for the answers).
    pub async fn read(self, state: &AppState) -> Result<T, ApiError> {
        let req = self.request;
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .map(|mime| {
                let mime = mime.trim().to_ascii_lowercase();
                mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
            })
            .unwrap_or(false);
        if !is_json {
            return Err(ApiError::malformed_body("the request body must be sent as Content-Type: application/json"));
        }
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok());
        let body = state.bodies.read(req.into_body(), declared, MAX_BODY_BYTES).await?;
        parse(&body.bytes)
    }
}

/// Parses a whole body as JSON of the shape `T`.
fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    // `ObjectsOnly`: a JSON array is no struct (serde's derive would take one, see there).
    let value = serde_path_to_error::deserialize(ObjectsOnly(&mut deserializer)).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => {
                let field = if path == "." { "body".to_owned() } else { path };
                ApiError::validation(field, strip_position(&inner.to_string()))
            }
            _ => ApiError::malformed_body(format!("request body is not valid JSON: {inner}")),
        }
    })?;
    // Trailing characters after the JSON value make the body malformed, not just odd.
    deserializer.end().map_err(|err| ApiError::malformed_body(format!("request body is not valid JSON: {err}")))?;
    Ok(value)
}

/// serde's messages end in " at line L column C", which says nothing useful about a field.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}

/// The `{id}` path segment.
pub struct PathId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // The only rejection a matched route can give is an id that is not UTF-8 once decoded
        // (`%FF`): no object has such an id, so it is a 404, the answer every `{id}` operation
        // documents (a 422 here was undocumented for the GETs; found by schemathesis' checks).
        let Path(id) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|rejection| ApiError::not_found(format!("no such object: {}", rejection.body_text())))?;
        // No id holds U+0000 (and PostgreSQL cannot even compare with one): not found, for every
        // resource, before any handler or authorization query sees it.
        if !crate::store::is_storable(&id) {
            return Err(ApiError::not_found("no such object"));
        }
        Ok(PathId(id))
    }
}
