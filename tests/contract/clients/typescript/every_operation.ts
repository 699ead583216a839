// Calls every operation of openapi/secret-groups.yaml through openapi-fetch, typed by the
// `paths` that openapi-typescript generates from the document, against a running server, and
// asserts each answer.
//
// Run by scripts/contract/typescript-client.sh: it generates ./schema.d.ts next to a copy of this
// file, type-checks with `tsc --strict`, compiles, and runs the result with SG_URL and SG_TOKEN of
// a fresh server. `ALL_OPERATIONS` must name every operationId (the compiler checks it against the
// generated `operations`), and the run fails unless each of them was called.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";

import createClient from "openapi-fetch";

import type { components, operations, paths } from "./schema.js";

type OperationId = keyof operations;
type HttpError = components["schemas"]["HttpError"];
type SecretGroup = components["schemas"]["SecretGroup"];

// Every operationId of the document, exactly once: a missing or unknown one fails to compile.
const ALL_OPERATIONS: Record<OperationId, true> = {
  getLiveness: true,
  getReadiness: true,
  listSecretGroups: true,
  createSecretGroup: true,
  createOrUpdateSecretGroup: true,
  getSecretGroup: true,
  updateSecretGroup: true,
  deleteSecretGroup: true,
  listSecrets: true,
  getSecret: true,
  deleteSecret: true,
  listPersonalAccessTokens: true,
  createPersonalAccessToken: true,
  createPersonalAccessTokenForUser: true,
  revokeAllPersonalAccessTokens: true,
  deletePersonalAccessToken: true,
  listVirtualAccounts: true,
  createOrUpdateVirtualAccount: true,
  virtualAccountExists: true,
  getVirtualAccount: true,
  deleteVirtualAccount: true,
  getVirtualAccountToken: true,
  regenerateVirtualAccountToken: true,
  listUsers: true,
  updateUserRoles: true,
  deactivateUser: true,
  activateUser: true,
  getUser: true,
  deleteUser: true,
  getCurrentUser: true,
  createOrUpdateTeam: true,
  listTeams: true,
  getTeam: true,
  deleteTeam: true,
  listTeamMembers: true,
  getMinCliVersion: true,
  getTenantId: true,
  getSession: true,
  applyManifest: true,
  deleteManifest: true,
  resolveDependencyTree: true,
  listAuditEvents: true,
};
const called = new Set<OperationId>();

const baseUrl = process.env.SG_URL;
const token = process.env.SG_TOKEN;
if (!baseUrl || !token) throw new Error("SG_URL and SG_TOKEN must be set");

const client = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${token}` } });
const anonymous = createClient<paths>({ baseUrl });
/** A client that sends another bearer token (a new personal access token, a virtual account's). */
const bearer = (t: string) => createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${t}` } });

/** The data of a 200 answer; fails with the operation, status and error body otherwise. */
function ok<T>(
  op: OperationId,
  result: { data?: T; error?: HttpError | undefined; response: Response },
): T {
  called.add(op);
  const { data, error, response } = result;
  assert.equal(response.status, 200, `${op}: HTTP ${response.status} ${JSON.stringify(error)}`);
  assert.equal(error, undefined, `${op}: error body on 200`);
  assert.notEqual(data, undefined, `${op}: no body`);
  return data as T;
}

/** The HttpError of a non-200 answer with this status and code. */
function fails(
  op: OperationId,
  result: { data?: unknown; error?: HttpError | undefined; response: Response },
  status: number,
  code: string,
): HttpError {
  called.add(op);
  const { data, error, response } = result;
  assert.equal(response.status, status, `${op}: expected ${status}, got ${response.status}`);
  assert.equal(data, undefined, `${op}: data on an error answer`);
  assert.ok(error, `${op}: no error body`);
  assert.equal(error.statusCode, status, `${op}: statusCode`);
  assert.equal(error.code, code, `${op}: code`);
  assert.equal(typeof error.message, "string", `${op}: message`);
  return error;
}

const keys = (g: SecretGroup): string[] => g.associatedSecrets.map((s) => s.name).sort();

async function main(): Promise<void> {
  const suffix = randomBytes(4).toString("hex");
  const name = `ts-client-${suffix}`;

  // Health, no token needed.
  const live = ok("getLiveness", await anonymous.GET("/healthz"));
  assert.equal(live.status, "ok");
  const ready = ok("getReadiness", await anonymous.GET("/readyz"));
  assert.equal(ready.status, "ok");

  // Without a token: 401 as an HttpError.
  fails("listSecretGroups", await anonymous.GET("/api/svc/v1/secret-groups"), 401, "unauthenticated");

  // Create with two secrets.
  const created = ok(
    "createSecretGroup",
    await client.POST("/api/svc/v1/secret-groups", {
      body: {
        name,
        integrationId: "internal-secret-store",
        secrets: [
          { key: "API_KEY", value: "v1-api" },
          { key: "DB_PASSWORD", value: "v1-db" },
        ],
      },
    }),
  ).data;
  assert.equal(created.name, name);
  assert.ok(created.fqn.endsWith(`:${name}`), created.fqn);
  assert.equal(created.fqn, `${created.tenantName}:${name}`);
  assert.equal(created.integrationId, "internal-secret-store");
  assert.equal(created.manifest.type, "secret-group");
  assert.equal(created.manifest.name, name);
  assert.deepEqual(keys(created), ["API_KEY", "DB_PASSWORD"]);
  for (const s of created.associatedSecrets) {
    assert.equal(s.value, undefined, `group answer carries the value of ${s.name}`);
    assert.equal(s.secretGroupId, created.id);
  }
  assert.ok(!Number.isNaN(Date.parse(created.createdAt)), created.createdAt);

  // A second create with the same name: 409.
  fails(
    "createSecretGroup",
    await client.POST("/api/svc/v1/secret-groups", {
      body: { name, integrationId: "internal-secret-store", secrets: [] },
    }),
    409,
    "conflict",
  );

  // List: by fqn, and by search with paging and attributes (sent as repeated keys).
  const byFqn = ok(
    "listSecretGroups",
    await client.GET("/api/svc/v1/secret-groups", { params: { query: { fqn: created.fqn } } }),
  );
  assert.deepEqual(
    byFqn.data.map((g) => g.id),
    [created.id],
  );
  assert.equal(byFqn.pagination.total, 1);
  const bySearch = ok(
    "listSecretGroups",
    await client.GET("/api/svc/v1/secret-groups", {
      params: { query: { search: name.toUpperCase(), limit: 1, offset: 0, attributes: ["id", "name"] } },
    }),
  );
  assert.deepEqual(
    bySearch.data.map((g) => g.id),
    [created.id],
  );
  assert.deepEqual(bySearch.pagination, { total: 1, offset: 0, limit: 1 });
  fails(
    "listSecretGroups",
    await client.GET("/api/svc/v1/secret-groups", { params: { query: { limit: 0 } } }),
    422,
    "validation_failed",
  );

  // Get.
  const got = ok(
    "getSecretGroup",
    await client.GET("/api/svc/v1/secret-groups/{id}", { params: { path: { id: created.id } } }),
  ).data;
  assert.equal(got.id, created.id);
  assert.deepEqual(keys(got), ["API_KEY", "DB_PASSWORD"]);

  // Update: API_KEY changes, DB_PASSWORD is kept (no value).
  const updated = ok(
    "updateSecretGroup",
    await client.PUT("/api/svc/v1/secret-groups/{id}", {
      params: { path: { id: created.id } },
      body: { secrets: [{ key: "API_KEY", value: "v2-api" }, { key: "DB_PASSWORD" }] },
    }),
  ).data;
  assert.deepEqual(keys(updated), ["API_KEY", "DB_PASSWORD"]);
  const ids = new Map(updated.associatedSecrets.map((s) => [s.name, s.id]));
  const apiKeyId = ids.get("API_KEY");
  const dbId = ids.get("DB_PASSWORD");
  assert.ok(apiKeyId && dbId);
  fails(
    "updateSecretGroup",
    await client.PUT("/api/svc/v1/secret-groups/{id}", {
      params: { path: { id: created.id } },
      body: { secrets: [] },
    }),
    422,
    "validation_failed",
  );

  // List secrets with their values.
  const secrets = ok(
    "listSecrets",
    await client.POST("/api/svc/v1/secrets", {
      body: { secretGroupId: created.id, withValue: true, limit: 10, offset: 0 },
    }),
  );
  assert.equal(secrets.pagination.total, 2);
  assert.deepEqual(
    Object.fromEntries(secrets.data.map((s) => [s.name, s.value])),
    { API_KEY: "v2-api", DB_PASSWORD: "v1-db" },
  );
  const byFqns = ok(
    "listSecrets",
    await client.POST("/api/svc/v1/secrets", {
      body: { secretFqns: [`${created.fqn}:API_KEY`], withValue: null },
    }),
  );
  assert.deepEqual(
    byFqns.data.map((s) => [s.id, s.value]),
    [[apiKeyId, undefined]],
  );

  // Get a secret: current value and both versions.
  const apiKey = ok(
    "getSecret",
    await client.GET("/api/svc/v1/secrets/{id}", { params: { path: { id: apiKeyId } } }),
  ).data;
  assert.equal(apiKey.value, "v2-api");
  assert.equal(apiKey.fqn, `${created.fqn}:API_KEY`);
  assert.deepEqual(
    (apiKey.secretVersions ?? []).map((v) => [v.version, v.value, v.fqn]),
    [
      [1, "v1-api", `${created.fqn}:API_KEY:1`],
      [2, "v2-api", `${created.fqn}:API_KEY:2`],
    ],
  );

  // Delete a secret: answers 1; it leaves the group; a second delete is 404.
  const deletedCount = ok(
    "deleteSecret",
    await client.DELETE("/api/svc/v1/secrets/{id}", {
      params: { path: { id: dbId }, query: { forceDelete: false } },
    }),
  );
  assert.equal(deletedCount, 1);
  fails(
    "deleteSecret",
    await client.DELETE("/api/svc/v1/secrets/{id}", { params: { path: { id: dbId } } }),
    404,
    "not_found",
  );
  fails(
    "getSecret",
    await client.GET("/api/svc/v1/secrets/{id}", { params: { path: { id: dbId } } }),
    404,
    "not_found",
  );
  const afterSecretDelete = ok(
    "getSecretGroup",
    await client.GET("/api/svc/v1/secret-groups/{id}", { params: { path: { id: created.id } } }),
  ).data;
  assert.deepEqual(keys(afterSecretDelete), ["API_KEY"]);

  // Create or update from a manifest: dry run stores nothing; then create; then update.
  const manifestName = `ts-manifest-${suffix}`;
  const manifest: components["schemas"]["SecretGroupManifest"] = {
    type: "secret-group",
    name: manifestName,
    integration_fqn: "internal:secret-store:internal-secret-store",
    collaborators: [{ subject: "user:admin@localhost", role_id: "secret-group-admin" }],
  };
  const dry = ok(
    "createOrUpdateSecretGroup",
    await client.PUT("/api/svc/v1/secret-groups", { body: { manifest, dryRun: true } }),
  ).data;
  assert.equal(dry.name, manifestName);
  const afterDry = ok(
    "listSecretGroups",
    await client.GET("/api/svc/v1/secret-groups", { params: { query: { fqn: dry.fqn } } }),
  );
  assert.equal(afterDry.pagination.total, 0, "dryRun stored the group");
  const fromManifest = ok(
    "createOrUpdateSecretGroup",
    await client.PUT("/api/svc/v1/secret-groups", { body: { manifest } }),
  ).data;
  assert.equal(fromManifest.name, manifestName);
  assert.deepEqual(fromManifest.associatedSecrets, []);
  assert.deepEqual(fromManifest.manifest.collaborators, manifest.collaborators);
  // A collaborator must name an existing user, team or virtual account (404 otherwise).
  const platform = `ts-platform-${suffix}`;
  const collaborators = [
    { subject: "user:admin@localhost", role_id: "secret-group-admin" as const },
    { subject: `team:${platform}`, role_id: "secret-group-viewer" as const },
  ];
  fails(
    "createOrUpdateSecretGroup",
    await client.PUT("/api/svc/v1/secret-groups", { body: { manifest: { ...manifest, collaborators } } }),
    404,
    "not_found",
  );
  const platformTeam = ok(
    "createOrUpdateTeam",
    await client.PUT("/api/svc/v1/teams", { body: { manifest: { name: platform, members: [] } } }),
  ).data;
  assert.equal(platformTeam.name, platform);
  const again = ok(
    "createOrUpdateSecretGroup",
    await client.PUT("/api/svc/v1/secret-groups", {
      body: { manifest: { ...manifest, collaborators }, dryRun: false },
    }),
  ).data;
  assert.equal(again.id, fromManifest.id, "an existing group is updated, not created again");
  assert.deepEqual(again.manifest.collaborators, collaborators);
  assert.deepEqual(
    ok("deleteTeam", await client.DELETE("/api/svc/v1/teams/{id}", { params: { path: { id: platformTeam.id } } })),
    {},
  );
  fails(
    "createOrUpdateSecretGroup",
    await client.PUT("/api/svc/v1/secret-groups", {
      body: { manifest: { ...manifest, integration_fqn: "internal:secret-store:elsewhere" } },
    }),
    404,
    "not_found",
  );

  // Delete both groups: answers {}; then 404.
  for (const id of [created.id, fromManifest.id]) {
    const gone = ok(
      "deleteSecretGroup",
      await client.DELETE("/api/svc/v1/secret-groups/{id}", { params: { path: { id } } }),
    );
    assert.deepEqual(gone, {});
    fails(
      "getSecretGroup",
      await client.GET("/api/svc/v1/secret-groups/{id}", { params: { path: { id } } }),
      404,
      "not_found",
    );
    fails(
      "deleteSecretGroup",
      await client.DELETE("/api/svc/v1/secret-groups/{id}", { params: { path: { id } } }),
      404,
      "not_found",
    );
  }

  await identities(suffix);
  await auditTrail(name);
  await trueFoundryCli(suffix);

  const missing = (Object.keys(ALL_OPERATIONS) as OperationId[]).filter((op) => !called.has(op));
  assert.deepEqual(missing, [], `operations never called: ${missing.join(", ")}`);
  console.log(`typescript-client: all ${called.size} operations called and checked`);
}

/** What TrueFoundry's CLI calls: discovery (two of them without a token), then apply, delete and
 * the dependency tree by manifest. */
async function trueFoundryCli(suffix: string): Promise<void> {
  const versions = ok("getMinCliVersion", await anonymous.GET("/api/svc/v1/min-cli-version"));
  assert.equal(versions.truefoundryCliMinVersion, "0.17.5");
  assert.equal(versions.useSFYServerAuthAPIs, true);
  const tenant = ok(
    "getTenantId",
    await anonymous.GET("/api/svc/v1/tenant-id", { params: { query: { hostName: "elsewhere.example" } } }),
  );
  assert.deepEqual(tenant, { tenantName: "default", auth_server_url: "" });
  fails("getSession", await anonymous.GET("/api/svc/v1/session"), 401, "unauthenticated");
  const session = ok("getSession", await client.GET("/api/svc/v1/session"));
  assert.equal(session.user.email, "admin@localhost");
  assert.equal(session.user.subject.subjectSlug, "admin@localhost");
  assert.equal(session.tenantInfo.tenantName, "default");

  const team = `ts-cli-team-${suffix}`;
  const group = `ts-cli-group-${suffix}`;
  const groupManifest = {
    type: "secret-group",
    name: group,
    integration_fqn: "internal:secret-store:internal-secret-store",
    collaborators: [
      { subject: "user:admin@localhost", role_id: "secret-group-admin" },
      { subject: `team:${team}`, role_id: "secret-group-viewer" },
    ],
  };
  const teamManifest = { type: "team", name: team, members: [] };
  const tree = ok(
    "resolveDependencyTree",
    await client.POST("/api/svc/v1/dependency-tree", { body: { manifests: [groupManifest, teamManifest] } }),
  );
  assert.deepEqual(
    tree.data.map((r) => [r.resourceType, r.resourceName, r.dependencies.map((d) => d.resourceName)]),
    [
      ["team", team, []],
      ["secret-group", group, [team]],
    ],
  );
  const teamApplied = ok("applyManifest", await client.PUT("/api/svc/v1/apply", { body: { manifest: teamManifest } }));
  assert.equal(teamApplied.action, "CREATE");
  const created = ok(
    "applyManifest",
    await client.PUT("/api/svc/v1/apply", { body: { manifest: groupManifest, dryRun: false } }),
  );
  assert.equal(created.action, "CREATE");
  assert.equal(created.existingManifest, undefined);
  assert.equal(created.data.name, group);
  const again = ok("applyManifest", await client.PUT("/api/svc/v1/apply", { body: { manifest: groupManifest } }));
  assert.equal(again.action, "UPDATE");
  assert.deepEqual(again.existingManifest, groupManifest);
  const refused = fails(
    "applyManifest",
    await client.PUT("/api/svc/v1/apply", { body: { manifest: { type: "cluster", name: group } } }),
    422,
    "validation_failed",
  );
  assert.ok(refused.message.includes("secret-group, team, virtual-account"), refused.message);
  for (const manifest of [groupManifest, teamManifest]) {
    assert.deepEqual(ok("deleteManifest", await client.POST("/api/svc/v1/delete", { body: { manifest } })), {});
  }
  fails("deleteManifest", await client.POST("/api/svc/v1/delete", { body: { manifest: groupManifest } }), 404, "not_found");
}

/** Personal access tokens, virtual accounts, users and teams. Only the bootstrap admin
 * (`admin@localhost`, the tenant's last admin) exists, and users are made by the CLI only, so
 * the user operations act on the admin where that is safe and check the last-admin guard. */
/** The audit trail: the creation of this run's group, found by its FQN, names the admin. */
async function auditTrail(name: string): Promise<void> {
  const page = ok(
    "listAuditEvents",
    await client.GET("/api/svc/v1/audit-events", {
      params: { query: { action: "createSecretGroup", resourceFqn: `default:${name}`, limit: 10 } },
    }),
  );
  assert.equal(page.pagination.total, 1, `events of ${name}: ${JSON.stringify(page.data)}`);
  const event = page.data[0];
  assert.ok(event, "no event");
  assert.equal(event.action, "createSecretGroup");
  assert.equal(event.statusCode, 200);
  assert.equal(event.actor.name, "admin@localhost");
  assert.ok(event.resources.some((r) => r.fqn === `default:${name}`), JSON.stringify(event.resources));
}

async function identities(suffix: string): Promise<void> {
  const adminEmail = "admin@localhost";
  const unauthenticated = (
    op: OperationId,
    result: { data?: unknown; error?: HttpError | undefined; response: Response },
  ): void => {
    fails(op, result, 401, "unauthenticated");
    assert.equal(result.response.headers.get("www-authenticate"), "Bearer", `${op}: WWW-Authenticate`);
  };

  // Who am I: the bootstrap admin.
  const me = ok("getCurrentUser", await client.GET("/api/svc/v1/x/users/info"));
  assert.equal(me.subjectType, "user");
  assert.equal(me.subjectSlug, adminEmail);
  assert.equal(me.email, adminEmail);
  assert.equal(me.tenantName, "default");
  assert.deepEqual(me.roles, ["tenant-admin"]);
  assert.equal(me.effectiveUserId, me.id);
  assert.deepEqual(me.teams, []);
  assert.deepEqual(
    me.accounts.map((a) => a.name),
    ["default"],
  );

  // --- Personal access tokens -------------------------------------------------------------
  const patName = `ts-pat-${suffix}`;
  const pat = ok(
    "createPersonalAccessToken",
    await client.POST("/api/svc/v1/personal-access-tokens", {
      body: { name: patName, expirationDate: "2099-01-01T00:00:00.000Z" },
    }),
  ).token;
  assert.ok(pat.startsWith("tfy_sg_"), "a personal access token starts with tfy_sg_");
  assert.notEqual(pat, token);
  const viaPat = ok("getCurrentUser", await bearer(pat).GET("/api/svc/v1/x/users/info"));
  assert.equal(viaPat.id, me.id, "the new token acts as its user");
  assert.equal(viaPat.subjectType, "user");
  fails(
    "createPersonalAccessToken",
    await client.POST("/api/svc/v1/personal-access-tokens", { body: { name: patName } }),
    409,
    "conflict",
  );
  fails(
    "createPersonalAccessToken",
    await client.POST("/api/svc/v1/personal-access-tokens", { body: { name: "Bad_Name" } }),
    422,
    "validation_failed",
  );
  const pats = ok(
    "listPersonalAccessTokens",
    await client.GET("/api/svc/v1/personal-access-tokens", {
      params: { query: { nameSearchQuery: patName.toUpperCase(), limit: 10, offset: 0 } },
    }),
  );
  assert.equal(pats.pagination.total, 1);
  const listedPat = pats.data[0];
  assert.ok(listedPat);
  assert.equal(listedPat.name, patName);
  assert.equal(listedPat.type, "personal-access-token");
  assert.equal(listedPat.createdBy, adminEmail);
  assert.equal(listedPat.createdBySubject.subjectId, me.id);
  assert.equal(listedPat.isExpired, false);
  assert.equal(Date.parse(listedPat.expiresAt ?? ""), Date.parse("2099-01-01T00:00:00Z"), "expiresAt");
  assert.equal(Object.hasOwn(listedPat, "token"), false, "a listed token carries no value");

  // A tenant admin makes a token for a user (here: the admin itself).
  const forUserName = `ts-for-user-${suffix}`;
  const forUser = ok(
    "createPersonalAccessTokenForUser",
    await client.POST("/api/svc/v1/personal-access-tokens/for-user", {
      body: { name: forUserName, userEmail: adminEmail },
    }),
  ).token;
  assert.ok(forUser.startsWith("tfy_sg_"));
  assert.equal(ok("getCurrentUser", await bearer(forUser).GET("/api/svc/v1/x/users/info")).subjectSlug, adminEmail);
  fails(
    "createPersonalAccessTokenForUser",
    await client.POST("/api/svc/v1/personal-access-tokens/for-user", {
      body: { name: forUserName, userEmail: `nobody-${suffix}@example.com` },
    }),
    404,
    "not_found",
  );
  const all = ok(
    "listPersonalAccessTokens",
    await client.GET("/api/svc/v1/personal-access-tokens", { params: { query: { nameSearchQuery: `-${suffix}` } } }),
  );
  assert.deepEqual(all.data.map((t) => t.name).sort(), [forUserName, patName].sort());

  // Revoking all tokens of an unknown user: 404 (the admin's own would take our bearer away).
  fails(
    "revokeAllPersonalAccessTokens",
    await client.DELETE("/api/svc/v1/personal-access-tokens/revoke/all", {
      body: { email: `nobody-${suffix}@example.com` },
    }),
    404,
    "not_found",
  );
  fails(
    "revokeAllPersonalAccessTokens",
    await client.DELETE("/api/svc/v1/personal-access-tokens/revoke/all", {
      body: { email: adminEmail, tenantName: `elsewhere-${suffix}` },
    }),
    404,
    "not_found",
  );

  // Delete both new tokens: answers {}; the deleted token gets 401, a second delete 404.
  for (const t of all.data) {
    const gone = ok(
      "deletePersonalAccessToken",
      await client.DELETE("/api/svc/v1/personal-access-tokens/{id}", { params: { path: { id: t.id } } }),
    );
    assert.deepEqual(gone, {});
  }
  unauthenticated("getCurrentUser", await bearer(pat).GET("/api/svc/v1/x/users/info"));
  fails(
    "deletePersonalAccessToken",
    await client.DELETE("/api/svc/v1/personal-access-tokens/{id}", { params: { path: { id: listedPat.id } } }),
    404,
    "not_found",
  );
  const afterDelete = ok(
    "listPersonalAccessTokens",
    await client.GET("/api/svc/v1/personal-access-tokens", { params: { query: { nameSearchQuery: `-${suffix}` } } }),
  );
  assert.equal(afterDelete.pagination.total, 0);
  assert.deepEqual(afterDelete.data, []);

  // --- Virtual accounts -------------------------------------------------------------------
  const groupName = `ts-va-group-${suffix}`;
  const group = ok(
    "createSecretGroup",
    await client.POST("/api/svc/v1/secret-groups", {
      body: { name: groupName, integrationId: "internal-secret-store", secrets: [{ key: "K", value: "v" }] },
    }),
  ).data;
  assert.equal(group.fqn, `default:${groupName}`);
  const secretId = group.associatedSecrets[0]?.id;
  assert.ok(secretId);
  const vaName = `ts-va-${suffix}`;
  const vaExists = async (): Promise<boolean> =>
    ok(
      "virtualAccountExists",
      await client.GET("/api/svc/v1/virtual-accounts/exists", { params: { query: { name: vaName } } }),
    ).exists;
  const permissions = [
    {
      resource_fqn: `default:${groupName}`,
      resource_type: "secret-group" as const,
      role_id: "secret-group-viewer" as const,
    },
  ];
  const vaManifest: components["schemas"]["VirtualAccountManifest"] = {
    type: "virtual-account",
    name: vaName,
    permissions,
    expiration_date: "2099-12-31",
  };

  fails(
    "createOrUpdateVirtualAccount",
    await client.PUT("/api/svc/v1/virtual-accounts", {
      body: {
        manifest: { ...vaManifest, permissions: [{ ...permissions[0]!, resource_fqn: `default:missing-${suffix}` }] },
      },
    }),
    422,
    "validation_failed",
  );
  const dryVa = ok(
    "createOrUpdateVirtualAccount",
    await client.PUT("/api/svc/v1/virtual-accounts", { body: { manifest: vaManifest, dryRun: true } }),
  );
  assert.equal(dryVa.data.name, vaName);
  assert.equal(dryVa.token, undefined, "dryRun made a token");
  assert.equal(await vaExists(), false, "dryRun stored the account");

  const createdVa = ok(
    "createOrUpdateVirtualAccount",
    await client.PUT("/api/svc/v1/virtual-accounts", { body: { manifest: vaManifest } }),
  );
  const va = createdVa.data;
  const vaToken = createdVa.token;
  assert.ok(vaToken, "a new virtual account answers its token");
  assert.ok(vaToken.startsWith("tfy_sg_"));
  assert.equal(va.type, "virtual-account");
  assert.equal(va.name, vaName);
  assert.equal(va.tenantName, "default");
  assert.equal(va.createdBy, adminEmail);
  assert.equal(va.isExpired, false);
  assert.deepEqual(va.manifest.permissions, permissions);
  assert.equal(va.manifest.expiration_date, "2099-12-31");

  // An update keeps the permissions when they are left out, and answers no token.
  const updatedVa = ok(
    "createOrUpdateVirtualAccount",
    await client.PUT("/api/svc/v1/virtual-accounts", { body: { manifest: { name: vaName } } }),
  );
  assert.equal(updatedVa.data.id, va.id, "an existing account is updated, not created again");
  assert.equal(updatedVa.token, undefined, "an update answered a token");
  assert.deepEqual(updatedVa.data.manifest.permissions, permissions);

  assert.equal(await vaExists(), true);
  const vas = ok(
    "listVirtualAccounts",
    await client.GET("/api/svc/v1/virtual-accounts", {
      params: { query: { nameSearchQuery: vaName.toUpperCase(), isExpired: false, limit: 10, offset: 0 } },
    }),
  );
  assert.deepEqual(
    vas.data.map((a) => a.id),
    [va.id],
  );
  assert.equal(vas.pagination.total, 1);
  const expiredVas = ok(
    "listVirtualAccounts",
    await client.GET("/api/svc/v1/virtual-accounts", {
      params: { query: { nameSearchQuery: vaName, isExpired: true } },
    }),
  );
  assert.equal(expiredVas.pagination.total, 0);
  const gotVa = ok(
    "getVirtualAccount",
    await client.GET("/api/svc/v1/virtual-accounts/{id}", { params: { path: { id: va.id } } }),
  );
  assert.equal(gotVa.data.id, va.id);
  assert.equal(gotVa.data.name, vaName);
  assert.equal(gotVa.token, undefined, "get answered the token");
  fails(
    "getVirtualAccount",
    await client.GET("/api/svc/v1/virtual-accounts/{id}", { params: { path: { id: `missing-${suffix}` } } }),
    404,
    "not_found",
  );

  // The account's token: who am I, and the viewer role on the group (keys yes, values no).
  const vaSession = ok("getCurrentUser", await bearer(vaToken).GET("/api/svc/v1/x/users/info"));
  assert.equal(vaSession.subjectType, "serviceaccount");
  assert.equal(vaSession.subjectSlug, vaName);
  assert.equal(vaSession.id, va.id);
  assert.equal(vaSession.email, undefined);
  assert.deepEqual(vaSession.roles, []);
  const seen = ok(
    "getSecretGroup",
    await bearer(vaToken).GET("/api/svc/v1/secret-groups/{id}", { params: { path: { id: group.id } } }),
  ).data;
  assert.deepEqual(keys(seen), ["K"]);
  fails(
    "getSecret",
    await bearer(vaToken).GET("/api/svc/v1/secrets/{id}", { params: { path: { id: secretId } } }),
    403,
    "forbidden",
  );

  // Its token cannot be shown again (403; 404 for an unknown account).
  fails(
    "getVirtualAccountToken",
    await client.GET("/api/svc/v1/virtual-accounts/{id}/token", { params: { path: { id: va.id } } }),
    403,
    "forbidden",
  );
  fails(
    "getVirtualAccountToken",
    await client.GET("/api/svc/v1/virtual-accounts/{id}/token", { params: { path: { id: `missing-${suffix}` } } }),
    404,
    "not_found",
  );

  // Regenerate without a grace period: the new token works, the old one at once gets 401.
  fails(
    "regenerateVirtualAccountToken",
    await client.POST("/api/svc/v1/virtual-accounts/{id}/regenerate-token", {
      params: { path: { id: va.id } },
      body: { gracePeriodInMinutes: -1 },
    }),
    422,
    "validation_failed",
  );
  const newVaToken = ok(
    "regenerateVirtualAccountToken",
    await client.POST("/api/svc/v1/virtual-accounts/{id}/regenerate-token", {
      params: { path: { id: va.id } },
      body: { gracePeriodInMinutes: 0 },
    }),
  ).token;
  assert.ok(newVaToken.startsWith("tfy_sg_"));
  assert.notEqual(newVaToken, vaToken);
  const newSession = ok("getCurrentUser", await bearer(newVaToken).GET("/api/svc/v1/x/users/info"));
  assert.equal(newSession.subjectType, "serviceaccount");
  assert.equal(newSession.id, va.id);
  unauthenticated("getCurrentUser", await bearer(vaToken).GET("/api/svc/v1/x/users/info"));

  // Delete: answers {}; its token gets 401; the account is gone.
  const vaGone = ok(
    "deleteVirtualAccount",
    await client.DELETE("/api/svc/v1/virtual-accounts/{id}", { params: { path: { id: va.id } } }),
  );
  assert.deepEqual(vaGone, {});
  unauthenticated("getCurrentUser", await bearer(newVaToken).GET("/api/svc/v1/x/users/info"));
  fails(
    "deleteVirtualAccount",
    await client.DELETE("/api/svc/v1/virtual-accounts/{id}", { params: { path: { id: va.id } } }),
    404,
    "not_found",
  );
  assert.equal(await vaExists(), false, "the deleted account still exists");
  const groupGone = ok(
    "deleteSecretGroup",
    await client.DELETE("/api/svc/v1/secret-groups/{id}", { params: { path: { id: group.id } } }),
  );
  assert.deepEqual(groupGone, {});

  // --- Users ------------------------------------------------------------------------------
  const users = ok(
    "listUsers",
    await client.GET("/api/svc/v1/users", {
      params: { query: { query: "ADMIN@LOCAL", showInvalidUsers: true, limit: 10, offset: 0 } },
    }),
  );
  assert.equal(users.pagination.total, 1);
  const admin = users.data[0];
  assert.ok(admin);
  assert.equal(admin.id, me.id);
  assert.equal(admin.email, adminEmail);
  assert.equal(admin.tenantName, "default");
  assert.deepEqual(admin.roles, ["tenant-admin"]);
  assert.equal(admin.active, true);
  assert.equal(admin.isEditable, true);
  const noUsers = ok(
    "listUsers",
    await client.GET("/api/svc/v1/users", { params: { query: { query: `nobody-${suffix}` } } }),
  );
  assert.equal(noUsers.pagination.total, 0);
  const getAdmin = async () =>
    ok("getUser", await client.GET("/api/svc/v1/users/{id}", { params: { path: { id: admin.id } } })).data;
  const gotUser = await getAdmin();
  assert.equal(gotUser.email, adminEmail);
  assert.deepEqual(gotUser.roles, ["tenant-admin"]);
  fails(
    "getUser",
    await client.GET("/api/svc/v1/users/{id}", { params: { path: { id: `missing-${suffix}` } } }),
    404,
    "not_found",
  );

  // The last active tenant admin is protected: demote, deactivate and delete answer 409.
  fails(
    "updateUserRoles",
    await client.PATCH("/api/svc/v1/users/roles", {
      body: { email: adminEmail, roles: ["tenant-member"], resourceType: "tenant" },
    }),
    409,
    "conflict",
  );
  fails(
    "deactivateUser",
    await client.PATCH("/api/svc/v1/users/deactivate", { body: { email: adminEmail } }),
    409,
    "conflict",
  );
  fails(
    "deleteUser",
    await client.DELETE("/api/svc/v1/users/{id}", { params: { path: { id: admin.id } } }),
    409,
    "conflict",
  );
  // Keeping the admin an admin, and activating an active user, are allowed no-ops.
  assert.deepEqual(
    ok(
      "updateUserRoles",
      await client.PATCH("/api/svc/v1/users/roles", { body: { email: adminEmail, roles: ["tenant-admin"] } }),
    ),
    {},
  );
  assert.deepEqual(
    ok("activateUser", await client.PATCH("/api/svc/v1/users/activate", { body: { email: adminEmail } })),
    {},
  );
  fails(
    "activateUser",
    await client.PATCH("/api/svc/v1/users/activate", { body: { email: `nobody-${suffix}@example.com` } }),
    404,
    "not_found",
  );
  fails(
    "deactivateUser",
    await client.PATCH("/api/svc/v1/users/deactivate", { body: { email: `nobody-${suffix}@example.com` } }),
    404,
    "not_found",
  );
  fails(
    "deleteUser",
    await client.DELETE("/api/svc/v1/users/{id}", { params: { path: { id: `missing-${suffix}` } } }),
    404,
    "not_found",
  );
  fails(
    "updateUserRoles",
    await client.PATCH("/api/svc/v1/users/roles", {
      body: { email: `nobody-${suffix}@example.com`, roles: ["tenant-admin"] },
    }),
    404,
    "not_found",
  );
  // Nothing changed: still an active admin whose token works.
  const stillAdmin = await getAdmin();
  assert.deepEqual(stillAdmin.roles, ["tenant-admin"]);
  assert.equal(stillAdmin.active, true);
  assert.deepEqual(ok("getCurrentUser", await client.GET("/api/svc/v1/x/users/info")).roles, ["tenant-admin"]);

  // --- Teams ------------------------------------------------------------------------------
  const teamName = `ts-team-${suffix}`;
  const teamManifest: components["schemas"]["TeamManifest"] = {
    type: "team",
    name: teamName,
    description: "contract team",
    members: [adminEmail],
  };
  fails(
    "createOrUpdateTeam",
    await client.PUT("/api/svc/v1/teams", {
      body: { manifest: { ...teamManifest, members: [`nobody-${suffix}@example.com`] } },
    }),
    422,
    "validation_failed",
  );
  const dryTeam = ok(
    "createOrUpdateTeam",
    await client.PUT("/api/svc/v1/teams", { body: { manifest: teamManifest, dryRun: true } }),
  ).data;
  assert.equal(dryTeam.name, teamName);
  const team = ok("createOrUpdateTeam", await client.PUT("/api/svc/v1/teams", { body: { manifest: teamManifest } }))
    .data;
  assert.notEqual(team.id, dryTeam.id, "the dry run's team was stored");
  assert.equal(team.name, teamName);
  assert.equal(team.description, "contract team");
  assert.equal(team.tenantName, "default");
  assert.deepEqual(team.members, [adminEmail]);
  assert.deepEqual(team.manifest.members, [adminEmail]);
  assert.deepEqual(team.manifest.managers, [adminEmail], "the creator manages a team without managers");
  assert.equal(team.isEditable, true);
  assert.equal(team.createdBy, adminEmail);
  const teamAgain = ok(
    "createOrUpdateTeam",
    await client.PUT("/api/svc/v1/teams", { body: { manifest: { ...teamManifest, description: "changed" } } }),
  ).data;
  assert.equal(teamAgain.id, team.id, "an existing team is updated, not created again");
  assert.equal(teamAgain.description, "changed");

  const teams = ok("listTeams", await client.GET("/api/svc/v1/teams/user", { params: { query: { limit: 1000 } } }));
  assert.deepEqual(
    teams.data.filter((t) => t.name === teamName).map((t) => t.id),
    [team.id],
  );
  assert.equal(teams.pagination.total, teams.data.length);
  const gotTeam = ok("getTeam", await client.GET("/api/svc/v1/teams/{id}", { params: { path: { id: team.id } } })).data;
  assert.equal(gotTeam.id, team.id);
  assert.equal(gotTeam.description, "changed");
  assert.deepEqual(gotTeam.members, [adminEmail]);
  const members = ok(
    "listTeamMembers",
    await client.GET("/api/svc/v1/teams/{id}/members", { params: { path: { id: team.id }, query: { limit: 10 } } }),
  );
  assert.equal(members.pagination.total, 2);
  assert.deepEqual(
    members.data.map((m) => [m.subjectId, m.subjectSlug, m.subjectType, m.role]).sort(),
    [
      [me.id, adminEmail, "user", "manager"],
      [me.id, adminEmail, "user", "member"],
    ],
  );
  const secondPage = ok(
    "listTeamMembers",
    await client.GET("/api/svc/v1/teams/{id}/members", {
      params: { path: { id: team.id }, query: { limit: 1, offset: 1 } },
    }),
  );
  assert.equal(secondPage.data.length, 1);
  assert.deepEqual(secondPage.pagination, { total: 2, offset: 1, limit: 1 });
  assert.deepEqual(
    ok("getCurrentUser", await client.GET("/api/svc/v1/x/users/info")).teams,
    [{ id: team.id, name: teamName }],
  );

  assert.deepEqual(
    ok("deleteTeam", await client.DELETE("/api/svc/v1/teams/{id}", { params: { path: { id: team.id } } })),
    {},
  );
  fails("getTeam", await client.GET("/api/svc/v1/teams/{id}", { params: { path: { id: team.id } } }), 404, "not_found");
  fails(
    "listTeamMembers",
    await client.GET("/api/svc/v1/teams/{id}/members", { params: { path: { id: team.id } } }),
    404,
    "not_found",
  );
  fails(
    "deleteTeam",
    await client.DELETE("/api/svc/v1/teams/{id}", { params: { path: { id: team.id } } }),
    404,
    "not_found",
  );
  const teamsAfter = ok("listTeams", await client.GET("/api/svc/v1/teams/user"));
  assert.equal(
    teamsAfter.data.some((t) => t.id === team.id),
    false,
  );
  assert.deepEqual(ok("getCurrentUser", await client.GET("/api/svc/v1/x/users/info")).teams, []);
}

main().catch((e: unknown) => {
  console.error("typescript-client: FAILED:", e instanceof Error ? e.message : e);
  process.exitCode = 1;
});
