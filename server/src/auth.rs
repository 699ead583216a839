//! Bearer-token authentication.
//!
//! Tokens are `tfy_sg_` followed by 32 random bytes in unpadded base64url (43 characters), 50
//! characters in all, matched by `tfy_sg_[A-Za-z0-9_-]{43}`. `tfy_` is what TrueFoundry's CLI
//! takes for a personal access token (it decodes any other API key as a JWT and fails); `sg_`
//! keeps them recognisable to secret scanners as this server's. Tokens issued before (`sgt_` +
//! the same 43 characters) keep working: the hash stored is of the whole text, so only the shape
//! check below has to know both prefixes. The database holds only a keyed hash of the token
//! ([`crate::crypto::Keyring::hash_token`]), looked up by that hash and compared in constant
//! time. Every failure (missing, malformed, unknown, expired, revoked, deactivated user) gives
//! the same 401, so an answer never reveals whether a token exists; from a client over its
//! failure limit every failure is the same 429 instead (`crate::ratelimit`).
//!
//! It must not decide what a caller may do (`crate::authz`); the caller it yields is
//! `crate::caller`'s, so that `state` and the token cache need not depend on this module.

use axum::{extract::FromRequestParts, http::request::Parts};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use rand::RngCore as _;
use subtle::ConstantTimeEq as _;

use crate::{
    client_addr::ClientAddr,
    error::ApiError,
    metrics::{self, AuthFailure},
    state::AppState,
    store::{identity, now_ms, tokens},
};

/// The prefix of every token issued now.
pub const TOKEN_PREFIX: &str = "tfy_sg_";
/// The prefix of tokens issued before 1.5.0 (and of bootstrap tokens chosen then): still valid.
pub const LEGACY_TOKEN_PREFIX: &str = "sgt_";
const TOKEN_RANDOM_BYTES: usize = 32;
/// Length of the base64url text of [`TOKEN_RANDOM_BYTES`] without padding.
const TOKEN_BODY_LEN: usize = 43;

/// A new random token. Shown to its owner once; only its keyed hash is stored.
pub fn generate_token() -> String {
    let mut bytes = [0u8; TOKEN_RANDOM_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// True for text shaped like a token this server issues or has issued (either prefix).
pub fn is_well_formed(token: &str) -> bool {
    token.strip_prefix(TOKEN_PREFIX).or_else(|| token.strip_prefix(LEGACY_TOKEN_PREFIX)).is_some_and(|body| {
        body.len() == TOKEN_BODY_LEN && body.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

pub use crate::caller::{Caller, Principal};

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    /// A valid token is always served. An invalid well-formed one costs its client one failure;
    /// a client over its limit gets 429 for it instead of 401 (see `crate::ratelimit`).
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let header = parts.headers.get(axum::http::header::AUTHORIZATION);
        // A request without credentials guesses nothing, so only presented credentials count
        // towards the failure limit.
        let Some(header) = header else {
            metrics::auth_failed(AuthFailure::Missing);
            return Err(ApiError::unauthenticated());
        };
        let token = header
            .to_str()
            .ok()
            .and_then(|value| {
                let (scheme, token) = value.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .filter(|token| is_well_formed(token));
        // A credential not shaped like a token (another scheme, garbage) is refused without a
        // lookup, so it costs nothing worth limiting: 401, not counted.
        let Some(token) = token else {
            metrics::auth_failed(AuthFailure::Malformed);
            return Err(ApiError::unauthenticated());
        };
        let client = ClientAddr::of(&parts.extensions);
        let throttled = client.and_then(|ip| state.auth_limiter.blocked_for(ip));
        let caller = verify(state, token, throttled.is_some()).await?;
        match (caller, throttled) {
            (Some(caller), _) => {
                audit_actor(&caller);
                Ok(caller)
            }
            (None, Some(retry_after)) => {
                metrics::auth_failed(AuthFailure::Throttled);
                Err(ApiError::rate_limited(retry_after))
            }
            (None, None) => {
                metrics::auth_failed(AuthFailure::Invalid);
                if let Some(ip) = client {
                    state.auth_limiter.record_failure(ip);
                }
                // The audit trail names a refused token by a prefix of its keyed hash: enough
                // to match it to a stored token, nothing from which it can be recovered.
                crate::audit::scope::failed_token(state.keys.hash_token(token).get(..16).unwrap_or_default());
                Err(ApiError::unauthenticated())
            }
        }
    }
}

/// Names the caller in the request's audit event (`crate::audit::scope`).
fn audit_actor(caller: &Caller) {
    let kind = match caller.principal {
        Principal::User { .. } => "user",
        Principal::VirtualAccount { .. } => "virtualaccount",
    };
    crate::audit::scope::actor(&caller.tenant_id, kind, caller.id(), caller.slug());
}

/// The caller a token stands for, if it is valid now (see `token_cache` for how long a
/// verified token is remembered). For a `throttled` client, a token neither cached nor known
/// to have been valid is taken as invalid without a lookup: that is what the limit saves.
async fn verify(state: &AppState, token: &str, throttled: bool) -> Result<Option<Caller>, ApiError> {
    let hash = state.keys.hash_token(token);
    if let Some(caller) = state.token_cache.get(&hash) {
        return Ok(Some(caller));
    }
    if throttled && !is_known(state, &hash).await {
        return Ok(None);
    }
    let generation = state.token_cache.generation();
    let owner = tokens::owner(&state.db, &hash).await?;
    let now = now_ms();
    let Some(owner) =
        owner.filter(|owner| bool::from(owner.token_hash.as_bytes().ct_eq(hash.as_bytes())) && owner.is_valid_at(now))
    else {
        // No longer worth a lookup from a throttled client (an expired token retried in a loop).
        state.auth_limiter.forget(&hash);
        return Ok(None);
    };
    let expires_at = owner.expires_at.into_iter().chain(owner.va_expires_at).min();
    let valid_for = expires_at.map(|at| std::time::Duration::from_millis(u64::try_from(at - now).unwrap_or(0)));
    let principal = match (owner.user_id, owner.email, owner.va_id, owner.va_name) {
        (Some(id), Some(email), _, _) => Principal::User { id, email },
        (_, _, Some(id), Some(name)) => Principal::VirtualAccount { id, name },
        _ => return Ok(None),
    };
    let caller = Caller {
        is_tenant_admin: matches!(principal, Principal::User { .. })
            && owner.tenant_role.as_deref() == Some(identity::ROLE_TENANT_ADMIN),
        principal,
        tenant_id: owner.tenant_id,
        tenant_name: owner.tenant_name,
    };
    state.auth_limiter.remember_valid(&hash);
    state.token_cache.insert(generation, hash, caller.clone(), valid_for);
    Ok(Some(caller))
}

/// How far before the newest token seen a catch-up starts: a token committed late (a slow
/// transaction, another replica's clock) is still caught.
const CATCH_UP_MARGIN_MS: i64 = 60_000;
/// Most tokens one catch-up loads (the newest first).
const CATCH_UP_ROWS: i64 = 10_000;

/// Whether a throttled client's token is worth a lookup: known to the limiter, possibly after a
/// catch-up with the database's valid tokens (at most one a second, shared by every waiting
/// request), so a valid token created elsewhere and never seen here is recognised too.
async fn is_known(state: &AppState, hash: &str) -> bool {
    let limiter = &state.auth_limiter;
    if limiter.is_known_valid(hash) {
        return true;
    }
    let mut catch_up = limiter.catch_up.lock().await;
    // The catch-up this request waited for may have loaded it.
    if limiter.is_known_valid(hash) || !catch_up.due() {
        return limiter.is_known_valid(hash);
    }
    let since = catch_up.newest.saturating_sub(CATCH_UP_MARGIN_MS);
    let rows = tokens::valid_hashes_since(&state.db, since, now_ms(), CATCH_UP_ROWS).await;
    catch_up.at = Some(std::time::Instant::now());
    // A failed catch-up leaves the token unknown (429): a throttled guess never becomes a 500.
    let rows = rows.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "catch-up of known tokens failed");
        Vec::new()
    });
    for (token_hash, created_at) in rows {
        limiter.remember_valid(&token_hash);
        catch_up.newest = catch_up.newest.max(created_at);
    }
    limiter.is_known_valid(hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_are_well_formed_and_distinct() {
        let (a, b) = (generate_token(), generate_token());
        assert!(is_well_formed(&a), "{} chars", a.len());
        assert_ne!(a, b);
    }

    #[test]
    fn new_tokens_are_personal_access_tokens_to_truefoundrys_cli() {
        // truefoundry 0.17.5, common/entities.py: `access_token.startswith("tfy_")`.
        let token = generate_token();
        assert!(token.starts_with("tfy_sg_") && token.len() == 50, "{} chars", token.len());
    }

    #[test]
    fn tokens_issued_before_stay_well_formed() {
        let body = &generate_token()[TOKEN_PREFIX.len()..];
        assert!(is_well_formed(&format!("sgt_{body}")));
        assert!(!is_well_formed(&format!("tfy_{body}")), "only this server's two prefixes");
        assert!(!is_well_formed(&format!("sgt_{body}x")));
    }

    #[test]
    fn malformed_tokens_are_rejected() {
        let good = generate_token();
        assert!(!is_well_formed(&good[1..]));
        assert!(!is_well_formed(&format!("{good}x")));
        assert!(!is_well_formed(&good.replace("tfy_sg_", "xyz_sg_")));
        assert!(!is_well_formed(&format!("tfy_sg_{}", "+".repeat(TOKEN_BODY_LEN))));
        assert!(!is_well_formed(&format!("sgt_{}", "+".repeat(TOKEN_BODY_LEN))));
    }
}
