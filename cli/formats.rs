//! A group's keys and values as a file: `env` (python-dotenv's dialect, see `dotenv.rs`),
//! `json` (an object of strings) or `yaml` (a mapping of strings), both ways.

use std::{collections::BTreeMap, path::Path};

use clap::ValueEnum;

use crate::{
    dotenv,
    error::{CliError, Result},
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Env,
    Json,
    Yaml,
}

impl Format {
    /// `.json` → json, `.yaml`/`.yml` → yaml, anything else (`.env`, `.env.local`, …) → env.
    pub fn from_path(path: &Path) -> Self {
        match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
            Some("json") => Self::Json,
            Some("yaml" | "yml") => Self::Yaml,
            _ => Self::Env,
        }
    }
}

pub fn render(values: &BTreeMap<String, String>, format: Format) -> Result<String> {
    match format {
        Format::Env => {
            let mut out = String::new();
            for (key, value) in values {
                out.push_str(&dotenv::format_binding(key, value)?);
                out.push('\n');
            }
            Ok(out)
        }
        Format::Json => serde_json::to_string_pretty(values)
            .map(|s| s + "\n")
            .map_err(|e| CliError::failed(format!("cannot write JSON: {e}"))),
        Format::Yaml => yaml_serde::to_string(values).map_err(|e| CliError::failed(format!("cannot write YAML: {e}"))),
    }
}

/// Parses a file's text; every value must be a string (JSON/YAML numbers and booleans are
/// refused rather than guessed at, since `1.0` and `1` would come back different).
pub fn parse(text: &str, format: Format) -> Result<Vec<(String, String)>> {
    match format {
        Format::Env => dotenv::parse(text),
        // Only the place is reported: the parsers' messages quote the offending scalar, which
        // may be a secret.
        Format::Json => {
            serde_json::from_str::<BTreeMap<String, String>>(text).map(|m| m.into_iter().collect()).map_err(|e| {
                CliError::failed(format!(
                    "not a JSON object of strings (line {}, column {}; quote numbers and booleans)",
                    e.line(),
                    e.column()
                ))
            })
        }
        Format::Yaml => {
            yaml_serde::from_str::<BTreeMap<String, String>>(text).map(|m| m.into_iter().collect()).map_err(|e| {
                let at =
                    e.location().map(|l| format!(" (line {}, column {})", l.line(), l.column())).unwrap_or_default();
                CliError::failed(format!("not a YAML mapping of strings{at}; quote numbers and booleans"))
            })
        }
    }
}

/// The largest file read for `import`, `--from-file`, `--env-file` and `inject` (the API's own
/// body limit).
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// Reads a text file of at most [`MAX_FILE_BYTES`].
pub fn read_file(path: &Path) -> Result<String> {
    use std::io::Read as _;
    let file =
        std::fs::File::open(path).map_err(|e| CliError::failed(format!("cannot read {}: {e}", path.display())))?;
    let mut text = String::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| CliError::failed(format!("cannot read {}: {e}", path.display())))?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(CliError::failed(format!("{} is larger than 4 MiB", path.display())));
    }
    Ok(text)
}

/// Reads `path` as key/value pairs (format from `format` or the extension), checking keys.
pub fn read_pairs(path: &Path, format: Option<Format>) -> Result<Vec<(String, String)>> {
    let text = read_file(path)?;
    let pairs =
        parse(&text, format.unwrap_or_else(|| Format::from_path(path))).map_err(|e| e.context(path.display()))?;
    for (key, _) in &pairs {
        crate::names::key(key).map_err(|e| e.context(path.display()))?;
    }
    Ok(pairs)
}
