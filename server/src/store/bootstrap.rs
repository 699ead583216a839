//! The first start of a fresh database: its tenant, its admin and the admin's first token, in
//! one transaction.
//!
//! It composes `identity` (tenant, user) and `tokens` (the token row), which is why it is a
//! module of its own: neither of those may depend on the other. It must not create keys or
//! tokens (the caller hands in the token's hash).

use super::{
    Db, StoreResult,
    identity::{ROLE_TENANT_ADMIN, Tenant, User, insert_user},
    new_id, now_ms, tokens,
};

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
    let tenants: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tenants").fetch_one(wtx.conn()).await?;
    if tenants > 0 {
        return Ok(None);
    }
    let now = now_ms();
    let tenant = Tenant { id: new_id(), name: tenant_name.to_owned() };
    let inserted = sqlx::query("INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3)")
        .bind(&tenant.id)
        .bind(&tenant.name)
        .bind(now)
        .execute(wtx.conn())
        .await;
    match inserted {
        Ok(_) => {}
        // Another replica won the race to bootstrap: nothing left to do.
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let admin = insert_user(wtx.conn(), &tenant.id, admin_email, ROLE_TENANT_ADMIN, now).await?;
    tokens::insert(wtx.conn(), &tenant.id, tokens::Owner::User(&admin.id), "bootstrap", token_hash, None, now).await?;
    wtx.commit().await?;
    Ok(Some(Bootstrap { tenant, admin }))
}
