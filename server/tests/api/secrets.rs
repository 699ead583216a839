//! `/api/svc/v1/secrets`: list, get with versions, delete, on both backends.

use secret_groups_client::types;
use serde_json::json;

use crate::{
    harness::{Backend, TestServer, assert_http_error, create_group, expect_error, get_secret, json_of, unique},
    on_both_backends,
};

on_both_backends!(
    list_by_group_shows_values_only_when_asked,
    list_by_fqns_matches_exactly_and_accepts_the_uri_form,
    list_treats_nulls_as_absent_and_pages_to_an_empty_page,
    list_of_an_unknown_group_is_not_found,
    get_returns_the_value_and_versions_oldest_first,
    delete_answers_one_and_removes_the_secret_from_its_group,
);

fn list_request(group_id: Option<&str>, fqns: Option<Vec<String>>, with_value: bool) -> types::ListSecretsRequest {
    types::ListSecretsRequest {
        limit: std::num::NonZeroU64::new(100),
        offset: Some(0),
        secret_fqns: fqns,
        secret_group_id: group_id.map(str::to_owned),
        with_value: Some(with_value),
    }
}

async fn list_by_group_shows_values_only_when_asked(backend: Backend) {
    let server = TestServer::start(backend).await;
    let client = server.client();
    let group = create_group(&client, &unique("vals"), &[("A", "value-a"), ("B", "value-b")]).await;
    create_group(&client, &unique("noise"), &[("A", "other")]).await;

    let with =
        client.list_secrets().body(list_request(Some(&group.id), None, true)).send().await.expect("list").into_inner();
    assert_eq!(with.pagination.total, 2);
    let pairs: Vec<(&str, Option<&str>)> = with.data.iter().map(|s| (s.name.as_str(), s.value.as_deref())).collect();
    assert_eq!(pairs, [("A", Some("value-a")), ("B", Some("value-b"))]);
    assert!(with.data.iter().all(|s| s.secret_versions.is_empty()), "lists carry no version history");
    assert!(with.data.iter().all(|s| s.secret_group_id == group.id));

    let without =
        client.list_secrets().body(list_request(Some(&group.id), None, false)).send().await.expect("list").into_inner();
    assert_eq!(without.data.len(), 2);
    assert!(without.data.iter().all(|s| s.value.is_none()));
    server.stop().await;
}

async fn list_by_fqns_matches_exactly_and_accepts_the_uri_form(backend: Backend) {
    let server = TestServer::start(backend).await;
    let client = server.client();
    let name = unique("fqns");
    let group = create_group(&client, &name, &[("A", "1"), ("AB", "2"), ("C", "3")]).await;
    let fqns = vec![
        format!("default:{name}:A"),
        format!("tfy-secret://default:{name}:C"),
        format!("other-tenant:{name}:AB"),
        "not-an-fqn".to_owned(),
    ];
    let listed =
        client.list_secrets().body(list_request(None, Some(fqns), false)).send().await.expect("list").into_inner();
    let names: Vec<&str> = listed.data.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["A", "C"]);
    assert_eq!(listed.pagination.total, 2);
    assert_eq!(listed.data[0].fqn, format!("default:{name}:A"));

    let none = client
        .list_secrets()
        .body(list_request(Some(&group.id), Some(vec![]), false))
        .send()
        .await
        .expect("list")
        .into_inner();
    assert_eq!(none.pagination.total, 0, "an empty FQN list matches nothing");
    server.stop().await;
}

async fn list_treats_nulls_as_absent_and_pages_to_an_empty_page(backend: Backend) {
    let server = TestServer::start(backend).await;
    let client = server.client();
    let group = create_group(&client, &unique("nulls"), &[("A", "1"), ("B", "2"), ("C", "3")]).await;
    let url = server.url("/api/svc/v1/secrets");

    let body = json!({"limit": null, "offset": null, "secretFqns": null, "secretGroupId": group.id, "withValue": null, "secretId": "legacy"});
    let (status, listed) =
        json_of(server.http().post(&url).bearer_auth(&server.token).json(&body).send().await.expect("POST")).await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["pagination"], json!({"total": 3, "offset": 0, "limit": 100}));
    assert!(listed["data"][0].get("value").is_none(), "withValue null means no values");

    let mut offset = 0;
    let mut seen = Vec::new();
    loop {
        let mut request = list_request(Some(&group.id), None, false);
        request.limit = std::num::NonZeroU64::new(2);
        request.offset = Some(offset);
        let page = client.list_secrets().body(request).send().await.expect("list").into_inner();
        if page.data.is_empty() {
            break;
        }
        offset += i64::try_from(page.data.len()).expect("small");
        seen.extend(page.data.into_iter().map(|s| s.name));
        assert!(offset < 10, "the pager does not end");
    }
    assert_eq!(seen, ["A", "B", "C"]);

    for (body, field) in [
        (json!({"limit": 0}), "limit"),
        (json!({"limit": 1001}), "limit"),
        (json!({"offset": -1}), "offset"),
        (json!({"limit": "ten"}), "limit"),
    ] {
        let response = server.http().post(&url).bearer_auth(&server.token).json(&body).send().await.expect("POST");
        let error = assert_http_error(response, 422, "validation_failed").await;
        assert!(error["message"].as_str().unwrap_or("").contains(field), "{error}");
    }
    server.stop().await;
}

async fn list_of_an_unknown_group_is_not_found(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (status, error) =
        expect_error(server.client().list_secrets().body(list_request(Some("missing"), None, false)).send().await);
    assert_eq!((status, error.code.as_deref()), (404, Some("not_found")));
    server.stop().await;
}

async fn get_returns_the_value_and_versions_oldest_first(backend: Backend) {
    let server = TestServer::start(backend).await;
    let client = server.client();
    let group = create_group(&client, &unique("hist"), &[("TOKEN", "t1")]).await;
    for value in ["t2", "t3"] {
        client
            .update_secret_group()
            .id(&group.id)
            .body(types::UpdateSecretGroupRequest { secrets: vec![crate::harness::update_input("TOKEN", Some(value))] })
            .send()
            .await
            .expect("update");
    }
    let secret = get_secret(&client, &group.associated_secrets[0].id).await;
    assert_eq!(secret.value.as_deref(), Some("t3"));
    let history: Vec<(i64, &str, &str)> = secret
        .secret_versions
        .iter()
        .map(|v| (v.version, v.value.as_deref().unwrap_or(""), v.secret_id.as_str()))
        .collect();
    assert_eq!(history, [(1, "t1", secret.id.as_str()), (2, "t2", secret.id.as_str()), (3, "t3", secret.id.as_str())]);
    assert!(secret.updated_at >= secret.created_at);

    let (status, _) = expect_error(client.get_secret().id("missing").send().await);
    assert_eq!(status, 404);
    server.stop().await;
}

async fn delete_answers_one_and_removes_the_secret_from_its_group(backend: Backend) {
    let server = TestServer::start(backend).await;
    let client = server.client();
    let group = create_group(&client, &unique("del"), &[("A", "1"), ("B", "2")]).await;
    let a = &group.associated_secrets[0];

    let response = server
        .http()
        .delete(server.url(&format!("/api/svc/v1/secrets/{}?forceDelete=false", a.id)))
        .bearer_auth(&server.token)
        .send()
        .await
        .expect("DELETE");
    let (status, body) = json_of(response).await;
    assert_eq!((status, body), (200, json!(1)), "a bare 1");

    let after = client.get_secret_group().id(&group.id).send().await.expect("get").into_inner().data;
    assert_eq!(after.associated_secrets.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["B"]);
    assert!(after.updated_at >= group.updated_at);
    let (status, _) = expect_error(client.get_secret().id(&a.id).send().await);
    assert_eq!(status, 404);
    let (status, _) = expect_error(client.delete_secret().id(&a.id).send().await);
    assert_eq!(status, 404);

    let response = server
        .http()
        .delete(server.url(&format!("/api/svc/v1/secrets/{}?forceDelete=maybe", after.associated_secrets[0].id)))
        .bearer_auth(&server.token)
        .send()
        .await
        .expect("DELETE");
    assert_http_error(response, 422, "validation_failed").await;
    assert_eq!(
        client.get_secret_group().id(&group.id).send().await.expect("get").into_inner().data.associated_secrets.len(),
        1
    );
    server.stop().await;
}
