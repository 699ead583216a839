//! Bearer-token authentication.
//!
//! Tokens are `sgt_` followed by 32 random bytes in unpadded base64url (43 characters): the
//! prefix makes a leaked token recognisable to secret scanners. The database holds only a
//! SHA-256 of the token, looked up by that hash and compared in constant time. Every failure
//! (missing, malformed, unknown, expired, revoked, deactivated user) gives the same 401, so an
//! answer never reveals whether a token exists.

use axum::{extract::FromRequestParts, http::request::Parts};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use crate::{
    error::ApiError,
    state::AppState,
    store::{groups::Actor, identity, now_ms},
};

pub const TOKEN_PREFIX: &str = "sgt_";
const TOKEN_RANDOM_BYTES: usize = 32;
/// Length of the base64url text of [`TOKEN_RANDOM_BYTES`] without padding.
const TOKEN_BODY_LEN: usize = 43;

/// A new random token. Shown to its owner once; only [`hash_token`] of it is stored.
pub fn generate_token() -> String {
    let mut bytes = [0u8; TOKEN_RANDOM_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// True for text shaped like a token this server issues.
pub fn is_well_formed(token: &str) -> bool {
    token.strip_prefix(TOKEN_PREFIX).is_some_and(|body| {
        body.len() == TOKEN_BODY_LEN && body.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// The stored form of a token: lowercase hex SHA-256.
pub fn hash_token(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    let mut hex = String::with_capacity(digest.len() * 2);
    for byte in digest {
        hex.push(char::from(b"0123456789abcdef"[usize::from(byte >> 4)]));
        hex.push(char::from(b"0123456789abcdef"[usize::from(byte & 0x0f)]));
    }
    hex
}

/// The authenticated caller of a request. Every handler that takes one is scoped to
/// `tenant_id`.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: String,
    pub email: String,
    pub tenant_id: String,
    pub tenant_name: String,
    pub is_tenant_admin: bool,
}

impl Caller {
    pub fn actor(&self) -> Actor {
        Actor { tenant_id: self.tenant_id.clone(), user_id: self.user_id.clone(), email: self.email.clone() }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| {
                let (scheme, token) = value.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .filter(|token| is_well_formed(token))
            .ok_or_else(ApiError::unauthenticated)?;
        let hash = hash_token(token);
        let owner = identity::token_owner(&state.db, &hash).await?.ok_or_else(ApiError::unauthenticated)?;
        let now = now_ms();
        let valid = bool::from(owner.token_hash.as_bytes().ct_eq(hash.as_bytes()))
            && owner.revoked_at.is_none()
            && owner.expires_at.is_none_or(|at| at > now)
            && owner.deactivated_at.is_none();
        if !valid {
            return Err(ApiError::unauthenticated());
        }
        Ok(Caller {
            user_id: owner.user_id,
            email: owner.email,
            tenant_id: owner.tenant_id,
            tenant_name: owner.tenant_name,
            is_tenant_admin: owner.tenant_role == identity::ROLE_TENANT_ADMIN,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_are_well_formed_and_distinct() {
        let (a, b) = (generate_token(), generate_token());
        assert!(is_well_formed(&a), "{} chars", a.len());
        assert_ne!(a, b);
        assert_ne!(hash_token(&a), hash_token(&b));
    }

    #[test]
    fn malformed_tokens_are_rejected() {
        let good = generate_token();
        assert!(!is_well_formed(&good[1..]));
        assert!(!is_well_formed(&format!("{good}x")));
        assert!(!is_well_formed(&good.replace("sgt_", "xyz_")));
        assert!(!is_well_formed(&format!("sgt_{}", "+".repeat(TOKEN_BODY_LEN))));
    }

    #[test]
    fn hash_is_hex_sha256() {
        assert_eq!(hash_token("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
