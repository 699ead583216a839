//! Access tokens of users (personal access tokens) and of virtual accounts. Tokens arrive here
//! already hashed; this module never sees one in the clear.
//!
//! It may read users (`identity`); `identity` must not depend on it. It must not decide who may
//! issue, list or delete a token: its writes take `crate::authz`'s proof of that decision.

use sqlx::{AnyConnection, FromRow};

use super::{Db, ListQuery, Reader, Record, Row, StoreError, StoreResult, identity, like_contains, new_id, now_ms};
use crate::authz::{AsUser, Authorized, IssueToken, Manage, TenantAdmin, Token};

/// Whose token it is.
#[derive(Debug, Clone, Copy)]
pub enum Owner<'a> {
    User(&'a str),
    VirtualAccount(&'a str),
}

/// The principal a presented token belongs to, with what decides whether it is valid now.
#[derive(Debug, Clone, FromRow)]
pub struct TokenOwner {
    pub token_id: String,
    pub token_hash: String,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub tenant_id: String,
    pub tenant_name: String,
    pub user_id: Option<String>,
    pub email: Option<String>,
    pub tenant_role: Option<String>,
    pub deactivated_at: Option<i64>,
    pub va_id: Option<String>,
    pub va_name: Option<String>,
    pub va_expires_at: Option<i64>,
}

impl TokenOwner {
    /// Valid at `now`: not revoked, not expired, owner active and not expired.
    pub fn is_valid_at(&self, now: i64) -> bool {
        self.revoked_at.is_none()
            && self.expires_at.is_none_or(|at| at > now)
            && self.deactivated_at.is_none()
            && self.va_expires_at.is_none_or(|at| at > now)
            && (self.user_id.is_some() || self.va_id.is_some())
    }
}

/// A personal access token's metadata.
#[derive(Debug, Clone)]
pub struct PatRow {
    pub id: String,
    pub name: String,
    pub user_id: String,
    pub email: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl Record for PatRow {
    fn from_row<R: Row>(row: &R) -> Result<Self, R::Error> {
        Ok(Self {
            id: row.get("id")?,
            name: row.get("name")?,
            user_id: row.get("user_id")?,
            email: row.get("email")?,
            created_at: row.get("created_at")?,
            expires_at: row.get("expires_at")?,
            revoked_at: row.get("revoked_at")?,
        })
    }
}

/// Keyed hashes of the tokens valid at `now` that were created at or after `since` (epoch ms),
/// newest first, at most `limit`, each with its `created_at`. Feeds the failure limiter's set of
/// known tokens (`crate::ratelimit`).
pub async fn valid_hashes_since(db: &Db, since: i64, now: i64, limit: i64) -> StoreResult<Vec<(String, i64)>> {
    Ok(sqlx::query_as(
        "SELECT token_hash, created_at FROM access_tokens
         WHERE created_at >= $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)
         ORDER BY created_at DESC LIMIT $3",
    )
    .bind(since)
    .bind(now)
    .bind(limit)
    .fetch_all(db.pool())
    .await?)
}

pub async fn owner(db: &Db, token_hash: &str) -> StoreResult<Option<TokenOwner>> {
    Ok(sqlx::query_as(
        "SELECT k.id AS token_id, k.token_hash, k.expires_at, k.revoked_at,
                t.id AS tenant_id, t.name AS tenant_name,
                u.id AS user_id, u.email, u.tenant_role, u.deactivated_at,
                v.id AS va_id, v.name AS va_name, v.expires_at AS va_expires_at
         FROM access_tokens k
         JOIN tenants t ON t.id = k.tenant_id
         LEFT JOIN users u ON u.id = k.user_id
         LEFT JOIN virtual_accounts v ON v.id = k.virtual_account_id
         WHERE k.token_hash = $1",
    )
    .bind(token_hash)
    .fetch_optional(db.pool())
    .await?)
}

pub(crate) async fn insert(
    conn: &mut AnyConnection,
    tenant_id: &str,
    owner: Owner<'_>,
    name: &str,
    token_hash: &str,
    expires_at: Option<i64>,
    now: i64,
) -> StoreResult<String> {
    let (user_id, va_id) = match owner {
        Owner::User(id) => (Some(id), None),
        Owner::VirtualAccount(id) => (None, Some(id)),
    };
    let id = new_id();
    sqlx::query(
        "INSERT INTO access_tokens (id, tenant_id, user_id, virtual_account_id, name, token_hash, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&id)
    .bind(tenant_id)
    .bind(user_id)
    .bind(va_id)
    .bind(name)
    .bind(token_hash)
    .bind(now)
    .bind(expires_at)
    .execute(conn)
    .await?;
    Ok(id)
}

/// Stores a new personal access token for the user `grant` names. Names are unique among the
/// user's live tokens (409 otherwise).
pub async fn create_pat(
    db: &Db,
    grant: &IssueToken,
    name: &str,
    token_hash: &str,
    expires_at: Option<i64>,
) -> StoreResult<()> {
    let (tenant_id, email) = (grant.tenant_id(), grant.email());
    let mut wtx = db.begin_write().await?;
    let conn = wtx.conn();
    let user = identity::user_by_email(conn, tenant_id, email).await?;
    let taken: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM access_tokens WHERE user_id = $1 AND name = $2 AND revoked_at IS NULL",
    )
    .bind(&user.id)
    .bind(name)
    .fetch_one(&mut *conn)
    .await?;
    if taken > 0 {
        return Err(StoreError::Conflict(format!("{email} already has a token named {name}")));
    }
    insert(conn, tenant_id, Owner::User(&user.id), name, token_hash, expires_at, now_ms()).await?;
    wtx.commit().await?;
    Ok(())
}

/// The live (not revoked) tokens of a user, oldest first.
pub async fn list_pats(
    db: &Db,
    user: &AsUser,
    name_query: Option<&str>,
    limit: i64,
    offset: i64,
) -> StoreResult<(i64, Vec<PatRow>)> {
    if !name_query.is_none_or(super::is_storable) {
        return Ok((0, Vec::new()));
    }
    let mut binds = vec![user.user_id().to_owned()];
    let mut filter = "k.user_id = $1 AND k.revoked_at IS NULL".to_owned();
    if let Some(query) = name_query {
        binds.push(like_contains(query));
        filter.push_str(&format!(" AND LOWER(k.name) LIKE ${} ESCAPE '\\'", binds.len()));
    }
    let mut conn = db.pool().acquire().await?;
    let query = ListQuery {
        key: "k.id",
        from: "FROM access_tokens k",
        select: "SELECT k.id, k.name, u.id AS user_id, u.email, k.created_at, k.expires_at, k.revoked_at
                 FROM access_tokens k JOIN users u ON u.id = k.user_id",
        filter: &filter,
        order: "k.created_at, k.id",
        binds: &binds,
    };
    query.page(&mut Reader::Pooled(&mut conn), limit, offset).await
}

/// The user a personal access token belongs to (tenant-scoped), for authorization.
pub async fn pat_user(db: &Db, tenant_id: &str, id: &str) -> StoreResult<String> {
    let user: Option<Option<String>> =
        sqlx::query_scalar("SELECT user_id FROM access_tokens WHERE id = $1 AND tenant_id = $2 AND revoked_at IS NULL")
            .bind(id)
            .bind(tenant_id)
            .fetch_optional(db.pool())
            .await?;
    user.flatten().ok_or(StoreError::NotFound("personal access token"))
}

pub async fn delete_pat(db: &Db, token: &Authorized<Token, Manage>) -> StoreResult<()> {
    let (tenant_id, id) = (token.tenant_id(), token.id());
    let mut wtx = db.begin_write().await?;
    let deleted = sqlx::query("DELETE FROM access_tokens WHERE id = $1 AND tenant_id = $2 AND user_id IS NOT NULL")
        .bind(id)
        .bind(tenant_id)
        .execute(wtx.conn())
        .await?;
    if deleted.rows_affected() == 0 {
        return Err(StoreError::NotFound("personal access token"));
    }
    wtx.commit().await?;
    Ok(())
}

/// Revokes every live token of the user `email`.
pub async fn revoke_all(db: &Db, admin: &TenantAdmin, email: &str) -> StoreResult<u64> {
    let tenant_id = admin.tenant_id();
    let mut wtx = db.begin_write().await?;
    let conn = wtx.conn();
    let user = identity::user_by_email(conn, tenant_id, email).await?;
    let revoked = sqlx::query("UPDATE access_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL")
        .bind(now_ms())
        .bind(&user.id)
        .execute(&mut *conn)
        .await?;
    wtx.commit().await?;
    Ok(revoked.rows_affected())
}
