-- The audit trail (issue 14): events in hash chains, the chains' heads, and prune anchors.

-- One row per audited request. `chain` is `<tenant_id>/<lane>` (`-/<lane>` for refusals with no
-- tenant: a 401 for an unknown token); `seq` counts from 1 in each chain. `hash` is
-- SHA-256(prev_hash || canonical bytes of the row without `hash`), hex; `prev_hash` is the
-- previous event's `hash` in the chain ('' for the first). `resources` and `changes` are JSON
-- kept as the exact text that was hashed. Times are epoch milliseconds. Never a value or token.
CREATE TABLE audit_events (
    id           TEXT NOT NULL,
    tenant_id    TEXT NOT NULL,
    chain        TEXT NOT NULL,
    seq          BIGINT NOT NULL,
    at           BIGINT NOT NULL,
    request_id   TEXT NOT NULL,
    action       TEXT NOT NULL,
    actor_type   TEXT NOT NULL,
    actor_id     TEXT NOT NULL,
    actor_name   TEXT NOT NULL,
    source       TEXT NOT NULL,
    resources    TEXT NOT NULL,
    status_code  BIGINT NOT NULL,
    changes      TEXT NOT NULL,
    prev_hash    TEXT NOT NULL,
    hash         TEXT NOT NULL,
    PRIMARY KEY (chain, seq)
);
CREATE UNIQUE INDEX audit_events_id ON audit_events (id);
-- The API's order (newest first, per tenant) and its most selective filters.
CREATE INDEX audit_events_tenant_at ON audit_events (tenant_id, at DESC, id DESC);
CREATE INDEX audit_events_tenant_actor ON audit_events (tenant_id, actor_name, at DESC);
CREATE INDEX audit_events_tenant_action ON audit_events (tenant_id, action, at DESC);

-- Each chain's head: the row an append locks (last in its transaction) to take the next seq.
CREATE TABLE audit_chains (
    chain      TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL,
    last_seq   BIGINT NOT NULL,
    last_hash  TEXT NOT NULL
);

-- Where `audit prune` left off in a chain: the seq and hash of the last deleted event, from
-- which `audit verify` continues.
CREATE TABLE audit_anchors (
    chain  TEXT PRIMARY KEY,
    seq    BIGINT NOT NULL,
    hash   TEXT NOT NULL
);
