//! Secret groups and the writes that change their secrets.
//!
//! Every statement is scoped by `tenant_id`: an id from another tenant finds nothing, exactly like
//! an id that does not exist. Creates and updates are single transactions, because TrueFoundry's
//! SDK retries a POST that got a 409 or 5xx: a retried create must find either nothing or the
//! whole group, never half of it.
//!
//! It must not decide who may do what: `crate::authz` does, and its functions that read or
//! change a group take authz's proof of that decision (the tenant and id come from the proof);
//! the checks `upsert` runs inside its write transaction are authz's ([`InTx`]). It must not
//! unwrap keys or bind values to rows itself (`sealing`).

use std::collections::{HashMap, HashSet};

use sqlx::{AnyConnection, AssertSqlSafe};

use super::{
    Backend, Bind, Db, ListQuery, Reader, Record, Row, StoreError, StoreResult,
    access::{self, RoleHolder},
    actor::Actor,
    is_storable,
    keys::{self, DataKeyRow},
    like_contains, new_id, now_ms, on_unique,
    page::{self, MAX_PAGE_SECRETS, Page, PageRequest},
    reader,
    sealing::Sealer,
};
use crate::{
    authz::{AsUser, Authorized, Group, InTx, Manage, See, Visible, WriteSecrets},
    crypto::ValueCipher,
    sensitive::SecretString,
};

#[derive(Debug, Clone)]
pub struct GroupRow {
    pub id: String,
    pub name: String,
    pub integration_id: String,
    pub manifest: String,
    pub created_by_user_id: String,
    pub created_by_email: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A secret with its group's name (for FQNs) and, when asked for, its current value (opened by
/// the query that asked for it; never read from a column).
#[derive(Debug, Clone)]
pub struct SecretRow {
    pub id: String,
    pub group_id: String,
    pub group_name: String,
    pub name: String,
    pub current_version: i64,
    pub created_by_user_id: String,
    pub created_by_email: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub value: Option<SecretString>,
}

#[derive(Debug, Clone)]
pub struct GroupWithSecrets {
    pub group: GroupRow,
    pub secrets: Vec<SecretRow>,
    /// (subject, role id) of the collaborators that hold a role now, in manifest order.
    pub collaborators: Vec<(String, String)>,
}

/// Filters of the group list; `None` means no filter.
#[derive(Debug, Default)]
pub struct GroupFilter {
    /// Exact group name (from an FQN in the caller's tenant).
    pub name: Option<String>,
    /// Case-insensitive substring of the group name or of a secret key in the group.
    pub search: Option<String>,
}

/// A new group's fields; the manifest is already serialised JSON.
pub struct NewGroup {
    pub name: String,
    pub integration_id: String,
    pub manifest: String,
    /// (subject, role id) of the manifest's collaborators.
    pub collaborators: Vec<(String, String)>,
    pub secrets: Vec<(String, SecretString)>,
}

/// Who may see what in a list: `None` for a tenant admin (everything in the tenant), otherwise
/// the groups on which the principal holds one of `roles`.
pub type Visibility<'a> = Option<(&'a RoleHolder, &'a [&'static str])>;

/// The role that may do everything to a group.
pub const ROLE_ADMIN: &str = "secret-group-admin";
pub const ROLE_EDITOR: &str = "secret-group-editor";
pub const ROLE_VIEWER: &str = "secret-group-viewer";

macro_rules! select_groups {
    () => {
        "SELECT g.id, g.name, g.integration_id, g.manifest, g.created_by_user_id, g.created_by_email,
                g.created_at, g.updated_at
         FROM secret_groups g "
    };
}

/// Secrets without values; used wherever a group is shown.
macro_rules! select_secrets {
    () => {
        "SELECT s.id, s.group_id, g.name AS group_name, s.name, s.current_version,
                s.created_by_user_id, s.created_by_email, s.created_at, s.updated_at
         FROM secrets s JOIN secret_groups g ON g.id = s.group_id "
    };
}
pub(crate) use select_secrets;

impl GroupFilter {
    /// An exact name without a search: at most one group, found over the name index, so the
    /// list runs as a point read and never waits behind lists that scan.
    pub fn is_point(&self) -> bool {
        self.name.is_some() && self.search.is_none()
    }
}

/// The groups `visible` lets the caller see, filtered by `filter`.
pub async fn list(
    db: &Db,
    visible: &Visible<See>,
    filter: &GroupFilter,
    page: PageRequest,
) -> StoreResult<Page<GroupWithSecrets>> {
    let (tenant_id, visibility) = (visible.tenant_id(), visible.filter());
    if !filter.name.iter().chain(&filter.search).all(|text| is_storable(text)) {
        return Ok(Page { total: 0, rows: Vec::new(), cut_short: false });
    }
    let mut conditions = vec!["g.tenant_id = $1".to_owned()];
    let mut binds = vec![tenant_id.to_owned()];
    if let Some((principal, roles)) = visibility {
        conditions.push(access::holds_role_condition(principal, roles, "g.id", &mut binds));
    }
    if let Some(name) = &filter.name {
        binds.push(name.clone());
        conditions.push(format!("g.name = ${}", binds.len()));
    }
    if let Some(search) = &filter.search {
        let pattern = like_contains(search);
        binds.push(pattern.clone());
        let in_name = binds.len();
        binds.push(pattern);
        let in_keys = binds.len();
        conditions.push(format!(
            "(LOWER(g.name) LIKE ${in_name} ESCAPE '\\' OR EXISTS (SELECT 1 FROM secrets s \
             WHERE s.group_id = g.id AND LOWER(s.name) LIKE ${in_keys} ESCAPE '\\'))"
        ));
    }
    let filter_sql = conditions.join(" AND ");

    let query = ListQuery {
        key: "g.id",
        from: "FROM secret_groups g",
        select: select_groups!(),
        filter: &filter_sql,
        order: "g.created_at, g.id",
        binds: &binds,
    };
    let (limit, offset) = (page.limit, page.offset);
    let long = (!filter.is_point()).then_some(page.bounds);
    reader::read(db, long, async |reader| {
        let (total, mut groups) = query.page::<GroupRow>(reader, limit, offset).await?;
        let counts = secret_counts(reader, &groups).await?;
        let cut_short = keep_within_secret_budget(&mut groups, counts);
        Ok(Page { total, rows: attach_secrets(reader, groups).await?, cut_short })
    })
    .await
}

/// The number of secrets of each of `groups` that has any.
async fn secret_counts(reader: &mut Reader<'_>, groups: &[GroupRow]) -> StoreResult<Vec<SecretCount>> {
    if groups.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT group_id, COUNT(*) AS secrets FROM secrets WHERE group_id IN ({}) GROUP BY group_id",
        super::placeholders(groups.len())
    );
    let binds: Vec<Bind<'_>> = groups.iter().map(|group| Bind::from(&group.id)).collect();
    reader.fetch_all(AssertSqlSafe(sql), &binds).await
}

/// A row of [`secret_counts`].
struct SecretCount {
    group_id: String,
    secrets: i64,
}

impl Record for SecretCount {
    fn from_row<R: Row>(row: &R) -> Result<Self, R::Error> {
        Ok(Self { group_id: row.get("group_id")?, secrets: row.get("secrets")? })
    }
}

/// Keeps the groups whose secrets fit in [`MAX_PAGE_SECRETS`] (at least one group), so a page
/// never carries more keys than that, however large its groups.
fn keep_within_secret_budget(groups: &mut Vec<GroupRow>, counts: Vec<SecretCount>) -> bool {
    let counts: HashMap<String, i64> = counts.into_iter().map(|count| (count.group_id, count.secrets)).collect();
    page::keep_within(groups, MAX_PAGE_SECRETS, |group| {
        counts.get(&group.id).map_or(0, |n| usize::try_from(*n).unwrap_or(usize::MAX))
    })
}

pub async fn get(db: &Db, group: &Authorized<Group, See>) -> StoreResult<GroupWithSecrets> {
    let (tenant_id, id) = (group.tenant_id(), group.id());
    if !is_storable(id) {
        return Err(StoreError::NotFound("secret group"));
    }
    let mut conn = db.pool().acquire().await?;
    load(&mut conn, tenant_id, id).await
}

pub async fn create(db: &Db, cipher: &dyn ValueCipher, user: &AsUser, new: NewGroup) -> StoreResult<GroupWithSecrets> {
    let actor = user.actor();
    let now = now_ms();
    let id = new_id();
    crate::audit::scope::resource("secret-group", Some(&id), None);
    let mut wtx = db.begin_write().await?;
    let key = insert_group(wtx.conn(), db.backend(), cipher, actor, &id, new.row(), now).await?;
    access::set_collaborators(wtx.conn(), &actor.tenant_id, &id, &new.collaborators).await?;
    let sealer = Sealer::new(cipher, &key.stored(), &actor.tenant_id, &id)?;
    let secrets: Vec<(&str, &str)> = new.secrets.iter().map(|(name, value)| (name.as_str(), value.expose())).collect();
    insert_secrets(wtx.conn(), &sealer, actor, &secrets, now).await?;
    let group = load(wtx.conn(), &actor.tenant_id, &id).await?;
    wtx.commit().await?;
    Ok(group)
}

/// A group as a manifest upsert describes it; the manifest is already serialised JSON.
pub struct UpsertGroup<'a> {
    pub name: &'a str,
    pub integration_id: &'a str,
    pub manifest: &'a str,
    /// (subject, role id) of the manifest's collaborators.
    pub collaborators: &'a [(String, String)],
    /// Validate and answer as if stored, but write nothing.
    pub dry_run: bool,
}

/// Creates the group `name` with no secrets, or replaces the integration and manifest of the
/// existing one. With `dry_run` nothing is written and the group is returned as it would be.
/// Whether the caller may change the existing group, or create one, is decided by `check`
/// (authz's) inside the transaction, so the answer holds for the row actually changed.
pub async fn upsert(
    db: &Db,
    cipher: &dyn ValueCipher,
    check: &InTx<Group>,
    group: UpsertGroup<'_>,
) -> StoreResult<GroupWithSecrets> {
    let UpsertGroup { name, integration_id, manifest, collaborators, dry_run } = group;
    let actor = check.actor();
    let now = now_ms();
    let mut wtx = db.begin_write().await?;
    // Locks the row on PostgreSQL, so a concurrent upsert of the same group waits for this one.
    let existing: Option<String> = sqlx::query_scalar(
        "UPDATE secret_groups SET updated_at = updated_at WHERE tenant_id = $1 AND name = $2 RETURNING id",
    )
    .bind(&actor.tenant_id)
    .bind(name)
    .fetch_optional(wtx.conn())
    .await?;
    let id = match existing {
        Some(id) => {
            check.may_change(wtx.conn(), &id, name).await?;
            sqlx::query(
                "UPDATE secret_groups SET integration_id = $1, manifest = $2, updated_at = $3
                 WHERE id = $4 AND tenant_id = $5",
            )
            .bind(integration_id)
            .bind(manifest)
            .bind(now)
            .bind(&id)
            .bind(&actor.tenant_id)
            .execute(wtx.conn())
            .await?;
            id
        }
        None => {
            check.may_create(wtx.conn(), name).await?;
            let id = new_id();
            let row = GroupFields { name, integration_id, manifest };
            insert_group(wtx.conn(), db.backend(), cipher, actor, &id, row, now).await?;
            id
        }
    };
    access::set_collaborators(wtx.conn(), &actor.tenant_id, &id, collaborators).await?;
    let group = load(wtx.conn(), &actor.tenant_id, &id).await?;
    if dry_run {
        wtx.rollback().await?;
    } else {
        wtx.commit().await?;
    }
    Ok(group)
}

/// Makes the group's secrets exactly `entries` (key, new value or `None` to keep the current
/// one): changed values get a new version, unchanged ones none, missing keys are deleted.
pub async fn update(
    db: &Db,
    cipher: &dyn ValueCipher,
    group: &Authorized<Group, WriteSecrets>,
    entries: &[(String, Option<SecretString>)],
) -> StoreResult<GroupWithSecrets> {
    let (actor, id) = (group.actor(), group.id());
    if !is_storable(id) {
        return Err(StoreError::NotFound("secret group"));
    }
    let now = now_ms();
    let mut wtx = db.begin_write().await?;
    let conn = wtx.conn();
    // Takes the group's row lock (PostgreSQL) before reading its secrets, so two concurrent
    // updates of one group apply one after the other instead of both deciding from stale state.
    let locked = sqlx::query("UPDATE secret_groups SET updated_at = updated_at WHERE id = $1 AND tenant_id = $2")
        .bind(id)
        .bind(&actor.tenant_id)
        .execute(&mut *conn)
        .await?;
    if locked.rows_affected() == 0 {
        return Err(StoreError::NotFound("secret group"));
    }
    let key = keys::group_key(&mut *conn, id).await?;
    let sealer = Sealer::new(cipher, &key.stored(), &actor.tenant_id, id)?;
    let current = current_values(&mut *conn, &sealer).await?;
    let mut changed = false;
    let mut added: Vec<(&str, &str)> = Vec::new();
    for (index, (name, value)) in entries.iter().enumerate() {
        match (current.get(name.as_str()), value) {
            (Some((secret_id, version, old)), Some(new)) if new != old => {
                crate::audit::scope::change("changed", serde_json::json!({ "key": name, "version": version + 1 }));
                insert_version(&mut *conn, &sealer, secret_id, version + 1, new.expose(), now).await?;
                sqlx::query("UPDATE secrets SET current_version = $1, updated_at = $2 WHERE id = $3")
                    .bind(version + 1)
                    .bind(now)
                    .bind(secret_id.as_str())
                    .execute(&mut *conn)
                    .await?;
                changed = true;
            }
            (Some(_), _) => {}
            (None, Some(new)) => {
                crate::audit::scope::change("added", serde_json::json!({ "key": name, "version": 1 }));
                added.push((name.as_str(), new.expose()));
            }
            (None, None) => {
                return Err(StoreError::Invalid {
                    field: format!("secrets[{index}].value"),
                    problem: format!("is required: the group has no secret {name} whose value could be kept"),
                });
            }
        }
    }
    if !added.is_empty() {
        insert_secrets(&mut *conn, &sealer, actor, &added, now).await?;
        changed = true;
    }
    let wanted: HashSet<&str> = entries.iter().map(|(name, _)| name.as_str()).collect();
    for (name, (secret_id, _, _)) in &current {
        if !wanted.contains(name.as_str()) {
            crate::audit::scope::change("removed", serde_json::json!({ "key": name }));
            sqlx::query("DELETE FROM secrets WHERE id = $1").bind(secret_id.as_str()).execute(&mut *conn).await?;
            changed = true;
        }
    }
    if changed {
        sqlx::query("UPDATE secret_groups SET updated_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(&mut *conn)
            .await?;
    }
    let group = load(conn, &actor.tenant_id, id).await?;
    wtx.commit().await?;
    Ok(group)
}

/// The secrets of the group `sealer` seals for, by key: (id, current version, current value).
/// Whether a value changed is decided on the opened values; a current value that does not open
/// fails the whole update, as a read would.
async fn current_values(
    conn: &mut AnyConnection,
    sealer: &Sealer<'_>,
) -> StoreResult<HashMap<String, (String, i64, SecretString)>> {
    let sealed: Vec<SealedValue> = Reader::Pooled(conn)
        .fetch_all(
            "SELECT s.id, s.name, s.current_version, v.ciphertext FROM secrets s
             JOIN secret_versions v ON v.secret_id = s.id AND v.version = s.current_version
             WHERE s.group_id = $1",
            &[sealer.group_id().into()],
        )
        .await?;
    let mut current = HashMap::with_capacity(sealed.len());
    for SealedValue { id, name, current_version, ciphertext } in sealed {
        let value = sealer.open(&id, current_version, ciphertext.as_deref())?;
        current.insert(name, (id, current_version, value));
    }
    Ok(current)
}

/// A row of [`current_values`]: a secret and its current value, sealed.
struct SealedValue {
    id: String,
    name: String,
    current_version: i64,
    ciphertext: Option<Vec<u8>>,
}

impl Record for SealedValue {
    fn from_row<R: Row>(row: &R) -> Result<Self, R::Error> {
        Ok(Self {
            id: row.get("id")?,
            name: row.get("name")?,
            current_version: row.get("current_version")?,
            ciphertext: row.get("ciphertext")?,
        })
    }
}

/// Deletes the group with its secrets and their versions (foreign keys cascade).
pub async fn delete(db: &Db, group: &Authorized<Group, Manage>) -> StoreResult<()> {
    let (tenant_id, id) = (group.tenant_id(), group.id());
    if !is_storable(id) {
        return Err(StoreError::NotFound("secret group"));
    }
    let mut wtx = db.begin_write().await?;
    let deleted = sqlx::query("DELETE FROM secret_groups WHERE id = $1 AND tenant_id = $2")
        .bind(id)
        .bind(tenant_id)
        .execute(wtx.conn())
        .await?;
    if deleted.rows_affected() == 0 {
        return Err(StoreError::NotFound("secret group"));
    }
    wtx.commit().await?;
    Ok(())
}

async fn load(conn: &mut AnyConnection, tenant_id: &str, id: &str) -> StoreResult<GroupWithSecrets> {
    let reader = &mut Reader::Pooled(conn);
    let sql = concat!(select_groups!(), "WHERE g.id = $1 AND g.tenant_id = $2");
    let group: Option<GroupRow> = reader.fetch_optional(sql, &[id.into(), tenant_id.into()]).await?;
    let group = group.ok_or(StoreError::NotFound("secret group"))?;
    let mut groups = attach_secrets(reader, vec![group]).await?;
    groups.pop().ok_or(StoreError::NotFound("secret group"))
}

/// Loads the secrets of `groups` with one query and hangs them on their groups.
async fn attach_secrets(reader: &mut Reader<'_>, groups: Vec<GroupRow>) -> StoreResult<Vec<GroupWithSecrets>> {
    if groups.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<&str> = groups.iter().map(|g| g.id.as_str()).collect();
    let binds: Vec<Bind<'_>> = ids.iter().map(|id| Bind::Text(id)).collect();
    let secrets = reader.fetch_all(AssertSqlSafe(secrets_of_groups(ids.len())), &binds).await?;
    let collaborators = access::collaborators_of(reader, &ids).await?;
    Ok(assemble(groups, secrets, collaborators))
}

/// The secrets of `n` groups, whose ids are the binds.
fn secrets_of_groups(n: usize) -> String {
    format!("{} WHERE s.group_id IN ({}) ORDER BY s.created_at, s.id", select_secrets!(), super::placeholders(n))
}

/// Each group with its secrets (in `secrets`' order) and collaborators.
fn assemble(
    groups: Vec<GroupRow>,
    secrets: Vec<SecretRow>,
    mut collaborators: HashMap<String, Vec<(String, String)>>,
) -> Vec<GroupWithSecrets> {
    let mut by_group: HashMap<String, Vec<SecretRow>> = HashMap::new();
    for secret in secrets {
        by_group.entry(secret.group_id.clone()).or_default().push(secret);
    }
    groups
        .into_iter()
        .map(|group| {
            let secrets = by_group.remove(&group.id).unwrap_or_default();
            let collaborators = collaborators.remove(&group.id).unwrap_or_default();
            GroupWithSecrets { group, secrets, collaborators }
        })
        .collect()
}

impl Record for GroupRow {
    fn from_row<R: Row>(row: &R) -> Result<Self, R::Error> {
        Ok(Self {
            id: row.get("id")?,
            name: row.get("name")?,
            integration_id: row.get("integration_id")?,
            manifest: row.get("manifest")?,
            created_by_user_id: row.get("created_by_user_id")?,
            created_by_email: row.get("created_by_email")?,
            created_at: row.get("created_at")?,
            updated_at: row.get("updated_at")?,
        })
    }
}

impl Record for SecretRow {
    /// The columns of `select_secrets!` (others may be there too); the value is never a column.
    fn from_row<R: Row>(row: &R) -> Result<Self, R::Error> {
        Ok(Self {
            id: row.get("id")?,
            group_id: row.get("group_id")?,
            group_name: row.get("group_name")?,
            name: row.get("name")?,
            current_version: row.get("current_version")?,
            created_by_user_id: row.get("created_by_user_id")?,
            created_by_email: row.get("created_by_email")?,
            created_at: row.get("created_at")?,
            updated_at: row.get("updated_at")?,
            value: None,
        })
    }
}

/// The columns of a group row its writer chooses.
#[derive(Debug, Clone, Copy)]
struct GroupFields<'a> {
    name: &'a str,
    integration_id: &'a str,
    manifest: &'a str,
}

impl NewGroup {
    fn row(&self) -> GroupFields<'_> {
        GroupFields { name: &self.name, integration_id: &self.integration_id, manifest: &self.manifest }
    }
}

/// Inserts the group row and its data key, which it returns.
async fn insert_group(
    conn: &mut AnyConnection,
    backend: Backend,
    cipher: &dyn ValueCipher,
    actor: &Actor,
    id: &str,
    GroupFields { name, integration_id, manifest }: GroupFields<'_>,
    now: i64,
) -> StoreResult<DataKeyRow> {
    sqlx::query(
        "INSERT INTO secret_groups (id, tenant_id, name, integration_id, manifest, created_by_user_id,
                                    created_by_email, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
    )
    .bind(id)
    .bind(&actor.tenant_id)
    .bind(name)
    .bind(integration_id)
    .bind(manifest)
    .bind(&actor.subject_id)
    .bind(&actor.slug)
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(|e| on_unique(e, || format!("Secret group with this name already exists: {name}")))?;
    keys::create_group_key(conn, backend, cipher, id, now).await
}

/// Rows per multi-row INSERT: 7 binds each, far below SQLite's 32,766 and PostgreSQL's 65,535.
const INSERT_CHUNK: usize = 500;

/// Inserts `secrets` (name, value), each at version 1, with two statements per
/// [`INSERT_CHUNK`] secrets: a statement costs far more than a row (on SQLite each one is handed
/// to the connection's thread while the shared write transaction waits), and creates and
/// updates may carry many.
async fn insert_secrets(
    conn: &mut AnyConnection,
    sealer: &Sealer<'_>,
    actor: &Actor,
    secrets: &[(&str, &str)],
    now: i64,
) -> StoreResult<()> {
    for chunk in secrets.chunks(INSERT_CHUNK) {
        let ids: Vec<String> = chunk.iter().map(|_| new_id()).collect();
        let rows = (0..chunk.len())
            .map(|i| format!("(${}, $1, $2, ${}, 1, $3, $4, $5, $5)", 6 + 2 * i, 7 + 2 * i))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "INSERT INTO secrets (id, tenant_id, group_id, name, current_version, created_by_user_id,
                                  created_by_email, created_at, updated_at) VALUES {rows}"
        );
        let mut insert = sqlx::query(AssertSqlSafe(sql))
            .bind(&actor.tenant_id)
            .bind(sealer.group_id())
            .bind(&actor.subject_id)
            .bind(&actor.slug)
            .bind(now);
        for (id, (name, _)) in ids.iter().zip(chunk) {
            insert = insert.bind(id).bind(*name);
        }
        insert.execute(&mut *conn).await.map_err(|e| {
            on_unique(e, || match chunk {
                [(name, _)] => format!("secret {name} already exists in the group"),
                _ => "a secret of one of these names already exists in the group".to_owned(),
            })
        })?;

        let rows = (0..chunk.len())
            .map(|i| format!("(${}, ${}, 1, ${}, $1)", 2 + 3 * i, 3 + 3 * i, 4 + 3 * i))
            .collect::<Vec<_>>();
        let sql = format!(
            "INSERT INTO secret_versions (id, secret_id, version, ciphertext, created_at) VALUES {}",
            rows.join(", ")
        );
        let mut insert = sqlx::query(AssertSqlSafe(sql)).bind(now);
        for (secret_id, (_, value)) in ids.iter().zip(chunk) {
            insert = insert.bind(new_id()).bind(secret_id).bind(sealer.seal(secret_id, 1, value)?);
        }
        insert.execute(&mut *conn).await?;
    }
    Ok(())
}

async fn insert_version(
    conn: &mut AnyConnection,
    sealer: &Sealer<'_>,
    secret_id: &str,
    version: i64,
    value: &str,
    now: i64,
) -> StoreResult<()> {
    let ciphertext = sealer.seal(secret_id, version, value)?;
    sqlx::query(
        "INSERT INTO secret_versions (id, secret_id, version, ciphertext, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(new_id())
    .bind(secret_id)
    .bind(version)
    .bind(ciphertext)
    .bind(now)
    .execute(conn)
    .await
    .map_err(|e| on_unique(e, || "the secret changed concurrently; retry".to_owned()))?;
    Ok(())
}

/// Whether the group exists in the tenant.
pub async fn exists(db: &Db, tenant_id: &str, id: &str) -> StoreResult<bool> {
    if !is_storable(id) {
        return Ok(false);
    }
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM secret_groups WHERE id = $1 AND tenant_id = $2")
        .bind(id)
        .bind(tenant_id)
        .fetch_one(db.pool())
        .await?;
    Ok(n > 0)
}
