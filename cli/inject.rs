//! `inject`: renders a template, replacing each `{{ tfy-secret://TENANT:GROUP:KEY }}` by the
//! secret's value. The output file is created with mode 0600 (through a temporary file in the
//! same directory and a rename, so a reader never sees half a file).

use std::{
    collections::BTreeSet,
    fs,
    io::Write as _,
    os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _},
    path::Path,
    sync::LazyLock,
};

use regex::Regex;

use crate::{
    api::Api,
    error::{CliError, Result},
    formats,
    resolve::resolve,
};

/// `{{ … }}` holding something that starts with the scheme; what follows is checked by
/// `parse_reference`, so a malformed reference is an error, not left in place.
static PLACEHOLDER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\{\{\s*(tfy-secret://[^\s}]*)\s*\}\}").unwrap_or_else(|e| panic!("built-in pattern: {e}"))
});

pub async fn render(api: &Api, template: &str) -> Result<String> {
    let references: BTreeSet<String> = PLACEHOLDER.captures_iter(template).map(|c| c[1].to_owned()).collect();
    let values = resolve(api, &references).await?;
    let mut failed = None;
    let out = PLACEHOLDER.replace_all(template, |c: &regex::Captures<'_>| match values.get(&c[1]) {
        Some(v) => v.clone(),
        None => {
            failed = Some(c[1].to_owned());
            String::new()
        }
    });
    match failed {
        Some(reference) => Err(CliError::failed(format!("{reference} was not resolved"))),
        None => Ok(out.into_owned()),
    }
}

pub async fn inject(api: &Api, input: &Path, output: Option<&Path>) -> Result<()> {
    let template = formats::read_file(input)?;
    let rendered = render(api, &template).await.map_err(|e| e.context(input.display()))?;
    match output {
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(rendered.as_bytes())?;
            stdout.flush()?;
        }
        Some(path) => write_private(path, rendered.as_bytes())?,
    }
    Ok(())
}

/// Writes `bytes` to `path` readable by its owner only.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().ok_or_else(|| CliError::usage(format!("{} is not a file name", path.display())))?;
    let temporary = dir.join(format!(".{}.{}.tmp", name.to_string_lossy(), std::process::id()));
    let written = (|| {
        let mut file = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temporary, path)?;
        fs::set_permissions(path, fs::Permissions::from_mode(0o600))
    })();
    written.map_err(|e| {
        let _ = fs::remove_file(&temporary);
        CliError::failed(format!("cannot write {}: {e}", path.display()))
    })
}
