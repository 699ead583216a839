//! Request ids: every request gets one, every answer carries it in `X-Request-Id`, and the
//! access log, error logs and audit events name it, so one answer can be tied to its log lines.
//!
//! A caller's own `X-Request-Id` is kept when it is well-formed (a proxy or a client that already
//! traces requests keeps its id end to end); anything else is replaced by a fresh UUIDv7, so a
//! hostile caller cannot put arbitrary bytes, or an unbounded string, into logs and audit records.
//! It must not decide anything else about the request.

use std::sync::Arc;

use axum::{
    extract::Request,
    http::{HeaderName, HeaderValue},
    middleware::Next,
    response::Response,
};

/// The header that carries the id both ways.
pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Longest id taken from a caller (UUIDs, W3C trace ids and most tracers' ids fit).
pub const MAX_LEN: usize = 128;

/// The id of the request being served; in the request's and the answer's extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(Arc<str>);

impl RequestId {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The caller's id when well-formed: 1 to [`MAX_LEN`] ASCII letters, digits, `-`, `_`, `.`
    /// or `:` — enough for every common tracing format, nothing a log or a terminal interprets.
    pub fn from_caller(value: &HeaderValue) -> Option<Self> {
        let text = value.to_str().ok()?;
        let well_formed = !text.is_empty()
            && text.len() <= MAX_LEN
            && text.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
        well_formed.then(|| Self(Arc::from(text)))
    }

    /// A fresh id: time-ordered, so ids sort roughly as requests arrived.
    pub fn generate() -> Self {
        Self(Arc::from(uuid::Uuid::now_v7().to_string()))
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Middleware: assigns the id before anything else looks at the request, and puts it on the
/// answer, errors included.
pub async fn assign(mut request: Request, next: Next) -> Response {
    let id = request.headers().get(&HEADER).and_then(RequestId::from_caller).unwrap_or_else(RequestId::generate);
    request.extensions_mut().insert(id.clone());
    let mut response = next.run(request).await;
    // Only the characters checked above (or a UUID) reach here, so this cannot fail; were it to,
    // the answer simply goes without the header.
    if let Ok(value) = HeaderValue::from_str(id.as_str()) {
        response.headers_mut().insert(HEADER, value);
    }
    response.extensions_mut().insert(id);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_well_formed_ids_and_refuses_the_rest() {
        let keep = |s: &str| RequestId::from_caller(&HeaderValue::from_str(s).unwrap()).map(|id| id.to_string());
        assert_eq!(keep("abc-123_x.y:z").as_deref(), Some("abc-123_x.y:z"));
        assert_eq!(keep(&"a".repeat(MAX_LEN)).map(|s| s.len()), Some(MAX_LEN));
        assert_eq!(keep(&"a".repeat(MAX_LEN + 1)), None);
        assert_eq!(keep(""), None);
        assert_eq!(keep("has space"), None);
        assert_eq!(keep("tab\there"), None);
        assert_eq!(RequestId::from_caller(&HeaderValue::from_bytes(b"caf\xe9").unwrap()), None, "not ASCII");
        assert_eq!(keep("quote\"d"), None);
    }

    #[test]
    fn generated_ids_are_unique_and_well_formed() {
        let (a, b) = (RequestId::generate(), RequestId::generate());
        assert_ne!(a, b);
        assert!(RequestId::from_caller(&HeaderValue::from_str(a.as_str()).unwrap()).is_some());
    }
}
