//! Reading and deleting single secrets. Secrets are created and changed only through their group
//! (see `groups.rs`), as in TrueFoundry's API.

use sqlx::FromRow;

use super::{
    Db, ListQuery, StoreError, StoreResult, access,
    groups::{SecretRow, Visibility, select_secrets},
    is_storable, now_ms,
};

#[derive(Debug, Clone, FromRow)]
pub struct VersionRow {
    pub id: String,
    pub version: i64,
    pub value: String,
    pub created_at: i64,
}

/// Filters of the secret list; `None` means no filter.
#[derive(Debug, Default)]
pub struct SecretFilter {
    pub group_id: Option<String>,
    /// (group name, key) pairs in the caller's tenant; `Some(empty)` matches nothing.
    pub names: Option<Vec<(String, String)>>,
}

/// The current value of each listed secret, when `with_value` is set.
macro_rules! select_secrets_with_values {
    () => {
        "SELECT s.id, s.group_id, g.name AS group_name, s.name, s.current_version,
                s.created_by_user_id, s.created_by_email, s.created_at, s.updated_at, v.value
         FROM secrets s JOIN secret_groups g ON g.id = s.group_id
         JOIN secret_versions v ON v.secret_id = s.id AND v.version = s.current_version "
    };
}

pub async fn list(
    db: &Db,
    tenant_id: &str,
    filter: &SecretFilter,
    visibility: Visibility<'_>,
    with_value: bool,
    limit: i64,
    offset: i64,
) -> StoreResult<(i64, Vec<SecretRow>)> {
    if filter.group_id.as_deref().is_some_and(|id| !is_storable(id)) {
        return Err(StoreError::NotFound("secret group"));
    }
    // Pairs no row can hold match nothing (and cannot be bound on PostgreSQL).
    let names: Option<Vec<&(String, String)>> = filter
        .names
        .as_ref()
        .map(|names| names.iter().filter(|(group, key)| is_storable(group) && is_storable(key)).collect());
    let mut conn = db.pool().acquire().await?;
    if let Some(group_id) = &filter.group_id {
        let exists: Option<String> =
            sqlx::query_scalar("SELECT id FROM secret_groups WHERE id = $1 AND tenant_id = $2")
                .bind(group_id)
                .bind(tenant_id)
                .fetch_optional(&mut *conn)
                .await?;
        if exists.is_none() {
            return Err(StoreError::NotFound("secret group"));
        }
    }
    if matches!(&names, Some(names) if names.is_empty()) {
        return Ok((0, Vec::new()));
    }

    let mut conditions = vec!["s.tenant_id = $1".to_owned()];
    let mut binds = vec![tenant_id.to_owned()];
    if let Some((principal, roles)) = visibility {
        conditions.push(access::holds_role_condition(principal, roles, &mut binds));
    }
    if let Some(group_id) = &filter.group_id {
        binds.push(group_id.clone());
        conditions.push(format!("s.group_id = ${}", binds.len()));
    }
    if let Some(names) = &names {
        let mut alternatives = Vec::with_capacity(names.len());
        for (group, key) in names {
            binds.push(group.clone());
            binds.push(key.clone());
            alternatives.push(format!("(g.name = ${} AND s.name = ${})", binds.len() - 1, binds.len()));
        }
        conditions.push(format!("({})", alternatives.join(" OR ")));
    }
    let filter_sql = conditions.join(" AND ");

    let query = ListQuery {
        count_from: "FROM secrets s JOIN secret_groups g ON g.id = s.group_id",
        select: if with_value { select_secrets_with_values!() } else { select_secrets!() },
        filter: &filter_sql,
        order: "s.created_at, s.id",
        binds: &binds,
    };
    let (total, secrets) = query.page::<SecretRow>(&mut conn, limit, offset).await?;
    Ok((total, secrets))
}

/// The secret with its current value and all its versions, oldest first.
pub async fn get(db: &Db, tenant_id: &str, id: &str) -> StoreResult<(SecretRow, Vec<VersionRow>)> {
    if !is_storable(id) {
        return Err(StoreError::NotFound("secret"));
    }
    let mut conn = db.pool().acquire().await?;
    let secret: Option<SecretRow> =
        sqlx::query_as(concat!(select_secrets_with_values!(), "WHERE s.id = $1 AND s.tenant_id = $2"))
            .bind(id)
            .bind(tenant_id)
            .fetch_optional(&mut *conn)
            .await?;
    let secret = secret.ok_or(StoreError::NotFound("secret"))?;
    let versions = sqlx::query_as(
        "SELECT id, version, value, created_at FROM secret_versions WHERE secret_id = $1 ORDER BY version",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    Ok((secret, versions))
}

/// Deletes the secret and its versions; the group's `updated_at` moves on.
pub async fn delete(db: &Db, tenant_id: &str, id: &str) -> StoreResult<()> {
    if !is_storable(id) {
        return Err(StoreError::NotFound("secret"));
    }
    let mut wtx = db.begin_write().await?;
    let group_id: Option<String> =
        sqlx::query_scalar("DELETE FROM secrets WHERE id = $1 AND tenant_id = $2 RETURNING group_id")
            .bind(id)
            .bind(tenant_id)
            .fetch_optional(&mut *wtx.tx)
            .await?;
    let group_id = group_id.ok_or(StoreError::NotFound("secret"))?;
    sqlx::query("UPDATE secret_groups SET updated_at = $1 WHERE id = $2")
        .bind(now_ms())
        .bind(&group_id)
        .execute(&mut *wtx.tx)
        .await?;
    wtx.commit().await?;
    Ok(())
}

/// The group holding the secret, if the secret exists in the tenant.
pub async fn group_of(db: &Db, tenant_id: &str, id: &str) -> StoreResult<Option<String>> {
    if !is_storable(id) {
        return Ok(None);
    }
    Ok(sqlx::query_scalar("SELECT group_id FROM secrets WHERE id = $1 AND tenant_id = $2")
        .bind(id)
        .bind(tenant_id)
        .fetch_optional(db.pool())
        .await?)
}
