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
};
const called = new Set<OperationId>();

const baseUrl = process.env.SG_URL;
const token = process.env.SG_TOKEN;
if (!baseUrl || !token) throw new Error("SG_URL and SG_TOKEN must be set");

const client = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${token}` } });
const anonymous = createClient<paths>({ baseUrl });

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
  const collaborators = [
    { subject: "user:admin@localhost", role_id: "secret-group-admin" as const },
    { subject: "team:platform", role_id: "secret-group-viewer" as const },
  ];
  const again = ok(
    "createOrUpdateSecretGroup",
    await client.PUT("/api/svc/v1/secret-groups", {
      body: { manifest: { ...manifest, collaborators }, dryRun: false },
    }),
  ).data;
  assert.equal(again.id, fromManifest.id, "an existing group is updated, not created again");
  assert.deepEqual(again.manifest.collaborators, collaborators);
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

  const missing = (Object.keys(ALL_OPERATIONS) as OperationId[]).filter((op) => !called.has(op));
  assert.deepEqual(missing, [], `operations never called: ${missing.join(", ")}`);
  console.log(`typescript-client: all ${called.size} operations called and checked`);
}

main().catch((e: unknown) => {
  console.error("typescript-client: FAILED:", e instanceof Error ? e.message : e);
  process.exitCode = 1;
});
