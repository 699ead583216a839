//! Extractors whose every rejection is an `HttpError` body (axum's own answer with plain text
//! otherwise), and the query-string parsing TrueFoundry's clients need.

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

/// The decoded `key=value` pairs of the query string, in order, keys repeated as sent.
pub struct QueryPairs(pub Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for QueryPairs {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        Ok(QueryPairs(form_urlencoded::parse(query.as_bytes()).into_owned().collect()))
    }
}

impl QueryPairs {
    /// The last value given for `name` (a repeated scalar parameter: the last one wins).
    pub fn last(&self, name: &str) -> Option<&str> {
        self.0.iter().rev().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }

    /// Every value of `name`, also splitting comma-separated values (`a&a` and `a=x,y` alike).
    pub fn all_split(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(key, _)| key == name)
            .flat_map(|(_, value)| value.split(','))
            .map(str::trim)
            .filter(|value| !value.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// An integer parameter within `min..=max`, `default` when absent. Only plain decimal digits
    /// with an optional `-` are an integer: `i64::from_str` also takes `+5`, and ` 5` used to be
    /// trimmed, both of which the document's `type: integer` does not allow.
    pub fn int(&self, name: &str, default: i64, min: i64, max: i64) -> Result<i64, ApiError> {
        let Some(text) = self.last(name) else { return Ok(default) };
        let digits = text.strip_prefix('-').unwrap_or(text);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ApiError::validation(name, "must be an integer"));
        }
        match text.parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            // Out of range, including past i64.
            _ => Err(ApiError::validation(name, format!("must be between {min} and {max}"))),
        }
    }

    /// `limit` (1..=1000, default 100) and `offset` (≥ 0, default 0).
    pub fn page(&self) -> Result<(i64, i64), ApiError> {
        Ok((self.int("limit", 100, 1, 1000)?, self.int("offset", 0, 0, i64::MAX)?))
    }

    /// An optional boolean parameter.
    pub fn opt_flag(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.last(name) {
            None => Ok(None),
            Some(_) => self.flag(name).map(Some),
        }
    }

    /// A boolean parameter (`true` / `false`), `false` when absent.
    pub fn flag(&self, name: &str) -> Result<bool, ApiError> {
        match self.last(name) {
            None => Ok(false),
            Some("true") => Ok(true),
            Some("false") => Ok(false),
            Some(_) => Err(ApiError::validation(name, "must be true or false")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    fn query(text: &str) -> QueryPairs {
        QueryPairs(form_urlencoded::parse(text.as_bytes()).into_owned().collect())
    }

    #[test]
    fn integers_are_plain_decimal_digits() {
        assert_eq!(query("").int("limit", 100, 1, 1000).ok(), Some(100));
        assert_eq!(query("limit=5").int("limit", 100, 1, 1000).ok(), Some(5));
        assert_eq!(query("offset=9223372036854775807").int("offset", 0, 0, i64::MAX).ok(), Some(i64::MAX));
        for bad in ["limit=", "limit=+5", "limit=%205", "limit=5%20", "limit=5.0", "limit=1e2", "limit=-", "limit=0x5"]
        {
            let err = query(bad).int("limit", 100, 1, 1000).expect_err(bad);
            assert_eq!(err.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        }
        for out in ["limit=0", "limit=1001", "limit=-1", "limit=99999999999999999999"] {
            assert!(query(out).int("limit", 100, 1, 1000).is_err(), "{out}");
        }
    }
}
