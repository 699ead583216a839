//! Virtual accounts: service identities with their own tokens and roles on named groups.
//!
//! It must not make tokens (it stores the hash it is given) nor decide who may manage accounts
//! (`crate::authz`, whose [`TenantAdmin`] proof its writes take).

use sqlx::AnyConnection;

use super::{
    Db, ListQuery, Reader, Record, Row, StoreError, StoreResult, like_contains, new_id, now_ms, on_unique,
    sqlx_from_row,
    tokens::{self, Owner},
};
use crate::authz::TenantAdmin;

/// An account with its permissions: (group name, role id), in manifest order.
#[derive(Debug, Clone)]
pub struct Account {
    pub row: AccountRow,
    pub permissions: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct AccountRow {
    pub id: String,
    pub name: String,
    pub manifest: String,
    pub expires_at: Option<i64>,
    pub created_by_id: String,
    pub created_by_slug: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Record for AccountRow {
    fn from_row<R: Row>(row: &R) -> Result<Self, R::Error> {
        Ok(Self {
            id: row.get("id")?,
            name: row.get("name")?,
            manifest: row.get("manifest")?,
            expires_at: row.get("expires_at")?,
            created_by_id: row.get("created_by_id")?,
            created_by_slug: row.get("created_by_slug")?,
            created_at: row.get("created_at")?,
            updated_at: row.get("updated_at")?,
        })
    }
}
sqlx_from_row!(AccountRow);

/// A permission of one of the accounts of a page: three text columns, which only their names
/// tell apart.
struct PermissionRow {
    virtual_account_id: String,
    group_name: String,
    role_id: String,
}

impl Record for PermissionRow {
    fn from_row<R: Row>(row: &R) -> Result<Self, R::Error> {
        Ok(Self {
            virtual_account_id: row.get("virtual_account_id")?,
            group_name: row.get("group_name")?,
            role_id: row.get("role_id")?,
        })
    }
}
sqlx_from_row!(PermissionRow);

/// An account as its manifest describes it. `permissions` are (group name, role id) in the
/// actor's tenant; `None` keeps the current ones.
pub struct AccountSpec<'a> {
    pub name: &'a str,
    pub manifest: &'a str,
    pub expires_at: Option<i64>,
    pub permissions: Option<&'a [(String, String)]>,
}

macro_rules! select_accounts {
    () => {
        "SELECT v.id, v.name, v.manifest, v.expires_at, v.created_by_id, v.created_by_slug, v.created_at, v.updated_at
         FROM virtual_accounts v "
    };
}

/// The group ids of `permissions` ((group name, role) pairs). Permissions are bound to the
/// groups' ids: they end with the group, and a later group of the same name does not inherit them.
async fn resolve_permissions(
    conn: &mut AnyConnection,
    tenant_id: &str,
    permissions: Option<&[(String, String)]>,
) -> StoreResult<Vec<(String, String)>> {
    let mut resolved = Vec::new();
    if let Some(permissions) = permissions {
        for (index, (group, role)) in permissions.iter().enumerate() {
            let group_id: Option<String> =
                sqlx::query_scalar("SELECT id FROM secret_groups WHERE tenant_id = $1 AND name = $2")
                    .bind(tenant_id)
                    .bind(group)
                    .fetch_optional(&mut *conn)
                    .await?;
            let group_id = group_id.ok_or_else(|| StoreError::Invalid {
                field: format!("manifest.permissions[{index}].resource_fqn"),
                problem: format!("names no secret group of this tenant ({group})"),
            })?;
            resolved.push((group_id, role.clone()));
        }
    }
    Ok(resolved)
}

/// Makes the account's permissions exactly `resolved` ((group id, role), in manifest order).
async fn replace_permissions(conn: &mut AnyConnection, id: &str, resolved: &[(String, String)]) -> StoreResult<()> {
    sqlx::query("DELETE FROM virtual_account_permissions WHERE virtual_account_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    for (position, (group_id, role)) in resolved.iter().enumerate() {
        sqlx::query(
            "INSERT INTO virtual_account_permissions (virtual_account_id, group_id, position, role_id)
             VALUES ($1, $2, $3, $4)",
        )
        .bind(id)
        .bind(group_id)
        .bind(i64::try_from(position).unwrap_or(i64::MAX))
        .bind(role)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Creates the account (with a token of hash `new_token_hash`) or updates the existing one.
/// Returns the account and whether it was created. Every permission must name an existing group.
pub async fn upsert(
    db: &Db,
    admin: &TenantAdmin,
    spec: AccountSpec<'_>,
    new_token_hash: &str,
    dry_run: bool,
) -> StoreResult<(Account, bool)> {
    let actor = admin.actor();
    let now = now_ms();
    let mut wtx = db.begin_write().await?;
    let conn = wtx.conn();
    let resolved = resolve_permissions(&mut *conn, &actor.tenant_id, spec.permissions).await?;
    let existing: Option<String> = sqlx::query_scalar(
        "UPDATE virtual_accounts SET updated_at = updated_at WHERE tenant_id = $1 AND name = $2 RETURNING id",
    )
    .bind(&actor.tenant_id)
    .bind(spec.name)
    .fetch_optional(&mut *conn)
    .await?;
    let created = existing.is_none();
    let id = match existing {
        Some(id) => {
            sqlx::query("UPDATE virtual_accounts SET manifest = $1, expires_at = $2, updated_at = $3 WHERE id = $4")
                .bind(spec.manifest)
                .bind(spec.expires_at)
                .bind(now)
                .bind(&id)
                .execute(&mut *conn)
                .await?;
            id
        }
        None => {
            let id = new_id();
            sqlx::query(
                "INSERT INTO virtual_accounts (id, tenant_id, name, manifest, expires_at, created_by_id,
                                               created_by_slug, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
            )
            .bind(&id)
            .bind(&actor.tenant_id)
            .bind(spec.name)
            .bind(spec.manifest)
            .bind(spec.expires_at)
            .bind(&actor.subject_id)
            .bind(&actor.slug)
            .bind(now)
            .execute(&mut *conn)
            .await
            .map_err(|e| on_unique(e, || format!("virtual account {} already exists", spec.name)))?;
            tokens::insert(conn, &actor.tenant_id, Owner::VirtualAccount(&id), "token", new_token_hash, None, now)
                .await?;
            id
        }
    };
    if spec.permissions.is_some() {
        replace_permissions(&mut *conn, &id, &resolved).await?;
    }
    let account = load(conn, &actor.tenant_id, &id).await?;
    if dry_run {
        wtx.rollback().await?;
    } else {
        wtx.commit().await?;
    }
    Ok((account, created))
}

pub async fn list(
    db: &Db,
    tenant_id: &str,
    name_query: Option<&str>,
    expired: Option<bool>,
    limit: i64,
    offset: i64,
) -> StoreResult<(i64, Vec<Account>)> {
    if !name_query.is_none_or(super::is_storable) {
        return Ok((0, Vec::new()));
    }
    let mut binds = vec![tenant_id.to_owned()];
    let mut filter = "v.tenant_id = $1".to_owned();
    if let Some(query) = name_query {
        binds.push(like_contains(query));
        filter.push_str(&format!(" AND LOWER(v.name) LIKE ${} ESCAPE '\\'", binds.len()));
    }
    if let Some(expired) = expired {
        // Compared with the current time as a literal integer: it is this server's clock, not input.
        let now = now_ms();
        filter.push_str(&if expired {
            format!(" AND v.expires_at IS NOT NULL AND v.expires_at <= {now}")
        } else {
            format!(" AND (v.expires_at IS NULL OR v.expires_at > {now})")
        });
    }
    let mut conn = db.pool().acquire().await?;
    let query = ListQuery {
        key: "v.id",
        from: "FROM virtual_accounts v",
        select: select_accounts!(),
        filter: &filter,
        order: "v.created_at, v.id",
        binds: &binds,
    };
    let (total, rows) = query.page::<AccountRow>(&mut Reader::Pooled(&mut conn), limit, offset).await?;
    // The permissions of the whole page in one query, not one per account.
    let mut permissions = std::collections::HashMap::<String, Vec<(String, String)>>::new();
    if !rows.is_empty() {
        let sql = format!(
            "SELECT p.virtual_account_id, g.name AS group_name, p.role_id FROM virtual_account_permissions p
             JOIN secret_groups g ON g.id = p.group_id
             WHERE p.virtual_account_id IN ({}) ORDER BY p.virtual_account_id, p.position",
            super::placeholders(rows.len())
        );
        let mut query = sqlx::query_as::<_, PermissionRow>(sqlx::AssertSqlSafe(sql));
        for row in &rows {
            query = query.bind(&row.id);
        }
        for PermissionRow { virtual_account_id, group_name, role_id } in query.fetch_all(&mut *conn).await? {
            permissions.entry(virtual_account_id).or_default().push((group_name, role_id));
        }
    }
    let accounts = rows
        .into_iter()
        .map(|row| Account { permissions: permissions.remove(&row.id).unwrap_or_default(), row })
        .collect();
    Ok((total, accounts))
}

pub async fn get(db: &Db, tenant_id: &str, id: &str) -> StoreResult<Account> {
    let mut conn = db.pool().acquire().await?;
    load(&mut conn, tenant_id, id).await
}

pub async fn exists(db: &Db, tenant_id: &str, name: &str) -> StoreResult<bool> {
    if !super::is_storable(name) {
        return Ok(false);
    }
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM virtual_accounts WHERE tenant_id = $1 AND name = $2")
        .bind(tenant_id)
        .bind(name)
        .fetch_one(db.pool())
        .await?;
    Ok(n > 0)
}

/// Deletes the account; its tokens and permissions go with it (foreign keys cascade).
pub async fn delete(db: &Db, admin: &TenantAdmin, id: &str) -> StoreResult<()> {
    let tenant_id = admin.tenant_id();
    let mut wtx = db.begin_write().await?;
    let deleted = sqlx::query("DELETE FROM virtual_accounts WHERE id = $1 AND tenant_id = $2")
        .bind(id)
        .bind(tenant_id)
        .execute(wtx.conn())
        .await?;
    if deleted.rows_affected() == 0 {
        return Err(StoreError::NotFound("virtual account"));
    }
    wtx.commit().await?;
    Ok(())
}

/// Adds a token of hash `new_token_hash`; the account's other live tokens end after `grace_ms`.
pub async fn regenerate_token(
    db: &Db,
    admin: &TenantAdmin,
    id: &str,
    new_token_hash: &str,
    grace_ms: i64,
) -> StoreResult<()> {
    let tenant_id = admin.tenant_id();
    let now = now_ms();
    let mut wtx = db.begin_write().await?;
    let conn = wtx.conn();
    load(conn, tenant_id, id).await?;
    let end = now.saturating_add(grace_ms);
    sqlx::query(
        "UPDATE access_tokens SET expires_at = CASE WHEN expires_at IS NULL OR expires_at > $1 THEN $1
                                                    ELSE expires_at END
         WHERE virtual_account_id = $2 AND revoked_at IS NULL",
    )
    .bind(end)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    tokens::insert(conn, tenant_id, Owner::VirtualAccount(id), "token", new_token_hash, None, now).await?;
    wtx.commit().await?;
    Ok(())
}

async fn load(conn: &mut AnyConnection, tenant_id: &str, id: &str) -> StoreResult<Account> {
    let row: Option<AccountRow> = sqlx::query_as(concat!(select_accounts!(), "WHERE v.id = $1 AND v.tenant_id = $2"))
        .bind(id)
        .bind(tenant_id)
        .fetch_optional(&mut *conn)
        .await?;
    let row = row.ok_or(StoreError::NotFound("virtual account"))?;
    let permissions = permissions_of(conn, &row.id).await?;
    Ok(Account { row, permissions })
}

/// The account's roles as (group name, role id), in manifest order; a deleted group's are gone.
async fn permissions_of(conn: &mut AnyConnection, id: &str) -> StoreResult<Vec<(String, String)>> {
    Ok(sqlx::query_as(
        "SELECT g.name, p.role_id FROM virtual_account_permissions p JOIN secret_groups g ON g.id = p.group_id
         WHERE p.virtual_account_id = $1 ORDER BY p.position",
    )
    .bind(id)
    .fetch_all(conn)
    .await?)
}
