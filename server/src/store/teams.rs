//! Teams and their members and managers.
//!
//! It must not decide who may change a team: `crate::authz` does, and hands in its proof; the
//! checks that have to run inside the write transaction (is the caller a manager, may a deleted
//! team's name be taken) are authz's ([`InTx`]), run here on the transaction's connection.

use sqlx::{AnyConnection, AssertSqlSafe};

use super::{
    Db, ListQuery, Reader, Record, Row, StoreError, StoreResult, identity, new_id, now_ms, on_unique, sqlx_from_row,
};
use crate::authz::{Authorized, InTx, Manage, Team, TeamsVisible};

pub const MEMBER: &str = "member";
pub const MANAGER: &str = "manager";

#[derive(Debug, Clone)]
pub struct TeamRow {
    pub id: String,
    pub name: String,
    pub description: String,
    pub manifest: String,
    pub created_by_id: String,
    pub created_by_slug: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Record for TeamRow {
    fn from_row<R: Row>(row: &R) -> Result<Self, R::Error> {
        Ok(Self {
            id: row.get("id")?,
            name: row.get("name")?,
            description: row.get("description")?,
            manifest: row.get("manifest")?,
            created_by_id: row.get("created_by_id")?,
            created_by_slug: row.get("created_by_slug")?,
            created_at: row.get("created_at")?,
            updated_at: row.get("updated_at")?,
        })
    }
}
sqlx_from_row!(TeamRow);

/// A member or manager of a team.
#[derive(Debug, Clone)]
pub struct MemberRow {
    pub user_id: String,
    pub email: String,
    pub role: String,
}

impl Record for MemberRow {
    fn from_row<R: Row>(row: &R) -> Result<Self, R::Error> {
        Ok(Self { user_id: row.get("user_id")?, email: row.get("email")?, role: row.get("role")? })
    }
}
sqlx_from_row!(MemberRow);

/// A member of one of the teams of a page, with its team.
struct TeamMemberRow {
    team_id: String,
    member: MemberRow,
}

impl Record for TeamMemberRow {
    fn from_row<R: Row>(row: &R) -> Result<Self, R::Error> {
        Ok(Self { team_id: row.get("team_id")?, member: MemberRow::from_row(row)? })
    }
}
sqlx_from_row!(TeamMemberRow);

/// A team's id and name.
struct TeamName {
    id: String,
    name: String,
}

impl Record for TeamName {
    fn from_row<R: Row>(row: &R) -> Result<Self, R::Error> {
        Ok(Self { id: row.get("id")?, name: row.get("name")? })
    }
}
sqlx_from_row!(TeamName);

#[derive(Debug, Clone)]
pub struct TeamWithMembers {
    pub team: TeamRow,
    pub members: Vec<MemberRow>,
}

/// A team as a manifest describes it; member and manager e-mails must be users of the tenant.
pub struct TeamSpec<'a> {
    pub name: &'a str,
    pub description: &'a str,
    pub manifest: &'a str,
    pub members: &'a [String],
    /// `None` keeps an existing team's managers (and makes the creator the manager of a new one).
    pub managers: Option<&'a [String]>,
}

macro_rules! select_teams {
    () => {
        "SELECT t.id, t.name, t.description, t.manifest, t.created_by_id, t.created_by_slug, t.created_at, t.updated_at
         FROM teams t "
    };
}

/// Creates the team or replaces an existing one's manifest and membership; `check` (authz's)
/// decides on the transaction whether the caller may change the existing team or create it.
pub async fn upsert(db: &Db, check: &InTx<Team>, spec: TeamSpec<'_>, dry_run: bool) -> StoreResult<TeamWithMembers> {
    let actor = check.actor();
    let now = now_ms();
    let mut wtx = db.begin_write().await?;
    let conn = wtx.conn();
    let existing: Option<String> =
        sqlx::query_scalar("UPDATE teams SET updated_at = updated_at WHERE tenant_id = $1 AND name = $2 RETURNING id")
            .bind(&actor.tenant_id)
            .bind(spec.name)
            .fetch_optional(&mut *conn)
            .await?;
    let existing_managers = existing.is_some();
    let id = match existing {
        Some(id) => {
            check.may_change(&mut *conn, &id, spec.name).await?;
            sqlx::query("UPDATE teams SET description = $1, manifest = $2, updated_at = $3 WHERE id = $4")
                .bind(spec.description)
                .bind(spec.manifest)
                .bind(now)
                .bind(&id)
                .execute(&mut *conn)
                .await?;
            id
        }
        None => {
            check.may_create(&mut *conn, spec.name).await?;
            let id = new_id();
            sqlx::query(
                "INSERT INTO teams (id, tenant_id, name, description, manifest, created_by_id, created_by_slug,
                                    created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
            )
            .bind(&id)
            .bind(&actor.tenant_id)
            .bind(spec.name)
            .bind(spec.description)
            .bind(spec.manifest)
            .bind(&actor.subject_id)
            .bind(&actor.slug)
            .bind(now)
            .execute(&mut *conn)
            .await
            .map_err(|e| on_unique(e, || format!("team {} already exists", spec.name)))?;
            id
        }
    };
    let creator = [actor.slug.clone()];
    let managers = match (spec.managers, existing_managers) {
        (Some(managers), _) => Some(managers),
        (None, true) => None,
        (None, false) => Some(&creator[..]),
    };
    replace_members(&mut *conn, &actor.tenant_id, &id, spec.members, managers).await?;
    let team = load(conn, &actor.tenant_id, &id).await?;
    if dry_run {
        wtx.rollback().await?;
    } else {
        wtx.commit().await?;
    }
    Ok(team)
}

/// Replaces the team's members, and its managers when `managers` is given; every e-mail must
/// be a user of the tenant.
async fn replace_members(
    conn: &mut AnyConnection,
    tenant_id: &str,
    id: &str,
    members: &[String],
    managers: Option<&[String]>,
) -> StoreResult<()> {
    let replaced = if managers.is_some() { "" } else { " AND role = 'member'" };
    sqlx::query(AssertSqlSafe(format!("DELETE FROM team_members WHERE team_id = $1{replaced}")))
        .bind(id)
        .execute(&mut *conn)
        .await?;
    let lists = [("members", members, MEMBER), ("managers", managers.unwrap_or_default(), MANAGER)];
    for (field, emails, role) in lists {
        for (index, email) in emails.iter().enumerate() {
            let user = match identity::user_by_email(&mut *conn, tenant_id, email).await {
                Ok(user) => user,
                Err(StoreError::NotFound(_)) => {
                    return Err(StoreError::Invalid {
                        field: format!("manifest.{field}[{index}]"),
                        problem: format!("{email} is not a user of this tenant"),
                    });
                }
                Err(e) => return Err(e),
            };
            sqlx::query(
                "INSERT INTO team_members (team_id, user_id, role) VALUES ($1, $2, $3)
                 ON CONFLICT (team_id, user_id, role) DO NOTHING",
            )
            .bind(id)
            .bind(&user.id)
            .bind(role)
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}

/// Teams of the tenant, oldest first: all of them, or (when `visible` names a member) those the
/// user is a member or manager of.
pub async fn list(
    db: &Db,
    visible: &TeamsVisible,
    limit: i64,
    offset: i64,
) -> StoreResult<(i64, Vec<TeamWithMembers>)> {
    let (tenant_id, member_user_id) = (visible.tenant_id(), visible.member());
    let mut binds = vec![tenant_id.to_owned()];
    let mut filter = "t.tenant_id = $1".to_owned();
    if let Some(user_id) = member_user_id {
        binds.push(user_id.to_owned());
        filter.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM team_members m WHERE m.team_id = t.id AND m.user_id = ${})",
            binds.len()
        ));
    }
    let mut conn = db.pool().acquire().await?;
    let query = ListQuery {
        key: "t.id",
        from: "FROM teams t",
        select: select_teams!(),
        filter: &filter,
        order: "t.created_at, t.id",
        binds: &binds,
    };
    let (total, rows) = query.page::<TeamRow>(&mut Reader::Pooled(&mut conn), limit, offset).await?;
    // The members of the whole page in one query, not one per team.
    let sql = format!(
        "SELECT m.team_id, m.user_id, u.email, m.role FROM team_members m JOIN users u ON u.id = m.user_id
         WHERE m.team_id IN ({}) ORDER BY u.created_at, u.id, m.role",
        super::placeholders(rows.len())
    );
    let mut members = std::collections::HashMap::<String, Vec<MemberRow>>::new();
    if !rows.is_empty() {
        let mut query = sqlx::query_as::<_, TeamMemberRow>(AssertSqlSafe(sql));
        for team in &rows {
            query = query.bind(&team.id);
        }
        for TeamMemberRow { team_id, member } in query.fetch_all(&mut *conn).await? {
            members.entry(team_id).or_default().push(member);
        }
    }
    let teams = rows
        .into_iter()
        .map(|team| TeamWithMembers { members: members.remove(&team.id).unwrap_or_default(), team })
        .collect();
    Ok((total, teams))
}

pub async fn get(db: &Db, tenant_id: &str, id: &str) -> StoreResult<TeamWithMembers> {
    let mut conn = db.pool().acquire().await?;
    load(&mut conn, tenant_id, id).await
}

/// Deletes the team (its members and the group roles bound to it go with it) and retires its
/// name: only a tenant admin may create a team under it again, so a group manifest re-applied
/// later that names `team:<name>` cannot grant its role to whoever re-created the name.
pub async fn delete(db: &Db, team: &Authorized<Team, Manage>) -> StoreResult<()> {
    let (tenant_id, id) = (team.tenant_id(), team.id());
    let mut wtx = db.begin_write().await?;
    let name: Option<String> = sqlx::query_scalar("DELETE FROM teams WHERE id = $1 AND tenant_id = $2 RETURNING name")
        .bind(id)
        .bind(tenant_id)
        .fetch_optional(wtx.conn())
        .await?;
    let name = name.ok_or(StoreError::NotFound("team"))?;
    sqlx::query(
        "INSERT INTO retired_team_names (tenant_id, name, retired_at) VALUES ($1, $2, $3)
         ON CONFLICT (tenant_id, name) DO UPDATE SET retired_at = excluded.retired_at",
    )
    .bind(tenant_id)
    .bind(&name)
    .bind(now_ms())
    .execute(wtx.conn())
    .await?;
    wtx.commit().await?;
    Ok(())
}

/// True when a deleted team of the tenant had this name.
pub async fn is_retired(conn: &mut AnyConnection, tenant_id: &str, name: &str) -> StoreResult<bool> {
    let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM retired_team_names WHERE tenant_id = $1 AND name = $2")
        .bind(tenant_id)
        .bind(name)
        .fetch_optional(conn)
        .await?;
    Ok(found.is_some())
}

/// The names and ids of the teams a user is a member or manager of.
pub async fn teams_of_user(db: &Db, user_id: &str) -> StoreResult<Vec<(String, String)>> {
    let teams: Vec<TeamName> = sqlx::query_as(
        "SELECT DISTINCT t.id, t.name FROM teams t JOIN team_members m ON m.team_id = t.id
         WHERE m.user_id = $1 ORDER BY t.name",
    )
    .bind(user_id)
    .fetch_all(db.pool())
    .await?;
    Ok(teams.into_iter().map(|team| (team.id, team.name)).collect())
}

/// True when the user manages the team.
pub async fn is_manager(conn: &mut AnyConnection, team_id: &str, user_id: &str) -> StoreResult<bool> {
    has_role(conn, team_id, user_id, MANAGER).await
}

async fn has_role(conn: &mut AnyConnection, team_id: &str, user_id: &str, role: &str) -> StoreResult<bool> {
    let n: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM team_members WHERE team_id = $1 AND user_id = $2 AND role = $3")
            .bind(team_id)
            .bind(user_id)
            .bind(role)
            .fetch_one(conn)
            .await?;
    Ok(n > 0)
}

async fn load(conn: &mut AnyConnection, tenant_id: &str, id: &str) -> StoreResult<TeamWithMembers> {
    let team: Option<TeamRow> = sqlx::query_as(concat!(select_teams!(), "WHERE t.id = $1 AND t.tenant_id = $2"))
        .bind(id)
        .bind(tenant_id)
        .fetch_optional(&mut *conn)
        .await?;
    let team = team.ok_or(StoreError::NotFound("team"))?;
    let members = members_of(conn, &team.id).await?;
    Ok(TeamWithMembers { team, members })
}

async fn members_of(conn: &mut AnyConnection, team_id: &str) -> StoreResult<Vec<MemberRow>> {
    Ok(sqlx::query_as(
        "SELECT m.user_id, u.email, m.role FROM team_members m JOIN users u ON u.id = m.user_id
         WHERE m.team_id = $1 ORDER BY u.created_at, u.id, m.role",
    )
    .bind(team_id)
    .fetch_all(conn)
    .await?)
}
