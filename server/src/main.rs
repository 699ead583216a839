use clap::Parser as _;
use secret_groups_server::{
    config::{Cli, Command, KeysCommand, TenantsCommand, TokensCommand, UsersCommand},
    key_admin, server,
};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_env("SG_LOG").unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match cli.command {
        None => server::serve(cli.serve).await,
        Some(Command::Serve(args)) => server::serve(args).await,
        Some(Command::Tokens(TokensCommand::Create(args))) => server::create_token(args).await,
        Some(Command::Users(UsersCommand::Create(args))) => server::create_user(args).await,
        Some(Command::Tenants(TenantsCommand::Create(args))) => server::create_tenant(args).await,
        Some(Command::Keys(KeysCommand::List(args))) => key_admin::list(args).await,
        Some(Command::Keys(KeysCommand::Rotate(args))) => key_admin::rotate(args).await,
        Some(Command::Keys(KeysCommand::Prune(args))) => key_admin::prune(args).await,
    }
}
