//! Command line and environment configuration (clap; every flag has an `SG_*` variable).

use std::net::SocketAddr;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "secret-groups-server",
    version,
    about = "Self-hosted secrets service speaking TrueFoundry's Secret Groups API"
)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// `serve`'s options, so that running without a subcommand serves.
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API (the default when no subcommand is given).
    Serve(ServeArgs),
    /// Manage access tokens.
    #[command(subcommand)]
    Tokens(TokensCommand),
}

#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Create a personal access token for an existing user and print it (once).
    Create(CreateTokenArgs),
}

#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// `sqlite://FILE` (created on first start) or `postgres://USER@HOST:PORT/DB`.
    #[arg(long, env = "SG_DATABASE_URL", default_value = "sqlite://secret-groups.db")]
    pub database_url: String,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "SG_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Tenant created on a fresh database.
    #[arg(long = "tenant", env = "SG_TENANT", default_value = "default")]
    pub tenant: String,
    /// E-mail of the tenant admin created on a fresh database.
    #[arg(long, env = "SG_ADMIN_EMAIL", default_value = "admin@localhost")]
    pub admin_email: String,
    /// The admin's first token on a fresh database (`sgt_` + 43 base64url characters); a random
    /// one is printed once when unset. Read from the environment only, so it never shows in `ps`.
    #[arg(skip = std::env::var("SG_BOOTSTRAP_TOKEN").ok())]
    pub bootstrap_token: Option<String>,
    /// `integrationId` that create accepts and groups report.
    #[arg(long, env = "SG_INTEGRATION_ID", default_value = "internal-secret-store")]
    pub integration_id: String,
    /// `manifest.integration_fqn` that create-or-update accepts.
    #[arg(long, env = "SG_INTEGRATION_FQN", default_value = "internal:secret-store:internal-secret-store")]
    pub integration_fqn: String,
}

#[derive(Debug, Clone, Args)]
pub struct CreateTokenArgs {
    /// The user's e-mail.
    #[arg(long)]
    pub email: String,
    /// The user's tenant.
    #[arg(long, env = "SG_TENANT", default_value = "default")]
    pub tenant: String,
    /// A name for the token, to tell tokens apart.
    #[arg(long, default_value = "cli")]
    pub name: String,
    #[command(flatten)]
    pub database: DatabaseArgs,
}
