//! How the process logs: to stderr, filtered by `SG_LOG`, as text or as JSON lines
//! (`SG_LOG_FORMAT=text|json`).
//!
//! In JSON each event is one object: `timestamp`, `level`, `target`, the event's own fields
//! (`message`, …) at the top level, `span` (the innermost span's fields: for anything logged
//! while serving a request, `request_id`, `method` and `path`) and `spans` (every enclosing span,
//! outermost first). It must not decide what is logged: callers never log a token, a value, a
//! body, a header or a query string (the request span records only the path).

use tracing::Subscriber;
use tracing_subscriber::{EnvFilter, fmt::MakeWriter};

/// The environment variable that picks the format.
pub const FORMAT_VARIABLE: &str = "SG_LOG_FORMAT";

/// How log events are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines (the default).
    #[default]
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

impl LogFormat {
    /// `text` or `json` (any case, surrounding space ignored).
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            _ => Err(format!("{FORMAT_VARIABLE} must be `text` or `json`, not `{text}`")),
        }
    }

    /// The format `SG_LOG_FORMAT` names; text when it is unset.
    pub fn from_env() -> Result<Self, String> {
        match std::env::var(FORMAT_VARIABLE) {
            Ok(text) => Self::parse(&text),
            Err(std::env::VarError::NotPresent) => Ok(Self::Text),
            Err(std::env::VarError::NotUnicode(_)) => Err(format!("{FORMAT_VARIABLE} must be `text` or `json`")),
        }
    }
}

/// The subscriber for `format`, writing events that pass `filter` to `writer`. Colours only in
/// text, and only when `ansi` (stderr is a terminal).
pub fn subscriber<W>(format: LogFormat, filter: EnvFilter, writer: W, ansi: bool) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer);
    match format {
        LogFormat::Text => Box::new(builder.with_ansi(ansi).finish()),
        LogFormat::Json => Box::new(
            builder.json().flatten_event(true).with_current_span(true).with_span_list(true).with_ansi(false).finish(),
        ),
    }
}

/// Installs the process's logger: `SG_LOG` (default `info`) in `SG_LOG_FORMAT`, on stderr.
pub fn init() -> anyhow::Result<()> {
    let format = LogFormat::from_env().map_err(anyhow::Error::msg)?;
    let filter = EnvFilter::try_from_env("SG_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing::subscriber::set_global_default(subscriber(format, filter, std::io::stderr, ansi))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A writer into a shared buffer.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buffer {
        type Writer = Buffer;

        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    #[test]
    fn json_lines_carry_the_request_span_fields() {
        let buffer = Buffer::default();
        let subscriber = subscriber(LogFormat::Json, EnvFilter::new("info"), buffer.clone(), false);
        tracing::subscriber::with_default(subscriber, || {
            let span =
                tracing::info_span!("request", method = "GET", path = "/api/svc/v1/secrets/x", request_id = "r-1");
            let _entered = span.enter();
            tracing::error!(status = 500, "request failed");
        });
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1, "{text}");
        let event: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(event["level"], "ERROR", "{event}");
        assert_eq!(event["message"], "request failed", "{event}");
        assert_eq!(event["status"], 500, "{event}");
        assert_eq!(event["span"]["request_id"], "r-1", "{event}");
        assert_eq!(event["span"]["method"], "GET", "{event}");
        assert_eq!(event["span"]["path"], "/api/svc/v1/secrets/x", "{event}");
        assert_eq!(event["spans"][0]["request_id"], "r-1", "{event}");
    }

    #[test]
    fn formats_parse() {
        assert_eq!(LogFormat::parse("json"), Ok(LogFormat::Json));
        assert_eq!(LogFormat::parse(" Text "), Ok(LogFormat::Text));
        assert!(LogFormat::parse("yaml").unwrap_err().contains("SG_LOG_FORMAT"));
    }
}
