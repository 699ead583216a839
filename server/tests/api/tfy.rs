//! What TrueFoundry's own CLI (`tfy`) and the SDK's generic client need: tokens the CLI takes
//! for personal access tokens, the discovery calls, and apply / delete / dependency-tree by
//! manifest, on both backends, through the generated client (raw HTTP only where a call goes
//! without a token).

use secret_groups_client::types;
use secret_groups_server::{
    auth, authz,
    sensitive::SecretString,
    store::{identity, tokens},
};
use serde_json::{Map, Value, json};

use crate::{
    harness::{Backend, TestServer, assert_http_error, create_group, expect_error, json_of, unique},
    on_both_backends,
};

on_both_backends!(
    new_tokens_start_with_tfy_and_tokens_issued_before_keep_working,
    a_bootstrap_token_of_the_former_form_is_still_accepted,
    discovery_needs_no_token_until_the_session_and_never_trusts_the_host,
    apply_creates_then_updates_and_answers_what_was_there,
    dry_run_applies_store_nothing,
    apply_refuses_other_types_and_keeps_the_type_specific_rules,
    delete_by_manifest_follows_the_type_specific_rules,
    dependency_tree_orders_teams_then_groups_then_accounts,
);

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

async fn apply(
    client: &secret_groups_client::Client,
    manifest: Value,
    dry_run: bool,
) -> Result<types::ApplyResponse, (u16, types::HttpError)> {
    let body = types::ApplyRequest { manifest: object(manifest), dry_run: Some(dry_run), force: None };
    match client.apply_manifest().body(body).send().await {
        Ok(answer) => Ok(answer.into_inner()),
        Err(err) => Err(expect_error::<()>(Err(err))),
    }
}

fn group_manifest(name: &str, collaborators: Value) -> Value {
    json!({"type": "secret-group", "name": name,
           "integration_fqn": "internal:secret-store:internal-secret-store", "collaborators": collaborators})
}

async fn new_tokens_start_with_tfy_and_tokens_issued_before_keep_working(backend: Backend) {
    let server = TestServer::start(backend).await;
    let client = server.client();
    let created = client
        .create_personal_access_token()
        .body(types::CreatePersonalAccessTokenRequest {
            name: unique("pat").parse().expect("name"),
            expiration_date: None,
        })
        .send()
        .await
        .expect("create a token")
        .into_inner();
    // truefoundry 0.17.5 takes a key starting `tfy_` for a personal access token; any other it
    // decodes as a JWT ("Not enough segments").
    assert!(created.token.starts_with("tfy_sg_") && created.token.len() == 50, "{} chars", created.token.len());
    assert!(server.client_with(&created.token).get_session().send().await.is_ok());

    // A token issued before this version: `sgt_` + the same 43 characters, stored by its hash.
    let legacy = format!("sgt_{}", &auth::generate_token()[auth::TOKEN_PREFIX.len()..]);
    let tenant = identity::tenant_by_name(&server.state.db, "default").await.expect("tenant");
    let grant = authz::operator_issues_token(&tenant.id, "admin@localhost");
    tokens::create_pat(&server.state.db, &grant, "legacy", &server.state.keys.hash_token(&legacy), None)
        .await
        .expect("store the token");
    let session = server.client_with(&legacy).get_session().send().await.expect("an sgt_ token works").into_inner();
    assert_eq!(session.user.email.as_deref(), Some("admin@localhost"));
    // Another prefix with the same body is not a token of this server's.
    let other = legacy.replacen("sgt_", "tfy_", 1);
    let response = server.http().get(server.url("/api/svc/v1/session")).bearer_auth(other).send().await.expect("send");
    assert_http_error(response, 401, "unauthenticated").await;
    server.stop().await;
}

async fn a_bootstrap_token_of_the_former_form_is_still_accepted(backend: Backend) {
    let legacy = format!("sgt_{}", &auth::generate_token()[auth::TOKEN_PREFIX.len()..]);
    let chosen = legacy.clone();
    let server =
        TestServer::start_with(backend, move |args| args.bootstrap_token = Some(SecretString::new(chosen))).await;
    let session = server.client_with(&legacy).get_session().send().await.expect("the bootstrap token works");
    assert_eq!(session.into_inner().user.tenant_name, "default");
    server.stop().await;
}

async fn discovery_needs_no_token_until_the_session_and_never_trusts_the_host(backend: Backend) {
    let server = TestServer::start(backend).await;
    let http = server.http();
    let (status, versions) =
        json_of(http.get(server.url("/api/svc/v1/min-cli-version")).send().await.expect("send")).await;
    assert_eq!(status, 200, "{versions}");
    assert_eq!(
        versions,
        json!({"minVersion": "0.17.5", "truefoundryCliMinVersion": "0.17.5", "useSFYServerAuthAPIs": true})
    );

    let other_admin = server.other_tenant("acme").await;
    // The CLI sends the host it was given; whatever it says, the answer is the default tenant.
    for host in ["127.0.0.1:8080", "acme", "acme.example.com"] {
        let url = server.url("/api/svc/v1/tenant-id");
        let response = http.get(url).query(&[("hostName", host)]).send().await.expect("send");
        let (status, tenant) = json_of(response).await;
        assert_eq!((status, tenant), (200, json!({"tenantName": "default", "auth_server_url": ""})), "{host}");
    }

    let response = http.get(server.url("/api/svc/v1/session")).send().await.expect("send");
    assert_http_error(response, 401, "unauthenticated").await;
    let session = server.client().get_session().send().await.expect("session").into_inner();
    assert_eq!(session.user.email.as_deref(), Some("admin@localhost"));
    assert_eq!((session.user.tenant_name.as_str(), session.tenant_info.tenant_name.as_str()), ("default", "default"));
    assert_eq!(session.user.subject.subject_slug.as_deref(), Some("admin@localhost"));
    // The tenant comes from the token.
    let theirs = server.client_with(&other_admin).get_session().send().await.expect("session").into_inner();
    assert_eq!((theirs.user.tenant_name.as_str(), theirs.user.email.as_deref()), ("acme", Some("admin@other")));
    server.stop().await;
}

async fn apply_creates_then_updates_and_answers_what_was_there(backend: Backend) {
    let server = TestServer::start(backend).await;
    let client = server.client();
    server.user("default", "dev@example.com", false).await;
    let (team, group, account) = (unique("team"), unique("payments"), unique("ci"));

    let team_manifest = json!({"type": "team", "name": team, "members": ["dev@example.com"]});
    let created = apply(&client, team_manifest.clone(), false).await.expect("team");
    assert_eq!((created.action, created.existing_manifest.is_empty()), (types::ApplyResponseAction::Create, true));
    assert_eq!(created.data["name"], json!(team));

    let collaborators = json!([{"subject": "user:admin@localhost", "role_id": "secret-group-admin"},
                               {"subject": format!("team:{team}"), "role_id": "secret-group-editor"}]);
    let manifest = group_manifest(&group, collaborators);
    let created = apply(&client, manifest.clone(), false).await.expect("group");
    assert_eq!(created.action, types::ApplyResponseAction::Create);
    assert_eq!(created.data["fqn"], json!(format!("default:{group}")));
    assert!(created.token.is_none());
    // A secret, so that a re-apply can be seen not to touch values or versions.
    let id = created.data["id"].as_str().expect("id").to_owned();
    client
        .update_secret_group()
        .id(&id)
        .body(types::UpdateSecretGroupRequest { secrets: vec![crate::harness::update_input("KEY", Some("v1"))] })
        .send()
        .await
        .expect("set a secret");

    let again = apply(&client, manifest.clone(), false).await.expect("re-apply");
    assert_eq!(again.action, types::ApplyResponseAction::Update);
    // Unchanged: what was there is exactly what was sent, so `--show-diff` shows nothing.
    assert_eq!(Value::Object(again.existing_manifest.clone()), manifest);
    let group_now = client.get_secret_group().id(&id).send().await.expect("get").into_inner().data;
    assert_eq!(group_now.associated_secrets.len(), 1);
    assert_eq!(group_now.associated_secrets[0].fqn, format!("default:{group}:KEY"));
    let secret = crate::harness::get_secret(&client, &group_now.associated_secrets[0].id).await;
    assert_eq!(secret.secret_versions.len(), 1, "a re-apply makes no new version");

    let account_manifest = json!({"type": "virtual-account", "name": account, "permissions": [
        {"resource_fqn": format!("default:{group}"), "resource_type": "secret-group", "role_id": "secret-group-viewer"}]});
    let created = apply(&client, account_manifest.clone(), false).await.expect("account");
    assert_eq!(created.action, types::ApplyResponseAction::Create);
    let token = created.token.expect("a new account's token is in the answer");
    let seen = server.client_with(&token).get_secret_group().id(&id).send().await.expect("the account sees the group");
    assert_eq!(seen.into_inner().data.name, group);
    // Re-applied without `permissions`, which an update keeps: not shown as removed.
    let updated = apply(&client, json!({"type": "virtual-account", "name": account}), false).await.expect("update");
    assert_eq!(updated.action, types::ApplyResponseAction::Update);
    assert!(updated.token.is_none() && !updated.existing_manifest.contains_key("permissions"));
    assert_eq!(updated.data["manifest"]["permissions"], account_manifest["permissions"]);
    server.stop().await;
}

async fn dry_run_applies_store_nothing(backend: Backend) {
    let server = TestServer::start(backend).await;
    let client = server.client();
    let (group, team) = (unique("dry"), unique("team"));
    let admin = json!([{"subject": "user:admin@localhost", "role_id": "secret-group-admin"}]);

    let answer = apply(&client, group_manifest(&group, admin.clone()), true).await.expect("dry create");
    assert_eq!(answer.action, types::ApplyResponseAction::Create);
    assert_eq!(answer.data["name"], json!(group));
    let team_answer = apply(&client, json!({"type": "team", "name": team, "members": []}), true).await.expect("dry");
    assert_eq!(team_answer.action, types::ApplyResponseAction::Create);
    let response = client.list_secret_groups().fqn(format!("default:{group}")).send().await.expect("list");
    assert_eq!(response.into_inner().pagination.total, 0, "a dry-run create stores nothing");
    let teams = client.list_teams().send().await.expect("teams").into_inner();
    assert!(teams.data.iter().all(|t| t.name != team), "a dry-run team is stored");

    apply(&client, group_manifest(&group, admin.clone()), false).await.expect("create");
    let changed = group_manifest(
        &group,
        json!([{"subject": "user:admin@localhost", "role_id": "secret-group-admin"},
                                               {"subject": "virtualaccount:nobody", "role_id": "secret-group-viewer"}]),
    );
    let refused = apply(&client, changed, true).await.expect_err("names no account");
    assert_eq!(refused.0, 404, "{refused:?}");
    server.user("default", "dev@example.com", false).await;
    let changed = group_manifest(
        &group,
        json!([{"subject": "user:admin@localhost", "role_id": "secret-group-admin"},
                                               {"subject": "user:dev@example.com", "role_id": "secret-group-viewer"}]),
    );
    let answer = apply(&client, changed, true).await.expect("dry update");
    assert_eq!(answer.action, types::ApplyResponseAction::Update);
    assert_eq!(Value::Object(answer.existing_manifest), group_manifest(&group, admin.clone()));
    assert_eq!(answer.data["manifest"]["collaborators"].as_array().map(Vec::len), Some(2), "as it would be");
    let listed = client.list_secret_groups().fqn(format!("default:{group}")).send().await.expect("list").into_inner();
    assert_eq!(
        listed.data[0].manifest.collaborators.as_ref().map(Vec::len),
        Some(1),
        "a dry-run update stores nothing"
    );
    server.stop().await;
}

async fn apply_refuses_other_types_and_keeps_the_type_specific_rules(backend: Backend) {
    let server = TestServer::start(backend).await;
    let client = server.client();
    let name = unique("svc");
    let (status, error) = apply(&client, json!({"type": "service", "name": name, "image": {"type": "image"}}), false)
        .await
        .expect_err("422");
    assert_eq!((status, error.code.as_deref()), (422, Some("validation_failed")));
    assert!(
        error.message.contains("secret-group, team, virtual-account") && error.message.contains("service"),
        "{}",
        error.message
    );
    let (status, _) = apply(&client, json!({"name": name}), false).await.expect_err("no type");
    assert_eq!(status, 422);
    // Nothing stored under that name, of any type.
    for kind in ["secret-group", "team", "virtual-account"] {
        let response = client
            .delete_manifest()
            .body(types::DeleteManifestRequest { manifest: object(json!({"type": kind, "name": name})) })
            .send()
            .await;
        assert_eq!(expect_error(response).0, 404, "{kind}");
    }

    // The type-specific rules, unchanged: the group's integration, a member's rights.
    let wrong = json!({"type": "secret-group", "name": name, "integration_fqn": "aws:secrets:other"});
    let (status, error) = apply(&client, wrong, false).await.expect_err("unknown integration");
    assert_eq!(status, 404, "{error:?}");
    let (status, error) = apply(&client, group_manifest("-bad", json!([])), false).await.expect_err("bad name");
    assert_eq!((status, error.code.as_deref()), (422, Some("validation_failed")));
    assert!(error.message.contains("manifest.name"), "{}", error.message);
    let member = server.user("default", "member@example.com", false).await;
    let member = server.client_with(&member);
    let (status, _) =
        apply(&member, json!({"type": "virtual-account", "name": name}), false).await.expect_err("admins only");
    assert_eq!(status, 403);
    let group = unique("admins-only");
    create_group(&client, &group, &[("K", "v")]).await;
    let (status, _) =
        apply(&member, group_manifest(&group, json!([])), false).await.expect_err("not the group's admin");
    assert_eq!(status, 403);
    server.stop().await;
}

async fn delete(
    client: &secret_groups_client::Client,
    kind: &str,
    name: &str,
) -> Result<progenitor_client::ResponseValue<types::EmptyResponse>, progenitor_client::Error<types::HttpError>> {
    let body = types::DeleteManifestRequest { manifest: object(json!({"type": kind, "name": name})) };
    client.delete_manifest().body(body).send().await
}

async fn delete_by_manifest_follows_the_type_specific_rules(backend: Backend) {
    let server = TestServer::start(backend).await;
    let client = server.client();
    let (group, team, account) = (unique("gone"), unique("team"), unique("ci"));
    let created = create_group(&client, &group, &[("K", "v")]).await;
    let member = server.user("default", "member@example.com", false).await;
    let member = server.client_with(&member);
    assert_eq!(expect_error(delete(&member, "secret-group", &group).await).0, 403, "not the group's admin");
    delete(&client, "secret-group", &group).await.expect("delete the group");
    assert_eq!(expect_error(client.get_secret_group().id(&created.id).send().await).0, 404);
    assert_eq!(expect_error(delete(&client, "secret-group", &group).await).0, 404, "gone already");

    apply(&client, json!({"type": "team", "name": team, "members": []}), false).await.expect("team");
    delete(&client, "team", &team).await.expect("delete the team");
    let answer = apply(&client, json!({"type": "virtual-account", "name": account}), false).await.expect("account");
    let token = answer.token.expect("token");
    assert!(server.client_with(&token).get_session().send().await.is_ok());
    assert_eq!(expect_error(delete(&member, "virtual-account", &account).await).0, 403, "admins only");
    delete(&client, "virtual-account", &account).await.expect("delete the account");
    let response = server.http().get(server.url("/api/svc/v1/session")).bearer_auth(&token).send().await.expect("send");
    assert_http_error(response, 401, "unauthenticated").await;
    let (status, error) = expect_error(delete(&client, "cluster", &account).await);
    assert_eq!(status, 422);
    assert!(error.message.contains("secret-group, team, virtual-account"), "{}", error.message);
    server.stop().await;
}

async fn dependency_tree_orders_teams_then_groups_then_accounts(backend: Backend) {
    let server = TestServer::start(backend).await;
    let manifests = vec![
        object(json!({"type": "virtual-account", "name": "ci", "permissions": [
            {"resource_fqn": "default:payments", "resource_type": "secret-group", "role_id": "secret-group-viewer"}]})),
        object(json!({"type": "cluster", "name": "big"})),
        object(group_manifest("payments", json!([{"subject": "team:payers", "role_id": "secret-group-editor"}]))),
        object(json!({"type": "team", "name": "payers", "members": []})),
    ];
    let body = types::DependencyTreeRequest { manifests };
    let tree = server.client().resolve_dependency_tree().body(body).send().await.expect("tree").into_inner();
    let order: Vec<(String, String, Vec<String>)> = tree
        .data
        .into_iter()
        .map(|r| {
            let deps = r.dependencies.into_iter().map(|d| format!("{}:{}", d.resource_type, d.resource_name)).collect();
            (r.resource_type, r.resource_name, deps)
        })
        .collect();
    let expected: Vec<(String, String, Vec<String>)> = vec![
        ("team".into(), "payers".into(), vec![]),
        ("secret-group".into(), "payments".into(), vec!["team:payers".into()]),
        ("virtual-account".into(), "ci".into(), vec!["secret-group:payments".into()]),
        ("cluster".into(), "big".into(), vec![]),
    ];
    assert_eq!(order, expected);
    let response = server
        .http()
        .post(server.url("/api/svc/v1/dependency-tree"))
        .json(&json!({"manifests": []}))
        .send()
        .await
        .expect("send");
    assert_http_error(response, 401, "unauthenticated").await;
    server.stop().await;
}
