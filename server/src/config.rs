//! Command line and environment configuration (clap; every flag has an `SG_*` variable).

use std::{net::SocketAddr, path::PathBuf};

use clap::{Args, Parser, Subcommand};

use crate::{client_addr::TrustedProxies, sensitive::SecretString};

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
    Serve(Box<ServeArgs>),
    /// Manage access tokens.
    #[command(subcommand)]
    Tokens(TokensCommand),
    /// Manage users (there is no sign-up: an operator creates them).
    #[command(subcommand)]
    Users(UsersCommand),
    /// Manage tenants.
    #[command(subcommand)]
    Tenants(TenantsCommand),
    /// Manage master keys: list them, rotate to a new one, prune retired ones from the key file.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Check or prune the audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute every hash chain of the audit trail (from its prune anchor) and exit non-zero
    /// naming the first event of each chain that does not match (edited, deleted or reordered).
    Verify(AuditVerifyArgs),
    /// Delete events older than a date, keeping each chain verifiable from an anchor.
    Prune(AuditPruneArgs),
}

#[derive(Debug, Clone, Args)]
pub struct AuditVerifyArgs {
    /// Only this tenant's chains (its name).
    #[arg(long)]
    pub tenant: Option<String>,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

#[derive(Debug, Clone, Args)]
pub struct AuditPruneArgs {
    /// Events before this time are deleted: RFC 3339 (`2026-01-01T00:00:00Z`) or a date
    /// (`2026-01-01`, midnight UTC).
    #[arg(long, value_parser = parse_date)]
    pub before: chrono::DateTime<chrono::Utc>,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

/// RFC 3339, or a plain date taken as midnight UTC.
fn parse_date(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&chrono::Utc));
    }
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|date| date.and_hms_opt(0, 0, 0))
        .map(|at| at.and_utc())
        .ok_or_else(|| format!("`{text}` is neither RFC 3339 nor YYYY-MM-DD"))
}

/// The audit trail's options (README, "Audit trail").
#[derive(Debug, Clone, Args)]
pub struct AuditArgs {
    /// `on`: every value read, write and refusal is recorded, and a request whose event cannot
    /// be stored fails. `off` records nothing: for benchmarks and tests only.
    #[arg(long = "audit", env = "SG_AUDIT", default_value = "on", value_parser = ["on", "off"])]
    pub audit: String,
    /// Also append every event as a JSON line to this file (fsynced before the request is
    /// answered; reopened on SIGHUP).
    #[arg(long, env = "SG_AUDIT_FILE")]
    pub audit_file: Option<PathBuf>,
}

impl AuditArgs {
    pub fn enabled(&self) -> bool {
        self.audit == "on"
    }
}

impl Default for AuditArgs {
    fn default() -> Self {
        Self { audit: "on".to_owned(), audit_file: None }
    }
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List the master keys the database knows, their state, and how many data keys each wraps.
    List(DatabaseArgs),
    /// Make a new master key active and re-wrap every data key with it, in batches, while
    /// servers keep serving. The new key is the first one in the key source the database does
    /// not know yet; with a key file and no such key, a new one is generated and appended.
    Rotate(RotateArgs),
    /// Remove retired master keys (which no data key uses) from the key file.
    Prune(DatabaseArgs),
}

#[derive(Debug, Clone, Args)]
pub struct RotateArgs {
    /// Data keys re-wrapped per transaction.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(i64).range(1..=100_000))]
    pub batch_size: i64,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create a user in a tenant (a tenant member, or with --admin a tenant admin).
    Create(CreateUserArgs),
}

#[derive(Debug, Subcommand)]
pub enum TenantsCommand {
    /// Create a tenant. Give it a first admin with `users create --tenant NAME --admin`.
    Create(CreateTenantArgs),
}

#[derive(Debug, Clone, Args)]
pub struct CreateUserArgs {
    /// The user's e-mail (their name in collaborators: `user:<email>`).
    #[arg(long)]
    pub email: String,
    /// The user's tenant.
    #[arg(long, env = "SG_TENANT", default_value = "default")]
    pub tenant: String,
    /// Make the user a tenant admin.
    #[arg(long)]
    pub admin: bool,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

#[derive(Debug, Clone, Args)]
pub struct CreateTenantArgs {
    /// The tenant's name (the first part of every FQN in it).
    pub name: String,
    #[command(flatten)]
    pub database: DatabaseArgs,
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
    /// File of master keys (base64, one per line). Created with a new key on the first start of
    /// a fresh database. Default for SQLite: `<name>.master-key` beside the database file.
    #[arg(long, env = "SG_MASTER_KEY_FILE")]
    pub master_key_file: Option<PathBuf>,
    /// Master keys given directly: base64, comma-separated. Read from the environment only, so
    /// they never show in `ps`; takes precedence over the key file.
    #[arg(skip = std::env::var("SG_MASTER_KEY").ok().map(SecretString::new))]
    pub master_key: Option<SecretString>,
    /// Database connections kept open (default: 4 for SQLite, 16 for PostgreSQL).
    #[arg(long, env = "SG_DB_POOL_SIZE", value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub db_pool_size: Option<u32>,
}

impl DatabaseArgs {
    /// Only the database URL; the master key is found beside a SQLite file.
    pub fn url(database_url: impl Into<String>) -> Self {
        Self { database_url: database_url.into(), master_key_file: None, master_key: None, db_pool_size: None }
    }
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
    /// The admin's first token on a fresh database (`tfy_sg_`, or the former `sgt_`, + 43
    /// base64url characters); a random
    /// one is printed once when unset. Read from the environment only, so it never shows in `ps`.
    #[arg(skip = std::env::var("SG_BOOTSTRAP_TOKEN").ok().map(SecretString::new))]
    pub bootstrap_token: Option<SecretString>,
    /// `integrationId` that create accepts and groups report.
    #[arg(long, env = "SG_INTEGRATION_ID", default_value = "internal-secret-store")]
    pub integration_id: String,
    /// `manifest.integration_fqn` that create-or-update accepts.
    #[arg(long, env = "SG_INTEGRATION_FQN", default_value = "internal:secret-store:internal-secret-store")]
    pub integration_fqn: String,
    /// Failed authentications one client (address, IPv6 /64) may make per minute; beyond it its
    /// failed attempts get 429 without a lookup, while a valid token is still served (0: off).
    #[arg(long, env = "SG_AUTH_FAILURE_LIMIT", default_value_t = 20)]
    pub auth_failure_limit: u32,
    /// How long a verified token is remembered, in milliseconds (0: not at all). A revoke or
    /// role change made through another replica or the CLI takes effect within this time;
    /// through this server, at once.
    #[arg(long, env = "SG_TOKEN_CACHE_TTL_MS", default_value_t = 1000)]
    pub token_cache_ttl_ms: u64,
    /// How long, in milliseconds, a list that scans (search, tenant-wide, with values) may wait
    /// for its turn, and then how long its reads may run; past either it is answered 503.
    #[arg(long, env = "SG_LIST_TIMEOUT_MS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    pub list_timeout_ms: u64,
    /// Reverse proxies (comma-separated CIDRs, e.g. `10.0.0.0/8,::1/128`) whose
    /// `X-Forwarded-For` / `Forwarded` header names the client; empty: the peer is the client.
    #[arg(long, env = "SG_TRUSTED_PROXIES", default_value = "", value_parser = TrustedProxies::parse)]
    pub trusted_proxies: TrustedProxies,
    #[command(flatten)]
    pub connections: ConnectionArgs,
    #[command(flatten)]
    pub metrics: MetricsArgs,
    #[command(flatten)]
    pub audit: AuditArgs,
}

/// `GET /metrics` (README, "Metrics"): whether it is served, and where.
#[derive(Debug, Clone, Args)]
pub struct MetricsArgs {
    /// `on`: serve `GET /metrics` (Prometheus text format, no token needed); `off`: no metrics
    /// endpoint anywhere.
    #[arg(long = "metrics", env = "SG_METRICS", default_value = "on", value_parser = on_off,
          action = clap::ArgAction::Set)]
    pub enabled: bool,
    /// Serve `/metrics` on this address (e.g. one only the monitoring network reaches) instead
    /// of on the API's, which then has no `/metrics`.
    #[arg(long, env = "SG_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
}

impl Default for MetricsArgs {
    fn default() -> Self {
        Self { enabled: true, metrics_listen: None }
    }
}

impl MetricsArgs {
    /// Whether the API's own listener serves `/metrics`.
    pub fn on_api_listener(&self) -> bool {
        self.enabled && self.metrics_listen.is_none()
    }
}

/// `on` or `off`.
fn on_off(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(format!("`{text}` is neither `on` nor `off`")),
    }
}

/// Connection limits, timeouts and the shutdown deadline (README, "Running it in production").
/// Durations are seconds; fractions are allowed (`0.5`).
#[derive(Debug, Clone, Args)]
pub struct ConnectionArgs {
    /// Connections served at once; one more is answered 503 and closed.
    #[arg(long, env = "SG_MAX_CONNECTIONS", default_value_t = 1024,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: u32,
    /// Bytes of request bodies held in memory at once, across all connections (at least one
    /// largest body, 4 MiB). A body waits for room, then gets 503.
    #[arg(long, env = "SG_MAX_BODY_MEMORY", default_value_t = 64 * 1024 * 1024,
          value_parser = clap::value_parser!(u64).range(4 * 1024 * 1024..=1 << 40))]
    pub max_body_memory: u64,
    /// Seconds a client has to send a request's head (line and headers) once it started it, and
    /// a new connection to send its first one.
    #[arg(long, env = "SG_HEADER_TIMEOUT", default_value = "10", value_parser = seconds)]
    pub header_timeout: std::time::Duration,
    /// Seconds a client has to send a whole request body (408 after), and a stalled response
    /// write is given before the connection is closed.
    #[arg(long, env = "SG_BODY_TIMEOUT", default_value = "30", value_parser = seconds)]
    pub body_timeout: std::time::Duration,
    /// Seconds a kept-alive connection may wait for its next request.
    #[arg(long, env = "SG_IDLE_TIMEOUT", default_value = "60", value_parser = seconds)]
    pub idle_timeout: std::time::Duration,
    /// Seconds in-flight requests get to finish after SIGTERM/SIGINT; then the rest are cut.
    #[arg(long, env = "SG_SHUTDOWN_TIMEOUT", default_value = "30", value_parser = seconds)]
    pub shutdown_timeout: std::time::Duration,
}

impl Default for ConnectionArgs {
    fn default() -> Self {
        use std::time::Duration;
        Self {
            max_connections: 1024,
            max_body_memory: 64 * 1024 * 1024,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            shutdown_timeout: Duration::from_secs(30),
        }
    }
}

/// A duration in seconds, fractions allowed, from 1 ms to a day.
fn seconds(text: &str) -> Result<std::time::Duration, String> {
    let value: f64 = text.trim().parse().map_err(|_| format!("`{text}` is not a number of seconds"))?;
    if !(0.001..=86_400.0).contains(&value) {
        return Err("must be between 0.001 and 86400 seconds".to_owned());
    }
    Ok(std::time::Duration::from_secs_f64(value))
}

#[derive(Debug, Clone, Args)]
pub struct CreateTokenArgs {
    /// The user's e-mail.
    #[arg(long)]
    pub email: String,
    /// The user's tenant.
    #[arg(long, env = "SG_TENANT", default_value = "default")]
    pub tenant: String,
    /// A name for the token, unique among the user's tokens (default: `cli-` and the time).
    #[arg(long)]
    pub name: Option<String>,
    #[command(flatten)]
    pub database: DatabaseArgs,
}
