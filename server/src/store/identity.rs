//! Tenants, users and access tokens: just enough identity to scope every object to a tenant and
//! to know who did what. Tokens arrive here already hashed; this module never sees one in the
//! clear.

use sqlx::FromRow;

use super::{Db, StoreError, StoreResult, new_id, now_ms, on_unique};

pub const ROLE_TENANT_ADMIN: &str = "tenant-admin";
pub const ROLE_TENANT_MEMBER: &str = "tenant-member";

#[derive(Debug, Clone, FromRow)]
pub struct Tenant {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, FromRow)]
pub struct User {
    pub id: String,
    pub tenant_id: String,
    pub email: String,
    pub tenant_role: String,
}

/// Who a valid token belongs to.
#[derive(Debug, Clone, FromRow)]
pub struct TokenOwner {
    pub token_id: String,
    pub token_hash: String,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub user_id: String,
    pub email: String,
    pub tenant_role: String,
    pub deactivated_at: Option<i64>,
    pub tenant_id: String,
    pub tenant_name: String,
}

/// What a fresh database got on first start.
pub struct Bootstrap {
    pub tenant: Tenant,
    pub admin: User,
}

/// On a database with no tenant, creates `tenant_name`, its admin `admin_email` and a token with
/// hash `token_hash`, in one transaction. Returns `None` when the database already has tenants
/// (also when another replica bootstrapped it a moment earlier).
pub async fn bootstrap(
    db: &Db,
    tenant_name: &str,
    admin_email: &str,
    token_hash: &str,
) -> StoreResult<Option<Bootstrap>> {
    let mut wtx = db.begin_write().await?;
    let tenants: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tenants").fetch_one(&mut *wtx.tx).await?;
    if tenants > 0 {
        return Ok(None);
    }
    let now = now_ms();
    let tenant = Tenant { id: new_id(), name: tenant_name.to_owned() };
    let inserted = sqlx::query("INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3)")
        .bind(&tenant.id)
        .bind(&tenant.name)
        .bind(now)
        .execute(&mut *wtx.tx)
        .await;
    match inserted {
        Ok(_) => {}
        // Another replica won the race to bootstrap: nothing left to do.
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let admin = insert_user(&mut *wtx.tx, &tenant.id, admin_email, ROLE_TENANT_ADMIN, now).await?;
    insert_token(&mut *wtx.tx, &tenant.id, &admin.id, "bootstrap", token_hash, now).await?;
    wtx.commit().await?;
    Ok(Some(Bootstrap { tenant, admin }))
}

/// Creates a tenant (used by tests and, later, the `tenants create` command).
pub async fn create_tenant(db: &Db, name: &str) -> StoreResult<Tenant> {
    let tenant = Tenant { id: new_id(), name: name.to_owned() };
    sqlx::query("INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3)")
        .bind(&tenant.id)
        .bind(&tenant.name)
        .bind(now_ms())
        .execute(db.pool())
        .await
        .map_err(|e| on_unique(e, || format!("tenant {name} already exists")))?;
    Ok(tenant)
}

/// Creates a user in a tenant.
pub async fn create_user(db: &Db, tenant_id: &str, email: &str, tenant_role: &str) -> StoreResult<User> {
    let mut wtx = db.begin_write().await?;
    let user = insert_user(&mut *wtx.tx, tenant_id, email, tenant_role, now_ms()).await?;
    wtx.commit().await?;
    Ok(user)
}

/// Stores a new token (by hash) for the user `email` of tenant `tenant_name`.
pub async fn create_token(
    db: &Db,
    tenant_name: &str,
    email: &str,
    token_name: &str,
    token_hash: &str,
) -> StoreResult<()> {
    let mut wtx = db.begin_write().await?;
    let user: Option<User> = sqlx::query_as(
        "SELECT u.id, u.tenant_id, u.email, u.tenant_role FROM users u
         JOIN tenants t ON t.id = u.tenant_id WHERE t.name = $1 AND u.email = $2",
    )
    .bind(tenant_name)
    .bind(email)
    .fetch_optional(&mut *wtx.tx)
    .await?;
    let user = user.ok_or(StoreError::NotFound("user"))?;
    insert_token(&mut *wtx.tx, &user.tenant_id, &user.id, token_name, token_hash, now_ms()).await?;
    wtx.commit().await?;
    Ok(())
}

/// The owner of the token with this hash, if any; validity (expiry, revocation) is the caller's
/// decision.
pub async fn token_owner(db: &Db, token_hash: &str) -> StoreResult<Option<TokenOwner>> {
    Ok(sqlx::query_as(
        "SELECT k.id AS token_id, k.token_hash, k.expires_at, k.revoked_at,
                u.id AS user_id, u.email, u.tenant_role, u.deactivated_at,
                t.id AS tenant_id, t.name AS tenant_name
         FROM access_tokens k
         JOIN users u ON u.id = k.user_id
         JOIN tenants t ON t.id = k.tenant_id
         WHERE k.token_hash = $1",
    )
    .bind(token_hash)
    .fetch_optional(db.pool())
    .await?)
}

async fn insert_user<'c, E>(exec: E, tenant_id: &str, email: &str, role: &str, now: i64) -> StoreResult<User>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    let user =
        User { id: new_id(), tenant_id: tenant_id.to_owned(), email: email.to_owned(), tenant_role: role.to_owned() };
    sqlx::query("INSERT INTO users (id, tenant_id, email, tenant_role, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(&user.id)
        .bind(&user.tenant_id)
        .bind(&user.email)
        .bind(&user.tenant_role)
        .bind(now)
        .execute(exec)
        .await
        .map_err(|e| on_unique(e, || format!("user {email} already exists in this tenant")))?;
    Ok(user)
}

async fn insert_token<'c, E>(
    exec: E,
    tenant_id: &str,
    user_id: &str,
    name: &str,
    token_hash: &str,
    now: i64,
) -> StoreResult<()>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    sqlx::query(
        "INSERT INTO access_tokens (id, tenant_id, user_id, name, token_hash, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(new_id())
    .bind(tenant_id)
    .bind(user_id)
    .bind(name)
    .bind(token_hash)
    .bind(now)
    .execute(exec)
    .await
    .map_err(|e| on_unique(e, || "token already exists".to_owned()))?;
    Ok(())
}
