//! `run -- CMD`: the child's environment (ours, then `--env-file`s, then the groups' keys, then
//! every `tfy-secret://` reference replaced by its value), its exit code passed through
//! (128 + signal if it died of one), SIGINT/SIGTERM/SIGHUP/SIGQUIT forwarded, and with `--mask`
//! its stdout and stderr masked. Nothing is written to disk: values only travel in the
//! child's environment.

use std::{
    collections::{BTreeMap, BTreeSet},
    os::unix::process::ExitStatusExt as _,
    path::PathBuf,
    process::Stdio,
};

use tokio::{
    io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _},
    process::{Child, Command},
    signal::unix::{Signal, SignalKind, signal},
};

use crate::{
    api::Api,
    error::{CliError, Result},
    formats::{self, Format},
    mask::Masker,
    names::{self, GroupRef},
    resolve::resolve,
};

pub struct RunArgs {
    pub groups: Vec<GroupRef>,
    pub env_files: Vec<PathBuf>,
    pub mask: bool,
    pub command: Vec<String>,
}

/// Runs the command and returns the exit code to leave with.
pub async fn run(api: &Api, args: RunArgs) -> Result<u8> {
    let (environment, secrets) = environment(api, &args).await?;
    let (program, rest) = args.command.split_first().ok_or_else(|| CliError::usage("no command given after `--`"))?;
    let mut command = Command::new(program);
    // Variables that are not UTF-8 are inherited untouched; every other one is set as computed.
    command.args(rest).envs(&environment);
    let masker = |s: &BTreeSet<String>| Masker::new(s.iter().map(String::as_str));
    if args.mask {
        if !masker(&secrets).is_ready() {
            return Err(CliError::failed("too many or too long values to mask"));
        }
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
    }
    // Handlers first: a signal that arrives once the child runs must reach it, not kill us.
    let signals = Signals::install()?;
    let mut child = command.spawn().map_err(|e| CliError::failed(format!("cannot start `{program}`: {e}")))?;
    let copies = if args.mask {
        let out = child.stdout.take().map(|o| tokio::spawn(copy_masked(o, tokio::io::stdout(), masker(&secrets))));
        let err = child.stderr.take().map(|e| tokio::spawn(copy_masked(e, tokio::io::stderr(), masker(&secrets))));
        vec![out, err]
    } else {
        Vec::new()
    };
    let status = signals.wait_forwarding(&mut child).await?;
    for copy in copies.into_iter().flatten() {
        // The child is gone; its pipes end once any grandchild holding them exits too.
        let _ = copy.await;
    }
    Ok(match (status.code(), status.signal()) {
        (Some(code), _) => u8::try_from(code).unwrap_or(1),
        (None, Some(signal)) => u8::try_from(128 + signal).unwrap_or(1),
        (None, None) => 1,
    })
}

/// The child's variables and the set of secret values in them (for masking).
async fn environment(api: &Api, args: &RunArgs) -> Result<(BTreeMap<String, String>, BTreeSet<String>)> {
    let mut environment: BTreeMap<String, String> =
        std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))).collect();
    for file in &args.env_files {
        environment.extend(formats::read_pairs(file, Some(Format::Env))?);
    }
    let mut secrets = BTreeSet::new();
    for group in &args.groups {
        let found = api.find_group(group).await?;
        let values = api.values(&found).await?;
        secrets.extend(values.values().cloned());
        environment.extend(values);
    }
    let references: BTreeSet<String> = environment.values().filter(|v| names::is_reference(v)).cloned().collect();
    if !references.is_empty() {
        for (name, value) in environment.iter().filter(|(_, v)| names::is_reference(v)) {
            names::parse_reference(value).map_err(|e| e.context(format!("variable {name}")))?;
        }
        let resolved = resolve(api, &references).await?;
        for value in environment.values_mut() {
            if let Some(secret) = resolved.get(value.as_str()) {
                secrets.insert(secret.clone());
                *value = secret.clone();
            }
        }
    }
    Ok((environment, secrets))
}

/// The signals a supervisor or a terminal sends us, which the child gets instead.
struct Signals {
    streams: Vec<(SignalKind, Signal)>,
}

impl Signals {
    fn install() -> Result<Self> {
        let kinds = [SignalKind::interrupt(), SignalKind::terminate(), SignalKind::hangup(), SignalKind::quit()];
        let mut streams = Vec::new();
        for kind in kinds {
            streams.push((kind, signal(kind).map_err(|e| CliError::failed(format!("cannot handle signals: {e}")))?));
        }
        Ok(Self { streams })
    }

    /// Waits for the child, forwarding every signal received meanwhile.
    async fn wait_forwarding(mut self, child: &mut Child) -> Result<std::process::ExitStatus> {
        let [(int_kind, int), (term_kind, term), (hup_kind, hup), (quit_kind, quit)] = &mut self.streams[..] else {
            return Err(CliError::failed("signal set-up"));
        };
        loop {
            let kind = tokio::select! {
                status = child.wait() => return status.map_err(|e| CliError::failed(format!("waiting for the command: {e}"))),
                _ = int.recv() => *int_kind,
                _ = term.recv() => *term_kind,
                _ = hup.recv() => *hup_kind,
                _ = quit.recv() => *quit_kind,
            };
            if let Some(pid) = child.id().and_then(|p| libc::pid_t::try_from(p).ok()) {
                // SAFETY: kill(2) with the child's own pid (not yet reaped, since `wait` has not
                // returned, so it cannot have been reused) and a valid signal number.
                unsafe {
                    libc::kill(pid, kind.as_raw_value());
                }
            }
        }
    }
}

/// Copies `from` to `to`, masking secret values, flushing after each read so that output
/// stays interactive.
async fn copy_masked(mut from: impl AsyncRead + Unpin, mut to: impl AsyncWrite + Unpin, mut masker: Masker) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let (read, end) = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => (0, true),
            Ok(n) => (n, false),
        };
        let out = masker.feed(&buffer[..read], end);
        if to.write_all(&out).await.is_err() || to.flush().await.is_err() || end {
            return;
        }
    }
}
