//! Who holds which role on a secret group, as SQL. The decisions themselves (which role an
//! action needs, what a tenant admin may do) live in `crate::authz`; this module only answers
//! "which roles does this principal hold here", builds the visibility filter for lists, and
//! stores a manifest's collaborators.
//!
//! Roles come from two places: the group's collaborators, each bound to the id of the user, team
//! or virtual account it named when stored (a team's members and managers all hold the team's
//! role), and a virtual account's own permissions, bound to group ids. Binding to ids means a
//! role ends with its holder and is never inherited by a new object that takes the same name.

use std::collections::HashMap;

use sqlx::{AnyConnection, AssertSqlSafe};

use super::{Bind, Db, Reader, Record, Row, StoreError, StoreResult, reader};

/// The identity a role query is about: a user or a virtual account, by id (not
/// `crate::auth::Principal`, which is the authenticated caller with its readable name).
#[derive(Debug, Clone)]
pub struct RoleHolder {
    pub tenant_id: String,
    /// The user's id; empty for a virtual account (matches no row).
    pub user_id: String,
    /// The virtual account's id; empty for a user (matches no row).
    pub virtual_account_id: String,
}

/// Every role the principal holds on the group (possibly several, e.g. directly and via a team).
pub async fn group_roles(conn: &mut AnyConnection, principal: &RoleHolder, group_id: &str) -> StoreResult<Vec<String>> {
    roles_on(&mut Reader::Pooled(conn), principal, group_id).await
}

/// [`group_roles`] outside a transaction; on SQLite a point read on the calling thread (see
/// `sqlite_read.rs`), as it sits on the path of every secret read by a non-admin.
pub async fn group_roles_now(db: &Db, principal: &RoleHolder, group_id: &str) -> StoreResult<Vec<String>> {
    reader::read(db, None, async |reader| roles_on(reader, principal, group_id).await).await
}

async fn roles_on(reader: &mut Reader<'_>, principal: &RoleHolder, group_id: &str) -> StoreResult<Vec<String>> {
    let binds = [group_id.into(), (&principal.user_id).into(), (&principal.virtual_account_id).into()];
    let roles: Vec<RoleRow> = reader.fetch_all(GROUP_ROLES, &binds).await?;
    Ok(roles.into_iter().map(|role| role.role_id).collect())
}

/// A row of [`GROUP_ROLES`].
struct RoleRow {
    role_id: String,
}

impl Record for RoleRow {
    fn from_row<R: Row>(row: &R) -> Result<Self, R::Error> {
        Ok(Self { role_id: row.get("role_id")? })
    }
}

/// `$1` the group, `$2` the user, `$3` the virtual account.
const GROUP_ROLES: &str = "SELECT c.role_id FROM group_collaborators c
    WHERE c.group_id = $1
      AND (c.user_id = $2 OR c.virtual_account_id = $3
           OR c.team_id IN (SELECT m.team_id FROM team_members m WHERE m.user_id = $2))
    UNION ALL
    SELECT p.role_id FROM virtual_account_permissions p WHERE p.group_id = $1 AND p.virtual_account_id = $3";

/// The roles the principal holds on the group `group_id` of `tenant_id`, or `None` when the
/// tenant has no such group: existence and roles in one query.
pub async fn roles_if_group_exists(
    conn: &mut AnyConnection,
    principal: &RoleHolder,
    tenant_id: &str,
    group_id: &str,
) -> StoreResult<Option<Vec<String>>> {
    if !super::is_storable(group_id) {
        return Ok(None);
    }
    // One row per role, or one row with NULL when the group exists without any; no row at all
    // when it does not exist.
    let rows: Vec<Option<String>> = sqlx::query_scalar(
        "SELECT r.role_id FROM secret_groups g
         LEFT JOIN (SELECT c.role_id FROM group_collaborators c
                    WHERE c.group_id = $1
                      AND (c.user_id = $2 OR c.virtual_account_id = $3
                           OR c.team_id IN (SELECT m.team_id FROM team_members m WHERE m.user_id = $2))
                    UNION ALL
                    SELECT p.role_id FROM virtual_account_permissions p
                    WHERE p.group_id = $1 AND p.virtual_account_id = $3) r ON 1 = 1
         WHERE g.id = $1 AND g.tenant_id = $4",
    )
    .bind(group_id)
    .bind(&principal.user_id)
    .bind(&principal.virtual_account_id)
    .bind(tenant_id)
    .fetch_all(conn)
    .await?;
    Ok((!rows.is_empty()).then(|| rows.into_iter().flatten().collect()))
}

/// A condition that holds when the principal has one of `roles` on the group whose id is the
/// column `group_id` (`g.id`, `s.group_id`). Binds its values after those already in `binds`.
/// `roles` are this crate's constants, never client input, so they are written into the SQL as
/// literals.
pub fn holds_role_condition(
    principal: &RoleHolder,
    roles: &[&'static str],
    group_id: &'static str,
    binds: &mut Vec<String>,
) -> String {
    let roles = roles.iter().map(|r| format!("'{r}'")).collect::<Vec<_>>().join(", ");
    binds.push(principal.user_id.clone());
    let user = binds.len();
    binds.push(principal.user_id.clone());
    let member = binds.len();
    binds.push(principal.virtual_account_id.clone());
    let account = binds.len();
    binds.push(principal.virtual_account_id.clone());
    let permitted = binds.len();
    format!(
        "(EXISTS (SELECT 1 FROM group_collaborators c WHERE c.group_id = {group_id} AND c.role_id IN ({roles})
                  AND (c.user_id = ${user} OR c.virtual_account_id = ${account}
                       OR c.team_id IN (SELECT m.team_id FROM team_members m WHERE m.user_id = ${member})))
          OR EXISTS (SELECT 1 FROM virtual_account_permissions p WHERE p.group_id = {group_id}
                     AND p.virtual_account_id = ${permitted} AND p.role_id IN ({roles})))"
    )
}

/// Replaces the collaborators of a group with `collaborators` (subject, role id), each resolved
/// to the user, team or virtual account of the tenant it names (`Unknown` when there is none).
pub async fn set_collaborators(
    conn: &mut AnyConnection,
    tenant_id: &str,
    group_id: &str,
    collaborators: &[(String, String)],
) -> StoreResult<()> {
    sqlx::query("DELETE FROM group_collaborators WHERE group_id = $1").bind(group_id).execute(&mut *conn).await?;
    for (position, (subject, role_id)) in collaborators.iter().enumerate() {
        let (kind, name) = subject.split_once(':').unwrap_or(("", subject));
        if !super::is_storable(name) {
            return Err(StoreError::Unknown(format!("collaborator {subject} names nothing of this tenant")));
        }
        let (column, lookup) = match kind {
            "user" => ("user_id", "SELECT id FROM users WHERE tenant_id = $1 AND email = $2"),
            "team" => ("team_id", "SELECT id FROM teams WHERE tenant_id = $1 AND name = $2"),
            "virtualaccount" => {
                ("virtual_account_id", "SELECT id FROM virtual_accounts WHERE tenant_id = $1 AND name = $2")
            }
            _ => {
                return Err(StoreError::Unknown(format!(
                    "collaborator {subject} is not user:, team: or virtualaccount:"
                )));
            }
        };
        let id: Option<String> =
            sqlx::query_scalar(lookup).bind(tenant_id).bind(name).fetch_optional(&mut *conn).await?;
        let id =
            id.ok_or_else(|| StoreError::Unknown(format!("collaborator {subject} names no {kind} of this tenant")))?;
        let insert = format!(
            "INSERT INTO group_collaborators (group_id, position, subject, role_id, {column}) VALUES ($1, $2, $3, $4, $5)"
        );
        sqlx::query(AssertSqlSafe(insert))
            .bind(group_id)
            .bind(i64::try_from(position).unwrap_or(i64::MAX))
            .bind(subject)
            .bind(role_id)
            .bind(id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// The collaborators (subject, role id) of each of `group_ids`, in manifest order.
pub(crate) async fn collaborators_of(
    reader: &mut Reader<'_>,
    group_ids: &[&str],
) -> StoreResult<HashMap<String, Vec<(String, String)>>> {
    if group_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let sql = format!(
        "SELECT group_id, subject, role_id FROM group_collaborators WHERE group_id IN ({}) ORDER BY group_id, position",
        super::placeholders(group_ids.len())
    );
    let binds: Vec<Bind<'_>> = group_ids.iter().map(|id| Bind::Text(id)).collect();
    let rows: Vec<CollaboratorRow> = reader.fetch_all(AssertSqlSafe(sql), &binds).await?;
    let mut by_group: HashMap<String, Vec<(String, String)>> = HashMap::new();
    for CollaboratorRow { group_id, subject, role_id } in rows {
        by_group.entry(group_id).or_default().push((subject, role_id));
    }
    Ok(by_group)
}

/// A row of [`collaborators_of`]: three text columns, which only their names tell apart.
struct CollaboratorRow {
    group_id: String,
    subject: String,
    role_id: String,
}

impl Record for CollaboratorRow {
    fn from_row<R: Row>(row: &R) -> Result<Self, R::Error> {
        Ok(Self { group_id: row.get("group_id")?, subject: row.get("subject")?, role_id: row.get("role_id")? })
    }
}
