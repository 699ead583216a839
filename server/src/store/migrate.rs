//! Schema migrations, embedded in the binary and applied at start.
//!
//! Each backend has its own folder (`server/migrations/{sqlite,postgres}`) because DDL differs
//! between them over time; both define the same tables. Applied versions are recorded in
//! `sg_schema_migrations`. On PostgreSQL an advisory lock makes replicas that start together
//! apply each migration exactly once; on SQLite `BEGIN IMMEDIATE` does the same.
//!
//! It must not hold the SQL of reads and writes (the table modules do) nor open connections
//! (`connect` hands it a write transaction).

use super::{Backend, write::WriteTx};

struct Migration {
    version: i64,
    name: &'static str,
    sql: &'static str,
}

const SQLITE: &[Migration] = &[
    Migration { version: 1, name: "init", sql: include_str!("../../migrations/sqlite/0001_init.sql") },
    Migration {
        version: 2,
        name: "access_control",
        sql: include_str!("../../migrations/sqlite/0002_access_control.sql"),
    },
    Migration { version: 3, name: "encryption", sql: include_str!("../../migrations/sqlite/0003_encryption.sql") },
    Migration { version: 4, name: "hostile_auth", sql: include_str!("../../migrations/sqlite/0004_hostile_auth.sql") },
    Migration { version: 5, name: "audit", sql: include_str!("../../migrations/sqlite/0005_audit.sql") },
];

const POSTGRES: &[Migration] = &[
    Migration { version: 1, name: "init", sql: include_str!("../../migrations/postgres/0001_init.sql") },
    Migration {
        version: 2,
        name: "access_control",
        sql: include_str!("../../migrations/postgres/0002_access_control.sql"),
    },
    Migration { version: 3, name: "encryption", sql: include_str!("../../migrations/postgres/0003_encryption.sql") },
    Migration {
        version: 4,
        name: "hostile_auth",
        sql: include_str!("../../migrations/postgres/0004_hostile_auth.sql"),
    },
    Migration { version: 5, name: "audit", sql: include_str!("../../migrations/postgres/0005_audit.sql") },
];

/// Arbitrary constant naming this service's migration lock among PostgreSQL advisory locks.
const PG_LOCK_KEY: i64 = 0x5347_4d49_4752; // "SGMIGR"

/// Applies the migrations `backend` has not applied yet, in the write transaction `tx`.
pub async fn run(backend: Backend, mut tx: WriteTx) -> anyhow::Result<()> {
    let migrations = match backend {
        Backend::Sqlite => SQLITE,
        Backend::Postgres => POSTGRES,
    };
    if backend == Backend::Postgres {
        // Held until the transaction ends.
        sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(PG_LOCK_KEY).execute(tx.conn()).await?;
    }
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS sg_schema_migrations (
            version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
    )
    .execute(tx.conn())
    .await?;
    let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM sg_schema_migrations").fetch_all(tx.conn()).await?;
    for migration in migrations.iter().filter(|m| !applied.contains(&m.version)) {
        sqlx::raw_sql(migration.sql).execute(tx.conn()).await?;
        sqlx::query("INSERT INTO sg_schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)")
            .bind(migration.version)
            .bind(migration.name)
            .bind(super::now_ms())
            .execute(tx.conn())
            .await?;
        tracing::info!(version = migration.version, name = migration.name, "applied migration");
    }
    tx.commit().await?;
    Ok(())
}
