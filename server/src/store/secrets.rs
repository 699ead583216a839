//! Reading and deleting single secrets. Secrets are created and changed only through their group
//! (see `groups.rs`), as in TrueFoundry's API.
//!
//! It must not decide who may read (a handler authorizes against a [`SealedSecret`] before
//! anything is opened, and opening takes authz's proof for the secret's group; lists take
//! authz's visibility proof, whose action says whether values are listed) nor unwrap keys
//! itself (`sealing`).

use super::{
    Backend, Db, ListQuery, Reader, Record, Row, StoreError, StoreResult, access,
    groups::{SecretRow, Visibility, select_secrets},
    is_storable,
    keys::{self, DataKeyRow},
    now_ms,
    page::{Budget, MAX_PAGE_VALUE_BYTES, Page, PageRequest},
    reader,
    sealing::{DataKeys, Sealer},
};
use crate::{
    authz::{Authorized, Group, ListValues, ReadValues, Secret, Visible, WriteSecrets},
    crypto::ValueCipher,
    sensitive::SecretString,
};

/// One version of a secret, its value opened.
#[derive(Debug, Clone)]
pub struct VersionRow {
    pub id: String,
    pub version: i64,
    pub value: SecretString,
    pub created_at: i64,
}

/// A group's data key from the columns of `LEFT JOIN data_keys d`; `None` when they are NULL.
fn group_data_key(
    group_id: &str,
    id: Option<String>,
    kek_id: Option<String>,
    wrapped: Option<Vec<u8>>,
) -> Option<DataKeyRow> {
    Some(DataKeyRow {
        id: id?,
        purpose: keys::PURPOSE_GROUP.to_owned(),
        group_id: Some(group_id.to_owned()),
        kek_id: kek_id?,
        wrapped: wrapped?,
    })
}

/// Every group has a data key; a secret whose group has none is in a corrupt store.
fn no_data_key(secret: &SecretRow) -> StoreError {
    StoreError::Corrupt(format!("secret group {} has no data key", secret.group_id))
}

/// One row of [`get`]'s query: the secret, its group's data key and one of its versions.
struct SecretVersionRow {
    secret: SecretRow,
    tenant_id: String,
    key_id: Option<String>,
    kek_id: Option<String>,
    wrapped: Option<Vec<u8>>,
    version_id: String,
    version: i64,
    ciphertext: Option<Vec<u8>>,
    version_created_at: i64,
}

/// A secret as stored, with every version still sealed: what a handler authorizes against
/// before anything is decrypted.
pub struct SealedSecret {
    secret: SecretRow,
    tenant_id: String,
    key: Option<DataKeyRow>,
    versions: Vec<(String, i64, Option<Vec<u8>>, i64)>,
}

impl SealedSecret {
    pub fn group_id(&self) -> &str {
        &self.secret.group_id
    }

    /// The secret with its current value and all its versions, oldest first, opened, under
    /// authz's proof that the caller may read the values of the secret's group. One value that
    /// does not open fails the whole read.
    pub fn open(
        self,
        group: &Authorized<Group, ReadValues>,
        cipher: &dyn ValueCipher,
    ) -> StoreResult<(SecretRow, Vec<VersionRow>)> {
        let Self { mut secret, tenant_id, key, versions } = self;
        if group.id() != secret.group_id || group.tenant_id() != tenant_id {
            return Err(StoreError::Internal(format!(
                "a proof for group {} cannot open a secret of group {}",
                group.id(),
                secret.group_id
            )));
        }
        let key = key.ok_or_else(|| no_data_key(&secret))?;
        let sealer = Sealer::new(cipher, &key.stored(), &tenant_id, &secret.group_id)?;
        let mut opened = Vec::with_capacity(versions.len());
        for (id, version, ciphertext, created_at) in versions {
            let value = sealer.open(&secret.id, version, ciphertext.as_deref())?;
            opened.push(VersionRow { id, version, value, created_at });
        }
        let current = opened
            .iter()
            .find(|v| v.version == secret.current_version)
            .ok_or_else(|| StoreError::Corrupt(format!("secret {} has no current version", secret.id)))?;
        secret.value = Some(current.value.clone());
        Ok((secret, opened))
    }
}

/// A secret with its current value still sealed, and its group's data key.
struct SealedSecretRow {
    secret: SecretRow,
    tenant_id: String,
    ciphertext: Option<Vec<u8>>,
    key_id: Option<String>,
    kek_id: Option<String>,
    wrapped: Option<Vec<u8>>,
}

impl SealedSecretRow {
    /// The secret with its value opened, with the data keys of this request.
    fn open(self, keys: &mut DataKeys<'_>) -> StoreResult<SecretRow> {
        let Self { mut secret, tenant_id, ciphertext, key_id, kek_id, wrapped } = self;
        let key = group_data_key(&secret.group_id, key_id, kek_id, wrapped).ok_or_else(|| no_data_key(&secret))?;
        let value = keys.sealer(&key.stored(), &tenant_id, &secret.group_id)?.open(
            &secret.id,
            secret.current_version,
            ciphertext.as_deref(),
        )?;
        secret.value = Some(value);
        Ok(secret)
    }
}

/// Filters of the secret list; `None` means no filter.
#[derive(Debug, Default)]
pub struct SecretFilter {
    pub group_id: Option<String>,
    /// (group name, key) pairs in the caller's tenant; `Some(empty)` matches nothing.
    pub names: Option<Vec<(String, String)>>,
}

/// Secrets with their current value, sealed, and their group's data key.
macro_rules! select_secrets_with_values {
    () => {
        "SELECT s.id, s.group_id, g.name AS group_name, s.name, s.current_version,
                s.created_by_user_id, s.created_by_email, s.created_at, s.updated_at, s.tenant_id,
                v.ciphertext, d.id AS key_id, d.kek_id, d.wrapped
         FROM secrets s JOIN secret_groups g ON g.id = s.group_id
         JOIN secret_versions v ON v.secret_id = s.id AND v.version = s.current_version
         LEFT JOIN data_keys d ON d.group_id = s.group_id "
    };
}

impl SecretFilter {
    /// One group's secrets (at most 500) or named ones (at most 1,000), found over indexes and
    /// without values: a point read that never waits behind lists that scan. With values, the
    /// answer may be megabytes and is a long read like any other.
    pub fn is_point(&self, with_value: bool) -> bool {
        !with_value && (self.group_id.is_some() || self.names.is_some())
    }
}

/// The secrets `visible` lets the caller see, filtered by `filter`; with their current values
/// when `A` is [`ReadValues`] ([`ListValues`]).
pub async fn list<A: ListValues>(
    db: &Db,
    cipher: &dyn ValueCipher,
    visible: &Visible<A>,
    filter: &SecretFilter,
    page: PageRequest,
) -> StoreResult<Page<SecretRow>> {
    let (tenant_id, visibility, with_value) = (visible.tenant_id(), visible.filter(), A::WITH_VALUES);
    let empty = |total| Page { total, rows: Vec::new(), cut_short: false };
    if filter.group_id.as_deref().is_some_and(|id| !is_storable(id)) {
        return Err(StoreError::NotFound("secret group"));
    }
    let Some((filter_sql, binds)) = list_filter(db.backend(), tenant_id, filter, visibility)? else {
        // Nothing can match; only a missing group (404) is still to be told.
        if let Some(group_id) = &filter.group_id {
            reader::read(db, None, async |reader| group_exists(reader, tenant_id, group_id).await).await?;
        }
        return Ok(empty(0));
    };
    let mut query = ListQuery {
        key: "s.id",
        from: "FROM secrets s",
        select: select_secrets!(),
        filter: &filter_sql,
        order: "s.created_at, s.id",
        binds: &binds,
    };
    if with_value {
        query.select = select_secrets_with_values!();
    }
    let group_id = filter.group_id.as_deref();
    let (limit, offset) = (page.limit, page.offset);
    let long = (!filter.is_point(with_value)).then_some(page.bounds);
    reader::read(db, long, async |reader| {
        if let Some(group_id) = group_id {
            group_exists(reader, tenant_id, group_id).await?;
        }
        if !with_value {
            let (total, rows) = query.page::<SecretRow>(reader, limit, offset).await?;
            return Ok(Page { total, rows, cut_short: false });
        }
        let mut budget = Budget::new(MAX_PAGE_VALUE_BYTES);
        let sealed = query
            .page_within(reader, limit, offset, |row: &SealedSecretRow| {
                budget.take(row.ciphertext.as_ref().map_or(0, Vec::len))
            })
            .await?;
        open_all(sealed, cipher)
    })
    .await
}

/// The `WHERE` condition of the secret list and its binds (`$1` the tenant); `None` when no row
/// can match: every (group, key) pair named is one no row can hold (nor PostgreSQL bind).
fn list_filter(
    backend: Backend,
    tenant_id: &str,
    filter: &SecretFilter,
    visibility: Visibility<'_>,
) -> StoreResult<Option<(String, Vec<String>)>> {
    let names: Option<Vec<&(String, String)>> = filter
        .names
        .as_ref()
        .map(|names| names.iter().filter(|(group, key)| is_storable(group) && is_storable(key)).collect());
    if matches!(&names, Some(names) if names.is_empty()) {
        return Ok(None);
    }
    let mut conditions = vec!["s.tenant_id = $1".to_owned()];
    let mut binds = vec![tenant_id.to_owned()];
    if let Some((principal, roles)) = visibility {
        conditions.push(access::holds_role_condition(principal, roles, "s.group_id", &mut binds));
    }
    if let Some(group_id) = &filter.group_id {
        binds.push(group_id.clone());
        conditions.push(format!("s.group_id = ${}", binds.len()));
    }
    if let Some(names) = &names {
        let pairs = serde_json::to_string(names)
            .map_err(|e| StoreError::Invalid { field: "secretFqns".to_owned(), problem: e.to_string() })?;
        binds.push(pairs);
        conditions.push(names_condition(backend, binds.len()));
    }
    Ok(Some((conditions.join(" AND "), binds)))
}

/// `s.id` among the secrets the (group name, key) pairs of the JSON array bound at `$n` name in
/// the tenant (`$1`). One bind however many pairs: an `OR` per pair hits SQLite's expression-depth
/// limit (1,000) at about 500 pairs. The lookup is driven by the pairs through the unique
/// indexes (tenant, group name) and (group, key), so a short list stays cheap in a large tenant.
fn names_condition(backend: Backend, n: usize) -> String {
    match backend {
        Backend::Sqlite => format!(
            // CROSS JOIN fixes SQLite's join order: from the pairs, through the unique indexes
            // (without statistics it would rather walk every group of the tenant).
            "s.id IN (SELECT s2.id FROM json_each(${n}) j
                CROSS JOIN secret_groups g2 ON g2.tenant_id = $1 AND g2.name = json_extract(j.value, '$[0]')
                CROSS JOIN secrets s2 ON s2.group_id = g2.id AND s2.name = json_extract(j.value, '$[1]'))"
        ),
        Backend::Postgres => format!(
            "s.id IN (SELECT s2.id FROM jsonb_array_elements(CAST(${n} AS jsonb)) AS j(pair)
                JOIN secret_groups g2 ON g2.tenant_id = $1 AND g2.name = j.pair->>0
                JOIN secrets s2 ON s2.group_id = g2.id AND s2.name = j.pair->>1)"
        ),
    }
}

/// One value that does not open fails the whole list: never a page with a hole in it. Each
/// group's data key is unwrapped once for the page, however many of its values it holds.
fn open_all(sealed: Page<SealedSecretRow>, cipher: &dyn ValueCipher) -> StoreResult<Page<SecretRow>> {
    let mut keys = DataKeys::new(cipher);
    let rows = sealed.rows.into_iter().map(|row| row.open(&mut keys)).collect::<StoreResult<_>>()?;
    Ok(Page { total: sealed.total, rows, cut_short: sealed.cut_short })
}

/// `$1` a group's id, `$2` its tenant.
const GROUP_EXISTS: &str = "SELECT 1 AS found FROM secret_groups WHERE id = $1 AND tenant_id = $2";

/// Ok when the tenant has the group, else 404.
async fn group_exists(reader: &mut Reader<'_>, tenant_id: &str, group_id: &str) -> StoreResult<()> {
    let found: Option<Found> = reader.fetch_optional(GROUP_EXISTS, &[group_id.into(), tenant_id.into()]).await?;
    found.map(|_| ()).ok_or(StoreError::NotFound("secret group"))
}

/// The row of [`GROUP_EXISTS`].
struct Found;

impl Record for Found {
    fn from_row<R: Row>(row: &R) -> Result<Self, R::Error> {
        row.get::<i64>("found").map(|_| Self)
    }
}

impl Record for SealedSecretRow {
    /// The columns of `select_secrets_with_values!`.
    fn from_row<R: Row>(row: &R) -> Result<Self, R::Error> {
        Ok(Self {
            secret: SecretRow::from_row(row)?,
            tenant_id: row.get("tenant_id")?,
            ciphertext: row.get("ciphertext")?,
            key_id: row.get("key_id")?,
            kek_id: row.get("kek_id")?,
            wrapped: row.get("wrapped")?,
        })
    }
}

/// The secret with all its versions, sealed, in one query; open it with [`SealedSecret::open`].
pub async fn get(db: &Db, tenant_id: &str, id: &str) -> StoreResult<SealedSecret> {
    if !is_storable(id) {
        return Err(StoreError::NotFound("secret"));
    }
    // A point read: on SQLite cheaper on this thread than handed to a connection thread.
    let rows: Vec<SecretVersionRow> =
        reader::read(db, None, async |reader| reader.fetch_all(GET_SECRET, &[id.into(), tenant_id.into()]).await)
            .await?;
    let mut rows = rows.into_iter();
    let first = rows.next().ok_or(StoreError::NotFound("secret"))?;
    let key = group_data_key(&first.secret.group_id, first.key_id, first.kek_id, first.wrapped);
    let mut versions = vec![(first.version_id, first.version, first.ciphertext, first.version_created_at)];
    versions.extend(rows.map(|r| (r.version_id, r.version, r.ciphertext, r.version_created_at)));
    Ok(SealedSecret { secret: first.secret, tenant_id: first.tenant_id, key, versions })
}

/// [`get`]'s query: one row per version, `$1` the secret's id and `$2` its tenant.
const GET_SECRET: &str = "SELECT s.id, s.group_id, g.name AS group_name, s.name, s.current_version,
        s.created_by_user_id, s.created_by_email, s.created_at, s.updated_at, s.tenant_id,
        d.id AS key_id, d.kek_id, d.wrapped,
        v.id AS version_id, v.version, v.ciphertext, v.created_at AS version_created_at
    FROM secrets s JOIN secret_groups g ON g.id = s.group_id
    JOIN secret_versions v ON v.secret_id = s.id
    LEFT JOIN data_keys d ON d.group_id = s.group_id
    WHERE s.id = $1 AND s.tenant_id = $2
    ORDER BY v.version";

impl Record for SecretVersionRow {
    /// The columns of [`GET_SECRET`].
    fn from_row<R: Row>(row: &R) -> Result<Self, R::Error> {
        Ok(Self {
            secret: SecretRow::from_row(row)?,
            tenant_id: row.get("tenant_id")?,
            key_id: row.get("key_id")?,
            kek_id: row.get("kek_id")?,
            wrapped: row.get("wrapped")?,
            version_id: row.get("version_id")?,
            version: row.get("version")?,
            ciphertext: row.get("ciphertext")?,
            version_created_at: row.get("version_created_at")?,
        })
    }
}

/// Deletes the secret and its versions; the group's `updated_at` moves on.
pub async fn delete(db: &Db, secret: &Authorized<Secret, WriteSecrets>) -> StoreResult<()> {
    let (tenant_id, id) = (secret.tenant_id(), secret.id());
    if !is_storable(id) {
        return Err(StoreError::NotFound("secret"));
    }
    let mut wtx = db.begin_write().await?;
    let group_id: Option<String> =
        sqlx::query_scalar("DELETE FROM secrets WHERE id = $1 AND tenant_id = $2 RETURNING group_id")
            .bind(id)
            .bind(tenant_id)
            .fetch_optional(wtx.conn())
            .await?;
    let group_id = group_id.ok_or(StoreError::NotFound("secret"))?;
    sqlx::query("UPDATE secret_groups SET updated_at = $1 WHERE id = $2")
        .bind(now_ms())
        .bind(&group_id)
        .execute(wtx.conn())
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
