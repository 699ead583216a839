//! The identity operations — personal access tokens, virtual accounts, users, teams — and the
//! failed-authentication limit, on both backends. Every "stops working" is checked on the very
//! next request, and every refusal with its exact status and `HttpError` code.
//!
//! Each test runs its own server, so the failure limit (20 per minute per client address) is
//! counted per test; tests other than the one about the limit stay well below it.

use chrono::{Duration, Utc};
use secret_groups_client::{Client, types};
use serde_json::{Value, json};

use crate::{
    harness::{Backend, TestServer, assert_http_error, create_group, expect_error, get_secret, json_of, unique},
    on_both_backends,
};

on_both_backends!(
    personal_access_token_lifecycle,
    personal_access_token_stops_working_when_it_expires,
    members_manage_only_their_own_tokens,
    revoke_all_ends_every_token_of_one_user_only,
    virtual_account_token_is_shown_once_and_scoped_to_its_permissions,
    virtual_account_manifests_are_validated_and_dry_run_stores_nothing,
    regenerating_a_virtual_account_token_honours_the_grace_period,
    virtual_account_expiration_date_ends_its_tokens,
    users_are_listed_queried_and_fetched,
    deactivation_ends_tokens_at_once_and_activation_restores_them,
    role_changes_apply_at_once_and_the_last_admin_is_protected,
    deleting_a_user_ends_their_tokens_and_members_cannot_manage_users,
    any_user_creates_a_team_and_only_its_managers_change_it,
    team_collaborators_give_access_that_ends_with_membership,
    failed_authentications_are_limited_per_client,
    other_tenants_identity_objects_are_not_found,
    roles_are_bound_to_objects_not_to_names,
);

const WHO_AM_I: &str = "/api/svc/v1/x/users/info";
const VALUE_OF_A: &str = "value-of-a";

// ---- helpers ----

async fn who_am_i_response(server: &TestServer, token: &str) -> reqwest::Response {
    server.http().get(server.url(WHO_AM_I)).bearer_auth(token).send().await.expect("GET who-am-I")
}

/// Asserts the token authenticates; returns the who-am-I body.
async fn assert_works(server: &TestServer, token: &str) -> Value {
    let (status, body) = json_of(who_am_i_response(server, token).await).await;
    assert_eq!(status, 200, "the token should work: {body}");
    body
}

/// Asserts the token is refused with the one 401 every authentication failure gets.
async fn assert_rejected(server: &TestServer, token: &str) {
    let body = assert_http_error(who_am_i_response(server, token).await, 401, "unauthenticated").await;
    assert_eq!(body["message"], "a valid bearer token is required");
}

fn slug(body: &Value) -> &str {
    body["subjectSlug"].as_str().expect("subjectSlug")
}

fn pat(name: &str, expiration: Option<chrono::DateTime<Utc>>) -> types::CreatePersonalAccessTokenRequest {
    types::CreatePersonalAccessTokenRequest {
        name: name.parse().expect("valid token name"),
        expiration_date: expiration,
    }
}

fn pat_for(name: &str, email: &str) -> types::CreatePersonalAccessTokenForUserRequest {
    types::CreatePersonalAccessTokenForUserRequest {
        name: name.parse().expect("valid token name"),
        user_email: email.parse().expect("valid email"),
        expiration_date: None,
    }
}

fn email(email: &str) -> types::UserEmailRequest {
    types::UserEmailRequest { email: email.parse().expect("valid email"), tenant_name: None }
}

fn role(email: &str, role: types::UpdateUserRolesRequestRolesItem) -> types::UpdateUserRolesRequest {
    types::UpdateUserRolesRequest { email: email.parse().expect("valid email"), resource_type: None, roles: [role] }
}

async fn create_pat(client: &Client, name: &str) -> String {
    client.create_personal_access_token().body(pat(name, None)).send().await.expect("create token").into_inner().token
}

async fn own_tokens(client: &Client) -> Vec<types::PersonalAccessToken> {
    client.list_personal_access_tokens().send().await.expect("list tokens").into_inner().data
}

async fn own_token_names(client: &Client) -> Vec<String> {
    own_tokens(client).await.into_iter().map(|t| t.name).collect()
}

async fn own_token_id(client: &Client, name: &str) -> String {
    own_tokens(client).await.into_iter().find(|t| t.name == name).map(|t| t.id).expect("the token is listed")
}

fn permission(group: &str, role: types::VirtualAccountPermissionRoleId) -> types::VirtualAccountPermission {
    types::VirtualAccountPermission {
        resource_fqn: format!("default:{group}").parse().expect("valid fqn"),
        resource_type: types::VirtualAccountPermissionResourceType::SecretGroup,
        role_id: role,
    }
}

fn account(
    name: &str,
    permissions: Option<Vec<types::VirtualAccountPermission>>,
    expiration: Option<chrono::NaiveDate>,
    dry_run: bool,
) -> types::CreateOrUpdateVirtualAccountRequest {
    types::CreateOrUpdateVirtualAccountRequest {
        dry_run: Some(dry_run),
        manifest: types::VirtualAccountManifest {
            expiration_date: expiration,
            name: name.parse().expect("valid account name"),
            permissions,
            type_: None,
        },
    }
}

async fn put_account(
    client: &Client,
    request: types::CreateOrUpdateVirtualAccountRequest,
) -> types::VirtualAccountResponse {
    client.create_or_update_virtual_account().body(request).send().await.expect("PUT virtual account").into_inner()
}

fn team(name: &str, members: &[&str], managers: Option<&[&str]>) -> types::CreateOrUpdateTeamRequest {
    types::CreateOrUpdateTeamRequest {
        dry_run: Some(false),
        manifest: types::TeamManifest {
            description: None,
            display_name: None,
            managers: managers.map(|list| list.iter().map(|m| (*m).to_owned()).collect()),
            members: members.iter().map(|m| (*m).to_owned()).collect(),
            name: name.parse().expect("valid team name"),
            type_: None,
        },
    }
}

async fn put_team(client: &Client, request: types::CreateOrUpdateTeamRequest) -> types::Team {
    client.create_or_update_team().body(request).send().await.expect("PUT team").into_inner().data
}

/// Replaces a group's collaborators (as the bootstrap admin, who stays the group's admin).
async fn set_collaborators(client: &Client, group: &str, collaborators: &[(&str, types::CollaboratorRoleId)]) {
    let mut list = vec![types::Collaborator {
        subject: "user:admin@localhost".parse().expect("subject"),
        role_id: types::CollaboratorRoleId::SecretGroupAdmin,
    }];
    list.extend(collaborators.iter().map(|(subject, role_id)| types::Collaborator {
        subject: subject.parse().expect("subject"),
        role_id: *role_id,
    }));
    client
        .create_or_update_secret_group()
        .body(types::CreateOrUpdateSecretGroupRequest {
            dry_run: Some(false),
            manifest: types::SecretGroupManifest {
                collaborators: Some(list),
                integration_fqn: "internal:secret-store:internal-secret-store".parse().expect("fqn"),
                name: group.parse().expect("group name"),
                owned_by: None,
                type_: types::SecretGroupManifestType::SecretGroup,
            },
        })
        .send()
        .await
        .expect("PUT secret group");
}

async fn visible_group_ids(client: &Client) -> Vec<String> {
    let page = client.list_secret_groups().send().await.expect("list groups").into_inner();
    assert_eq!(page.pagination.total, i64::try_from(page.data.len()).expect("small"));
    page.data.into_iter().map(|g| g.id).collect()
}

async fn user_emails(client: &Client, show_invalid: bool) -> Vec<String> {
    let page = client.list_users().show_invalid_users(show_invalid).send().await.expect("list users").into_inner();
    assert_eq!(page.pagination.total, i64::try_from(page.data.len()).expect("small"));
    page.data.into_iter().map(|u| u.email).collect()
}

async fn user_id(client: &Client, email: &str) -> String {
    let page = client.list_users().query(email).show_invalid_users(true).send().await.expect("list").into_inner();
    page.data.into_iter().find(|u| u.email == email).map(|u| u.id).expect("user listed")
}

fn assert_error<T: std::fmt::Debug>(
    result: Result<progenitor_client::ResponseValue<T>, progenitor_client::Error<types::HttpError>>,
    status: u16,
    code: &str,
) -> types::HttpError {
    let (actual, error) = expect_error(result);
    assert_eq!((actual, error.code.as_deref()), (status, Some(code)), "{}", error.message);
    error
}

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

// ---- personal access tokens ----

async fn personal_access_token_lifecycle(backend: Backend) {
    let server = TestServer::start(backend).await;
    let client = server.client();

    let token = create_pat(&client, "ci-deploy").await;
    assert!(token.starts_with("tfy_sg_") && token.len() == 50, "token shape: {} chars", token.len());
    let me = assert_works(&server, &token).await;
    assert_eq!(slug(&me), "admin@localhost");

    // The list carries metadata only: no token value, no token field, anywhere.
    let response = server
        .http()
        .get(server.url("/api/svc/v1/personal-access-tokens"))
        .bearer_auth(&server.token)
        .send()
        .await
        .expect("GET");
    let (status, body) = json_of(response).await;
    assert_eq!(status, 200, "{body}");
    let text = body.to_string();
    assert!(!text.contains(&token) && !text.contains(&server.token) && !text.contains("tfy_sg_"), "{body}");
    let mut keys = Vec::new();
    all_keys(&body, &mut keys);
    assert!(!keys.iter().any(|k| k == "token" || k == "tokenHash"), "{body}");
    let names: Vec<&str> = body["data"].as_array().expect("data").iter().filter_map(|t| t["name"].as_str()).collect();
    assert_eq!(names, ["bootstrap", "ci-deploy"]);
    assert_eq!(body["pagination"]["total"], 2);
    let listed = &body["data"][1];
    assert_eq!(listed["type"], "personal-access-token");
    assert_eq!(listed["createdBy"], "admin@localhost");
    assert_eq!(listed["tenantName"], "default");
    assert_eq!(listed["isExpired"], false);
    assert!(listed.get("expiresAt").is_none(), "no expiry was asked for: {listed}");

    // nameSearchQuery: case-insensitive substring.
    client.create_personal_access_token().body(pat("laptop", None)).send().await.expect("second token");
    let found = client.list_personal_access_tokens().name_search_query("CI-").send().await.expect("list").into_inner();
    assert_eq!(found.data.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["ci-deploy"]);
    assert_eq!(found.pagination.total, 1);

    // A second token of the same name: 409, nothing stored.
    let error =
        assert_error(client.create_personal_access_token().body(pat("ci-deploy", None)).send().await, 409, "conflict");
    assert!(error.message.contains("ci-deploy"), "{}", error.message);
    assert_eq!(own_token_names(&client).await, ["bootstrap", "ci-deploy", "laptop"]);

    // Names outside ^[a-z][a-z0-9-]{1,34}[a-z0-9]$ (the typed client refuses to send them).
    let url = server.url("/api/svc/v1/personal-access-tokens");
    for name in ["Bad_Name", "ab", "1abc", "abc-", &format!("a{}", "b".repeat(36))] {
        let response = server.http().post(&url).bearer_auth(&server.token).json(&json!({"name": name})).send().await;
        let body = assert_http_error(response.expect("POST"), 422, "validation_failed").await;
        assert_eq!(body["details"][0]["field"], "name", "{name}: {body}");
        assert_eq!(body["details"][0]["message"], "must match ^[a-z][a-z0-9-]{1,34}[a-z0-9]$", "{name}: {body}");
        assert_eq!(body["message"], "invalid request: name must match ^[a-z][a-z0-9-]{1,34}[a-z0-9]$", "{body}");
    }
    // Expiration dates that are past or not dates.
    let past =
        client.create_personal_access_token().body(pat("old", Some(Utc::now() - Duration::hours(1)))).send().await;
    let error = assert_error(past, 422, "validation_failed");
    assert_eq!(error.details[0]["field"], "expirationDate");
    let response = server
        .http()
        .post(&url)
        .bearer_auth(&server.token)
        .json(&json!({"name": "later", "expirationDate": "tomorrow"}))
        .send()
        .await
        .expect("POST");
    assert_http_error(response, 422, "validation_failed").await;
    assert_eq!(own_token_names(&client).await, ["bootstrap", "ci-deploy", "laptop"], "refused tokens were stored");

    // Delete: the token stops working on the very next request, and its name is free again.
    let id = own_token_id(&client, "ci-deploy").await;
    let deleted = client.delete_personal_access_token().id(&id).send().await.expect("delete").into_inner();
    assert!(deleted.is_empty(), "answers {{}}");
    assert_rejected(&server, &token).await;
    assert_error(client.delete_personal_access_token().id(&id).send().await, 404, "not_found");
    assert_eq!(own_token_names(&client).await, ["bootstrap", "laptop"]);
    let again = create_pat(&client, "ci-deploy").await;
    assert_ne!(again, token);
    assert_works(&server, &again).await;
    server.stop().await;
}

async fn personal_access_token_stops_working_when_it_expires(backend: Backend) {
    let server = TestServer::start(backend).await;
    let client = server.client();
    let expires = Utc::now() + Duration::milliseconds(1500);
    let token = client
        .create_personal_access_token()
        .body(pat("short-lived", Some(expires)))
        .send()
        .await
        .expect("create")
        .into_inner()
        .token;
    assert_works(&server, &token).await;
    let listed = own_tokens(&client).await.into_iter().find(|t| t.name == "short-lived").expect("listed");
    assert_eq!(listed.expires_at.map(|at| at.timestamp_millis()), Some(expires.timestamp_millis()));
    assert!(!listed.is_expired);

    let wait = (expires - Utc::now()) + Duration::milliseconds(200);
    tokio::time::sleep(wait.to_std().unwrap_or_default()).await;
    assert_rejected(&server, &token).await;
    let listed = own_tokens(&client).await.into_iter().find(|t| t.name == "short-lived").expect("still listed");
    assert!(listed.is_expired, "an expired token is listed as expired");
    assert_works(&server, &server.token).await;
    server.stop().await;
}

async fn members_manage_only_their_own_tokens(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.client();
    let alice_token = server.user("default", "alice@example.com", false).await;
    let bob_token = server.user("default", "bob@example.com", false).await;
    let (alice, bob) = (server.client_with(&alice_token), server.client_with(&bob_token));

    let laptop = create_pat(&alice, "alice-laptop").await;
    assert_eq!(slug(&assert_works(&server, &laptop).await), "alice@example.com");
    assert!(!own_token_names(&bob).await.contains(&"alice-laptop".to_owned()), "bob sees only his own tokens");

    // Bob cannot delete Alice's token: it is not even acknowledged.
    let laptop_id = own_token_id(&alice, "alice-laptop").await;
    assert_error(bob.delete_personal_access_token().id(&laptop_id).send().await, 404, "not_found");
    assert_works(&server, &laptop).await;

    // Tokens for others and revoking them are for tenant admins.
    assert_error(
        alice.create_personal_access_token_for_user().body(pat_for("sneaky", "bob@example.com")).send().await,
        403,
        "forbidden",
    );
    assert_error(
        alice.revoke_all_personal_access_tokens().body(email("bob@example.com")).send().await,
        403,
        "forbidden",
    );
    assert_works(&server, &bob_token).await;
    assert!(!own_token_names(&bob).await.contains(&"sneaky".to_owned()));

    // An admin issues a token for Alice; it acts as Alice and is listed among her tokens.
    let issued = admin
        .create_personal_access_token_for_user()
        .body(pat_for("issued", "alice@example.com"))
        .send()
        .await
        .expect("for-user")
        .into_inner()
        .token;
    let me = assert_works(&server, &issued).await;
    assert_eq!((slug(&me), me["roles"].clone()), ("alice@example.com", json!(["tenant-member"])));
    assert!(own_token_names(&alice).await.contains(&"issued".to_owned()));
    assert!(!own_token_names(&admin).await.contains(&"issued".to_owned()));
    assert_error(
        admin.create_personal_access_token_for_user().body(pat_for("issued", "alice@example.com")).send().await,
        409,
        "conflict",
    );
    assert_error(
        admin.create_personal_access_token_for_user().body(pat_for("issued", "nobody@example.com")).send().await,
        404,
        "not_found",
    );

    // An admin may delete anyone's token.
    admin.delete_personal_access_token().id(&laptop_id).send().await.expect("admin deletes");
    assert_rejected(&server, &laptop).await;
    assert_works(&server, &issued).await;
    assert_error(admin.delete_personal_access_token().id("no-such-token").send().await, 404, "not_found");
    server.stop().await;
}

async fn revoke_all_ends_every_token_of_one_user_only(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.client();
    let alice_token = server.user("default", "alice@example.com", false).await;
    let bob_token = server.user("default", "bob@example.com", false).await;
    let alice = server.client_with(&alice_token);
    let laptop = create_pat(&alice, "laptop").await;
    let ci = create_pat(&alice, "ci-token").await;
    for token in [&alice_token, &laptop, &ci] {
        assert_works(&server, token).await;
    }

    let answer = admin.revoke_all_personal_access_tokens().body(email("alice@example.com")).send().await;
    assert!(answer.expect("revoke all").into_inner().is_empty());
    for token in [&alice_token, &laptop, &ci] {
        assert_rejected(&server, token).await;
    }
    assert_works(&server, &bob_token).await;
    assert_works(&server, &server.token).await;

    // Revoked tokens are gone from the list and free their names.
    let fresh = admin
        .create_personal_access_token_for_user()
        .body(pat_for("laptop", "alice@example.com"))
        .send()
        .await
        .expect("a revoked token's name is free")
        .into_inner()
        .token;
    assert_eq!(own_token_names(&server.client_with(&fresh)).await, ["laptop"]);

    assert_error(
        admin.revoke_all_personal_access_tokens().body(email("nobody@example.com")).send().await,
        404,
        "not_found",
    );
    let elsewhere = types::UserEmailRequest {
        email: "bob@example.com".parse().expect("email"),
        tenant_name: Some("elsewhere".to_owned()),
    };
    assert_error(admin.revoke_all_personal_access_tokens().body(elsewhere).send().await, 404, "not_found");
    assert_works(&server, &bob_token).await;
    server.stop().await;
}

// ---- virtual accounts ----

async fn virtual_account_token_is_shown_once_and_scoped_to_its_permissions(backend: Backend) {
    use types::VirtualAccountPermissionRoleId::{SecretGroupEditor as Editor, SecretGroupViewer as Viewer};
    let server = TestServer::start(backend).await;
    let admin = server.client();
    let group_a = create_group(&admin, "group-a", &[("K", VALUE_OF_A)]).await;
    let group_b = create_group(&admin, "group-b", &[("K", "value-of-b")]).await;
    let secret_a = group_a.associated_secrets[0].id.clone();

    let sent = vec![permission("group-a", Viewer)];
    let created = put_account(&admin, account("ci-reader", Some(sent.clone()), None, false)).await;
    let token = created.token.expect("a new account's token is answered once");
    assert!(token.starts_with("tfy_sg_"));
    let va = created.data;
    assert_eq!((va.name.as_str(), va.type_), ("ci-reader", types::VirtualAccountType::VirtualAccount));
    assert_eq!((va.created_by.as_str(), va.tenant_name.as_str(), va.is_expired), ("admin@localhost", "default", false));
    assert_eq!(
        serde_json::to_value(&va.manifest.permissions).expect("json"),
        serde_json::to_value(Some(&sent)).expect("json")
    );

    // Never shown again: not by GET, not by the token endpoint.
    let response =
        server.http().get(server.url(&format!("/api/svc/v1/virtual-accounts/{}", va.id))).bearer_auth(&server.token);
    let (status, body) = json_of(response.send().await.expect("GET")).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("token").is_none() && !body.to_string().contains(&token), "{body}");
    assert_eq!(body["data"]["id"], va.id.as_str());
    let error = assert_error(admin.get_virtual_account_token().id(&va.id).send().await, 403, "forbidden");
    assert!(error.message.contains("regenerate"), "{}", error.message);

    // Viewer on A: sees A and its keys, not B, and no values.
    let robot = server.client_with(&token);
    assert_eq!(robot.get_secret_group().id(&group_a.id).send().await.expect("get A").into_inner().data.name, "group-a");
    assert_error(robot.get_secret_group().id(&group_b.id).send().await, 403, "forbidden");
    assert_eq!(visible_group_ids(&robot).await, [group_a.id.as_str()]);
    assert_error(robot.get_secret().id(&secret_a).send().await, 403, "forbidden");

    // Who am I: a service account, without tenant roles or teams.
    let me = robot.get_current_user().send().await.expect("who am I").into_inner();
    assert_eq!(me.subject_type, types::SessionSubjectType::Serviceaccount);
    assert_eq!((me.subject_slug.as_str(), me.id.as_str(), me.email.as_deref()), ("ci-reader", va.id.as_str(), None));
    assert!(me.roles.is_empty() && me.teams.is_empty());
    assert_eq!(me.tenant_name, "default");

    // Identity management and creating things are for users.
    assert_error(robot.list_users().send().await, 403, "forbidden");
    assert_error(robot.list_virtual_accounts().send().await, 403, "forbidden");
    assert_error(robot.create_personal_access_token().body(pat("robot-pat", None)).send().await, 403, "forbidden");
    assert_error(robot.create_or_update_team().body(team("robots", &[], None)).send().await, 403, "forbidden");
    // Raw: the document does not declare 403 for createSecretGroup, so the typed client cannot
    // decode this answer.
    let create = server
        .http()
        .post(server.url("/api/svc/v1/secret-groups"))
        .bearer_auth(&token)
        .json(&json!({"name": "made-by-robot", "integrationId": "internal-secret-store", "secrets": []}))
        .send()
        .await
        .expect("POST");
    assert_http_error(create, 403, "forbidden").await;
    assert_eq!(visible_group_ids(&admin).await, [group_a.id.as_str(), group_b.id.as_str()], "nothing was created");

    // Editor on A (same account, matched by name): the same token now reads values.
    let updated =
        put_account(&admin, account("ci-reader", Some(vec![permission("group-a", Editor)]), None, false)).await;
    assert!(updated.token.is_none(), "an update makes no token");
    assert_eq!(updated.data.id, va.id);
    assert_eq!(get_secret(&robot, &secret_a).await.value.as_deref(), Some(VALUE_OF_A));

    // Permissions absent: kept as they are.
    put_account(&admin, account("ci-reader", None, None, false)).await;
    assert_eq!(get_secret(&robot, &secret_a).await.value.as_deref(), Some(VALUE_OF_A));

    // A new list replaces the old one: now B only.
    put_account(&admin, account("ci-reader", Some(vec![permission("group-b", Viewer)]), None, false)).await;
    assert_eq!(visible_group_ids(&robot).await, [group_b.id.as_str()]);
    assert_error(robot.get_secret_group().id(&group_a.id).send().await, 403, "forbidden");
    assert_eq!(admin.list_virtual_accounts().send().await.expect("list").into_inner().pagination.total, 1);
    server.stop().await;
}

async fn virtual_account_manifests_are_validated_and_dry_run_stores_nothing(backend: Backend) {
    use types::VirtualAccountPermissionRoleId::SecretGroupViewer as Viewer;
    let server = TestServer::start(backend).await;
    let admin = server.client();
    create_group(&admin, "group-a", &[("K", "v")]).await;
    let member = server.client_with(&server.user("default", "alice@example.com", false).await);

    let by_member = member.create_or_update_virtual_account().body(account(
        "ci",
        Some(vec![permission("group-a", Viewer)]),
        None,
        false,
    ));
    assert_error(by_member.send().await, 403, "forbidden");

    let empty = admin.create_or_update_virtual_account().body(account("ci", Some(vec![]), None, false)).send().await;
    let error = assert_error(empty, 422, "validation_failed");
    assert_eq!(error.details[0]["field"], "manifest.permissions");
    let unknown = admin
        .create_or_update_virtual_account()
        .body(account("ci", Some(vec![permission("no-such-group", Viewer)]), None, false))
        .send()
        .await;
    let error = assert_error(unknown, 422, "validation_failed");
    assert_eq!(error.details[0]["field"], "manifest.permissions[0].resource_fqn");
    let url = server.url("/api/svc/v1/virtual-accounts");
    let raw_cases = [
        // Another tenant's group.
        json!({"name": "ci", "permissions": [{"resource_fqn": "other:group-a", "resource_type": "secret-group",
                                               "role_id": "secret-group-viewer"}]}),
        json!({"name": "ci", "permissions": [{"resource_fqn": "default:group-a", "resource_type": "secret-group",
                                               "role_id": "owner"}]}),
        json!({"name": "bad name", "permissions": [{"resource_fqn": "default:group-a",
                                                     "resource_type": "secret-group", "role_id": "secret-group-viewer"}]}),
        json!({"name": "ci", "expiration_date": "2030-13-01"}),
        json!({"name": "ci", "expiration_date": "2030-01-01T00:00:00Z"}),
        // `type` may be left out, but it is not nullable.
        json!({"type": null, "name": "ci"}),
    ];
    for manifest in raw_cases {
        let response =
            server.http().put(&url).bearer_auth(&server.token).json(&json!({"manifest": manifest})).send().await;
        assert_http_error(response.expect("PUT"), 422, "validation_failed").await;
    }
    // Not `<tenant>:<group>` at all: refused while the body is parsed, by the document's pattern
    // (schemathesis found "0" accepted by the document and refused by the server).
    for fqn in ["0", "default:", ":group-a", "default:group-a:x", "default group-a"] {
        let manifest = json!({"name": "ci", "permissions": [{"resource_fqn": fqn, "resource_type": "secret-group",
                                                             "role_id": "secret-group-viewer"}]});
        let response =
            server.http().put(&url).bearer_auth(&server.token).json(&json!({"manifest": manifest})).send().await;
        let body = assert_http_error(response.expect("PUT"), 422, "validation_failed").await;
        assert_eq!(body["details"][0]["field"], "manifest.permissions[0].resource_fqn", "{fqn}: {body}");
        assert_eq!(
            body["details"][0]["message"],
            "must match ^[A-Za-z0-9][A-Za-z0-9._-]{1,126}:[A-Za-z0-9][A-Za-z0-9._-]{1,126}$",
            "{fqn}: {body}"
        );
    }

    // dryRun answers the account as it would be, with no token, and stores nothing.
    let dry = put_account(&admin, account("ci", Some(vec![permission("group-a", Viewer)]), None, true)).await;
    assert!(dry.token.is_none(), "a dry run makes no token");
    assert_eq!(dry.data.name, "ci");
    let exists = |name: &'static str| {
        let admin = admin.clone();
        async move { admin.virtual_account_exists().name(name).send().await.expect("exists").into_inner().exists }
    };
    assert!(!exists("ci").await, "a rejected or dry-run manifest stored an account");
    assert_eq!(admin.list_virtual_accounts().send().await.expect("list").into_inner().pagination.total, 0);
    assert_error(admin.get_virtual_account().id(&dry.data.id).send().await, 404, "not_found");

    for name in ["ci-one", "CI-two", "deployer"] {
        let created = put_account(&admin, account(name, Some(vec![permission("group-a", Viewer)]), None, false)).await;
        assert!(created.token.is_some());
    }
    assert!(exists("ci-one").await);
    assert!(!exists("ci").await, "exact name, not a substring");
    let found = admin.list_virtual_accounts().name_search_query("ci-").send().await.expect("list").into_inner();
    assert_eq!(found.data.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(), ["ci-one", "CI-two"]);
    assert_eq!(found.pagination.total, 2);
    let missing_name = server
        .http()
        .get(server.url("/api/svc/v1/virtual-accounts/exists"))
        .bearer_auth(&server.token)
        .send()
        .await
        .expect("GET");
    assert_http_error(missing_name, 422, "validation_failed").await;
    server.stop().await;
}

async fn regenerating_a_virtual_account_token_honours_the_grace_period(backend: Backend) {
    use types::VirtualAccountPermissionRoleId::SecretGroupViewer as Viewer;
    let server = TestServer::start(backend).await;
    let admin = server.client();
    let group = create_group(&admin, "group-a", &[("K", "v")]).await;
    let created = put_account(&admin, account("ci", Some(vec![permission("group-a", Viewer)]), None, false)).await;
    let (id, first) = (created.data.id, created.token.expect("token"));
    let regenerate = |minutes: f64| {
        let (admin, id) = (admin.clone(), id.clone());
        async move {
            admin
                .regenerate_virtual_account_token()
                .id(&id)
                .body(types::RegenerateTokenRequest { grace_period_in_minutes: minutes })
                .send()
                .await
        }
    };

    // No grace: the old token ends at once.
    let second = regenerate(0.0).await.expect("regenerate").into_inner().token;
    assert_ne!(second, first);
    assert_rejected(&server, &first).await;
    let robot = server.client_with(&second);
    assert_eq!(robot.get_secret_group().id(&group.id).send().await.expect("get").into_inner().data.id, group.id);

    // Five minutes' grace: both work.
    let third = regenerate(5.0).await.expect("regenerate").into_inner().token;
    assert_eq!(slug(&assert_works(&server, &second).await), "ci");
    assert_eq!(slug(&assert_works(&server, &third).await), "ci");

    for minutes in [-1.0, 525_601.0] {
        let error = assert_error(regenerate(minutes).await, 422, "validation_failed");
        assert_eq!(error.details[0]["field"], "gracePeriodInMinutes");
    }
    let member = server.client_with(&server.user("default", "alice@example.com", false).await);
    let by_member = member
        .regenerate_virtual_account_token()
        .id(&id)
        .body(types::RegenerateTokenRequest { grace_period_in_minutes: 0.0 })
        .send()
        .await;
    assert_error(by_member, 403, "forbidden");
    assert_works(&server, &second).await;

    // Deleting the account ends all its tokens, grace or not.
    assert_error(member.delete_virtual_account().id(&id).send().await, 403, "forbidden");
    assert!(admin.delete_virtual_account().id(&id).send().await.expect("delete").into_inner().is_empty());
    assert_rejected(&server, &second).await;
    assert_rejected(&server, &third).await;
    assert_error(admin.get_virtual_account().id(&id).send().await, 404, "not_found");
    assert_error(admin.delete_virtual_account().id(&id).send().await, 404, "not_found");
    assert_error(regenerate(0.0).await, 404, "not_found");
    assert_error(admin.get_virtual_account_token().id(&id).send().await, 404, "not_found");
    assert!(!admin.virtual_account_exists().name("ci").send().await.expect("exists").into_inner().exists);
    server.stop().await;
}

async fn virtual_account_expiration_date_ends_its_tokens(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.client();
    let today = Utc::now().date_naive();
    let yesterday = today.pred_opt().expect("yesterday");

    let expired = put_account(&admin, account("expired", None, Some(yesterday), false)).await;
    assert!(expired.data.is_expired);
    assert_eq!(expired.data.manifest.expiration_date, Some(yesterday));
    let expired_token = expired.token.expect("token");
    assert_rejected(&server, &expired_token).await;

    // The last day is a whole day: an account expiring today still works.
    let current = put_account(&admin, account("current", None, Some(today), false)).await;
    assert!(!current.data.is_expired);
    assert_eq!(slug(&assert_works(&server, &current.token.expect("token")).await), "current");

    let names = |expired: bool| {
        let admin = admin.clone();
        async move {
            let page = admin.list_virtual_accounts().is_expired(expired).send().await.expect("list").into_inner();
            page.data.into_iter().map(|a| a.name).collect::<Vec<_>>()
        }
    };
    assert_eq!(names(true).await, ["expired"]);
    assert_eq!(names(false).await, ["current"]);

    // Moving the date forward revives the account's existing token.
    let tomorrow = today.succ_opt().expect("tomorrow");
    let renewed = put_account(&admin, account("expired", None, Some(tomorrow), false)).await;
    assert!(!renewed.data.is_expired && renewed.token.is_none());
    assert_eq!(slug(&assert_works(&server, &expired_token).await), "expired");
    assert_eq!(names(true).await, Vec::<String>::new());
    server.stop().await;
}

// ---- users ----

async fn users_are_listed_queried_and_fetched(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.client();
    let alice_token = server.user("default", "alice@example.com", false).await;
    server.user("default", "bob@example.com", false).await;
    server.other_tenant("other").await;
    let alice = server.client_with(&alice_token);

    assert_eq!(user_emails(&admin, false).await, ["admin@localhost", "alice@example.com", "bob@example.com"]);
    let found = admin.list_users().query("ALICE").send().await.expect("list").into_inner();
    assert_eq!(found.data.iter().map(|u| u.email.as_str()).collect::<Vec<_>>(), ["alice@example.com"]);
    assert!(admin.list_users().query("%").send().await.expect("list").into_inner().data.is_empty());
    let page = admin.list_users().limit(std::num::NonZeroU64::MIN).offset(1).send().await.expect("list").into_inner();
    assert_eq!((page.data.len(), page.pagination.total), (1, 3));
    assert_eq!(page.data[0].email, "alice@example.com");

    let id = user_id(&admin, "alice@example.com").await;
    let user = admin.get_user().id(&id).send().await.expect("get").into_inner().data;
    assert_eq!(
        (user.email.as_str(), user.roles.clone(), user.active),
        ("alice@example.com", vec!["tenant-member".to_owned()], true)
    );
    assert_eq!(
        (user.tenant_name.as_str(), user.metadata.display_name.as_deref()),
        ("default", Some("alice@example.com"))
    );
    assert!(user.is_editable, "an admin may edit users");
    assert!(!alice.get_user().id(&id).send().await.expect("member gets").into_inner().data.is_editable);
    assert_error(admin.get_user().id("no-such-user").send().await, 404, "not_found");

    // Who am I, as a member of a team.
    let me = alice.get_current_user().send().await.expect("who am I").into_inner();
    assert_eq!(me.subject_type, types::SessionSubjectType::User);
    assert_eq!((me.id.as_str(), me.effective_user_id.as_str()), (id.as_str(), id.as_str()));
    assert_eq!((me.subject_slug.as_str(), me.email.as_deref()), ("alice@example.com", Some("alice@example.com")));
    assert_eq!((me.roles.clone(), me.tenant_name.as_str()), (vec!["tenant-member".to_owned()], "default"));
    assert_eq!(me.accounts.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(), ["default"]);
    assert!(me.teams.is_empty());
    let ops = put_team(&admin, team("ops", &["alice@example.com"], None)).await;
    let me = alice.get_current_user().send().await.expect("who am I").into_inner();
    assert_eq!(
        me.teams.iter().map(|t| (t.id.as_str(), t.name.as_str())).collect::<Vec<_>>(),
        [(ops.id.as_str(), "ops")]
    );
    // The admin created the team without naming managers, so manages it: managers are listed too.
    let admin_me = admin.get_current_user().send().await.expect("who am I").into_inner();
    assert_eq!(admin_me.roles, ["tenant-admin"]);
    assert_eq!(admin_me.teams.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["ops"]);
    server.stop().await;
}

async fn deactivation_ends_tokens_at_once_and_activation_restores_them(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.client();
    let alice_token = server.user("default", "alice@example.com", false).await;
    let bob_token = server.user("default", "bob@example.com", false).await;

    assert!(
        admin
            .deactivate_user()
            .body(email("alice@example.com"))
            .send()
            .await
            .expect("deactivate")
            .into_inner()
            .is_empty()
    );
    assert_rejected(&server, &alice_token).await;
    assert_works(&server, &bob_token).await;
    assert_eq!(user_emails(&admin, false).await, ["admin@localhost", "bob@example.com"]);
    assert_eq!(user_emails(&admin, true).await, ["admin@localhost", "alice@example.com", "bob@example.com"]);
    let id = user_id(&admin, "alice@example.com").await;
    assert!(!admin.get_user().id(&id).send().await.expect("get").into_inner().data.active);
    // Deactivating twice is harmless.
    admin.deactivate_user().body(email("alice@example.com")).send().await.expect("deactivate again");

    assert!(
        admin.activate_user().body(email("alice@example.com")).send().await.expect("activate").into_inner().is_empty()
    );
    assert_eq!(slug(&assert_works(&server, &alice_token).await), "alice@example.com");
    assert!(admin.get_user().id(&id).send().await.expect("get").into_inner().data.active);
    assert_eq!(user_emails(&admin, false).await, ["admin@localhost", "alice@example.com", "bob@example.com"]);

    assert_error(admin.deactivate_user().body(email("nobody@example.com")).send().await, 404, "not_found");
    assert_error(admin.activate_user().body(email("nobody@example.com")).send().await, 404, "not_found");
    let elsewhere = types::UserEmailRequest {
        email: "alice@example.com".parse().expect("email"),
        tenant_name: Some("other".into()),
    };
    assert_error(admin.deactivate_user().body(elsewhere).send().await, 404, "not_found");
    assert_works(&server, &alice_token).await;
    server.stop().await;
}

async fn role_changes_apply_at_once_and_the_last_admin_is_protected(backend: Backend) {
    use types::UpdateUserRolesRequestRolesItem::{TenantAdmin, TenantMember};
    let server = TestServer::start(backend).await;
    let admin = server.client();
    let group_1 = create_group(&admin, "group-1", &[("K", "v")]).await;
    let group_2 = create_group(&admin, "group-2", &[("K", "v")]).await;
    let bob_token = server.user("default", "bob@example.com", false).await;
    let bob = server.client_with(&bob_token);

    // The only active admin can be neither demoted, deactivated nor deleted.
    let admin_id = user_id(&admin, "admin@localhost").await;
    assert_error(admin.update_user_roles().body(role("admin@localhost", TenantMember)).send().await, 409, "conflict");
    assert_error(admin.deactivate_user().body(email("admin@localhost")).send().await, 409, "conflict");
    assert_error(admin.delete_user().id(&admin_id).send().await, 409, "conflict");
    assert_eq!(assert_works(&server, &server.token).await["roles"], json!(["tenant-admin"]));

    // A member sees no groups; promoted, the same token sees them all.
    assert!(visible_group_ids(&bob).await.is_empty());
    assert_error(bob.update_user_roles().body(role("bob@example.com", TenantAdmin)).send().await, 403, "forbidden");
    assert!(
        admin
            .update_user_roles()
            .body(role("bob@example.com", TenantAdmin))
            .send()
            .await
            .expect("promote")
            .into_inner()
            .is_empty()
    );
    assert_eq!(visible_group_ids(&bob).await, [group_1.id.as_str(), group_2.id.as_str()]);
    assert_eq!(assert_works(&server, &bob_token).await["roles"], json!(["tenant-admin"]));
    let bob_id = user_id(&admin, "bob@example.com").await;
    assert_eq!(admin.get_user().id(&bob_id).send().await.expect("get").into_inner().data.roles, ["tenant-admin"]);

    // With two admins, one may step down; then the other is the last one.
    bob.update_user_roles().body(role("admin@localhost", TenantMember)).send().await.expect("demote");
    assert_eq!(assert_works(&server, &server.token).await["roles"], json!(["tenant-member"]));
    assert_error(admin.delete_user().id(&bob_id).send().await, 403, "forbidden");
    assert_error(admin.update_user_roles().body(role("admin@localhost", TenantAdmin)).send().await, 403, "forbidden");
    assert!(visible_group_ids(&admin).await.len() == 2, "the creator keeps the groups it administers");
    assert_error(bob.update_user_roles().body(role("bob@example.com", TenantMember)).send().await, 409, "conflict");
    assert_error(bob.deactivate_user().body(email("bob@example.com")).send().await, 409, "conflict");
    assert_error(bob.delete_user().id(&bob_id).send().await, 409, "conflict");
    // A deactivated admin does not count as one.
    bob.update_user_roles().body(role("admin@localhost", TenantAdmin)).send().await.expect("promote back");
    bob.deactivate_user().body(email("admin@localhost")).send().await.expect("deactivate the other admin");
    assert_error(bob.update_user_roles().body(role("bob@example.com", TenantMember)).send().await, 409, "conflict");
    bob.activate_user().body(email("admin@localhost")).send().await.expect("activate");
    assert_works(&server, &server.token).await;

    // roles must be exactly one known role.
    let url = server.url("/api/svc/v1/users/roles");
    for roles in [json!([]), json!(["tenant-admin", "tenant-member"]), json!(["owner"])] {
        let response = server
            .http()
            .patch(&url)
            .bearer_auth(&bob_token)
            .json(&json!({"email": "bob@example.com", "roles": roles}));
        assert_http_error(response.send().await.expect("PATCH"), 422, "validation_failed").await;
    }
    // `resourceType` is nullable (the document lists `null` among its values).
    let null_resource_type = server
        .http()
        .patch(&url)
        .bearer_auth(&bob_token)
        .json(&json!({"email": "bob@example.com", "roles": ["tenant-admin"], "resourceType": null}));
    assert_eq!(null_resource_type.send().await.expect("PATCH").status(), 200);
    assert_error(bob.update_user_roles().body(role("nobody@example.com", TenantAdmin)).send().await, 404, "not_found");
    server.stop().await;
}

async fn deleting_a_user_ends_their_tokens_and_members_cannot_manage_users(backend: Backend) {
    use types::UpdateUserRolesRequestRolesItem::TenantAdmin;
    let server = TestServer::start(backend).await;
    let admin = server.client();
    let alice_token = server.user("default", "alice@example.com", false).await;
    let bob_token = server.user("default", "bob@example.com", false).await;
    let bob = server.client_with(&bob_token);
    let alice_id = user_id(&admin, "alice@example.com").await;
    let ops = put_team(&admin, team("ops", &["alice@example.com", "bob@example.com"], None)).await;

    // A member may look, not manage.
    assert_error(bob.delete_user().id(&alice_id).send().await, 403, "forbidden");
    assert_error(bob.update_user_roles().body(role("bob@example.com", TenantAdmin)).send().await, 403, "forbidden");
    assert_error(bob.deactivate_user().body(email("alice@example.com")).send().await, 403, "forbidden");
    assert_error(bob.activate_user().body(email("alice@example.com")).send().await, 403, "forbidden");
    assert_works(&server, &alice_token).await;
    assert_eq!(assert_works(&server, &bob_token).await["roles"], json!(["tenant-member"]));

    assert!(admin.delete_user().id(&alice_id).send().await.expect("delete").into_inner().is_empty());
    assert_rejected(&server, &alice_token).await;
    assert_error(admin.get_user().id(&alice_id).send().await, 404, "not_found");
    assert_error(admin.delete_user().id(&alice_id).send().await, 404, "not_found");
    assert_eq!(user_emails(&admin, true).await, ["admin@localhost", "bob@example.com"]);
    // Team memberships go with the user.
    let members = admin.get_team().id(&ops.id).send().await.expect("team").into_inner().data.members;
    assert_eq!(members, ["bob@example.com"]);
    assert_works(&server, &bob_token).await;
    server.stop().await;
}

// ---- teams ----

async fn any_user_creates_a_team_and_only_its_managers_change_it(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.client();
    let (m1, m2, m3) = ("m1@example.com", "m2@example.com", "m3@example.com");
    let manager = server.client_with(&server.user("default", m1, false).await);
    let member = server.client_with(&server.user("default", m2, false).await);
    let outsider = server.client_with(&server.user("default", m3, false).await);

    // A member creates a team; with no managers named, the creator manages it.
    let created = put_team(&manager, team("ops", &[m2], None)).await;
    assert_eq!((created.name.as_str(), created.created_by.as_str()), ("ops", m1));
    assert_eq!(
        (created.members.clone(), created.manifest.managers.clone()),
        (vec![m2.to_owned()], Some(vec![m1.to_owned()]))
    );
    assert!(created.is_editable);

    // Unknown e-mails are refused and store nothing.
    let unknown = manager.create_or_update_team().body(team("ghosts", &[m2, "nobody@example.com"], None)).send().await;
    let error = assert_error(unknown, 422, "validation_failed");
    assert_eq!(error.details[0]["field"], "manifest.members[1]");
    let unknown_manager = team("ghosts", &[m2], Some(&["nobody@example.com"]));
    assert_error(manager.create_or_update_team().body(unknown_manager).send().await, 422, "validation_failed");
    // `type` may be left out, but it is not nullable.
    let null_type = server
        .http()
        .put(server.url("/api/svc/v1/teams"))
        .bearer_auth(&server.token)
        .json(&json!({"manifest": {"type": null, "name": "ghosts", "members": [m2]}}));
    assert_http_error(null_type.send().await.expect("PUT"), 422, "validation_failed").await;
    // dryRun answers the team and stores nothing.
    let mut dry = team("draft", &[m2], None);
    dry.dry_run = Some(true);
    assert_eq!(put_team(&manager, dry).await.name, "draft");

    // A plain member sees the team but cannot change or delete it.
    let seen = member.get_team().id(&created.id).send().await.expect("member gets").into_inner().data;
    assert!(!seen.is_editable);
    let rows = member.list_team_members().id(&created.id).send().await.expect("members").into_inner();
    let mut rows: Vec<(String, Option<types::TeamSubjectRowRole>)> =
        rows.data.into_iter().map(|r| (r.subject_slug, r.role)).collect();
    rows.sort();
    assert_eq!(
        rows,
        [
            (m1.to_owned(), Some(types::TeamSubjectRowRole::Manager)),
            (m2.to_owned(), Some(types::TeamSubjectRowRole::Member))
        ]
    );
    assert_error(member.create_or_update_team().body(team("ops", &[m2, m3], None)).send().await, 403, "forbidden");
    assert_error(member.delete_team().id(&created.id).send().await, 403, "forbidden");
    // Someone outside it cannot even see it.
    assert_error(outsider.get_team().id(&created.id).send().await, 403, "forbidden");
    assert_error(outsider.list_team_members().id(&created.id).send().await, 403, "forbidden");
    assert_error(outsider.delete_team().id(&created.id).send().await, 403, "forbidden");
    assert_eq!(admin.get_team().id(&created.id).send().await.expect("get").into_inner().data.members, [m2]);

    // The manager adds the outsider, who then sees it.
    let updated = put_team(&manager, team("ops", &[m2, m3], None)).await;
    assert_eq!(
        (updated.id.as_str(), updated.members.clone()),
        (created.id.as_str(), vec![m2.to_owned(), m3.to_owned()])
    );
    assert_eq!(outsider.get_team().id(&created.id).send().await.expect("now visible").into_inner().data.name, "ops");

    // Lists: a member's own teams; every team for an admin.
    let admins_team = put_team(&admin, team("platform", &[m1], None)).await;
    let names = |client: Client| async move {
        let page = client.list_teams().send().await.expect("list teams").into_inner();
        assert_eq!(page.pagination.total, i64::try_from(page.data.len()).expect("small"));
        page.data.into_iter().map(|t| t.name).collect::<Vec<_>>()
    };
    assert_eq!(names(member.clone()).await, ["ops"]);
    assert_eq!(names(manager.clone()).await, ["ops", "platform"]);
    assert_eq!(names(admin.clone()).await, ["ops", "platform"]);
    // An admin may change and delete any team.
    put_team(&admin, team("platform", &[m1, m2], Some(&["admin@localhost"]))).await;
    assert_eq!(names(member.clone()).await, ["ops", "platform"]);
    assert_error(manager.delete_team().id(&admins_team.id).send().await, 403, "forbidden");

    // The manager deletes the team.
    assert!(manager.delete_team().id(&created.id).send().await.expect("delete").into_inner().is_empty());
    assert_error(admin.get_team().id(&created.id).send().await, 404, "not_found");
    assert_error(manager.delete_team().id(&created.id).send().await, 404, "not_found");
    assert_eq!(names(member).await, ["platform"]);
    admin.delete_team().id(&admins_team.id).send().await.expect("admin deletes");
    assert!(names(admin).await.is_empty());
    server.stop().await;
}

async fn team_collaborators_give_access_that_ends_with_membership(backend: Backend) {
    use types::CollaboratorRoleId::SecretGroupEditor as Editor;
    let server = TestServer::start(backend).await;
    let admin = server.client();
    let (m1, m2) = ("m1@example.com", "m2@example.com");
    let manager = server.client_with(&server.user("default", m1, false).await);
    let member = server.client_with(&server.user("default", m2, false).await);
    let group = create_group(&admin, "group-a", &[("K", VALUE_OF_A)]).await;
    let secret = group.associated_secrets[0].id.clone();

    let ops = put_team(&manager, team("ops", &[m2], None)).await;
    assert_error(member.get_secret().id(&secret).send().await, 403, "forbidden");
    set_collaborators(&admin, "group-a", &[("team:ops", Editor)]).await;
    // Members and managers of the team read values; the group shows in their lists.
    for client in [&member, &manager] {
        assert_eq!(get_secret(client, &secret).await.value.as_deref(), Some(VALUE_OF_A));
        assert_eq!(visible_group_ids(client).await, [group.id.as_str()]);
    }

    // Off the team: access ends on the next request.
    put_team(&manager, team("ops", &[], None)).await;
    assert_error(member.get_secret().id(&secret).send().await, 403, "forbidden");
    assert!(visible_group_ids(&member).await.is_empty());
    assert_eq!(get_secret(&manager, &secret).await.value.as_deref(), Some(VALUE_OF_A));
    // Back on it, then the team is deleted: access ends for everyone in it.
    put_team(&manager, team("ops", &[m2], None)).await;
    assert_eq!(get_secret(&member, &secret).await.value.as_deref(), Some(VALUE_OF_A));
    manager.delete_team().id(&ops.id).send().await.expect("delete team");
    for client in [&member, &manager] {
        assert_error(client.get_secret().id(&secret).send().await, 403, "forbidden");
        assert!(visible_group_ids(client).await.is_empty());
    }
    server.stop().await;
}

// ---- failed-authentication limit ----

async fn failed_authentications_are_limited_per_client(backend: Backend) {
    // Its own server (as every test here), so the count starts at zero.
    let server = TestServer::start(backend).await;
    let http = server.http();
    let url = server.url("/api/svc/v1/secret-groups");

    // Requests without credentials guess nothing and are not counted.
    for _ in 0..25 {
        assert_http_error(http.get(&url).send().await.expect("GET"), 401, "unauthenticated").await;
    }
    // Credentials not shaped like a token cost no lookup and are not counted either.
    for header in ["Bearer not-a-token", "Basic YWRtaW46YWRtaW4=", "Bearer sgt_short"] {
        for _ in 0..10 {
            let response = http.get(&url).header("authorization", header).send().await.expect("GET");
            assert_http_error(response, 401, "unauthenticated").await;
        }
    }
    // 19 unknown well-formed tokens: each one a lookup, each one counted.
    let bad: Vec<String> =
        (0..19).map(|_| format!("Bearer {}", secret_groups_server::auth::generate_token())).collect();
    for header in &bad {
        let response = http.get(&url).header("authorization", header).send().await.expect("GET");
        assert_http_error(response, 401, "unauthenticated").await;
    }
    // Still under the limit: a valid token works, and does not reset the count.
    let (status, body) = json_of(http.get(&url).bearer_auth(&server.token).send().await.expect("GET")).await;
    assert_eq!(status, 200, "{body}");
    let response = http.get(&url).header("authorization", &bad[0]).send().await.expect("GET");
    assert_http_error(response, 401, "unauthenticated").await;

    // 20 failures: further failed attempts are refused with Retry-After...
    let response = http.get(&url).bearer_auth(secret_groups_server::auth::generate_token()).send().await.expect("GET");
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .expect("a Retry-After header of whole seconds");
    assert!((1..=60).contains(&retry_after), "Retry-After {retry_after}");
    let body = assert_http_error(response, 429, "rate_limited").await;
    assert!(body["message"].as_str().is_some_and(|m| m.contains("retry")), "{body}");
    // ...but a valid token from the same address is still served.
    let (status, body) = json_of(http.get(&url).bearer_auth(&server.token).send().await.expect("GET")).await;
    assert_eq!(status, 200, "{body}");
    server.client().list_secret_groups().send().await.expect("the valid token is served");
    server.stop().await;
}

// ---- tenants ----

async fn other_tenants_identity_objects_are_not_found(backend: Backend) {
    use types::VirtualAccountPermissionRoleId::SecretGroupViewer as Viewer;
    let server = TestServer::start(backend).await;
    let admin = server.client();
    let alice_token = server.user("default", "alice@example.com", false).await;
    let alice = server.client_with(&alice_token);
    create_group(&admin, "group-a", &[("K", "v")]).await;
    let alice_id = user_id(&admin, "alice@example.com").await;
    let ops = put_team(&admin, team("ops", &["alice@example.com"], None)).await;
    let va = put_account(&admin, account("ci", Some(vec![permission("group-a", Viewer)]), None, false)).await;
    let (va_id, va_token) = (va.data.id, va.token.expect("token"));
    let laptop = create_pat(&alice, "laptop").await;
    let laptop_id = own_token_id(&alice, "laptop").await;

    let other = server.client_with(&server.other_tenant("other").await);
    assert_error(other.get_user().id(&alice_id).send().await, 404, "not_found");
    assert_error(other.delete_user().id(&alice_id).send().await, 404, "not_found");
    assert_error(other.deactivate_user().body(email("alice@example.com")).send().await, 404, "not_found");
    assert_error(other.activate_user().body(email("alice@example.com")).send().await, 404, "not_found");
    let promote = role("alice@example.com", types::UpdateUserRolesRequestRolesItem::TenantAdmin);
    assert_error(other.update_user_roles().body(promote).send().await, 404, "not_found");
    assert_error(other.get_team().id(&ops.id).send().await, 404, "not_found");
    assert_error(other.list_team_members().id(&ops.id).send().await, 404, "not_found");
    assert_error(other.delete_team().id(&ops.id).send().await, 404, "not_found");
    assert_error(other.get_virtual_account().id(&va_id).send().await, 404, "not_found");
    assert_error(other.get_virtual_account_token().id(&va_id).send().await, 404, "not_found");
    let regenerate = other
        .regenerate_virtual_account_token()
        .id(&va_id)
        .body(types::RegenerateTokenRequest { grace_period_in_minutes: 0.0 })
        .send()
        .await;
    assert_error(regenerate, 404, "not_found");
    assert_error(other.delete_virtual_account().id(&va_id).send().await, 404, "not_found");
    assert_error(other.delete_personal_access_token().id(&laptop_id).send().await, 404, "not_found");
    assert_error(
        other.revoke_all_personal_access_tokens().body(email("alice@example.com")).send().await,
        404,
        "not_found",
    );
    assert_error(
        other.create_personal_access_token_for_user().body(pat_for("backdoor", "alice@example.com")).send().await,
        404,
        "not_found",
    );
    // Nor does anything of this tenant show in the other's lists, or take its permissions.
    assert_eq!(user_emails(&other, true).await, ["admin@other"]);
    assert!(other.list_teams().send().await.expect("teams").into_inner().data.is_empty());
    assert_eq!(other.list_virtual_accounts().send().await.expect("accounts").into_inner().pagination.total, 0);
    assert!(!other.virtual_account_exists().name("ci").send().await.expect("exists").into_inner().exists);
    let foreign_permission = other.create_or_update_virtual_account().body(account(
        "ci",
        Some(vec![permission("group-a", Viewer)]),
        None,
        false,
    ));
    assert_error(foreign_permission.send().await, 422, "validation_failed");
    let foreign_member = other.create_or_update_team().body(team("ops", &["alice@example.com"], None)).send().await;
    assert_error(foreign_member, 422, "validation_failed");

    // Everything is still there and working.
    assert_works(&server, &alice_token).await;
    assert_works(&server, &laptop).await;
    assert_eq!(slug(&assert_works(&server, &va_token).await), "ci");
    assert_eq!(
        admin.get_team().id(&ops.id).send().await.expect("team").into_inner().data.members,
        ["alice@example.com"]
    );
    assert_eq!(admin.get_user().id(&alice_id).send().await.expect("user").into_inner().data.roles, ["tenant-member"]);
    assert!(admin.get_user().id(&alice_id).send().await.expect("user").into_inner().data.active);
    server.stop().await;
}

/// Roles belong to the user, team, virtual account or group they were granted on, not to a
/// name: deleting the holder ends them, and a new object that takes the name gets nothing.
async fn roles_are_bound_to_objects_not_to_names(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.client();
    let group = create_group(&admin, &unique("bound"), &[("K", "guarded-value")]).await;
    let secret_id = group.associated_secrets[0].id.clone();
    let eve_token = server.user("default", "eve@example.com", false).await;
    let eve = server.client_with(&eve_token);

    // A collaborator must name an existing team: no squatting on a name granted in advance.
    let manifest = |subject: &str| {
        json!({"manifest": {"type": "secret-group", "name": group.name, "integration_fqn": "internal:secret-store:internal-secret-store",
                            "collaborators": [{"subject": "user:admin@localhost", "role_id": "secret-group-admin"},
                                              {"subject": subject, "role_id": "secret-group-editor"}]}})
    };
    let put_group = |body: Value| {
        server.http().put(server.url("/api/svc/v1/secret-groups")).bearer_auth(&server.token).json(&body).send()
    };
    assert_http_error(put_group(manifest("team:release")).await.expect("PUT"), 404, "not_found").await;
    put_team(&eve, team("release", &["eve@example.com"], None)).await;
    assert_error(eve.get_secret().id(&secret_id).send().await, 403, "forbidden");

    // Granted to the real team, its member reads; once the team is deleted the name is retired
    // (a member cannot re-create it), and even re-created by a tenant admin it does not get the
    // role back: the role is gone and the manifest no longer names it.
    let granted = server
        .http()
        .put(server.url("/api/svc/v1/secret-groups"))
        .bearer_auth(&server.token)
        .json(&manifest("team:release"))
        .send()
        .await;
    assert_eq!(granted.expect("PUT").status(), 200);
    assert_eq!(get_secret(&eve, &secret_id).await.value.as_deref(), Some("guarded-value"));
    let release = admin
        .list_teams()
        .send()
        .await
        .expect("teams")
        .into_inner()
        .data
        .into_iter()
        .find(|t| t.name == "release")
        .expect("team");
    admin.delete_team().id(&release.id).send().await.expect("delete team");
    assert_error(
        eve.create_or_update_team().body(team("release", &["eve@example.com"], None)).send().await,
        403,
        "forbidden",
    );
    put_team(&admin, team("release", &["eve@example.com"], None)).await;
    assert_error(eve.get_secret().id(&secret_id).send().await, 403, "forbidden");
    let shown = admin.get_secret_group().id(&group.id).send().await.expect("get").into_inner().data;
    let subjects: Vec<String> =
        shown.manifest.collaborators.unwrap_or_default().into_iter().map(|c| c.subject.to_string()).collect();
    assert_eq!(subjects, ["user:admin@localhost"], "the deleted team's role is gone from the manifest");

    // A virtual account's permission ends with its group; a new group of that name is not its.
    let doomed = create_group(&admin, &unique("doomed"), &[("K", "old")]).await;
    let created = put_account(
        &admin,
        account(
            "ci-bound",
            Some(vec![permission(&doomed.name, types::VirtualAccountPermissionRoleId::SecretGroupEditor)]),
            None,
            false,
        ),
    )
    .await;
    let robot = server.client_with(created.token.as_deref().expect("token"));
    assert_eq!(get_secret(&robot, &doomed.associated_secrets[0].id).await.value.as_deref(), Some("old"));
    admin.delete_secret_group().id(&doomed.id).send().await.expect("delete group");
    let reborn = create_group(&eve, &doomed.name, &[("K", "eve-private")]).await;
    assert_error(robot.get_secret().id(&reborn.associated_secrets[0].id).send().await, 403, "forbidden");
    let shown = admin.get_virtual_account().id(&created.data.id).send().await.expect("get").into_inner().data;
    assert!(shown.manifest.permissions.is_none(), "the deleted group's permission is gone");

    // An update without permissions keeps them, and the manifest says so.
    let kept = create_group(&admin, &unique("kept"), &[("K", "v")]).await;
    put_account(
        &admin,
        account(
            "ci-bound",
            Some(vec![permission(&kept.name, types::VirtualAccountPermissionRoleId::SecretGroupViewer)]),
            None,
            false,
        ),
    )
    .await;
    let updated = put_account(&admin, account("ci-bound", None, None, false)).await;
    let fqns: Vec<String> =
        updated.data.manifest.permissions.iter().flatten().map(|p| p.resource_fqn.to_string()).collect();
    assert_eq!(fqns, [format!("default:{}", kept.name)]);

    // A deleted user's role does not pass to a new user of the same e-mail, and teams forget them.
    let bob_token = server.user("default", "bob@example.com", false).await;
    let bob_id = user_id(&admin, "bob@example.com").await;
    let granted = server
        .http()
        .put(server.url("/api/svc/v1/secret-groups"))
        .bearer_auth(&server.token)
        .json(&manifest("user:bob@example.com"))
        .send()
        .await;
    assert_eq!(granted.expect("PUT").status(), 200);
    assert_eq!(get_secret(&server.client_with(&bob_token), &secret_id).await.value.as_deref(), Some("guarded-value"));
    let crew = put_team(&admin, team("crew", &["bob@example.com", "eve@example.com"], None)).await;
    admin.delete_user().id(&bob_id).send().await.expect("delete user");
    let crew = admin.get_team().id(&crew.id).send().await.expect("get team").into_inner().data;
    assert_eq!(crew.manifest.members, ["eve@example.com"], "the deleted user left the team's manifest");
    let new_bob = server.user("default", "bob@example.com", false).await;
    assert_error(server.client_with(&new_bob).get_secret().id(&secret_id).send().await, 403, "forbidden");
    server.stop().await;
}
