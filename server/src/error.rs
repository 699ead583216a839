//! The one error type of the HTTP layer, and the one place it becomes an HTTP answer.
//!
//! Every failure a client can see is an [`ApiError`]: a status, a stable machine-readable `code`
//! (part of the contract, listed in the OpenAPI document), a message for the client and, for
//! server faults, a separate message that only goes to the log. Storage errors are
//! HTTP-agnostic ([`StoreError`]) and are converted here with `From`, so handlers just use `?`.

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use crate::{
    model::{HttpError, TimestampOutOfRange},
    store::StoreError,
};

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    details: Vec<Value>,
    /// What the log gets for a server fault; never sent to the client.
    internal: Option<String>,
    /// Seconds for a `Retry-After` header.
    retry_after: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), details: Vec::new(), internal: None, retry_after: None }
    }

    pub fn malformed_body(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "malformed_body", message)
    }

    pub fn unauthenticated() -> Self {
        // One message for every cause, so the answer never tells whether a token exists.
        Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", "a valid bearer token is required")
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn method_not_allowed() -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "method not allowed on this path")
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("request body is larger than {limit} bytes"),
        )
    }

    /// A well-formed request that breaks a rule: 422 with one detail per offending field.
    pub fn validation(field: impl Into<String>, problem: impl Into<String>) -> Self {
        let (field, problem) = (field.into(), problem.into());
        let mut err = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            format!("invalid request: {field} {problem}"),
        );
        err.details.push(json!({ "field": field, "message": problem }));
        err
    }

    /// 422 for a body or query whose shape is wrong (missing field, wrong type).
    pub fn invalid_shape(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", message)
    }

    /// Too many failed authentications from this client; `Retry-After` says when to retry.
    pub fn rate_limited(retry_after_secs: u64) -> Self {
        let mut err = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("too many failed authentications from this address; retry in {retry_after_secs} s"),
        );
        err.retry_after = Some(retry_after_secs);
        err
    }

    /// A list that scans waited too long for its turn: others' lists are using every slot.
    pub fn list_busy(waited: std::time::Duration) -> Self {
        let mut err = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            format!("too many lists are running; this one waited {} ms for its turn, retry later", waited.as_millis()),
        );
        err.retry_after = Some(1);
        err
    }

    /// The client did not send its request body within the body timeout.
    pub fn body_timeout() -> Self {
        Self::new(StatusCode::REQUEST_TIMEOUT, "request_timeout", "the request body did not arrive in time")
    }

    /// A shared limit (connections, body memory) is reached; the client may retry shortly.
    pub fn busy(message: impl Into<String>) -> Self {
        let mut err = Self::new(StatusCode::SERVICE_UNAVAILABLE, "server_busy", message);
        err.retry_after = Some(1);
        err
    }

    /// A list that scans ran past its time limit and was stopped.
    pub fn list_timeout(limit: std::time::Duration) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            format!(
                "the list took longer than {} ms and was stopped; narrow it (fqn, secretGroupId, secretFqns, a \
                 longer search) or ask for a smaller page",
                limit.as_millis()
            ),
        )
    }

    /// The request line's target is longer than the server reads.
    pub fn uri_too_long(limit: usize) -> Self {
        Self::new(StatusCode::URI_TOO_LONG, "uri_too_long", format!("the request target is longer than {limit} bytes"))
    }

    /// The request head (line and headers) is larger than the server reads.
    pub fn headers_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            format!("the request head is larger than {limit} bytes or has too many header lines"),
        )
    }

    pub fn not_ready() -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", "database is not reachable or cannot take writes")
    }

    /// A server fault: the client gets a generic message, the log gets `detail`.
    pub fn internal(detail: impl Into<String>) -> Self {
        let mut err = Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal server error");
        err.internal = Some(detail.into());
        err
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The answer's `message`, for unit tests of the layers that build errors.
    #[cfg(test)]
    pub fn message(&self) -> &str {
        &self.message
    }

    fn body(&self) -> HttpError {
        HttpError {
            status_code: i32::from(self.status.as_u16()),
            message: self.message.clone(),
            code: Some(self.code.to_owned()),
            details: (!self.details.is_empty()).then(|| self.details.clone()),
        }
    }

    /// The whole HTTP/1.1 answer as bytes, closing the connection: for the few answers written
    /// on a socket before (or instead of) hyper and the application (`crate::conn`). It names the
    /// request `id` in `X-Request-Id`, so those answers carry one too.
    pub fn into_raw_response(self, id: &crate::request_id::RequestId) -> Vec<u8> {
        // Serializing a struct of strings and JSON values cannot fail.
        let body = serde_json::to_vec(&self.body()).unwrap_or_default();
        let reason = self.status.canonical_reason().unwrap_or("");
        let mut head = format!(
            "HTTP/1.1 {} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\
             {}: {id}\r\n",
            self.status.as_u16(),
            body.len(),
            crate::request_id::HEADER,
        );
        if let Some(seconds) = self.retry_after {
            head.push_str(&format!("retry-after: {seconds}\r\n"));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(&body);
        bytes
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Some(detail) = &self.internal {
            tracing::error!(status = self.status.as_u16(), detail = %detail, "request failed");
        }
        let body = self.body();
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<crate::list_gate::QueueTimeout> for ApiError {
    fn from(timeout: crate::list_gate::QueueTimeout) -> Self {
        ApiError::list_busy(timeout.0)
    }
}

/// A stored time no date represents: a broken row, never shown as 1970.
impl From<TimestampOutOfRange> for ApiError {
    fn from(err: TimestampOutOfRange) -> Self {
        ApiError::internal(err.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound(what) => ApiError::not_found(format!("{what} not found")),
            StoreError::Conflict(message) => ApiError::conflict(message),
            StoreError::Forbidden(message) => ApiError::forbidden(message),
            StoreError::Unknown(message) => ApiError::not_found(message),
            StoreError::Invalid { field, problem } => ApiError::validation(field, problem),
            StoreError::Database(e) => ApiError::internal(format!("database: {e}")),
            StoreError::Sqlite(e) => ApiError::internal(format!("database: {e}")),
            StoreError::Batch(e) => ApiError::internal(format!("group commit: {e}")),
            StoreError::Corrupt(detail) => ApiError::internal(format!("corrupt row: {detail}")),
            StoreError::Internal(detail) => ApiError::internal(format!("store: {detail}")),
            StoreError::TimedOut(limit) => ApiError::list_timeout(limit),
            // Fails closed: the answer says nothing about the data; the log names the row.
            err @ StoreError::Crypto { .. } => ApiError::internal(format!("cannot open sealed data: {err}")),
        }
    }
}
