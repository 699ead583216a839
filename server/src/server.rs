//! Starting the service: database, first-start bootstrap, listener, graceful shutdown; and the
//! one-shot commands of the CLI.

use std::sync::Arc;

use anyhow::Context as _;
use tokio::net::TcpListener;

use crate::{
    api, auth,
    config::{CreateTokenArgs, ServeArgs},
    state::{AppState, Integration},
    store::{Db, identity},
};

/// Connects to the database, bootstraps a fresh one and builds the state.
pub async fn prepare(args: &ServeArgs) -> anyhow::Result<AppState> {
    let db = Db::connect(&args.database.database_url).await.context("cannot open the database")?;
    bootstrap(&db, args).await?;
    Ok(AppState {
        db,
        integration: Arc::new(Integration { id: args.integration_id.clone(), fqn: args.integration_fqn.clone() }),
    })
}

/// On a fresh database: the tenant, its admin and the admin's first token.
async fn bootstrap(db: &Db, args: &ServeArgs) -> anyhow::Result<()> {
    let (token, generated) = match &args.bootstrap_token {
        Some(token) if auth::is_well_formed(token) => (token.clone(), false),
        Some(_) => anyhow::bail!(
            "SG_BOOTSTRAP_TOKEN must be `{}` followed by 43 base64url characters \
             (e.g. generate one with `secret-groups-server` left unset, or openssl rand)",
            auth::TOKEN_PREFIX
        ),
        None => (auth::generate_token(), true),
    };
    let created = identity::bootstrap(db, &args.tenant, &args.admin_email, &auth::hash_token(&token)).await?;
    if let Some(created) = created {
        tracing::info!(tenant = %created.tenant.name, admin = %created.admin.email, "bootstrapped a fresh database");
        if generated {
            // Printed to the terminal once, on purpose outside the log.
            println!(
                "\nFirst start: created tenant `{}` and admin `{}`.\nTheir API token (shown only now):\n\n    {}\n",
                created.tenant.name, created.admin.email, token
            );
        }
    }
    Ok(())
}

/// Serves until SIGINT or SIGTERM, then finishes in-flight requests.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let state = prepare(&args).await?;
    let db = state.db.clone();
    let listener = TcpListener::bind(args.listen).await.with_context(|| format!("cannot listen on {}", args.listen))?;
    tracing::info!(address = %listener.local_addr()?, "serving; Swagger UI at /swagger-ui/");
    axum::serve(listener, api::app(state)).with_graceful_shutdown(shutdown_signal()).await?;
    db.close().await;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}

/// `tokens create`: prints a new token for an existing user.
pub async fn create_token(args: CreateTokenArgs) -> anyhow::Result<()> {
    let db = Db::connect(&args.database.database_url).await.context("cannot open the database")?;
    let token = auth::generate_token();
    identity::create_token(&db, &args.tenant, &args.email, &args.name, &auth::hash_token(&token))
        .await
        .with_context(|| format!("cannot create a token for {} in tenant {}", args.email, args.tenant))?;
    db.close().await;
    println!("{token}");
    Ok(())
}
