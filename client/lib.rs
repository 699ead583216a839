//! Typed Rust client for the secret-groups API.
//!
//! Everything under [`types`] and the methods of [`Client`] are generated at build time by
//! progenitor from `openapi/secret-groups.yaml` (see the top-level `build.rs`); only this file is
//! written by hand. Bearer authentication is not part of what progenitor generates, so
//! [`Client::with_token`] builds the underlying `reqwest` client with a default
//! `Authorization` header.

/// The generated code, kept apart so lints meant for hand-written code do not apply to it.
#[allow(clippy::all, missing_docs, rustdoc::all)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/codegen.rs"));
}
pub use generated::*;

/// The checked-in OpenAPI document (`openapi/secret-groups.yaml`), as JSON.
pub const OPENAPI_JSON: &str = include_str!(concat!(env!("OUT_DIR"), "/openapi.json"));

/// Why [`Client::with_token`] could not build a client.
#[derive(Debug)]
pub enum ClientBuildError {
    /// The token cannot be sent in an HTTP header (it holds a control character such as a
    /// line break). The token itself is never part of the message.
    InvalidToken,
    /// reqwest could not build its client (TLS or resolver set-up).
    Http(reqwest::Error),
}

impl std::fmt::Display for ClientBuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::InvalidToken => f.write_str("the token contains characters not allowed in an HTTP header"),
            Self::Http(e) => write!(f, "cannot build the HTTP client: {e}"),
        }
    }
}

impl std::error::Error for ClientBuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::InvalidToken => None,
            Self::Http(e) => Some(e),
        }
    }
}

/// The connect and whole-request timeouts progenitor's generated `Client::new` sets; a client
/// built with a token keeps them, so no call can hang forever on a dead server.
pub const DEFAULT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

impl Client {
    /// A client for the server at `base_url` (the server root, e.g. `http://127.0.0.1:8080`) that
    /// sends `Authorization: Bearer <token>` with every request, with the same connect and
    /// request timeouts ([`DEFAULT_TIMEOUT`]) as the generated `Client::new`.
    pub fn with_token(base_url: &str, token: &str) -> Result<Self, ClientBuildError> {
        let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| ClientBuildError::InvalidToken)?;
        // Keeps the token out of `Debug` output of the headers.
        value.set_sensitive(true);
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(reqwest::header::AUTHORIZATION, value);
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .connect_timeout(DEFAULT_TIMEOUT)
            .timeout(DEFAULT_TIMEOUT)
            .build()
            .map_err(ClientBuildError::Http)?;
        Ok(Self::new_with_client(base_url, http))
    }
}
