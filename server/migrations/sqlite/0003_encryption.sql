-- Envelope encryption (see server/src/crypto). Master keys (KEKs) never enter the database: only
-- their ids, which are derived from the keys (a wrong key has another id, so it is detected
-- before anything is served). Every secret group has a random data key, stored here wrapped by
-- a master key; values are sealed with their group's data key.

CREATE TABLE master_keys (
    -- 16 hex characters derived from the key by HMAC; not usable to recover the key
    id          TEXT PRIMARY KEY,
    -- 'active' (wraps new data keys; exactly one), 'previous' (being rotated out), 'retired'
    state       TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    retired_at  BIGINT
);
CREATE UNIQUE INDEX master_keys_one_active ON master_keys (state) WHERE state = 'active';

CREATE TABLE data_keys (
    id          TEXT PRIMARY KEY,
    -- 'secret-group' (seals one group's values) or 'token-hmac' (keys the token hash)
    purpose     TEXT NOT NULL,
    group_id    TEXT UNIQUE REFERENCES secret_groups (id) ON DELETE CASCADE,
    -- the master key that wrapped it
    kek_id      TEXT NOT NULL,
    wrapped     BLOB NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX data_keys_kek ON data_keys (kek_id);
CREATE UNIQUE INDEX data_keys_one_token_key ON data_keys (purpose) WHERE purpose = 'token-hmac';

-- Values move from clear text to `ciphertext`. Rows written before this migration keep their
-- text in `legacy_value` until the first start with a key seals them and clears it; SQLite
-- cannot relax NOT NULL in place, so the table is rebuilt.
CREATE TABLE secret_versions_sealed (
    id            TEXT PRIMARY KEY,
    secret_id     TEXT NOT NULL REFERENCES secrets (id) ON DELETE CASCADE,
    version       BIGINT NOT NULL,
    ciphertext    BLOB,
    legacy_value  TEXT,
    created_at    BIGINT NOT NULL,
    UNIQUE (secret_id, version)
);
INSERT INTO secret_versions_sealed (id, secret_id, version, legacy_value, created_at)
    SELECT id, secret_id, version, value, created_at FROM secret_versions;
DROP TABLE secret_versions;
ALTER TABLE secret_versions_sealed RENAME TO secret_versions;
