//! The audit trail's reads and batch writes: appending many events in one transaction, the
//! API's list, `audit verify` and `audit prune`.
//!
//! It owns the SQL over `audit_events`, `audit_chains` and `audit_anchors` outside a write's
//! own transaction (which `audit_chain` appends to); it must not know requests or HTTP.

use sqlx::AnyConnection;

use super::{
    Db, ListQuery, audit_chain,
    error::{StoreError, StoreResult},
    like_contains,
    page::PageRequest,
    reader,
    row::{Record, Row},
};
use crate::{audit::event::Event, authz::TenantAdmin};

impl Record for Event {
    fn from_row<R: Row>(row: &R) -> Result<Self, R::Error> {
        Ok(Self {
            id: row.get("id")?,
            tenant_id: row.get("tenant_id")?,
            chain: row.get("chain")?,
            seq: row.get("seq")?,
            at: row.get("at")?,
            request_id: row.get("request_id")?,
            action: row.get("action")?,
            actor_type: row.get("actor_type")?,
            actor_id: row.get("actor_id")?,
            actor_name: row.get("actor_name")?,
            source: row.get("source")?,
            resources: row.get("resources")?,
            status_code: row.get("status_code")?,
            changes: row.get("changes")?,
            prev_hash: row.get("prev_hash")?,
            hash: row.get("hash")?,
        })
    }
}

/// Appends `events` in one transaction (one commit, one fsync for all of them), one random lane
/// per tenant, heads locked in chain order, each head locked and updated once; answers them with
/// their chain fields set. On a SQLite file the transaction runs on the synchronous writer, as
/// the only writer of the process (`Db::exclusive_inline`), so a batch is one thread hand-off
/// rather than one per statement: readers wait for it, every event of the batch in the balance.
pub async fn append_all(db: &Db, mut events: Vec<Event>) -> StoreResult<Vec<Event>> {
    let mut lanes: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    for event in events.iter_mut() {
        let chain = lanes.entry(event.tenant_id.clone()).or_insert_with(|| audit_chain::pick_chain(&event.tenant_id));
        event.chain = chain.clone();
    }
    // Stable: the events of one chain keep their order.
    events.sort_by(|a, b| a.chain.cmp(&b.chain));
    if db.writes_inline() {
        let appended = db
            .exclusive_inline(move |conn| {
                let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                for run in events.chunk_by_mut(|a, b| a.chain == b.chain) {
                    audit_chain::append_run_inline(&tx, run)?;
                }
                tx.commit()?;
                Ok(events)
            })
            .await;
        return appended.unwrap_or_else(|| Err(StoreError::Internal("no synchronous writer".to_owned())));
    }
    let mut wtx = db.begin_write().await?;
    for run in events.chunk_by_mut(|a, b| a.chain == b.chain) {
        audit_chain::append_run(wtx.conn(), db.backend(), run).await?;
    }
    wtx.commit().await?;
    Ok(events)
}

/// Filters of the API's list; every field narrows it.
#[derive(Debug, Default)]
pub struct AuditFilter {
    pub action: Option<String>,
    pub actor: Option<String>,
    pub resource_fqn: Option<String>,
    pub status_code: Option<i64>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
}

/// One page of the admin's tenant's events, newest first; a long read (it scans, within the
/// page's bounds).
pub async fn list(
    db: &Db,
    admin: &TenantAdmin,
    filter: &AuditFilter,
    page: PageRequest,
) -> StoreResult<(i64, Vec<Event>)> {
    let tenant_id = admin.tenant_id();
    let mut conditions = vec!["e.tenant_id = $1".to_owned()];
    let mut binds = vec![tenant_id.to_owned()];
    let mut push = |condition: &str, bind: String| {
        binds.push(bind);
        conditions.push(condition.replace('?', &format!("${}", binds.len())));
    };
    if let Some(action) = &filter.action {
        push("e.action = ?", action.clone());
    }
    if let Some(actor) = &filter.actor {
        push("e.actor_name = ?", actor.clone());
    }
    if let Some(fqn) = &filter.resource_fqn {
        // The exact FQN as a JSON string in the resources array (FQNs hold no character JSON
        // escapes); LIKE's own wildcards in it are escaped.
        let quoted = serde_json::to_string(fqn).unwrap_or_default();
        let pattern = like_contains(&format!("\"fqn\":{quoted}"));
        push("LOWER(e.resources) LIKE ? ESCAPE '\\'", pattern);
    }
    if let Some(status) = filter.status_code {
        push("e.status_code = CAST(? AS BIGINT)", status.to_string());
    }
    if let Some(since) = filter.since_ms {
        push("e.at >= CAST(? AS BIGINT)", since.to_string());
    }
    if let Some(until) = filter.until_ms {
        push("e.at <= CAST(? AS BIGINT)", until.to_string());
    }
    let filter = conditions.join(" AND ");
    let query = ListQuery {
        key: "e.id",
        from: "FROM audit_events e",
        select: "SELECT e.* FROM audit_events e",
        filter: &filter,
        order: "e.at DESC, e.id DESC",
        binds: &binds,
    };
    reader::read(db, Some(page.bounds), async |reader| query.page(reader, page.limit, page.offset).await).await
}

/// The first event of a chain that does not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub chain: String,
    pub seq: i64,
    /// The stored event's id ('' when the event is missing).
    pub id: String,
    pub problem: String,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "chain {} seq {} (event {}): {}", self.chain, self.seq, self.id, self.problem)
    }
}

/// What [`verify`] found: events checked, and the first mismatch of each broken chain.
#[derive(Debug, Default)]
pub struct Verified {
    pub chains: usize,
    pub events: u64,
    pub mismatches: Vec<Mismatch>,
}

/// Events read per query while verifying.
const VERIFY_PAGE: i64 = 5_000;

/// Recomputes every chain (of `tenant_id`, or all), from its prune anchor when it has one.
pub async fn verify(db: &Db, tenant_id: Option<&str>) -> StoreResult<Verified> {
    let mut conn = db.pool().acquire().await?;
    let heads: Vec<(String, i64, String)> = match tenant_id {
        Some(tenant) => {
            sqlx::query_as("SELECT chain, last_seq, last_hash FROM audit_chains WHERE tenant_id = $1 ORDER BY chain")
                .bind(tenant)
                .fetch_all(&mut *conn)
                .await?
        }
        None => {
            sqlx::query_as("SELECT chain, last_seq, last_hash FROM audit_chains ORDER BY chain")
                .fetch_all(&mut *conn)
                .await?
        }
    };
    let mut verified = Verified { chains: heads.len(), ..Verified::default() };
    for (chain, last_seq, last_hash) in &heads {
        if let Some(mismatch) = verify_chain(&mut conn, chain, *last_seq, last_hash, &mut verified.events).await? {
            verified.mismatches.push(mismatch);
        }
    }
    // Events of a chain whose head is gone cannot be verified at all.
    let orphans: Vec<(String,)> = sqlx::query_as(
        "SELECT DISTINCT e.chain FROM audit_events e LEFT JOIN audit_chains c ON c.chain = e.chain
         WHERE c.chain IS NULL",
    )
    .fetch_all(&mut *conn)
    .await?;
    for (chain,) in orphans {
        if tenant_id.is_none_or(|tenant| chain.starts_with(&format!("{tenant}/"))) {
            let problem = "the chain's head row is missing".to_owned();
            verified.mismatches.push(Mismatch { chain, seq: 0, id: String::new(), problem });
        }
    }
    Ok(verified)
}

async fn verify_chain(
    conn: &mut AnyConnection,
    chain: &str,
    last_seq: i64,
    last_hash: &str,
    count: &mut u64,
) -> StoreResult<Option<Mismatch>> {
    let anchor: Option<(i64, String)> = sqlx::query_as("SELECT seq, hash FROM audit_anchors WHERE chain = $1")
        .bind(chain)
        .fetch_optional(&mut *conn)
        .await?;
    let (mut seq, mut prev) = anchor.unwrap_or((0, String::new()));
    let broken = |seq: i64, id: &str, problem: &str| {
        Some(Mismatch { chain: chain.to_owned(), seq, id: id.to_owned(), problem: problem.to_owned() })
    };
    loop {
        let events: Vec<Event> =
            sqlx::query_as("SELECT * FROM audit_events WHERE chain = $1 AND seq > $2 ORDER BY seq LIMIT $3")
                .bind(chain)
                .bind(seq)
                .bind(VERIFY_PAGE)
                .fetch_all(&mut *conn)
                .await?;
        let full_page = events.len() as i64 == VERIFY_PAGE;
        for event in &events {
            *count += 1;
            if event.seq != seq + 1 {
                return Ok(broken(seq + 1, "", &format!("missing (the next stored event is seq {})", event.seq)));
            }
            if event.prev_hash != prev {
                return Ok(broken(event.seq, &event.id, "its previous hash is not the previous event's hash"));
            }
            if event.compute_hash() != event.hash {
                return Ok(broken(event.seq, &event.id, "its content does not match its hash"));
            }
            (seq, prev) = (event.seq, event.hash.clone());
        }
        // A short page was the chain's end: no query more to find it empty.
        if !full_page {
            break;
        }
    }
    if seq != last_seq || prev != last_hash {
        return Ok(broken(seq + 1, "", &format!("missing: the chain's head is at seq {last_seq}")));
    }
    Ok(None)
}

/// Deletes every event older than `before_ms` from the start of each chain, and records where
/// each chain now starts (an anchor: seq and hash of the last deleted event), so what is left
/// still verifies. Returns the number of events deleted.
pub async fn prune(db: &Db, before_ms: i64) -> StoreResult<u64> {
    let chains: Vec<(String,)> =
        sqlx::query_as("SELECT chain FROM audit_chains ORDER BY chain").fetch_all(db.pool()).await?;
    let mut deleted = 0;
    for (chain,) in chains {
        let mut wtx = db.begin_write().await?;
        let conn = wtx.conn();
        // A chain is pruned up to its first event at or after the date (times of concurrent
        // appends may interleave slightly; the chain's order is its seq).
        let first_kept: Option<i64> =
            sqlx::query_scalar("SELECT MIN(seq) FROM audit_events WHERE chain = $1 AND at >= $2")
                .bind(&chain)
                .bind(before_ms)
                .fetch_one(&mut *conn)
                .await?;
        let cut: Option<(i64, String)> = sqlx::query_as(
            "SELECT seq, hash FROM audit_events WHERE chain = $1 AND seq < $2 ORDER BY seq DESC LIMIT 1",
        )
        .bind(&chain)
        .bind(first_kept.unwrap_or(i64::MAX))
        .fetch_optional(&mut *conn)
        .await?;
        let Some((seq, hash)) = cut else { continue };
        let gone = sqlx::query("DELETE FROM audit_events WHERE chain = $1 AND seq <= $2")
            .bind(&chain)
            .bind(seq)
            .execute(&mut *conn)
            .await?;
        sqlx::query(
            "INSERT INTO audit_anchors (chain, seq, hash) VALUES ($1, $2, $3)
             ON CONFLICT (chain) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
        )
        .bind(&chain)
        .bind(seq)
        .bind(&hash)
        .execute(&mut *conn)
        .await?;
        wtx.commit().await?;
        deleted += gone.rows_affected();
    }
    Ok(deleted)
}
