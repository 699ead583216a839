-- Teams, virtual accounts and per-group roles (issue 4).

CREATE TABLE teams (
    id               TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name             TEXT NOT NULL,
    description      TEXT NOT NULL,
    -- the team's manifest as JSON text
    manifest         TEXT NOT NULL,
    created_by_id    TEXT NOT NULL,
    created_by_slug  TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    UNIQUE (tenant_id, name)
);
CREATE INDEX teams_tenant_order ON teams (tenant_id, created_at, id);

CREATE TABLE team_members (
    team_id  TEXT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    user_id  TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- 'member' or 'manager'; both count as belonging to the team for group roles
    role     TEXT NOT NULL,
    PRIMARY KEY (team_id, user_id, role)
);
CREATE INDEX team_members_user ON team_members (user_id);

CREATE TABLE virtual_accounts (
    id               TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name             TEXT NOT NULL,
    manifest         TEXT NOT NULL,
    -- end of the expiration day (epoch ms), or NULL for never
    expires_at       BIGINT,
    created_by_id    TEXT NOT NULL,
    created_by_slug  TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    UNIQUE (tenant_id, name)
);
CREATE INDEX virtual_accounts_tenant_order ON virtual_accounts (tenant_id, created_at, id);

-- A virtual account's roles on groups. Bound to the group's id: a permission ends with its
-- group and never passes to a new group of the same name.
CREATE TABLE virtual_account_permissions (
    virtual_account_id  TEXT NOT NULL REFERENCES virtual_accounts (id) ON DELETE CASCADE,
    group_id            TEXT NOT NULL REFERENCES secret_groups (id) ON DELETE CASCADE,
    position            BIGINT NOT NULL,
    role_id             TEXT NOT NULL,
    PRIMARY KEY (virtual_account_id, group_id)
);
CREATE INDEX virtual_account_permissions_group ON virtual_account_permissions (group_id);

-- The collaborators of each group's manifest, resolved to the user, team or virtual account they
-- name when the manifest is stored. Deleting that user, team or account ends the role (the row
-- goes with it), and a new one of the same name does not inherit it. The manifest a group shows
-- is rebuilt from these rows, so it always says who really holds a role.
CREATE TABLE group_collaborators (
    group_id            TEXT NOT NULL REFERENCES secret_groups (id) ON DELETE CASCADE,
    position            BIGINT NOT NULL,
    -- as written: 'user:<email>', 'team:<name>' or 'virtualaccount:<name>'
    subject             TEXT NOT NULL,
    role_id             TEXT NOT NULL,
    user_id             TEXT REFERENCES users (id) ON DELETE CASCADE,
    team_id             TEXT REFERENCES teams (id) ON DELETE CASCADE,
    virtual_account_id  TEXT REFERENCES virtual_accounts (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, subject)
);
CREATE INDEX group_collaborators_user ON group_collaborators (user_id);
CREATE INDEX group_collaborators_team ON group_collaborators (team_id);
CREATE INDEX group_collaborators_virtual_account ON group_collaborators (virtual_account_id);

-- Existing groups name only users (teams and virtual accounts are new).
INSERT INTO group_collaborators (group_id, position, subject, role_id, user_id)
SELECT g.id, c.ordinality, c.value ->> 'subject', c.value ->> 'role_id', u.id
FROM secret_groups g
CROSS JOIN LATERAL jsonb_array_elements(COALESCE(g.manifest::jsonb -> 'collaborators', '[]'::jsonb))
    WITH ORDINALITY AS c(value, ordinality)
JOIN users u ON u.tenant_id = g.tenant_id AND 'user:' || u.email = c.value ->> 'subject'
ON CONFLICT DO NOTHING;

-- Tokens now belong to a user or to a virtual account.
ALTER TABLE access_tokens ALTER COLUMN user_id DROP NOT NULL;
ALTER TABLE access_tokens ADD COLUMN virtual_account_id TEXT REFERENCES virtual_accounts (id) ON DELETE CASCADE;
ALTER TABLE access_tokens ADD CONSTRAINT access_tokens_owner CHECK ((user_id IS NULL) <> (virtual_account_id IS NULL));
CREATE INDEX access_tokens_user ON access_tokens (user_id, created_at);
CREATE INDEX access_tokens_virtual_account ON access_tokens (virtual_account_id);

-- Users change (deactivation, role); NULL until the first change.
ALTER TABLE users ADD COLUMN updated_at BIGINT;
