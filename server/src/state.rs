//! The one application state every handler receives.
//!
//! It must not hold behaviour: each field's own module does.

use std::sync::Arc;

use crate::{
    body_budget::BodyBudget, caller::Caller, client_addr::TrustedProxies, crypto::Keyring, list_gate::ListGate,
    ratelimit::AuthLimiter, store::Db, store::page::ReadBounds, token_cache::TokenCache,
};

/// The secret-store integration this server is: its own encrypted store, the one integration
/// (`integrationId` `internal-secret-store` unless configured otherwise).
#[derive(Debug, Clone)]
pub struct Integration {
    /// What `integrationId` must be on create, and what groups report.
    pub id: String,
    /// What `manifest.integration_fqn` must be on create-or-update.
    pub fqn: String,
}

impl Default for Integration {
    fn default() -> Self {
        Self { id: "internal-secret-store".to_owned(), fqn: "internal:secret-store:internal-secret-store".to_owned() }
    }
}

/// What every handler and middleware reads, behind one reference count: axum clones the state
/// for each layer of each request, and a struct of ten `Arc`s cost ten atomic increments and
/// decrements per clone, on cache lines both cores fight over (`drop_in_place<AppState>` alone
/// was 3 % of the server's CPU on `GET /healthz`). Fields are reached through `Deref`.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

pub struct Shared {
    pub db: Db,
    /// Master keys and the token-hash key; also the cipher every stored value goes through.
    pub keys: Arc<Keyring>,
    pub integration: Arc<Integration>,
    pub auth_limiter: Arc<AuthLimiter>,
    pub token_cache: Arc<TokenCache<Caller>>,
    /// Admission of the lists that scan, per caller and in all (`list_gate.rs`).
    pub lists: Arc<ListGate>,
    /// How long such a list may run.
    pub list_bounds: ReadBounds,
    /// Whose forwarding headers name the client (`crate::client_addr`).
    pub trusted_proxies: Arc<TrustedProxies>,
    /// Memory and time request bodies may take (see `body_budget`).
    pub bodies: Arc<BodyBudget>,
    /// Whether requests are counted and where `/metrics` is served (`crate::api::metrics`).
    pub metrics: crate::config::MetricsArgs,
    /// The tenant created on a fresh database (`SG_TENANT`), which the unauthenticated
    /// `GET /api/svc/v1/tenant-id` names (`api::discovery`); not secret: it starts its FQNs.
    pub default_tenant: String,
    /// The audit trail's appender and file (`crate::audit`).
    pub audit: crate::audit::Audit,
}
