-- Portable column types (TEXT, BIGINT) so the same queries run on SQLite and PostgreSQL through
-- sqlx's Any driver. Timestamps are Unix epoch milliseconds (UTC). Ids are UUIDv7 text, which
-- sorts by creation time; lists order by (created_at, id) so the order is total and stable.

CREATE TABLE tenants (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL
);

CREATE TABLE users (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    email           TEXT NOT NULL,
    -- 'tenant-admin' or 'tenant-member'
    tenant_role     TEXT NOT NULL,
    deactivated_at  BIGINT,
    created_at      BIGINT NOT NULL,
    UNIQUE (tenant_id, email)
);

-- Tokens are stored only as a hash of the token; the token itself is shown once at creation.
CREATE TABLE access_tokens (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT,
    revoked_at  BIGINT
);

CREATE TABLE secret_groups (
    id                  TEXT PRIMARY KEY,
    tenant_id           TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name                TEXT NOT NULL,
    integration_id      TEXT NOT NULL,
    -- the group's manifest as JSON text
    manifest            TEXT NOT NULL,
    created_by_user_id  TEXT NOT NULL,
    created_by_email    TEXT NOT NULL,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    UNIQUE (tenant_id, name)
);
CREATE INDEX secret_groups_tenant_order ON secret_groups (tenant_id, created_at, id);

CREATE TABLE secrets (
    id                  TEXT PRIMARY KEY,
    tenant_id           TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    group_id            TEXT NOT NULL REFERENCES secret_groups (id) ON DELETE CASCADE,
    name                TEXT NOT NULL,
    -- the version whose value is current; versions are 1, 2, 3, ...
    current_version     BIGINT NOT NULL,
    created_by_user_id  TEXT NOT NULL,
    created_by_email    TEXT NOT NULL,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    UNIQUE (group_id, name)
);
CREATE INDEX secrets_tenant_order ON secrets (tenant_id, created_at, id);
CREATE INDEX secrets_group_order ON secrets (group_id, created_at, id);

CREATE TABLE secret_versions (
    id          TEXT PRIMARY KEY,
    secret_id   TEXT NOT NULL REFERENCES secrets (id) ON DELETE CASCADE,
    version     BIGINT NOT NULL,
    value       TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    UNIQUE (secret_id, version)
);
