//! `secret-groups`: the command line for people and programs that use secrets — get/set, .env
//! import/export, `run -- cmd` with `tfy-secret://` references, templates. It talks to the
//! server only through the generated client (`secret_groups_client`), never the server's code.
//!
//! Exit codes: 0 success, 2 usage errors, 1 anything else; `run` exits with the command's code.

mod api;
mod args;
mod commands;
mod config;
mod dotenv;
mod error;
mod formats;
mod inject;
mod mask;
mod names;
mod output;
mod resolve;
mod run;

use std::{io::Read as _, process::ExitCode};

use clap::{CommandFactory as _, Parser as _};

use crate::{
    api::Api,
    args::{Cli, Command},
    error::{CliError, Result},
};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => return fail(&CliError::failed(format!("cannot start: {e}"))),
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => fail(&e),
    }
}

fn fail(e: &CliError) -> ExitCode {
    eprintln!("secret-groups: {e}");
    ExitCode::from(e.exit_code())
}

/// Runs the command; the result is the exit code (0 except for `run`).
async fn dispatch(cli: Cli) -> Result<u8> {
    let out = cli.output;
    match cli.command {
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "secret-groups", &mut std::io::stdout());
            return Ok(0);
        }
        Command::Login { url } => {
            login(&url, &cli.profile).await?;
            return Ok(0);
        }
        _ => {}
    }
    let connection = config::resolve(cli.url, cli.token, &cli.profile)?;
    let api = Api::new(&connection.url, &connection.token)?;
    match cli.command {
        Command::Groups(command) => commands::groups(&api, command, out).await?,
        Command::Get { name, format } => commands::get(&api, &name, format, out).await?,
        Command::Set(set) => commands::set(&api, &set.group, &set.pairs, set.from_file.as_deref(), out).await?,
        Command::Unset { group, keys } => commands::unset(&api, &group, &keys, out).await?,
        Command::Export { group, format, output_file } => commands::export(&api, &group, format, output_file).await?,
        Command::Import { group, file, format } => commands::import(&api, &group, &file, format, out).await?,
        Command::History { secret, values } => commands::history(&api, &secret, values, out).await?,
        Command::Inject { input, output_file } => inject::inject(&api, &input, output_file.as_deref()).await?,
        Command::Run(args) => {
            let groups = args.groups.iter().map(|g| names::parse_group(g)).collect::<Result<Vec<_>>>()?;
            let args = run::RunArgs { groups, env_files: args.env_files, mask: args.mask, command: args.command };
            return run::run(&api, args).await;
        }
        Command::Completions { .. } | Command::Login { .. } => {}
    }
    Ok(0)
}

/// Reads the token from stdin (one line), checks it against the server, saves the profile.
async fn login(url: &str, profile: &str) -> Result<()> {
    if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        eprint!("Paste the API token and press Enter: ");
    }
    let mut line = String::new();
    std::io::stdin().take(16 * 1024).read_line_into(&mut line)?;
    let token = line.trim().to_owned();
    if token.is_empty() {
        return Err(CliError::usage("no token on stdin"));
    }
    let url = url.trim_end_matches('/');
    let (who, tenant) = Api::new(url, &token)?.whoami().await?;
    let path = config::config_path()?;
    let mut file = config::load(&path)?;
    file.profiles.insert(profile.to_owned(), config::Profile { url: Some(url.to_owned()), token: Some(token) });
    config::save(&path, &file)?;
    output::note(&format!(
        "logged in to {url} as {who} (tenant {tenant}); profile `{profile}` saved in {}",
        path.display()
    ));
    Ok(())
}

/// `read_line` on a bounded reader.
trait ReadLineInto {
    fn read_line_into(&mut self, line: &mut String) -> std::io::Result<usize>;
}

impl<R: std::io::Read> ReadLineInto for R {
    fn read_line_into(&mut self, line: &mut String) -> std::io::Result<usize> {
        std::io::BufRead::read_line(&mut std::io::BufReader::new(self), line)
    }
}
