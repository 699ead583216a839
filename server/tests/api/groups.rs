//! `/api/svc/v1/secret-groups`: every operation through the generated client, on both backends.

use std::collections::BTreeMap;

use secret_groups_client::types;
use serde_json::{Value, json};

use crate::{
    harness::{
        Backend, TestServer, assert_http_error, create_group, expect_error, get_secret, json_of, unique, update_input,
    },
    on_both_backends,
};

on_both_backends!(
    create_returns_the_group_with_keys_but_no_values,
    list_pages_in_creation_order_and_ends_past_the_last_page,
    list_filters_by_exact_fqn_and_case_insensitive_search,
    duplicate_name_is_a_conflict_that_changes_nothing,
    concurrent_creates_of_one_name_make_exactly_one_group,
    update_versions_changed_values_keeps_bare_keys_and_deletes_omitted_ones,
    rejected_updates_change_nothing,
    create_or_update_matches_by_name_and_dry_run_stores_nothing,
    create_or_update_rejects_unknown_integrations_and_bad_collaborators,
    delete_removes_the_group_its_secrets_and_frees_the_name,
);

/// Every key of every object in `value`, recursively.
fn all_keys(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                out.push(key.clone());
                all_keys(inner, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|item| all_keys(item, out)),
        _ => {}
    }
}

fn is_millis_utc(text: &str) -> bool {
    // 2026-11-27T10:00:00.000Z
    text.len() == 24
        && text.ends_with('Z')
        && text.as_bytes()[19] == b'.'
        && chrono::DateTime::parse_from_rfc3339(text).is_ok()
}

async fn create_returns_the_group_with_keys_but_no_values(backend: Backend) {
    let server = TestServer::start(backend).await;
    let name = unique("payments");
    let body = json!({"name": name, "integrationId": "internal-secret-store",
                      "secrets": [{"key": "STRIPE_KEY", "value": "v-stripe"}, {"key": "DB_URL", "value": "v-db"}],
                      "someLegacyField": true});
    // Raw request, to see the exact JSON on the wire.
    let response = server
        .http()
        .post(server.url("/api/svc/v1/secret-groups"))
        .bearer_auth(&server.token)
        .header("accept", "*/*")
        .json(&body)
        .send()
        .await
        .expect("POST");
    let (status, created) = json_of(response).await;
    assert_eq!(status, 200, "{created}");
    let group = &created["data"];
    for field in
        ["id", "fqn", "name", "tenantName", "accountId", "integrationId", "createdBy", "createdAt", "updatedAt"]
    {
        assert!(group[field].as_str().is_some_and(|v| !v.is_empty()), "{field} missing in {group}");
    }
    assert_eq!(group["fqn"], format!("default:{name}"));
    assert_eq!(group["tenantName"], "default");
    assert_eq!(group["integrationId"], "internal-secret-store");
    assert_eq!(group["createdBy"], "admin@localhost");
    assert_eq!(group["createdBySubject"]["subjectType"], "user");
    assert!(is_millis_utc(group["createdAt"].as_str().unwrap_or_default()), "{}", group["createdAt"]);
    assert_eq!(
        group["manifest"],
        json!({"type": "secret-group", "name": name, "integration_fqn": "internal:secret-store:internal-secret-store",
               "collaborators": [{"subject": "user:admin@localhost", "role_id": "secret-group-admin"}]})
    );
    let keys: Vec<&str> =
        group["associatedSecrets"].as_array().expect("array").iter().filter_map(|s| s["name"].as_str()).collect();
    assert_eq!(keys, ["STRIPE_KEY", "DB_URL"]);
    assert_eq!(group["associatedSecrets"][0]["fqn"], format!("default:{name}:STRIPE_KEY"));
    let mut keys_on_wire = Vec::new();
    all_keys(&created, &mut keys_on_wire);
    assert!(!keys_on_wire.iter().any(|k| k == "value" || k == "secretVersions"), "values leaked: {created}");
    assert!(!created.to_string().contains("v-stripe"), "value leaked: {created}");

    // get returns the same group, and each secret starts at version 1.
    let client = server.client();
    let id = group["id"].as_str().expect("id");
    let fetched = client.get_secret_group().id(id).send().await.expect("get").into_inner().data;
    assert_eq!(serde_json::to_value(&fetched).expect("json")["fqn"], group["fqn"]);
    assert_eq!(fetched.associated_secrets.len(), 2);
    for secret in &fetched.associated_secrets {
        assert!(secret.value.is_none());
        let full = get_secret(&client, &secret.id).await;
        assert_eq!(full.secret_versions.len(), 1);
        assert_eq!(full.secret_versions[0].version, 1);
    }
    server.stop().await;
}

async fn list_pages_in_creation_order_and_ends_past_the_last_page(backend: Backend) {
    let server = TestServer::start(backend).await;
    let client = server.client();
    let marker = unique("pager");
    let mut created = Vec::new();
    for i in 0..5 {
        created.push(create_group(&client, &format!("{marker}-{i}"), &[("K", "v")]).await.id);
    }
    // Walk the pages exactly as TrueFoundry's SDK does: offset += len(data) until data is empty.
    let mut seen = Vec::new();
    let mut offset = 0;
    let mut requests = 0;
    loop {
        let page = client
            .list_secret_groups()
            .search(marker.as_str())
            .limit(std::num::NonZeroU64::new(2).expect("2"))
            .offset(offset)
            .send()
            .await
            .expect("list")
            .into_inner();
        requests += 1;
        assert_eq!(page.pagination.total, 5);
        assert_eq!(page.pagination.offset, offset);
        assert_eq!(page.pagination.limit, 2);
        if page.data.is_empty() {
            break;
        }
        offset += i64::try_from(page.data.len()).expect("small");
        seen.extend(page.data.into_iter().map(|g| g.id));
        assert!(requests < 10, "the pager does not end");
    }
    assert_eq!(requests, 4, "pages at offsets 0, 2, 4, 5");
    assert_eq!(seen, created, "every group once, in creation order");

    let past =
        client.list_secret_groups().search(marker.as_str()).offset(1000).send().await.expect("list").into_inner();
    assert!(past.data.is_empty());
    assert_eq!(past.pagination.total, 5);
    server.stop().await;
}

async fn list_filters_by_exact_fqn_and_case_insensitive_search(backend: Backend) {
    let server = TestServer::start(backend).await;
    let client = server.client();
    let name = unique("Billing");
    let group = create_group(&client, &name, &[("Stripe_Webhook_Key", "v")]).await;
    let other = create_group(&client, &format!("{name}-x"), &[("K", "v")]).await;

    let by_fqn = client
        .list_secret_groups()
        .fqn(format!("default:{name}"))
        .limit(std::num::NonZeroU64::MIN)
        .send()
        .await
        .expect("list")
        .into_inner();
    assert_eq!(by_fqn.data.iter().map(|g| g.id.as_str()).collect::<Vec<_>>(), [group.id.as_str()]);
    assert_eq!(by_fqn.pagination.total, 1, "exact match, not a prefix");

    let wrong_tenant =
        client.list_secret_groups().fqn(format!("elsewhere:{name}")).send().await.expect("list").into_inner();
    assert!(wrong_tenant.data.is_empty());

    // A substring of a secret key, in another case, finds the group holding it.
    let by_key = client.list_secret_groups().search("WEBHOOK_key").send().await.expect("list").into_inner();
    assert_eq!(by_key.data.iter().map(|g| g.id.as_str()).collect::<Vec<_>>(), [group.id.as_str()]);
    // A substring of the name in another case finds both.
    let by_name = client.list_secret_groups().search(name.to_lowercase()).send().await.expect("list").into_inner();
    assert_eq!(by_name.data.len(), 2);
    assert_eq!(by_name.data[1].id, other.id);
    // LIKE wildcards are taken literally.
    let wildcard = client.list_secret_groups().search("%").send().await.expect("list").into_inner();
    assert!(wildcard.data.is_empty());

    // `attributes` as repeated keys and comma-separated: accepted, every field still returned.
    for query in ["attributes=id&attributes=name", "attributes=id,name"] {
        let url = server.url(&format!("/api/svc/v1/secret-groups?search={name}&{query}"));
        let (status, body) =
            json_of(server.http().get(url).bearer_auth(&server.token).send().await.expect("GET")).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"][0]["tenantName"], "default", "{body}");
    }
    server.stop().await;
}

async fn duplicate_name_is_a_conflict_that_changes_nothing(backend: Backend) {
    let server = TestServer::start(backend).await;
    let client = server.client();
    let name = unique("dup");
    let first = create_group(&client, &name, &[("A", "original")]).await;
    let result = client
        .create_secret_group()
        .body(types::CreateSecretGroupRequest {
            name: name.parse().expect("name"),
            integration_id: "internal-secret-store".parse().expect("id"),
            secrets: vec![crate::harness::secret_input("A", "replaced"), crate::harness::secret_input("B", "new")],
        })
        .send()
        .await;
    let (status, error) = expect_error(result);
    assert_eq!(status, 409);
    assert_eq!(error.code.as_deref(), Some("conflict"));
    assert!(error.message.contains("already exists"), "{}", error.message);

    let listed = client.list_secret_groups().fqn(format!("default:{name}")).send().await.expect("list").into_inner();
    assert_eq!(listed.pagination.total, 1);
    let group = &listed.data[0];
    assert_eq!(group.id, first.id);
    assert_eq!(group.associated_secrets.len(), 1);
    assert_eq!(get_secret(&client, &group.associated_secrets[0].id).await.value.as_deref(), Some("original"));
    server.stop().await;
}

async fn concurrent_creates_of_one_name_make_exactly_one_group(backend: Backend) {
    let server = TestServer::start(backend).await;
    let name = unique("race");
    let mut tasks = Vec::new();
    for i in 0..8 {
        let client = server.client();
        let name = name.clone();
        tasks.push(tokio::spawn(async move {
            client
                .create_secret_group()
                .body(types::CreateSecretGroupRequest {
                    name: name.parse().expect("name"),
                    integration_id: "internal-secret-store".parse().expect("id"),
                    secrets: vec![crate::harness::secret_input("K", &format!("v{i}"))],
                })
                .send()
                .await
                .map(|_| ())
                .map_err(|e| e.status().map(|s| s.as_u16()))
        }));
    }
    let mut statuses = BTreeMap::new();
    for task in tasks {
        let status = match task.await.expect("task") {
            Ok(()) => 200,
            Err(status) => status.expect("an HTTP answer"),
        };
        *statuses.entry(status).or_insert(0) += 1;
    }
    assert_eq!(statuses, BTreeMap::from([(200, 1), (409, 7)]));
    let listed =
        server.client().list_secret_groups().fqn(format!("default:{name}")).send().await.expect("list").into_inner();
    assert_eq!(listed.pagination.total, 1);
    assert_eq!(listed.data[0].associated_secrets.len(), 1, "the winner's secrets, nothing else");
    server.stop().await;
}

async fn update_versions_changed_values_keeps_bare_keys_and_deletes_omitted_ones(backend: Backend) {
    let server = TestServer::start(backend).await;
    let client = server.client();
    let group = create_group(&client, &unique("upd"), &[("A", "a1"), ("B", "b1"), ("C", "c1"), ("E", "e1")]).await;
    let ids: BTreeMap<String, String> =
        group.associated_secrets.iter().map(|s| (s.name.clone(), s.id.clone())).collect();

    let updated = client
        .update_secret_group()
        .id(&group.id)
        .body(types::UpdateSecretGroupRequest {
            secrets: vec![
                update_input("A", Some("a2")),
                update_input("B", None),
                update_input("E", Some("e1")),
                update_input("D", Some("d1")),
            ],
        })
        .send()
        .await
        .expect("update")
        .into_inner()
        .data;
    let names: Vec<&str> = updated.associated_secrets.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["A", "B", "E", "D"]);
    assert!(updated.associated_secrets.iter().all(|s| s.value.is_none()));
    assert!(updated.updated_at >= group.updated_at);

    let a = get_secret(&client, &ids["A"]).await;
    assert_eq!(a.value.as_deref(), Some("a2"));
    let versions: Vec<(i64, Option<&str>)> =
        a.secret_versions.iter().map(|v| (v.version, v.value.as_deref())).collect();
    assert_eq!(versions, [(1, Some("a1")), (2, Some("a2"))], "a changed value adds a version");
    assert_eq!(a.secret_versions[1].fqn, format!("{}:2", a.fqn));

    let b = get_secret(&client, &ids["B"]).await;
    assert_eq!((b.value.as_deref(), b.secret_versions.len()), (Some("b1"), 1), "a bare key keeps its value");
    let e = get_secret(&client, &ids["E"]).await;
    assert_eq!(e.secret_versions.len(), 1, "an unchanged value adds no version");

    let (status, _) = expect_error(client.get_secret().id(&ids["C"]).send().await);
    assert_eq!(status, 404, "an omitted key is deleted");
    let d = updated.associated_secrets.iter().find(|s| s.name == "D").expect("D");
    let d = get_secret(&client, &d.id).await;
    assert_eq!((d.value.as_deref(), d.secret_versions[0].version), (Some("d1"), 1));

    // null behaves like an absent value.
    let response = server
        .http()
        .put(server.url(&format!("/api/svc/v1/secret-groups/{}", group.id)))
        .bearer_auth(&server.token)
        .json(&json!({"secrets": [{"key": "A", "value": null}]}))
        .send()
        .await
        .expect("PUT");
    assert_eq!(response.status(), 200);
    assert_eq!(get_secret(&client, &ids["A"]).await.secret_versions.len(), 2);
    server.stop().await;
}

async fn rejected_updates_change_nothing(backend: Backend) {
    let server = TestServer::start(backend).await;
    let client = server.client();
    let group = create_group(&client, &unique("rej"), &[("A", "a1"), ("B", "b1")]).await;
    let url = server.url(&format!("/api/svc/v1/secret-groups/{}", group.id));
    for (body, field) in [
        (json!({"secrets": [{"key": "A", "value": "changed"}, {"key": "NEW"}]}), "secrets[1].value"),
        (json!({"secrets": [{"key": "A", "value": "x"}, {"key": "A", "value": "y"}]}), "secrets[1].key"),
        (json!({"secrets": []}), "secrets"),
        (json!({"secrets": [{"key": "1bad", "value": "x"}]}), "secrets[0].key"),
        (json!({"secrets": [{"value": "x"}]}), "secrets[0]"),
    ] {
        let response = server.http().put(&url).bearer_auth(&server.token).json(&body).send().await.expect("PUT");
        let error = assert_http_error(response, 422, "validation_failed").await;
        let detail = error["details"][0]["field"].as_str().unwrap_or_else(|| error["message"].as_str().unwrap_or(""));
        assert!(detail.contains(field), "{body} → {error}");
    }
    let after = client.get_secret_group().id(&group.id).send().await.expect("get").into_inner().data;
    assert_eq!(after.associated_secrets.len(), 2);
    assert_eq!(after.updated_at, group.updated_at);
    let a = get_secret(&client, &after.associated_secrets[0].id).await;
    assert_eq!((a.value.as_deref(), a.secret_versions.len()), (Some("a1"), 1));

    let (status, _) = expect_error(
        client
            .update_secret_group()
            .id("no-such-group")
            .body(types::UpdateSecretGroupRequest { secrets: vec![update_input("A", Some("x"))] })
            .send()
            .await,
    );
    assert_eq!(status, 404);
    server.stop().await;
}

fn manifest(name: &str, collaborators: Option<Vec<(&str, types::CollaboratorRoleId)>>) -> types::SecretGroupManifest {
    types::SecretGroupManifest {
        type_: types::SecretGroupManifestType::SecretGroup,
        name: name.parse().expect("name"),
        integration_fqn: "internal:secret-store:internal-secret-store".parse().expect("fqn"),
        collaborators: collaborators.map(|list| {
            list.into_iter()
                .map(|(subject, role_id)| types::Collaborator { subject: subject.parse().expect("subject"), role_id })
                .collect()
        }),
        owned_by: None,
    }
}

async fn create_or_update_matches_by_name_and_dry_run_stores_nothing(backend: Backend) {
    let server = TestServer::start(backend).await;
    let client = server.client();
    let name = unique("manifest");
    let upsert = |manifest: types::SecretGroupManifest, dry_run: bool| {
        client
            .create_or_update_secret_group()
            .body(types::CreateOrUpdateSecretGroupRequest { manifest, dry_run: Some(dry_run) })
            .send()
    };

    // dryRun on a new name: answered as it would be, stored nowhere.
    let dry = upsert(manifest(&name, None), true).await.expect("dry run").into_inner().data;
    assert_eq!(dry.name, name);
    let listed = client.list_secret_groups().fqn(format!("default:{name}")).send().await.expect("list").into_inner();
    assert_eq!(listed.pagination.total, 0, "dryRun stored a group");

    // Creates with no secrets; the creator becomes the group's admin.
    let created = upsert(manifest(&name, None), false).await.expect("create").into_inner().data;
    assert!(created.associated_secrets.is_empty());
    let collaborators = created.manifest.collaborators.clone().unwrap_or_default();
    assert_eq!(collaborators.len(), 1);
    assert_eq!(collaborators[0].subject.as_str(), "user:admin@localhost");
    assert_eq!(collaborators[0].role_id, types::CollaboratorRoleId::SecretGroupAdmin);
    client
        .update_secret_group()
        .id(&created.id)
        .body(types::UpdateSecretGroupRequest { secrets: vec![update_input("KEEP", Some("kept"))] })
        .send()
        .await
        .expect("add a secret");

    // Updates the same group (matched by name), leaving its secrets alone. Collaborators must
    // name existing users and teams.
    let ops = json!({"manifest": {"name": "ops", "members": []}});
    let response =
        server.http().put(server.url("/api/svc/v1/teams")).bearer_auth(&server.token).json(&ops).send().await;
    assert_eq!(response.expect("PUT team").status(), 200);
    let collaborators = vec![
        ("user:admin@localhost", types::CollaboratorRoleId::SecretGroupAdmin),
        ("team:ops", types::CollaboratorRoleId::SecretGroupViewer),
    ];
    let updated = upsert(manifest(&name, Some(collaborators.clone())), false).await.expect("update").into_inner().data;
    assert_eq!(updated.id, created.id);
    assert_eq!(updated.associated_secrets.len(), 1);
    assert_eq!(updated.manifest.collaborators.as_ref().map(Vec::len), Some(2));

    // dryRun on an existing group changes nothing.
    let dry = upsert(manifest(&name, Some(vec![])), true).await.expect("dry run").into_inner().data;
    assert_eq!(dry.manifest.collaborators.as_ref().map(Vec::len), Some(0));
    let stored = client.get_secret_group().id(&created.id).send().await.expect("get").into_inner().data;
    assert_eq!(stored.manifest.collaborators.as_ref().map(Vec::len), Some(2));
    server.stop().await;
}

async fn create_or_update_rejects_unknown_integrations_and_bad_collaborators(backend: Backend) {
    let server = TestServer::start(backend).await;
    let name = unique("badmanifest");
    let url = server.url("/api/svc/v1/secret-groups");
    let cases = [
        (
            json!({"type": "secret-group", "name": name, "integration_fqn": "internal:aws:aws-1:secret-store:x"}),
            404,
            "not_found",
        ),
        (
            json!({"type": "secret-group", "name": name, "integration_fqn": "internal:secret-store:internal-secret-store",
                "collaborators": [{"subject": "nobody", "role_id": "secret-group-admin"}]}),
            422,
            "validation_failed",
        ),
        (
            json!({"type": "secret-group", "name": name, "integration_fqn": "internal:secret-store:internal-secret-store",
                "collaborators": [{"subject": "user:a@b.c", "role_id": "owner"}]}),
            422,
            "validation_failed",
        ),
        (
            json!({"type": "other", "name": name, "integration_fqn": "internal:secret-store:internal-secret-store"}),
            422,
            "validation_failed",
        ),
        (
            json!({"type": "secret-group", "name": "bad name", "integration_fqn": "internal:secret-store:internal-secret-store"}),
            422,
            "validation_failed",
        ),
    ];
    for (manifest, status, code) in cases {
        let response = server
            .http()
            .put(&url)
            .bearer_auth(&server.token)
            .json(&json!({"manifest": manifest, "dryRun": false}))
            .send()
            .await
            .expect("PUT");
        assert_http_error(response, status, code).await;
    }
    let listed = server.client().list_secret_groups().search(name.as_str()).send().await.expect("list").into_inner();
    assert_eq!(listed.pagination.total, 0, "a rejected manifest stored something");
    server.stop().await;
}

async fn delete_removes_the_group_its_secrets_and_frees_the_name(backend: Backend) {
    let server = TestServer::start(backend).await;
    let client = server.client();
    let name = unique("gone");
    let group = create_group(&client, &name, &[("A", "1"), ("B", "2")]).await;

    let response = server
        .http()
        .delete(server.url(&format!("/api/svc/v1/secret-groups/{}?forceDelete=true", group.id)))
        .bearer_auth(&server.token)
        .send()
        .await
        .expect("DELETE");
    let (status, body) = json_of(response).await;
    assert_eq!((status, body), (200, json!({})));

    let (status, error) = expect_error(client.get_secret_group().id(&group.id).send().await);
    assert_eq!((status, error.code.as_deref()), (404, Some("not_found")));
    for secret in &group.associated_secrets {
        let (status, _) = expect_error(client.get_secret().id(&secret.id).send().await);
        assert_eq!(status, 404, "secrets go with their group");
    }
    let (status, _) = expect_error(client.delete_secret_group().id(&group.id).send().await);
    assert_eq!(status, 404, "a second delete finds nothing");

    let again = create_group(&client, &name, &[("A", "new")]).await;
    assert_ne!(again.id, group.id);
    server.stop().await;
}
