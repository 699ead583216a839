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

impl Client {
    /// A client for the server at `base_url` (the server root, e.g. `http://127.0.0.1:8080`) that
    /// sends `Authorization: Bearer <token>` with every request.
    pub fn with_token(base_url: &str, token: &str) -> Result<Self, reqwest::header::InvalidHeaderValue> {
        let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))?;
        // Keeps the token out of `Debug` output of the headers.
        value.set_sensitive(true);
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(reqwest::header::AUTHORIZATION, value);
        let http =
            reqwest::Client::builder().default_headers(headers).build().map_err(|_| unreachable_invalid_header())?;
        Ok(Self::new_with_client(base_url, http))
    }
}

fn unreachable_invalid_header() -> reqwest::header::InvalidHeaderValue {
    // reqwest::Client::builder().build() only fails when TLS or the resolver cannot be set up;
    // neither is configured here. Map it to the one error type the signature has.
    reqwest::header::HeaderValue::from_bytes(b"\n").unwrap_err()
}
