//! The `secret-groups-server` binary: parses the command line and runs the command (`serve`, or a
//! one-shot administration command). It must not hold logic of its own: `server`, `key_admin`.

use clap::Parser as _;
use secret_groups_server::{
    audit::{self, operator},
    config::{AuditCommand, Cli, Command, KeysCommand, TenantsCommand, TokensCommand, UsersCommand},
    key_admin, logging, server,
};

fn main() -> anyhow::Result<()> {
    tune_malloc();
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(run())
}

/// Two glibc malloc settings that keep memory near what is in use (scripts/bench.sh, peak RSS
/// under the list scenarios; an operator's own `MALLOC_ARENA_MAX` / `MALLOC_MMAP_THRESHOLD_`
/// wins):
/// - glibc gives each thread that contends on malloc an arena of its own (up to 8 per core) and
///   keeps freed memory in each. Rows are allocated on database threads and freed on request
///   threads; one arena per core held 43 MiB where the default held 67 MiB.
/// - Blocks from 128 KiB up are mmap'ed and unmapped on free, but glibc raises that threshold
///   each time such a block is freed, after which answers of up to a megabyte (a page of 100
///   groups) come from the heap and their memory stays with the process. A fixed 256 KiB
///   brought the peak from 65 to 56 MiB.
fn tune_malloc() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let settings = [
            ("MALLOC_ARENA_MAX", libc::M_ARENA_MAX, libc::c_int::try_from(cores).unwrap_or(libc::c_int::MAX)),
            ("MALLOC_MMAP_THRESHOLD_", libc::M_MMAP_THRESHOLD, 256 * 1024),
        ];
        for (variable, parameter, value) in settings {
            if std::env::var_os(variable).is_none() {
                // SAFETY: mallopt only sets an allocator parameter. It runs before any other
                // thread exists, and a value it refuses leaves the default in place.
                unsafe {
                    libc::mallopt(parameter, value);
                }
            }
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // SG_LOG (filter) and SG_LOG_FORMAT (text or JSON lines), on stderr.
    logging::init()?;
    match cli.command {
        None => server::serve(cli.serve).await,
        Some(Command::Serve(args)) => server::serve(*args).await,
        Some(Command::Tokens(TokensCommand::Create(args))) => {
            operator::run("cli:tokens create", server::create_token(args)).await
        }
        Some(Command::Users(UsersCommand::Create(args))) => {
            operator::run("cli:users create", server::create_user(args)).await
        }
        Some(Command::Tenants(TenantsCommand::Create(args))) => {
            operator::run("cli:tenants create", server::create_tenant(args)).await
        }
        Some(Command::Keys(KeysCommand::List(args))) => key_admin::list(args).await,
        Some(Command::Keys(KeysCommand::Rotate(args))) => {
            operator::run("cli:keys rotate", key_admin::rotate(args)).await
        }
        Some(Command::Keys(KeysCommand::Prune(args))) => key_admin::prune(args).await,
        Some(Command::Audit(AuditCommand::Verify(args))) => audit::admin::verify(args).await,
        Some(Command::Audit(AuditCommand::Prune(args))) => {
            operator::run("cli:audit prune", audit::admin::prune(args)).await
        }
    }
}
