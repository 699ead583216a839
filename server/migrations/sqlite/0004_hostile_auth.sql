-- Readiness write probe and retired team names (issue 12).

-- One row that `/readyz` rewrites (at most once a second): a database that cannot take writes
-- (disk full, read-only, locked) is not ready, even though it still answers reads.
CREATE TABLE health_probe (
    id         BIGINT PRIMARY KEY,
    probed_at  BIGINT NOT NULL
);
INSERT INTO health_probe (id, probed_at) VALUES (1, 0);

-- Names of deleted teams. Only a tenant admin may create a team under one of them: a group
-- manifest re-applied later that names `team:<name>` must not grant its role to whoever
-- re-created the name.
CREATE TABLE retired_team_names (
    tenant_id   TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    retired_at  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, name)
);
