//! Starting the service: database, first-start bootstrap, listener, graceful shutdown; and the
//! one-shot commands of the CLI.
//!
//! It must not hold SQL or key handling of its own (`store`, `unlock`).

use std::{sync::Arc, time::Duration};

use anyhow::Context as _;

use crate::{
    api, auth, authz,
    body_budget::BodyBudget,
    config::{CreateTenantArgs, CreateTokenArgs, CreateUserArgs, DatabaseArgs, ServeArgs},
    crypto::Keyring,
    key_file::KeySource,
    list_gate::ListGate,
    ratelimit::AuthLimiter,
    sensitive::SecretString,
    state::{AppState, Integration, Shared},
    store::{Db, bootstrap, identity, page::ReadBounds, tokens},
    token_cache::TokenCache,
    unlock,
};

/// The window over which failed authentications are counted.
const AUTH_FAILURE_WINDOW: Duration = Duration::from_secs(60);

/// Opens the database and its keys: migrations applied, master keys checked against it (a
/// wrong or missing key stops here, before anything is served).
pub async fn open_store(args: &DatabaseArgs) -> anyhow::Result<(Db, Keyring)> {
    let source = key_source(args)?;
    let db = Db::connect(&args.database_url, args.db_pool_size).await.context("cannot open the database")?;
    match unlock::open_keyring(&db, source).await {
        Ok(keys) => Ok((db, keys)),
        Err(e) => {
            db.close().await;
            Err(e.context("cannot load the master keys"))
        }
    }
}

/// Where the master keys of the database `args` names come from.
pub fn key_source(args: &DatabaseArgs) -> anyhow::Result<KeySource> {
    KeySource::resolve(&args.database_url, args.master_key_file.as_deref(), args.master_key.as_ref())
}

/// Connects to the database, bootstraps a fresh one and builds the state.
pub async fn prepare(args: &ServeArgs) -> anyhow::Result<AppState> {
    let (db, keys) = open_store(&args.database).await?;
    bootstrap(&db, &keys, args).await?;
    let audit = audit_state(&db, &args.audit)?;
    Ok(AppState::new(Shared {
        db,
        keys: Arc::new(keys),
        integration: Arc::new(Integration { id: args.integration_id.clone(), fqn: args.integration_fqn.clone() }),
        auth_limiter: Arc::new(AuthLimiter::new(args.auth_failure_limit, AUTH_FAILURE_WINDOW)),
        token_cache: Arc::new(TokenCache::new(Duration::from_millis(args.token_cache_ttl_ms))),
        lists: Arc::new(ListGate::new(crate::store::long_read_slots(), Duration::from_millis(args.list_timeout_ms))),
        list_bounds: ReadBounds { time_limit: Duration::from_millis(args.list_timeout_ms) },
        trusted_proxies: Arc::new(args.trusted_proxies.clone()),
        bodies: Arc::new(BodyBudget::new(
            args.connections.max_body_memory,
            api::MAX_BODY_BYTES,
            args.connections.body_timeout,
        )),
        metrics: args.metrics.clone(),
        default_tenant: args.tenant.clone(),
        audit,
    }))
}

/// How long a read or refusal waits for its audit event to be durable before it fails (500).
const AUDIT_TIMEOUT: Duration = Duration::from_secs(5);

/// The audit trail as `args` configure it: nothing with `SG_AUDIT=off`.
fn audit_state(db: &Db, args: &crate::config::AuditArgs) -> anyhow::Result<crate::audit::Audit> {
    if !args.enabled() {
        tracing::warn!("SG_AUDIT=off: reads, writes and refusals are not audited (for benchmarks and tests only)");
        return Ok(crate::audit::Audit::default());
    }
    let file = match &args.audit_file {
        Some(path) => Some(Arc::new(
            crate::audit::file::FileSink::open(path)
                .with_context(|| format!("cannot open the audit file {}", path.display()))?,
        )),
        None => None,
    };
    let appender = crate::audit::appender::Appender::start(db.clone(), file.clone(), AUDIT_TIMEOUT);
    Ok(crate::audit::Audit { appender: Some(appender), file })
}

/// On a fresh database: the tenant, its admin and the admin's first token.
async fn bootstrap(db: &Db, keys: &Keyring, args: &ServeArgs) -> anyhow::Result<()> {
    let (token, generated) = match &args.bootstrap_token {
        Some(token) if auth::is_well_formed(token.expose()) => (token.clone(), false),
        Some(_) => anyhow::bail!(
            "SG_BOOTSTRAP_TOKEN must be `{}` (or, as issued before, `{}`) followed by 43 base64url \
             characters (e.g. generate one with `secret-groups-server` left unset, or openssl rand)",
            auth::TOKEN_PREFIX,
            auth::LEGACY_TOKEN_PREFIX
        ),
        None => (SecretString::new(auth::generate_token()), true),
    };
    let created = bootstrap::bootstrap(db, &args.tenant, &args.admin_email, &keys.hash_token(token.expose())).await?;
    if let Some(created) = created {
        tracing::info!(tenant = %created.tenant.name, admin = %created.admin.email, "bootstrapped a fresh database");
        if generated {
            // Printed to the terminal once, on purpose outside the log.
            println!(
                "\nFirst start: created tenant `{}` and admin `{}`.\nTheir API token (shown only now):\n\n    {}\n",
                created.tenant.name,
                created.admin.email,
                token.expose()
            );
        }
    }
    Ok(())
}

/// Serves until SIGINT or SIGTERM, then finishes in-flight requests within the shutdown
/// deadline.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let state = prepare(&args).await?;
    let db = state.db.clone();
    let listener = crate::conn::bind(args.listen).with_context(|| format!("cannot listen on {}", args.listen))?;
    // One signal stops both listeners.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let shutdown = shutdown_signal()?;
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop.send(true);
    });
    let metrics = serve_metrics(&args, &state, stopped.clone())?;
    reopen_audit_file_on_hangup(&state)?;
    tracing::info!(address = %listener.local_addr()?, "serving; Swagger UI at /swagger-ui/");
    // conn::serve hands each request its peer address (the failed-authentication limit).
    crate::conn::serve(listener, api::app(state), &args.connections, stop_requested(stopped)).await?;
    if let Some(metrics) = metrics {
        let _ = metrics.await;
    }
    // Every write acknowledged so far is flushed here (SQLite's group commit) before exit.
    db.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves once `stopped` says stop (or its sender is gone).
async fn stop_requested(mut stopped: tokio::sync::watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
}

/// With metrics on: the histograms' upkeep, and the metrics listener of `SG_METRICS_LISTEN` if
/// set (its task, which ends after `stopped`).
fn serve_metrics(
    args: &ServeArgs,
    state: &AppState,
    stopped: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
    if !args.metrics.enabled {
        if args.metrics.metrics_listen.is_some() {
            tracing::warn!("SG_METRICS=off: SG_METRICS_LISTEN is ignored and no metrics are served");
        }
        return Ok(None);
    }
    tokio::spawn(crate::metrics::upkeep());
    let Some(address) = args.metrics.metrics_listen else { return Ok(None) };
    let listener = crate::conn::bind(address).with_context(|| format!("cannot listen for metrics on {address}"))?;
    // `metrics_listen`, not `address`: the first `address` logged is the API's.
    tracing::info!(metrics_listen = %listener.local_addr()?, "metrics served on a listener of their own");
    let (app, limits) = (api::metrics::router(state.clone()), args.connections.clone());
    Ok(Some(tokio::spawn(async move {
        if let Err(e) = crate::conn::serve(listener, app, &limits, stop_requested(stopped)).await {
            tracing::error!(error = %e, "the metrics listener failed");
        }
    })))
}

/// SIGHUP reopens `SG_AUDIT_FILE` (after log rotation moved it away).
fn reopen_audit_file_on_hangup(state: &AppState) -> anyhow::Result<()> {
    #[cfg(unix)]
    if let Some(file) = state.audit.file.clone() {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hangup = signal(SignalKind::hangup()).context("cannot handle SIGHUP")?;
        tokio::spawn(async move {
            while hangup.recv().await.is_some() {
                match file.reopen() {
                    Ok(()) => tracing::info!(file = %file.path().display(), "reopened the audit file"),
                    Err(e) => {
                        tracing::error!(error = %e, file = %file.path().display(), "cannot reopen the audit file")
                    }
                }
            }
        });
    }
    #[cfg(not(unix))]
    let _ = state;
    Ok(())
}

/// Resolves on the first SIGINT or SIGTERM. The handlers are installed when this is called, not
/// when the future is first polled, so a signal that arrives right after "serving" is logged
/// still shuts down gracefully.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
        let mut terminate = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
        Ok(async move {
            tokio::select! {
                _ = interrupt.recv() => {},
                _ = terminate.recv() => {},
            }
            tracing::info!("shutting down");
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("shutting down");
        })
    }
}

/// `tokens create`: prints a new token for an existing user.
pub async fn create_token(args: CreateTokenArgs) -> anyhow::Result<()> {
    let (db, keys) = open_store(&args.database).await?;
    let token = auth::generate_token();
    let name = args.name.unwrap_or_else(|| format!("cli-{}", chrono::Utc::now().format("%Y%m%d%H%M%S%3f")));
    let result = async {
        let tenant = identity::tenant_by_name(&db, &args.tenant).await?;
        crate::audit::operator::acting(&tenant.id);
        crate::audit::scope::resource_named("user", &args.email);
        crate::audit::scope::resource_named("personal-access-token", &name);
        let grant = authz::operator_issues_token(&tenant.id, &args.email);
        tokens::create_pat(&db, &grant, &name, &keys.hash_token(&token), None).await
    }
    .await;
    db.close().await;
    result.with_context(|| format!("cannot create a token for {} in tenant {}", args.email, args.tenant))?;
    println!("{token}");
    Ok(())
}

/// `users create`: adds a user to a tenant.
pub async fn create_user(args: CreateUserArgs) -> anyhow::Result<()> {
    // E-mails tell users from virtual accounts in stored slugs (see api::view::subject).
    anyhow::ensure!(
        args.email.contains('@') && !args.email.contains(':') && !args.email.chars().any(char::is_whitespace),
        "--email must be an e-mail address"
    );
    let (db, _keys) = open_store(&args.database).await?;
    let role = if args.admin { identity::ROLE_TENANT_ADMIN } else { identity::ROLE_TENANT_MEMBER };
    let result = async {
        let tenant = identity::tenant_by_name(&db, &args.tenant).await?;
        crate::audit::operator::acting(&tenant.id);
        crate::audit::scope::resource_named("user", &args.email);
        identity::create_user(&db, &tenant.id, &args.email, role).await
    }
    .await;
    db.close().await;
    let user = result.with_context(|| format!("cannot create user {} in tenant {}", args.email, args.tenant))?;
    println!("created {role} {} (id {}) in tenant {}", user.email, user.id, args.tenant);
    Ok(())
}

/// `tenants create`: adds a tenant.
pub async fn create_tenant(args: CreateTenantArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        crate::api::is_tenant_name(&args.name),
        "a tenant name is 2 to 127 letters, digits, `.`, `_` or `-`, starting with a letter or digit"
    );
    let (db, _keys) = open_store(&args.database).await?;
    crate::audit::operator::acting("");
    crate::audit::scope::resource_named("tenant", &args.name);
    let result = identity::create_tenant(&db, &args.name).await;
    db.close().await;
    let tenant = result.with_context(|| format!("cannot create tenant {}", args.name))?;
    println!("created tenant {} (id {})", tenant.name, tenant.id);
    Ok(())
}
