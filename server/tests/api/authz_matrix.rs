//! The authorization matrix: two tenants × ten kinds of caller × every secret-group and secret
//! operation, asserting the exact status of each cell and that no value crosses a boundary.
//!
//! Each tenant gets the same cast: its tenant admin, a group admin, an editor, a viewer, a
//! member of a team holding the editor role, a virtual account holding the editor role, a user
//! with no role, and three users whose tokens are no good (expired, revoked, deactivated) but
//! who hold the editor role. Every caller then tries every operation on a group of its own
//! tenant and on the same-named group of the other tenant. Operations that destroy something
//! get a fresh group per cell.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::{
    harness::{Backend, TestServer, unique},
    on_both_backends,
};

on_both_backends!(every_caller_gets_exactly_its_rights_on_every_operation);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    TenantAdmin,
    GroupAdmin,
    Editor,
    Viewer,
    TeamMember,
    VirtualAccount,
    NoRole,
    Expired,
    Revoked,
    Deactivated,
}

const KINDS: [Kind; 10] = [
    Kind::TenantAdmin,
    Kind::GroupAdmin,
    Kind::Editor,
    Kind::Viewer,
    Kind::TeamMember,
    Kind::VirtualAccount,
    Kind::NoRole,
    Kind::Expired,
    Kind::Revoked,
    Kind::Deactivated,
];

/// The role a kind holds on its own tenant's groups (`None`: no role; tenant admins hold all).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Role {
    None,
    Viewer,
    Editor,
    Admin,
}

impl Kind {
    fn role(self) -> Role {
        match self {
            Kind::TenantAdmin | Kind::GroupAdmin => Role::Admin,
            Kind::Editor | Kind::TeamMember | Kind::VirtualAccount => Role::Editor,
            Kind::Viewer => Role::Viewer,
            Kind::NoRole => Role::None,
            // Their role would be editor; their tokens must not get them anywhere.
            Kind::Expired | Kind::Revoked | Kind::Deactivated => Role::Editor,
        }
    }

    fn token_is_dead(self) -> bool {
        matches!(self, Kind::Expired | Kind::Revoked | Kind::Deactivated)
    }

    fn email(self, tenant: &str) -> String {
        format!("{self:?}@{tenant}.example").to_lowercase()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Op {
    ListGroups,
    GetGroup,
    UpdateSecrets,
    UpsertManifest,
    DeleteGroup,
    ListSecrets,
    ListSecretsWithValues,
    GetSecret,
    DeleteSecret,
    CreateGroup,
}

const OPS: [Op; 10] = [
    Op::ListGroups,
    Op::GetGroup,
    Op::UpdateSecrets,
    Op::UpsertManifest,
    Op::DeleteGroup,
    Op::ListSecrets,
    Op::ListSecretsWithValues,
    Op::GetSecret,
    Op::DeleteSecret,
    Op::CreateGroup,
];

/// The status a cell must answer. `same_tenant`: whether the target group is in the caller's
/// tenant. For lists, 200 — visibility is asserted separately from the body.
fn expected(kind: Kind, same_tenant: bool, op: Op) -> u16 {
    if kind.token_is_dead() {
        return 401;
    }
    if op == Op::CreateGroup {
        // Creates in the caller's own tenant; a virtual account acts only on its groups.
        return if kind == Kind::VirtualAccount { 403 } else { 200 };
    }
    if matches!(op, Op::ListGroups) {
        return 200;
    }
    // A manifest names a group by name, and names resolve in the caller's own tenant: the
    // other tenant's group is never reached, the caller's own group of that name is.
    if !same_tenant && op != Op::UpsertManifest {
        // Another tenant's objects do not exist for the caller.
        return 404;
    }
    let needs = match op {
        Op::GetGroup | Op::ListSecrets => Role::Viewer,
        Op::UpdateSecrets | Op::ListSecretsWithValues | Op::GetSecret | Op::DeleteSecret => Role::Editor,
        Op::UpsertManifest | Op::DeleteGroup => Role::Admin,
        Op::ListGroups | Op::CreateGroup => Role::None,
    };
    if kind.role() >= needs { 200 } else { 403 }
}

/// Whether the answer may carry the target group's secret value.
fn may_see_value(kind: Kind, same_tenant: bool, op: Op) -> bool {
    same_tenant
        && !kind.token_is_dead()
        && kind.role() >= Role::Editor
        && matches!(op, Op::GetSecret | Op::ListSecretsWithValues)
}

struct Tenant {
    name: String,
    admin_token: String,
    tokens: BTreeMap<Kind, String>,
    collaborators: Value,
}

async fn send(
    server: &TestServer,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, String) {
    let mut request = server.http().request(method, server.url(path)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

async fn ok_json(server: &TestServer, token: &str, method: reqwest::Method, path: &str, body: Value) -> Value {
    let (status, text) = send(server, token, method, path, Some(body)).await;
    assert_eq!(status, 200, "{path}: {text}");
    serde_json::from_str(&text).expect("JSON")
}

/// Sets up the cast of a tenant (see the module docs).
async fn cast(server: &TestServer, tenant: &str, admin_token: String) -> Tenant {
    let mut tokens = BTreeMap::new();
    tokens.insert(Kind::TenantAdmin, admin_token.clone());
    for kind in KINDS {
        if !matches!(kind, Kind::TenantAdmin | Kind::VirtualAccount) {
            tokens.insert(kind, server.user(tenant, &kind.email(tenant), false).await);
        }
    }
    let team = format!("editors-{tenant}");
    ok_json(
        server,
        &admin_token,
        reqwest::Method::PUT,
        "/api/svc/v1/teams",
        json!({"manifest": {"name": team, "members": [Kind::TeamMember.email(tenant)]}, "dryRun": false}),
    )
    .await;
    let account = format!("ci-{tenant}");
    let created = ok_json(
        server,
        &admin_token,
        reqwest::Method::PUT,
        "/api/svc/v1/virtual-accounts",
        json!({"manifest": {"name": account}, "dryRun": false}),
    )
    .await;
    tokens.insert(Kind::VirtualAccount, created["token"].as_str().expect("token on creation").to_owned());

    let collaborators = json!([
        {"subject": format!("user:{}", Kind::GroupAdmin.email(tenant)), "role_id": "secret-group-admin"},
        {"subject": format!("user:{}", Kind::Editor.email(tenant)), "role_id": "secret-group-editor"},
        {"subject": format!("user:{}", Kind::Viewer.email(tenant)), "role_id": "secret-group-viewer"},
        {"subject": format!("team:{team}"), "role_id": "secret-group-editor"},
        {"subject": format!("virtualaccount:{account}"), "role_id": "secret-group-editor"},
        {"subject": format!("user:{}", Kind::Expired.email(tenant)), "role_id": "secret-group-editor"},
        {"subject": format!("user:{}", Kind::Revoked.email(tenant)), "role_id": "secret-group-editor"},
        {"subject": format!("user:{}", Kind::Deactivated.email(tenant)), "role_id": "secret-group-editor"},
    ]);

    // Kill the three bad tokens, each its own way.
    let expired = server.state.keys.hash_token(&tokens[&Kind::Expired]);
    sqlx::query("UPDATE access_tokens SET expires_at = $1 WHERE token_hash = $2")
        .bind(secret_groups_server::store::now_ms() - 1)
        .bind(expired)
        .execute(server.state.db.pool())
        .await
        .expect("expire");
    let body = json!({"email": Kind::Revoked.email(tenant)});
    ok_json(server, &admin_token, reqwest::Method::DELETE, "/api/svc/v1/personal-access-tokens/revoke/all", body).await;
    let body = json!({"email": Kind::Deactivated.email(tenant)});
    ok_json(server, &admin_token, reqwest::Method::PATCH, "/api/svc/v1/users/deactivate", body).await;

    Tenant { name: tenant.to_owned(), admin_token, tokens, collaborators }
}

/// A group `name` in the tenant with one secret whose value is `value`, shared with the cast.
async fn group(server: &TestServer, tenant: &Tenant, name: &str, value: &str) -> (String, String) {
    let created = ok_json(
        server,
        &tenant.admin_token,
        reqwest::Method::POST,
        "/api/svc/v1/secret-groups",
        json!({"name": name, "integrationId": "internal-secret-store", "secrets": [{"key": "PASSWORD", "value": value}]}),
    )
    .await;
    let manifest = json!({"type": "secret-group", "name": name, "integration_fqn": "internal:secret-store:internal-secret-store",
                          "collaborators": tenant.collaborators});
    ok_json(
        server,
        &tenant.admin_token,
        reqwest::Method::PUT,
        "/api/svc/v1/secret-groups",
        json!({"manifest": manifest}),
    )
    .await;
    let id = created["data"]["id"].as_str().expect("id").to_owned();
    let secret = created["data"]["associatedSecrets"][0]["id"].as_str().expect("secret id").to_owned();
    (id, secret)
}

async fn every_caller_gets_exactly_its_rights_on_every_operation(backend: Backend) {
    // Dead tokens fail authentication on purpose about a hundred times here.
    let server = TestServer::start_with_auth_limit(backend, 0).await;
    let b_admin = server.other_tenant("tenant-b").await;
    let tenants = [cast(&server, "default", server.token.clone()).await, cast(&server, "tenant-b", b_admin).await];
    // The same group name in both tenants, each with its own value.
    let shared_name = unique("matrix");
    let mut targets = Vec::new();
    for tenant in &tenants {
        let value = format!("value-of-{}-{}", tenant.name, unique("v"));
        let (group_id, secret_id) = group(&server, tenant, &shared_name, &value).await;
        targets.push((group_id, secret_id, value));
    }

    let mut cells = 0;
    let mut failures = Vec::new();
    for (caller_index, caller) in tenants.iter().enumerate() {
        for kind in KINDS {
            let token = &caller.tokens[&kind];
            for (target_index, target_tenant) in tenants.iter().enumerate() {
                let same_tenant = caller_index == target_index;
                let (group_id, secret_id, value) = &targets[target_index];
                for op in OPS {
                    if op == Op::CreateGroup && !same_tenant {
                        continue; // creating targets no other tenant's object
                    }
                    // Destructive operations get a fresh group (same cast, same kind of value).
                    let (group_id, secret_id, value) = if matches!(op, Op::DeleteGroup | Op::DeleteSecret) {
                        let value = format!("value-of-{}-{}", target_tenant.name, unique("v"));
                        let (g, s) = group(&server, target_tenant, &unique("doomed"), &value).await;
                        (g, s, value)
                    } else {
                        (group_id.clone(), secret_id.clone(), value.clone())
                    };
                    let target_fqn = format!("{}:{shared_name}", target_tenant.name);
                    let (status, body) = match op {
                        Op::ListGroups => {
                            let path = format!("/api/svc/v1/secret-groups?fqn={target_fqn}");
                            send(&server, token, reqwest::Method::GET, &path, None).await
                        }
                        Op::GetGroup => {
                            send(
                                &server,
                                token,
                                reqwest::Method::GET,
                                &format!("/api/svc/v1/secret-groups/{group_id}"),
                                None,
                            )
                            .await
                        }
                        Op::UpdateSecrets => {
                            let path = format!("/api/svc/v1/secret-groups/{group_id}");
                            send(
                                &server,
                                token,
                                reqwest::Method::PUT,
                                &path,
                                Some(json!({"secrets": [{"key": "PASSWORD"}]})),
                            )
                            .await
                        }
                        Op::UpsertManifest => {
                            // Collaborators resolve in the caller's tenant, like the name.
                            let manifest = json!({"type": "secret-group", "name": shared_name,
                                                  "integration_fqn": "internal:secret-store:internal-secret-store",
                                                  "collaborators": caller.collaborators});
                            let body = json!({"manifest": manifest, "dryRun": true});
                            send(&server, token, reqwest::Method::PUT, "/api/svc/v1/secret-groups", Some(body)).await
                        }
                        Op::DeleteGroup => {
                            let path = format!("/api/svc/v1/secret-groups/{group_id}");
                            send(&server, token, reqwest::Method::DELETE, &path, None).await
                        }
                        Op::ListSecrets | Op::ListSecretsWithValues => {
                            let body = json!({"secretGroupId": group_id, "withValue": op == Op::ListSecretsWithValues});
                            send(&server, token, reqwest::Method::POST, "/api/svc/v1/secrets", Some(body)).await
                        }
                        Op::GetSecret => {
                            send(
                                &server,
                                token,
                                reqwest::Method::GET,
                                &format!("/api/svc/v1/secrets/{secret_id}"),
                                None,
                            )
                            .await
                        }
                        Op::DeleteSecret => {
                            let path = format!("/api/svc/v1/secrets/{secret_id}");
                            send(&server, token, reqwest::Method::DELETE, &path, None).await
                        }
                        Op::CreateGroup => {
                            let body =
                                json!({"name": unique("new"), "integrationId": "internal-secret-store", "secrets": []});
                            send(&server, token, reqwest::Method::POST, "/api/svc/v1/secret-groups", Some(body)).await
                        }
                    };
                    cells += 1;
                    let cell = format!(
                        "{}/{kind:?} → {} group, {op:?}",
                        caller.name,
                        if same_tenant { "own" } else { "other tenant's" }
                    );
                    let want = expected(kind, same_tenant, op);
                    if status != want {
                        failures.push(format!("{cell}: expected {want}, got {status}: {body}"));
                    }
                    if !may_see_value(kind, same_tenant, op) && body.contains(value.as_str()) {
                        failures.push(format!("{cell}: the value crossed a boundary: {body}"));
                    }
                    if may_see_value(kind, same_tenant, op) && want == 200 && !body.contains(value.as_str()) {
                        failures.push(format!("{cell}: the value is missing: {body}"));
                    }
                    if op == Op::ListGroups && status == 200 {
                        let listed: Value = serde_json::from_str(&body).expect("JSON");
                        let visible = same_tenant && kind.role() >= Role::Viewer;
                        let total = listed["pagination"]["total"].as_i64();
                        if total != Some(i64::from(visible)) {
                            failures
                                .push(format!("{cell}: expected {} visible group(s), got {body}", i64::from(visible)));
                        }
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} of {cells} cells wrong:\n{}", failures.len(), failures.join("\n"));
    assert_eq!(cells, 2 * KINDS.len() * (2 * OPS.len() - 1), "every cell ran");

    // The bystanders' own views after all that: the shared groups still hold their values.
    for (tenant, (group_id, secret_id, value)) in tenants.iter().zip(&targets) {
        let (status, body) =
            send(&server, &tenant.admin_token, reqwest::Method::GET, &format!("/api/svc/v1/secrets/{secret_id}"), None)
                .await;
        assert_eq!(status, 200, "{body}");
        assert!(body.contains(value.as_str()), "{group_id}: {body}");
    }
    server.stop().await;
}
