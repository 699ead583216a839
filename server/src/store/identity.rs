//! Tenants and users. Every other object hangs off a tenant; users are created by an operator
//! (`users create`) and managed by tenant admins.
//!
//! It must not touch tokens (`tokens` reads users, never the other way round) nor run the first
//! start (`bootstrap` composes the two).

use sqlx::{AnyConnection, FromRow};

use super::{
    Db, ListQuery, Reader, Record, Row, StoreError, StoreResult, like_contains, new_id, now_ms, on_unique,
    sqlx_from_row,
};
use crate::authz::TenantAdmin;

pub const ROLE_TENANT_ADMIN: &str = "tenant-admin";
pub const ROLE_TENANT_MEMBER: &str = "tenant-member";

#[derive(Debug, Clone, FromRow)]
pub struct Tenant {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub tenant_id: String,
    pub email: String,
    pub tenant_role: String,
    pub deactivated_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Record for User {
    fn from_row<R: Row>(row: &R) -> Result<Self, R::Error> {
        Ok(Self {
            id: row.get("id")?,
            tenant_id: row.get("tenant_id")?,
            email: row.get("email")?,
            tenant_role: row.get("tenant_role")?,
            deactivated_at: row.get("deactivated_at")?,
            created_at: row.get("created_at")?,
            updated_at: row.get("updated_at")?,
        })
    }
}
sqlx_from_row!(User);

macro_rules! select_users {
    () => {
        "SELECT u.id, u.tenant_id, u.email, u.tenant_role, u.deactivated_at, u.created_at,
                COALESCE(u.updated_at, u.created_at) AS updated_at
         FROM users u "
    };
}

/// Creates a tenant (`tenants create`).
pub async fn create_tenant(db: &Db, name: &str) -> StoreResult<Tenant> {
    let tenant = Tenant { id: new_id(), name: name.to_owned() };
    // A write transaction, so the operator command's audit event commits with it.
    let mut wtx = db.begin_write().await?;
    sqlx::query("INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3)")
        .bind(&tenant.id)
        .bind(&tenant.name)
        .bind(now_ms())
        .execute(wtx.conn())
        .await
        .map_err(|e| on_unique(e, || format!("tenant {name} already exists")))?;
    wtx.commit().await?;
    Ok(tenant)
}

pub async fn tenant_by_name(db: &Db, name: &str) -> StoreResult<Tenant> {
    let tenant: Option<Tenant> =
        sqlx::query_as("SELECT id, name FROM tenants WHERE name = $1").bind(name).fetch_optional(db.pool()).await?;
    tenant.ok_or(StoreError::NotFound("tenant"))
}

/// Creates a user in a tenant (`users create`).
pub async fn create_user(db: &Db, tenant_id: &str, email: &str, tenant_role: &str) -> StoreResult<User> {
    let mut wtx = db.begin_write().await?;
    let user = insert_user(wtx.conn(), tenant_id, email, tenant_role, now_ms()).await?;
    wtx.commit().await?;
    Ok(user)
}

pub async fn user_by_email(conn: &mut AnyConnection, tenant_id: &str, email: &str) -> StoreResult<User> {
    if !super::is_storable(email) {
        return Err(StoreError::NotFound("user"));
    }
    let user: Option<User> = sqlx::query_as(concat!(select_users!(), "WHERE u.tenant_id = $1 AND u.email = $2"))
        .bind(tenant_id)
        .bind(email)
        .fetch_optional(conn)
        .await?;
    user.ok_or(StoreError::NotFound("user"))
}

pub async fn get_user(db: &Db, tenant_id: &str, id: &str) -> StoreResult<User> {
    let user: Option<User> = sqlx::query_as(concat!(select_users!(), "WHERE u.tenant_id = $1 AND u.id = $2"))
        .bind(tenant_id)
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
    user.ok_or(StoreError::NotFound("user"))
}

pub async fn list_users(
    db: &Db,
    tenant_id: &str,
    query: Option<&str>,
    include_deactivated: bool,
    limit: i64,
    offset: i64,
) -> StoreResult<(i64, Vec<User>)> {
    if !query.is_none_or(super::is_storable) {
        return Ok((0, Vec::new()));
    }
    let mut conditions = vec!["u.tenant_id = $1".to_owned()];
    let mut binds = vec![tenant_id.to_owned()];
    if let Some(query) = query {
        binds.push(like_contains(query));
        conditions.push(format!("LOWER(u.email) LIKE ${} ESCAPE '\\'", binds.len()));
    }
    if !include_deactivated {
        conditions.push("u.deactivated_at IS NULL".to_owned());
    }
    let filter = conditions.join(" AND ");
    let mut conn = db.pool().acquire().await?;
    let query = ListQuery {
        key: "u.id",
        from: "FROM users u",
        select: select_users!(),
        filter: &filter,
        order: "u.created_at, u.id",
        binds: &binds,
    };
    query.page(&mut Reader::Pooled(&mut conn), limit, offset).await
}

/// What a tenant admin may change about a user.
pub enum UserChange<'a> {
    Deactivate,
    Activate,
    Role(&'a str),
    Delete,
}

/// Applies `change` to the user `email` of the admin's tenant, refusing to leave the tenant
/// without an active admin.
pub async fn change_user(db: &Db, admin: &TenantAdmin, email: &str, change: UserChange<'_>) -> StoreResult<()> {
    let tenant_id = admin.tenant_id();
    let mut wtx = db.begin_write().await?;
    let conn = wtx.conn();
    // Serialises admin changes per tenant on PostgreSQL (row lock on the tenant), so two
    // concurrent demotions cannot both see "another admin remains".
    sqlx::query("UPDATE tenants SET name = name WHERE id = $1").bind(tenant_id).execute(&mut *conn).await?;
    let user = user_by_email(conn, tenant_id, email).await?;
    let loses_admin = user.tenant_role == ROLE_TENANT_ADMIN
        && user.deactivated_at.is_none()
        && match change {
            UserChange::Deactivate | UserChange::Delete => true,
            UserChange::Role(role) => role != ROLE_TENANT_ADMIN,
            UserChange::Activate => false,
        };
    if loses_admin {
        let admins: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM users WHERE tenant_id = $1 AND tenant_role = $2 AND deactivated_at IS NULL",
        )
        .bind(tenant_id)
        .bind(ROLE_TENANT_ADMIN)
        .fetch_one(&mut *conn)
        .await?;
        if admins <= 1 {
            return Err(StoreError::Conflict(format!("{email} is the tenant's last active admin")));
        }
    }
    let now = now_ms();
    let statement = match change {
        UserChange::Deactivate => {
            sqlx::query("UPDATE users SET deactivated_at = COALESCE(deactivated_at, $1), updated_at = $1 WHERE id = $2")
                .bind(now)
        }
        UserChange::Activate => {
            sqlx::query("UPDATE users SET deactivated_at = NULL, updated_at = $1 WHERE id = $2").bind(now)
        }
        UserChange::Role(role) => {
            sqlx::query("UPDATE users SET tenant_role = $1, updated_at = $2 WHERE id = $3").bind(role).bind(now)
        }
        // Tokens and team memberships go with the user (foreign keys cascade).
        UserChange::Delete => sqlx::query("DELETE FROM users WHERE id = $1"),
    };
    statement.bind(&user.id).execute(&mut *conn).await?;
    wtx.commit().await?;
    Ok(())
}

pub(crate) async fn insert_user(
    conn: &mut AnyConnection,
    tenant_id: &str,
    email: &str,
    role: &str,
    now: i64,
) -> StoreResult<User> {
    let user = User {
        id: new_id(),
        tenant_id: tenant_id.to_owned(),
        email: email.to_owned(),
        tenant_role: role.to_owned(),
        deactivated_at: None,
        created_at: now,
        updated_at: now,
    };
    sqlx::query(
        "INSERT INTO users (id, tenant_id, email, tenant_role, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)",
    )
    .bind(&user.id)
    .bind(&user.tenant_id)
    .bind(&user.email)
    .bind(&user.tenant_role)
    .bind(now)
    .execute(conn)
    .await
    .map_err(|e| on_unique(e, || format!("user {email} already exists in this tenant")))?;
    Ok(user)
}
