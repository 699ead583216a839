//! Master-key registry and wrapped data keys (`master_keys`, `data_keys`): registration at
//! start, the token-hash key, sealing values stored before encryption existed, and rotation.
//! The keys themselves stay in `crypto`; this module only moves wrapped bytes and ids, and must
//! not read the key file or decide what start-up does with what it reads (`crate::unlock`).

use sqlx::{AnyConnection, FromRow};

use super::{
    Backend, Db, Record, Row, StoreError, StoreResult, new_id, now_ms, on_unique, sealing::DataKeys, sqlx_from_row,
};
use crate::crypto::{
    DataKeyBinding, KeyBytes, StoredDataKey, ValueCipher,
    keyring::{Keyring, MasterKeys, TokenMac},
};

pub const STATE_ACTIVE: &str = "active";
/// Being rotated out: still wraps some data keys.
pub const STATE_PREVIOUS: &str = "previous";
pub const STATE_RETIRED: &str = "retired";

pub const PURPOSE_GROUP: &str = "secret-group";
pub const PURPOSE_TOKEN: &str = "token-hmac";

/// Rows sealed per transaction when converting values stored before encryption.
const LEGACY_BATCH: i64 = 500;

#[derive(Debug, Clone, FromRow)]
pub struct RegisteredKey {
    pub id: String,
    pub state: String,
    pub created_at: i64,
    pub retired_at: Option<i64>,
    /// Data keys it wraps now.
    pub data_keys: i64,
}

/// A wrapped data key as stored.
#[derive(Debug, Clone, FromRow)]
pub struct DataKeyRow {
    pub id: String,
    pub purpose: String,
    pub group_id: Option<String>,
    pub kek_id: String,
    pub wrapped: Vec<u8>,
}

/// A token hash from before hashes were keyed, by token id.
struct LegacyTokenHash {
    id: String,
    token_hash: String,
}

impl Record for LegacyTokenHash {
    fn from_row<R: Row>(row: &R) -> Result<Self, R::Error> {
        Ok(Self { id: row.get("id")?, token_hash: row.get("token_hash")? })
    }
}
sqlx_from_row!(LegacyTokenHash);

/// A value stored before values were sealed, with the ids its seal binds to: four text columns
/// that only their names tell apart.
struct LegacyValue {
    version_id: String,
    tenant_id: String,
    group_id: String,
    secret_id: String,
    version: i64,
    legacy_value: String,
}

impl Record for LegacyValue {
    fn from_row<R: Row>(row: &R) -> Result<Self, R::Error> {
        Ok(Self {
            version_id: row.get("version_id")?,
            tenant_id: row.get("tenant_id")?,
            group_id: row.get("group_id")?,
            secret_id: row.get("secret_id")?,
            version: row.get("version")?,
            legacy_value: row.get("legacy_value")?,
        })
    }
}
sqlx_from_row!(LegacyValue);

impl DataKeyRow {
    pub fn stored(&self) -> StoredDataKey<'_> {
        StoredDataKey {
            binding: DataKeyBinding { id: &self.id, purpose: &self.purpose, group_id: self.group_id.as_deref() },
            kek_id: &self.kek_id,
            wrapped: &self.wrapped,
        }
    }
}

pub async fn registered(db: &Db) -> StoreResult<Vec<RegisteredKey>> {
    Ok(sqlx::query_as(
        "SELECT m.id, m.state, m.created_at, m.retired_at,
                (SELECT COUNT(*) FROM data_keys d WHERE d.kek_id = m.id) AS data_keys
         FROM master_keys m ORDER BY m.created_at, m.id",
    )
    .fetch_all(db.pool())
    .await?)
}

/// Registers `id` as the active master key of a fresh database. Another process doing the same
/// at the same moment wins or loses cleanly: exactly one key becomes active.
pub async fn register_active(db: &Db, id: &str) -> StoreResult<()> {
    let mut wtx = db.begin_write().await?;
    let inserted = sqlx::query("INSERT INTO master_keys (id, state, created_at) VALUES ($1, $2, $3)")
        .bind(id)
        .bind(STATE_ACTIVE)
        .bind(now_ms())
        .execute(wtx.conn())
        .await;
    match inserted {
        Ok(_) => wtx.commit().await,
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(()),
        Err(e) => Err(e.into()),
    }
}

pub async fn active(db: &Db) -> StoreResult<Option<String>> {
    Ok(sqlx::query_scalar("SELECT id FROM master_keys WHERE state = $1")
        .bind(STATE_ACTIVE)
        .fetch_optional(db.pool())
        .await?)
}

/// The master keys that wrap at least one stored data key.
pub async fn kek_ids_in_use(db: &Db) -> StoreResult<Vec<String>> {
    Ok(sqlx::query_scalar("SELECT DISTINCT kek_id FROM data_keys").fetch_all(db.pool()).await?)
}

/// The active master key, read inside a write transaction that is about to wrap a data key
/// with it. On PostgreSQL the row is share-locked, so a rotation switching keys waits for this
/// transaction and cannot miss the data key it adds.
pub(crate) async fn active_in_tx(conn: &mut AnyConnection, backend: Backend) -> StoreResult<String> {
    let sql = match backend {
        Backend::Postgres => "SELECT id FROM master_keys WHERE state = $1 FOR SHARE",
        Backend::Sqlite => "SELECT id FROM master_keys WHERE state = $1",
    };
    // A rotation that committed while this waited for the lock leaves the old row no longer
    // active and the new one invisible to that statement: asking again sees the new one.
    for _ in 0..2 {
        let id: Option<String> = sqlx::query_scalar(sql).bind(STATE_ACTIVE).fetch_optional(&mut *conn).await?;
        if let Some(id) = id {
            return Ok(id);
        }
    }
    Err(StoreError::Corrupt("no active master key".to_owned()))
}

/// Creates the data key of a new group, wrapped by the active master key.
pub(crate) async fn create_group_key(
    conn: &mut AnyConnection,
    backend: Backend,
    cipher: &dyn ValueCipher,
    group_id: &str,
    now: i64,
) -> StoreResult<DataKeyRow> {
    let kek_id = active_in_tx(conn, backend).await?;
    let id = new_id();
    let binding = DataKeyBinding { id: &id, purpose: PURPOSE_GROUP, group_id: Some(group_id) };
    let wrapped = cipher.new_data_key(&kek_id, &binding)?;
    insert_data_key(conn, &id, PURPOSE_GROUP, Some(group_id), &kek_id, &wrapped, now).await?;
    Ok(DataKeyRow { id, purpose: PURPOSE_GROUP.to_owned(), group_id: Some(group_id.to_owned()), kek_id, wrapped })
}

async fn insert_data_key(
    conn: &mut AnyConnection,
    id: &str,
    purpose: &str,
    group_id: Option<&str>,
    kek_id: &str,
    wrapped: &[u8],
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO data_keys (id, purpose, group_id, kek_id, wrapped, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $6)",
    )
    .bind(id)
    .bind(purpose)
    .bind(group_id)
    .bind(kek_id)
    .bind(wrapped.to_vec())
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// The data key of a group.
pub(crate) async fn group_key(conn: &mut AnyConnection, group_id: &str) -> StoreResult<DataKeyRow> {
    let row: Option<DataKeyRow> =
        sqlx::query_as("SELECT id, purpose, group_id, kek_id, wrapped FROM data_keys WHERE group_id = $1")
            .bind(group_id)
            .fetch_optional(conn)
            .await?;
    row.ok_or_else(|| StoreError::Corrupt(format!("secret group {group_id} has no data key")))
}

/// The token-hash key, unwrapped; created on first use. Creating it converts the plain SHA-256
/// token hashes stored before it existed to keyed ones in the same transaction, so every hash
/// in the table is always of one kind.
pub async fn token_key(db: &Db, masters: &MasterKeys) -> anyhow::Result<KeyBytes> {
    for _ in 0..2 {
        let row: Option<DataKeyRow> =
            sqlx::query_as("SELECT id, purpose, group_id, kek_id, wrapped FROM data_keys WHERE purpose = $1")
                .bind(PURPOSE_TOKEN)
                .fetch_optional(db.pool())
                .await?;
        if let Some(row) = row {
            return Ok(masters.unwrap_key(&row.stored())?);
        }
        let mut wtx = db.begin_write().await?;
        let kek_id = active_in_tx(wtx.conn(), db.backend()).await?;
        let id = new_id();
        let binding = DataKeyBinding { id: &id, purpose: PURPOSE_TOKEN, group_id: None };
        let (key, wrapped) = masters.new_wrapped_key(&kek_id, &binding)?;
        match insert_data_key(wtx.conn(), &id, PURPOSE_TOKEN, None, &kek_id, &wrapped, now_ms()).await {
            // Another replica created it first: use theirs.
            Err(StoreError::Database(sqlx::Error::Database(e))) if e.is_unique_violation() => continue,
            result => result?,
        }
        let mac = TokenMac::new(&key)?;
        let legacy: Vec<LegacyTokenHash> =
            sqlx::query_as("SELECT id, token_hash FROM access_tokens").fetch_all(wtx.conn()).await?;
        for LegacyTokenHash { id: token_id, token_hash: old } in legacy {
            let Some(sha256) = unhex32(&old) else {
                return Err(StoreError::Corrupt(format!("token {token_id} has a malformed hash")).into());
            };
            sqlx::query("UPDATE access_tokens SET token_hash = $1 WHERE id = $2")
                .bind(mac.hash(&sha256))
                .bind(&token_id)
                .execute(wtx.conn())
                .await?;
        }
        wtx.commit().await?;
        return Ok(key);
    }
    anyhow::bail!("cannot create or read the token-hash key")
}

fn unhex32(text: &str) -> Option<[u8; 32]> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let nibble = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks(2).enumerate() {
        out[i] = nibble(pair[0])? << 4 | nibble(pair[1])?;
    }
    Some(out)
}

/// Seals values written before encryption existed (`legacy_value`), in batches, giving each
/// group without one a data key first. On SQLite the file is then vacuumed and the WAL
/// truncated, so the clear text does not linger in free pages. Returns how many were sealed.
pub async fn seal_legacy_values(db: &Db, keyring: &Keyring) -> anyhow::Result<u64> {
    let mut sealed = 0u64;
    loop {
        let mut wtx = db.begin_write().await?;
        let conn = wtx.conn();
        let keyless: Vec<String> = sqlx::query_scalar(
            "SELECT g.id FROM secret_groups g WHERE NOT EXISTS (SELECT 1 FROM data_keys d WHERE d.group_id = g.id)
             LIMIT $1",
        )
        .bind(LEGACY_BATCH)
        .fetch_all(&mut *conn)
        .await?;
        for group_id in &keyless {
            create_group_key(conn, db.backend(), keyring, group_id, now_ms()).await?;
        }
        let rows: Vec<LegacyValue> = sqlx::query_as(
            "SELECT v.id AS version_id, s.tenant_id, s.group_id, s.id AS secret_id, v.version, v.legacy_value
             FROM secret_versions v JOIN secrets s ON s.id = v.secret_id
             WHERE v.ciphertext IS NULL AND v.legacy_value IS NOT NULL LIMIT $1",
        )
        .bind(LEGACY_BATCH)
        .fetch_all(&mut *conn)
        .await?;
        if keyless.is_empty() && rows.is_empty() {
            // Ended now, not by the flusher later: the VACUUM below needs the write lock.
            wtx.rollback().await?;
            break;
        }
        // One key lookup and one unwrap per group of the batch, not one per row.
        let mut keys: std::collections::HashMap<&str, DataKeyRow> = std::collections::HashMap::new();
        let mut unwrapped = DataKeys::new(keyring);
        for LegacyValue { version_id, tenant_id, group_id, secret_id, version, legacy_value: value } in &rows {
            let value = zeroize::Zeroizing::new(value.clone());
            if !keys.contains_key(group_id.as_str()) {
                keys.insert(group_id, group_key(conn, group_id).await?);
            }
            let key = keys
                .get(group_id.as_str())
                .ok_or_else(|| StoreError::Internal(format!("data key of group {group_id} not kept")))?;
            let ciphertext = unwrapped.sealer(&key.stored(), tenant_id, group_id)?.seal(secret_id, *version, &value)?;
            sqlx::query("UPDATE secret_versions SET ciphertext = $1, legacy_value = NULL WHERE id = $2")
                .bind(ciphertext)
                .bind(version_id)
                .execute(&mut *conn)
                .await?;
        }
        wtx.commit().await?;
        sealed += rows.len() as u64;
    }
    if sealed > 0 && db.backend() == Backend::Sqlite {
        sqlx::query("VACUUM").execute(db.pool()).await?;
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(db.pool()).await?;
    }
    Ok(sealed)
}

/// Makes `new_id` the active master key; the one active before becomes `previous`.
/// Running it again with the same key (after an interrupted rotation) changes nothing.
pub async fn activate(db: &Db, new_id: &str) -> StoreResult<()> {
    let mut wtx = db.begin_write().await?;
    let now = now_ms();
    sqlx::query("UPDATE master_keys SET state = $1 WHERE state = $2 AND id <> $3")
        .bind(STATE_PREVIOUS)
        .bind(STATE_ACTIVE)
        .bind(new_id)
        .execute(wtx.conn())
        .await?;
    let updated = sqlx::query("UPDATE master_keys SET state = $1, retired_at = NULL WHERE id = $2")
        .bind(STATE_ACTIVE)
        .bind(new_id)
        .execute(wtx.conn())
        .await?;
    if updated.rows_affected() == 0 {
        sqlx::query("INSERT INTO master_keys (id, state, created_at) VALUES ($1, $2, $3)")
            .bind(new_id)
            .bind(STATE_ACTIVE)
            .bind(now)
            .execute(wtx.conn())
            .await
            .map_err(|e| on_unique(e, || format!("master key {new_id} is already registered")))?;
    }
    wtx.commit().await
}

/// Data keys not yet wrapped by `kek_id`.
pub async fn count_not_wrapped_by(db: &Db, kek_id: &str) -> StoreResult<i64> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM data_keys WHERE kek_id <> $1")
        .bind(kek_id)
        .fetch_one(db.pool())
        .await?)
}

/// Re-wraps up to `batch` data keys not yet wrapped by `kek_id` with it, in one short
/// transaction; returns how many. The data keys themselves do not change, so values sealed
/// with them stay readable throughout, and readers never wait on more than one batch.
pub async fn rewrap_batch(db: &Db, masters: &MasterKeys, kek_id: &str, batch: i64) -> anyhow::Result<u64> {
    let new_master = masters.get(kek_id)?;
    let mut wtx = db.begin_write().await?;
    let rows: Vec<DataKeyRow> = sqlx::query_as(
        "SELECT id, purpose, group_id, kek_id, wrapped FROM data_keys WHERE kek_id <> $1 ORDER BY id LIMIT $2",
    )
    .bind(kek_id)
    .bind(batch)
    .fetch_all(wtx.conn())
    .await?;
    let now = now_ms();
    let mut done = 0u64;
    for row in &rows {
        let key = masters.unwrap_key(&row.stored())?;
        let wrapped = new_master.wrap(&key, &row.stored().binding)?;
        // Only if nobody changed the row since it was read (PostgreSQL runs writers concurrently).
        let updated = sqlx::query(
            "UPDATE data_keys SET kek_id = $1, wrapped = $2, updated_at = $3 WHERE id = $4 AND kek_id = $5",
        )
        .bind(kek_id)
        .bind(wrapped)
        .bind(now)
        .bind(&row.id)
        .bind(&row.kek_id)
        .execute(wtx.conn())
        .await?;
        done += updated.rows_affected();
    }
    wtx.commit().await?;
    Ok(done)
}

/// Marks every `previous` master key that no data key uses any more as retired.
pub async fn retire_unused(db: &Db) -> StoreResult<Vec<String>> {
    let mut wtx = db.begin_write().await?;
    let retired: Vec<String> = sqlx::query_scalar(
        "UPDATE master_keys SET state = $1, retired_at = $2
         WHERE state = $3 AND NOT EXISTS (SELECT 1 FROM data_keys d WHERE d.kek_id = master_keys.id)
         RETURNING id",
    )
    .bind(STATE_RETIRED)
    .bind(now_ms())
    .bind(STATE_PREVIOUS)
    .fetch_all(wtx.conn())
    .await?;
    wtx.commit().await?;
    Ok(retired)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_hashes_convert_to_bytes() {
        let hex = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(crate::crypto::hex(&unhex32(hex).unwrap()), hex);
        assert!(unhex32("zz").is_none());
        assert!(unhex32(&"g".repeat(64)).is_none());
    }
}
