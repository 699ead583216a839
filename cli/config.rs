//! Where the server and token come from: `--url`/`SG_URL` and `--token`/`SG_TOKEN` first, then
//! the profile (`--profile`/`SG_PROFILE`, default `default`) in
//! `$XDG_CONFIG_HOME/secret-groups/config.toml` (or `~/.config/…`), which `login` writes with
//! mode 0600 in a 0700 directory, replacing the file atomically.

use std::{
    collections::BTreeMap,
    fs,
    io::Write as _,
    os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _},
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

use crate::error::{CliError, Result};

/// The profile file's largest accepted size: it holds a few URLs and tokens.
const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct ConfigFile {
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
}

#[derive(Clone, Default, Serialize, Deserialize)]
pub struct Profile {
    pub url: Option<String>,
    pub token: Option<String>,
}

impl std::fmt::Debug for Profile {
    // Keeps the token out of any debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Profile").field("url", &self.url).field("token", &"[redacted]").finish()
    }
}

/// The server and token a command talks to.
pub struct Connection {
    pub url: String,
    pub token: String,
}

/// `$XDG_CONFIG_HOME/secret-groups/config.toml`, else `$HOME/.config/secret-groups/config.toml`.
pub fn config_path() -> Result<PathBuf> {
    let base = match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
            Some(home) => PathBuf::from(home).join(".config"),
            None => return Err(CliError::failed("neither XDG_CONFIG_HOME nor HOME is set: use --url and --token")),
        },
    };
    Ok(base.join("secret-groups").join("config.toml"))
}

pub fn load(path: &Path) -> Result<ConfigFile> {
    let meta = match fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ConfigFile::default()),
        Err(e) => return Err(CliError::failed(format!("cannot read {}: {e}", path.display()))),
    };
    if meta.len() > MAX_CONFIG_BYTES {
        return Err(CliError::failed(format!("{} is larger than 1 MiB", path.display())));
    }
    let text =
        fs::read_to_string(path).map_err(|e| CliError::failed(format!("cannot read {}: {e}", path.display())))?;
    // toml's message quotes the offending line, which may hold a token: name the place only.
    toml::from_str(&text).map_err(|e| {
        let at = e.span().map(|s| format!(" at byte {}", s.start)).unwrap_or_default();
        CliError::failed(format!("{} is not a valid profile file{at}", path.display()))
    })
}

/// Writes the file with mode 0600 (directory 0700) through a temporary file and a rename, so a
/// crash never leaves a half-written file and the token is never readable by others.
pub fn save(path: &Path, config: &ConfigFile) -> Result<()> {
    let dir = path.parent().ok_or_else(|| CliError::failed("the profile file has no directory"))?;
    fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    let text = toml::to_string(config).map_err(|e| CliError::failed(format!("cannot write the profile file: {e}")))?;
    let temporary = dir.join(format!(".config.toml.{}", std::process::id()));
    let mut file = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&temporary)?;
    let written = file.write_all(text.as_bytes()).and_then(|()| file.sync_all());
    if let Err(e) = written.and_then(|()| fs::rename(&temporary, path)) {
        let _ = fs::remove_file(&temporary);
        return Err(e.into());
    }
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
    Ok(())
}

/// The connection: each of url and token from its flag or environment variable when given,
/// else from the profile.
pub fn resolve(url: Option<String>, token: Option<String>, profile: &str) -> Result<Connection> {
    let stored = if url.is_some() && token.is_some() {
        Profile::default()
    } else {
        let path = config_path()?;
        load(&path)?.profiles.get(profile).cloned().unwrap_or_default()
    };
    let url = url.or(stored.url).ok_or_else(|| {
        CliError::usage(format!(
            "no server: give --url or SG_URL, or run `secret-groups login --url URL` (profile `{profile}`)"
        ))
    })?;
    let token = token.or(stored.token).ok_or_else(|| {
        CliError::usage(format!(
            "no token: set SG_TOKEN, or run `secret-groups login --url {url}` and paste the token (profile `{profile}`)"
        ))
    })?;
    Ok(Connection { url: url.trim_end_matches('/').to_owned(), token })
}
