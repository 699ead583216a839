//! Appending audit events to their hash chain, inside the caller's transaction.
//!
//! A chain is `<tenant_id>/<lane>`: each tenant has [`LANES`] chains and every append picks one
//! at random, so concurrent writers (and replicas on one PostgreSQL) queue on a lane's head row
//! only a quarter as often as on one chain. The head row is locked (`FOR UPDATE`; SQLite has one
//! writer anyway) as the last thing a transaction does before it commits, after every data row
//! it changes, so no two transactions wait for each other in a circle; a batch of several
//! events locks its heads in chain order for the same reason.
//!
//! It owns the chain rule (seq, prev hash, head update); it must not begin or commit
//! transactions (`write`, `audit`) nor know requests (`crate::audit`).

use rand::Rng as _;
use sqlx::AnyConnection;

use super::{Backend, error::StoreResult};
use crate::audit::event::Event;

/// Chains per tenant.
pub const LANES: u32 = 4;

/// The chain for an event of `tenant_id` (`-` for none) on a random lane.
pub fn pick_chain(tenant_id: &str) -> String {
    let lane = rand::rng().random_range(0..LANES);
    let tenant = if tenant_id.is_empty() { "-" } else { tenant_id };
    format!("{tenant}/{lane}")
}

/// Appends a write's `event` to a chain of its tenant picked at random: next seq, previous hash,
/// own hash, the row, the head.
pub async fn append(conn: &mut AnyConnection, backend: Backend, event: &mut Event) -> StoreResult<()> {
    event.chain = pick_chain(&event.tenant_id);
    append_run(conn, backend, std::slice::from_mut(event)).await
}

/// Appends `events`, which all name the same chain, in order: the head locked and updated once,
/// the rows inserted with one statement per [`ROWS_PER_INSERT`] (a batch of reads is a few
/// statements, not three per event).
pub async fn append_run(conn: &mut AnyConnection, backend: Backend, events: &mut [Event]) -> StoreResult<()> {
    let Some(first) = events.first() else { return Ok(()) };
    let (chain, tenant_id) = (first.chain.clone(), first.tenant_id.clone());
    let (seq, hash) = lock_head(conn, backend, &chain, &tenant_id).await?;
    let (seq, hash) = link(events, seq, hash);
    for rows in events.chunks(ROWS_PER_INSERT) {
        insert(conn, rows).await?;
    }
    sqlx::query(UPDATE_HEAD).bind(seq).bind(&hash).bind(&chain).execute(&mut *conn).await?;
    Ok(())
}

/// Chains `events` after the head (`seq`, `hash`): each gets the next seq, the previous hash and
/// its own; answers the new head.
fn link(events: &mut [Event], mut seq: i64, mut hash: String) -> (i64, String) {
    for event in events.iter_mut() {
        seq += 1;
        event.seq = seq;
        event.prev_hash = std::mem::take(&mut hash);
        event.hash = event.compute_hash();
        hash.clone_from(&event.hash);
    }
    (seq, hash)
}

/// [`append_run`] on a synchronous SQLite connection inside its write transaction (the audit
/// appender's batches, `super::audit::append_all`): the same rule, statements prepared once and
/// run per event, which costs nothing here as no statement crosses to another thread.
pub fn append_run_inline(conn: &rusqlite::Connection, events: &mut [Event]) -> StoreResult<()> {
    let Some(first) = events.first() else { return Ok(()) };
    let (chain, tenant_id) = (first.chain.clone(), first.tenant_id.clone());
    conn.prepare_cached(CREATE_HEAD)?.execute((&chain, &tenant_id))?;
    let head: (i64, String) = conn
        .prepare_cached("SELECT last_seq, last_hash FROM audit_chains WHERE chain = ?1")?
        .query_row([&chain], |row| Ok((row.get("last_seq")?, row.get("last_hash")?)))?;
    let (seq, hash) = link(events, head.0, head.1);
    let placeholders: Vec<String> = (1..=COLUMNS).map(|column| format!("${column}")).collect();
    let mut insert = conn
        .prepare_cached(&format!("INSERT INTO audit_events ({EVENT_COLUMNS}) VALUES ({})", placeholders.join(", ")))?;
    for e in events.iter() {
        insert.execute(rusqlite::params![
            e.id,
            e.tenant_id,
            e.chain,
            e.seq,
            e.at,
            e.request_id,
            e.action,
            e.actor_type,
            e.actor_id,
            e.actor_name,
            e.source,
            e.resources,
            e.status_code,
            e.changes,
            e.prev_hash,
            e.hash
        ])?;
    }
    conn.prepare_cached(UPDATE_HEAD)?.execute((seq, &hash, &chain))?;
    Ok(())
}

/// Rows per INSERT: 16 binds each, well under SQLite's 32,766 and PostgreSQL's 65,535 binds.
const ROWS_PER_INSERT: usize = 256;
/// The columns of an event row, in the order both paths bind them.
const EVENT_COLUMNS: &str = "id, tenant_id, chain, seq, at, request_id, action, actor_type, actor_id, actor_name, \
                             source, resources, status_code, changes, prev_hash, hash";
const COLUMNS: usize = 16;
/// A chain's head on its first use. SQLite binds `$N` in the order they appear, which here is N
/// (as in [`UPDATE_HEAD`]), so rusqlite binds these by position as sqlx does by number.
const CREATE_HEAD: &str = "INSERT INTO audit_chains (chain, tenant_id, last_seq, last_hash) VALUES ($1, $2, 0, '')
     ON CONFLICT (chain) DO NOTHING";
const UPDATE_HEAD: &str = "UPDATE audit_chains SET last_seq = $1, last_hash = $2 WHERE chain = $3";

async fn insert(conn: &mut AnyConnection, events: &[Event]) -> StoreResult<()> {
    let rows: Vec<String> = (0..events.len())
        .map(|row| {
            let binds: Vec<String> = (1..=COLUMNS).map(|column| format!("${}", row * COLUMNS + column)).collect();
            format!("({})", binds.join(", "))
        })
        .collect();
    let sql = format!("INSERT INTO audit_events ({EVENT_COLUMNS}) VALUES {}", rows.join(", "));
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for event in events {
        query = query
            .bind(&event.id)
            .bind(&event.tenant_id)
            .bind(&event.chain)
            .bind(event.seq)
            .bind(event.at)
            .bind(&event.request_id)
            .bind(&event.action)
            .bind(&event.actor_type)
            .bind(&event.actor_id)
            .bind(&event.actor_name)
            .bind(&event.source)
            .bind(&event.resources)
            .bind(event.status_code)
            .bind(&event.changes)
            .bind(&event.prev_hash)
            .bind(&event.hash);
    }
    query.execute(&mut *conn).await?;
    Ok(())
}

/// The head of `chain`, locked until the transaction ends; created on first use.
async fn lock_head(
    conn: &mut AnyConnection,
    backend: Backend,
    chain: &str,
    tenant_id: &str,
) -> StoreResult<(i64, String)> {
    let select = match backend {
        Backend::Postgres => "SELECT last_seq, last_hash FROM audit_chains WHERE chain = $1 FOR UPDATE",
        Backend::Sqlite => "SELECT last_seq, last_hash FROM audit_chains WHERE chain = $1",
    };
    if let Some(head) = sqlx::query_as(select).bind(chain).fetch_optional(&mut *conn).await? {
        return Ok(head);
    }
    // Two first appends may race: one inserts, the other waits for it and then finds its row.
    sqlx::query(CREATE_HEAD).bind(chain).bind(tenant_id).execute(&mut *conn).await?;
    Ok(sqlx::query_as(select).bind(chain).fetch_one(&mut *conn).await?)
}
