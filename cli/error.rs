//! The command line's one error type: a message for a person and the exit code it maps to
//! (2 for usage errors, 1 for everything else), plus the mapping of API errors to messages that
//! name the HTTP status and say what to do.

use std::fmt;

use secret_groups_client::{Error as ApiError, types::HttpError};

/// What went wrong, said so that the reader knows what to do next. Never holds a secret value or
/// a token.
#[derive(Debug)]
pub struct CliError {
    usage: bool,
    message: String,
}

pub type Result<T, E = CliError> = std::result::Result<T, E>;

impl CliError {
    /// The command line itself is wrong (bad name, missing argument): exit code 2.
    pub fn usage(message: impl Into<String>) -> Self {
        Self { usage: true, message: message.into() }
    }

    /// Anything else (the server refused, a file cannot be read): exit code 1.
    pub fn failed(message: impl Into<String>) -> Self {
        Self { usage: false, message: message.into() }
    }

    pub fn exit_code(&self) -> u8 {
        if self.usage { 2 } else { 1 }
    }

    /// The same error with `context` put in front ("reading FILE: …").
    pub fn context(self, context: impl fmt::Display) -> Self {
        Self { usage: self.usage, message: format!("{context}: {}", self.message) }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        Self::failed(e.to_string())
    }
}

/// An error answer of the API (or a failure to reach it) as a message naming the HTTP status
/// and the server's own message, with a hint where the status has an obvious remedy.
pub fn from_api(e: ApiError<HttpError>) -> CliError {
    match e {
        ApiError::ErrorResponse(answer) => {
            let status = answer.status();
            let body = answer.into_inner();
            with_hint(status.as_u16(), format!("HTTP {} {}: {}", status.as_u16(), code(&body), body.message))
        }
        ApiError::CommunicationError(e) => CliError::failed(format!(
            "cannot reach the server: {}; check --url / SG_URL (or the profile's url) and that the server runs",
            without_url_noise(&e)
        )),
        ApiError::UnexpectedResponse(response) => {
            let status = response.status().as_u16();
            with_hint(status, format!("HTTP {status}: unexpected answer from the server"))
        }
        other => {
            let status = other.status().map(|s| format!("HTTP {} ", s.as_u16())).unwrap_or_default();
            CliError::failed(format!("{status}{other}"))
        }
    }
}

fn code(body: &HttpError) -> &str {
    body.code.as_deref().unwrap_or("error")
}

fn with_hint(status: u16, message: String) -> CliError {
    let hint = match status {
        401 => {
            "; the token is missing, wrong, expired or revoked: check --token / SG_TOKEN or run `secret-groups login`"
        }
        403 => "; your token has no role that allows this on the group (ask a group or tenant admin)",
        429 => "; too many requests or failed logins from this address: wait a minute and try again",
        _ => "",
    };
    CliError::failed(format!("{message}{hint}"))
}

/// reqwest's message, which names the URL (never the token, which travels in a header).
fn without_url_noise(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}
