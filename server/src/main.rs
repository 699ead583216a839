use clap::Parser as _;
use secret_groups_server::{
    config::{Cli, Command, KeysCommand, TenantsCommand, TokensCommand, UsersCommand},
    key_admin, server,
};
use tracing_subscriber::EnvFilter;

fn main() -> anyhow::Result<()> {
    limit_malloc_arenas();
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(run())
}

/// glibc gives each thread that contends on malloc an arena of its own (up to 8 per core) and
/// keeps freed memory in it. Here rows are allocated on database threads and freed on request
/// threads, and under list load the arenas held about 25 MiB more than two would (67 against
/// 43 MiB peak, scripts/bench.sh). One arena per core keeps the contention low. An operator's
/// own `MALLOC_ARENA_MAX` wins.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let arenas = libc::c_int::try_from(cores).unwrap_or(libc::c_int::MAX);
        // SAFETY: mallopt only sets an allocator parameter. It runs before any other thread
        // exists, and a value it refuses leaves the default in place.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, arenas);
        }
    }
}

async fn run() -> anyhow::Result<()> {
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
