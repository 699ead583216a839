//! The audit trail (issue 14): what is recorded, that no event carries a value or a token,
//! audit-or-refuse, the hash chains under tampering and under two replicas, and the API.

use secret_groups_server::{audit::event::Event, store::audit};
use serde_json::{Value, json};

use crate::harness::{Backend, TestServer, unique};

const CANARY_VALUE: &str = "canary-value-7d1f0c9a";

/// Every stored event (all tenants), oldest first per chain.
async fn stored(server: &TestServer) -> Vec<Event> {
    sqlx::query_as("SELECT * FROM audit_events ORDER BY at, chain, seq")
        .fetch_all(server.state.db.pool())
        .await
        .expect("audit events")
}

/// Creates a group holding the canary value; returns (group id, secret id, group name).
async fn canary_group(server: &TestServer) -> (String, String, String) {
    let name = unique("audited");
    let body = json!({"name": name, "integrationId": "internal-secret-store",
                      "secrets": [{"key": "API_KEY", "value": CANARY_VALUE}]});
    let response = server.http().post(server.url("/api/svc/v1/secret-groups")).bearer_auth(&server.token).json(&body);
    let created: Value = response.send().await.expect("create").json().await.expect("json");
    let group = created["data"]["id"].as_str().expect("group id").to_owned();
    let secret = created["data"]["associatedSecrets"][0]["id"].as_str().expect("secret id").to_owned();
    (group, secret, name)
}

async fn get(server: &TestServer, token: &str, path: &str) -> (u16, String) {
    let response = server.http().get(server.url(path)).bearer_auth(token).send().await.expect("request");
    (response.status().as_u16(), response.text().await.expect("body"))
}

fn find<'a>(events: &'a [Event], action: &str, status: i64) -> Vec<&'a Event> {
    events.iter().filter(|e| e.action == action && e.status_code == status).collect()
}

async fn each_audited_action_appears_without_values_or_tokens(backend: Backend) {
    let server = TestServer::start(backend).await;
    let member = server.user("default", "member@example.com", false).await;
    let other_admin = server.other_tenant("elsewhere").await;
    let (group, secret, name) = canary_group(&server).await;
    let fqn = format!("default:{name}");
    assert_eq!(get(&server, &server.token, &format!("/api/svc/v1/secrets/{secret}")).await.0, 200);
    let list = json!({"secretGroupId": group, "withValue": true});
    let listed = server.http().post(server.url("/api/svc/v1/secrets")).bearer_auth(&server.token).json(&list);
    assert_eq!(listed.send().await.expect("list").status(), 200);
    // A list without values is not a read of values: not audited.
    let keys_only = json!({"secretGroupId": group});
    let listed = server.http().post(server.url("/api/svc/v1/secrets")).bearer_auth(&server.token).json(&keys_only);
    assert_eq!(listed.send().await.expect("list").status(), 200);
    let update = json!({"secrets": [{"key": "API_KEY", "value": format!("{CANARY_VALUE}-2")}, {"key": "NEW", "value": CANARY_VALUE}]});
    let updated =
        server.http().put(server.url(&format!("/api/svc/v1/secret-groups/{group}"))).bearer_auth(&server.token);
    assert_eq!(updated.json(&update).send().await.expect("update").status(), 200);
    // Refusals: a member without a role, an unknown token, another tenant's admin.
    assert_eq!(get(&server, &member, &format!("/api/svc/v1/secrets/{secret}")).await.0, 403);
    let unknown_token = secret_groups_server::auth::generate_token();
    assert_eq!(get(&server, &unknown_token, &format!("/api/svc/v1/secrets/{secret}")).await.0, 401);
    assert_eq!(get(&server, &other_admin, &format!("/api/svc/v1/secrets/{secret}")).await.0, 404);

    let events = stored(&server).await;
    let create = find(&events, "createSecretGroup", 200);
    assert_eq!(create.len(), 1, "{events:#?}");
    assert_eq!((create[0].actor_type.as_str(), create[0].actor_name.as_str()), ("user", "admin@localhost"));
    assert!(create[0].resources.contains(&format!("\"fqn\":\"{fqn}\"")), "{}", create[0].resources);
    assert!(create[0].resources.contains(&group), "{}", create[0].resources);
    assert!(create[0].changes.contains("API_KEY"), "{}", create[0].changes);
    let read = find(&events, "getSecret", 200);
    assert_eq!(read.len(), 1, "{events:#?}");
    assert_eq!(read[0].actor_name, "admin@localhost");
    assert!(read[0].resources.contains(&format!("\"fqn\":\"{fqn}:API_KEY\"")), "{}", read[0].resources);
    assert_eq!(read[0].source, "127.0.0.1");
    assert!(!read[0].request_id.is_empty());
    assert_eq!(find(&events, "listSecrets", 200).len(), 1, "only the list with values: {events:#?}");
    let update = find(&events, "updateSecretGroup", 200);
    assert_eq!(update.len(), 1, "{events:#?}");
    let changes: Value = serde_json::from_str(&update[0].changes).expect("changes JSON");
    assert_eq!(changes["changed"], json!([{"key": "API_KEY", "version": 2}]), "{changes}");
    assert_eq!(changes["added"], json!([{"key": "NEW", "version": 1}]), "{changes}");
    let refused = find(&events, "getSecret", 403);
    assert_eq!(refused.len(), 1, "{events:#?}");
    assert_eq!(refused[0].actor_name, "member@example.com");
    assert!(refused[0].resources.contains(&secret));
    let unauthenticated = find(&events, "getSecret", 401);
    assert_eq!(unauthenticated.len(), 1, "{events:#?}");
    assert_eq!(unauthenticated[0].actor_type, "token");
    assert_eq!(unauthenticated[0].actor_id.len(), 16, "a fingerprint, not the token");
    let foreign = find(&events, "getSecret", 404);
    assert_eq!((foreign.len(), foreign[0].actor_name.as_str()), (1, "admin@other"), "{events:#?}");
    assert_ne!(foreign[0].tenant_id, read[0].tenant_id, "in the caller's tenant");

    let everything = format!("{events:?}");
    for canary in [CANARY_VALUE, &server.token, &member, &unknown_token, &other_admin] {
        assert!(!everything.contains(canary), "an event holds {canary}");
    }
    let verified = audit::verify(&server.state.db, None).await.expect("verify");
    assert!(verified.mismatches.is_empty(), "{:?}", verified.mismatches);
    assert_eq!(verified.events, events.len() as u64);
    server.stop().await;
}

/// Makes audited requests until one chain holds at least 3 events; returns that chain.
async fn chain_of_three(server: &TestServer) -> String {
    let (_, secret, _) = canary_group(server).await;
    for _ in 0..100 {
        assert_eq!(get(server, &server.token, &format!("/api/svc/v1/secrets/{secret}")).await.0, 200);
        let longest: Option<(String, i64)> =
            sqlx::query_as("SELECT chain, MAX(seq) FROM audit_events GROUP BY chain ORDER BY MAX(seq) DESC LIMIT 1")
                .fetch_optional(server.state.db.pool())
                .await
                .expect("chains");
        if let Some((chain, seq)) = longest
            && seq >= 3
        {
            return chain;
        }
    }
    panic!("no chain reached 3 events");
}

async fn execute(server: &TestServer, sql: &str, chain: &str) {
    sqlx::query(sqlx::AssertSqlSafe(sql.to_owned())).bind(chain).execute(server.state.db.pool()).await.expect(sql);
}

async fn first_mismatch(server: &TestServer) -> Option<audit::Mismatch> {
    audit::verify(&server.state.db, None).await.expect("verify").mismatches.into_iter().next()
}

async fn event_id(server: &TestServer, chain: &str, seq: i64) -> String {
    sqlx::query_scalar("SELECT id FROM audit_events WHERE chain = $1 AND seq = $2")
        .bind(chain)
        .bind(seq)
        .fetch_one(server.state.db.pool())
        .await
        .expect("event")
}

async fn verify_names_an_edited_deleted_or_swapped_event(backend: Backend) {
    let server = TestServer::start(backend).await;
    let chain = chain_of_three(&server).await;
    assert_eq!(first_mismatch(&server).await, None, "an intact log verifies");
    let second = event_id(&server, &chain, 2).await;

    // Edited: one field of event 2.
    execute(&server, "UPDATE audit_events SET actor_name = 'someone-else' WHERE chain = $1 AND seq = 2", &chain).await;
    let mismatch = first_mismatch(&server).await.expect("an edit is found");
    assert_eq!((mismatch.chain.as_str(), mismatch.seq, mismatch.id.as_str()), (chain.as_str(), 2, second.as_str()));
    execute(&server, "UPDATE audit_events SET actor_name = 'admin@localhost' WHERE chain = $1 AND seq = 2", &chain)
        .await;
    assert_eq!(first_mismatch(&server).await, None, "restored");

    // Deleted: event 2 (kept aside and put back).
    execute(&server, "CREATE TABLE kept AS SELECT * FROM audit_events WHERE chain = $1 AND seq = 2", &chain).await;
    execute(&server, "DELETE FROM audit_events WHERE chain = $1 AND seq = 2", &chain).await;
    let mismatch = first_mismatch(&server).await.expect("a deletion is found");
    assert_eq!((mismatch.chain.as_str(), mismatch.seq), (chain.as_str(), 2), "{mismatch}");
    execute(&server, "INSERT INTO audit_events SELECT * FROM kept WHERE chain = $1", &chain).await;
    assert_eq!(first_mismatch(&server).await, None, "restored");

    // Swapped: events 2 and 3 trade places.
    for sql in [
        "UPDATE audit_events SET seq = -2 WHERE chain = $1 AND seq = 2",
        "UPDATE audit_events SET seq = 2 WHERE chain = $1 AND seq = 3",
        "UPDATE audit_events SET seq = 3 WHERE chain = $1 AND seq = -2",
    ] {
        execute(&server, sql, &chain).await;
    }
    let mismatch = first_mismatch(&server).await.expect("a swap is found");
    assert_eq!((mismatch.chain.as_str(), mismatch.seq), (chain.as_str(), 2), "{mismatch}");
    server.stop().await;
}

async fn value_reads_fail_closed_when_events_cannot_be_stored(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (group, secret, _) = canary_group(&server).await;
    sqlx::query("ALTER TABLE audit_events RENAME TO audit_events_away")
        .execute(server.state.db.pool())
        .await
        .expect("rename");
    let (status, body) = get(&server, &server.token, &format!("/api/svc/v1/secrets/{secret}")).await;
    assert_eq!(status, 500, "{body}");
    assert!(!body.contains(CANARY_VALUE), "{body}");
    assert!(body.contains("\"code\":\"internal\""), "{body}");
    let list = json!({"secretGroupId": group, "withValue": true});
    let listed = server.http().post(server.url("/api/svc/v1/secrets")).bearer_auth(&server.token).json(&list);
    let listed = listed.send().await.expect("list");
    assert_eq!(listed.status(), 500);
    assert!(!listed.text().await.expect("body").contains(CANARY_VALUE));
    // A write whose event cannot be stored does not happen.
    let deleted = server.http().delete(server.url(&format!("/api/svc/v1/secrets/{secret}"))).bearer_auth(&server.token);
    assert_eq!(deleted.send().await.expect("delete").status(), 500);
    sqlx::query("ALTER TABLE audit_events_away RENAME TO audit_events")
        .execute(server.state.db.pool())
        .await
        .expect("rename");
    let (status, body) = get(&server, &server.token, &format!("/api/svc/v1/secrets/{secret}")).await;
    assert_eq!(status, 200, "the secret is still there: {body}");
    assert!(body.contains(CANARY_VALUE));
    server.stop().await;
}

async fn two_replicas_writing_concurrently_still_verify(backend: Backend) {
    let first = TestServer::start(backend).await;
    let second = first.replica().await;
    let (_, secret, _) = canary_group(&first).await;
    let mut work = Vec::new();
    for i in 0..40 {
        let server = if i % 2 == 0 { &first } else { &second };
        let (http, token) = (server.http(), server.token.clone());
        let (create, read) =
            (server.url("/api/svc/v1/secret-groups"), server.url(&format!("/api/svc/v1/secrets/{secret}")));
        work.push(async move {
            let body = json!({"name": unique("r"), "integrationId": "internal-secret-store", "secrets": [{"key": "K", "value": "v"}]});
            let created = http.post(create).bearer_auth(&token).json(&body).send().await.expect("create").status();
            let read = http.get(read).bearer_auth(&token).send().await.expect("read").status();
            (created.as_u16(), read.as_u16())
        });
    }
    for outcome in futures::future::join_all(work).await {
        assert_eq!(outcome, (200, 200));
    }
    let verified = audit::verify(&first.state.db, None).await.expect("verify");
    assert!(verified.mismatches.is_empty(), "{:?}", verified.mismatches);
    assert_eq!(verified.events, 1 + 40 + 40, "every create and read, once");
    second.stop().await;
    first.stop().await;
}

async fn audit_events(server: &TestServer, token: &str, query: &str) -> (u16, Value) {
    let response = server.http().get(server.url(&format!("/api/svc/v1/audit-events{query}"))).bearer_auth(token);
    let response = response.send().await.expect("audit events");
    (response.status().as_u16(), response.json().await.expect("JSON"))
}

async fn the_api_shows_the_tenants_events_to_its_admins_only(backend: Backend) {
    let file = tempfile::NamedTempFile::new().expect("audit file");
    let path = file.path().to_owned();
    let server = TestServer::start_with(backend, |args| args.audit.audit_file = Some(path.clone())).await;
    let member = server.user("default", "member@example.com", false).await;
    let other_admin = server.other_tenant("elsewhere").await;
    let (_, secret, name) = canary_group(&server).await;
    assert_eq!(get(&server, &server.token, &format!("/api/svc/v1/secrets/{secret}")).await.0, 200);
    assert_eq!(get(&server, &member, &format!("/api/svc/v1/secrets/{secret}")).await.0, 403);
    assert_eq!(get(&server, &other_admin, &format!("/api/svc/v1/secrets/{secret}")).await.0, 404);

    let (status, body) = audit_events(&server, &member, "").await;
    assert_eq!((status, body["code"].as_str()), (403, Some("forbidden")), "{body}");
    let (status, all) = audit_events(&server, &server.token, "").await;
    assert_eq!(status, 200, "{all}");
    let actions: Vec<(&str, i64)> = all["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|e| (e["action"].as_str().unwrap_or(""), e["statusCode"].as_i64().unwrap_or(0)))
        .collect();
    // Newest first; the member's refused call on the audit API itself is on record too.
    assert_eq!(
        actions,
        [("listAuditEvents", 403), ("getSecret", 403), ("getSecret", 200), ("createSecretGroup", 200)],
        "{all}"
    );
    assert_eq!(all["pagination"], json!({"total": 4, "offset": 0, "limit": 100}));
    let read = &all["data"][2];
    assert_eq!(read["actor"], json!({"type": "user", "id": read["actor"]["id"], "name": "admin@localhost"}));
    assert_eq!(read["resources"], json!([{"type": "secret", "id": secret, "fqn": format!("default:{name}:API_KEY")}]));
    // The other tenant sees only its own (its admin's 404).
    let (_, theirs) = audit_events(&server, &other_admin, "").await;
    assert_eq!(theirs["pagination"]["total"], 1, "{theirs}");

    for (query, expected) in [
        ("?action=getSecret", 2),
        ("?actor=member@example.com", 2),
        ("?statusCode=200", 2),
        (&format!("?resourceFqn=default:{name}:API_KEY") as &str, 1),
        (&format!("?resourceFqn=default:{name}"), 1),
        ("?since=2000-01-01T00:00:00Z&until=2999-01-01T00:00:00Z", 4),
        ("?until=2000-01-01T00:00:00Z", 0),
        ("?limit=1&offset=1", 4),
    ] {
        let (status, page) = audit_events(&server, &server.token, query).await;
        assert_eq!((status, page["pagination"]["total"].as_i64()), (200, Some(expected)), "{query}: {page}");
    }
    let (_, page) = audit_events(&server, &server.token, "?limit=1&offset=1").await;
    assert_eq!(page["data"].as_array().map(Vec::len), Some(1));
    for bad in ["?statusCode=abc", "?statusCode=700", "?since=yesterday", "?limit=0"] {
        let (status, body) = audit_events(&server, &server.token, bad).await;
        assert_eq!((status, body["code"].as_str()), (422, Some("validation_failed")), "{bad}: {body}");
    }

    // The API answer, the database and the SIEM file: no value, no token.
    let (_, all) = audit_events(&server, &server.token, "").await;
    let lines = std::fs::read_to_string(&path).expect("audit file");
    let rows = format!("{:?}", stored(&server).await);
    assert_eq!(lines.lines().count(), stored(&server).await.len(), "every event in the file: {lines}");
    for line in lines.lines() {
        let event: Value = serde_json::from_str(line).expect("a JSON line");
        assert!(event["hash"].as_str().is_some_and(|h| h.len() == 64), "{line}");
    }
    for canary in [CANARY_VALUE, &server.token, &member, &other_admin] {
        for (place, text) in [("API", all.to_string()), ("database", rows.clone()), ("file", lines.clone())] {
            assert!(!text.contains(canary), "the {place} holds a canary");
        }
    }
    server.stop().await;
}

async fn audit_off_records_nothing(backend: Backend) {
    let server = TestServer::start_with(backend, |args| args.audit.audit = "off".to_owned()).await;
    let (_, secret, _) = canary_group(&server).await;
    assert_eq!(get(&server, &server.token, &format!("/api/svc/v1/secrets/{secret}")).await.0, 200);
    assert!(stored(&server).await.is_empty());
    server.stop().await;
}

async fn prune_keeps_the_rest_verifiable(backend: Backend) {
    let server = TestServer::start(backend).await;
    chain_of_three(&server).await;
    let cut: i64 =
        sqlx::query_scalar("SELECT MAX(at) FROM audit_events").fetch_one(server.state.db.pool()).await.expect("max");
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let (_, secret, _) = canary_group(&server).await;
    assert_eq!(get(&server, &server.token, &format!("/api/svc/v1/secrets/{secret}")).await.0, 200);
    let before = stored(&server).await.len();
    let deleted = audit::prune(&server.state.db, cut + 1).await.expect("prune");
    let after = stored(&server).await;
    assert!(deleted > 0 && after.len() as u64 == before as u64 - deleted, "{deleted} of {before}");
    assert!(after.iter().all(|e| e.at > cut), "only newer events are left");
    assert_eq!(first_mismatch(&server).await, None, "what is left verifies from the anchors");
    // Appends continue the anchored chains.
    assert_eq!(get(&server, &server.token, &format!("/api/svc/v1/secrets/{secret}")).await.0, 200);
    assert_eq!(first_mismatch(&server).await, None);
    // And tampering after a prune is still found.
    execute(&server, "UPDATE audit_events SET status_code = 201 WHERE chain = $1", &after[0].chain).await;
    assert!(first_mismatch(&server).await.is_some());
    server.stop().await;
}

/// The binary's `audit verify`: exit 0 on an intact log, non-zero naming the event otherwise.
async fn the_verify_command_exits_non_zero_naming_the_event(backend: Backend) {
    let server = TestServer::start(backend).await;
    let chain = chain_of_three(&server).await;
    let id = event_id(&server, &chain, 3).await;
    let run = || async {
        let output = tokio::process::Command::new(crate::cli::BIN)
            .args(["audit", "verify", "--tenant", "default"])
            .args(server.cli_store_args())
            .output()
            .await
            .expect("run audit verify");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr),
        )
    };
    let (ok, text) = run().await;
    assert!(ok, "{text}");
    execute(&server, "UPDATE audit_events SET request_id = 'forged' WHERE chain = $1 AND seq = 3", &chain).await;
    let (ok, text) = run().await;
    assert!(!ok, "{text}");
    assert!(text.contains(&format!("chain {chain} seq 3 (event {id})")), "{text}");
    server.stop().await;
}

/// Identity writes are audited too, and the tokens they answer never reach an event.
async fn identity_writes_are_audited_without_the_tokens_they_answer(backend: Backend) {
    let server = TestServer::start(backend).await;
    server.user("default", "dev@example.com", false).await;
    let http = server.http();
    let token = server.token.clone();
    let send = |request: reqwest::RequestBuilder| {
        let request = request.bearer_auth(&token);
        async move {
            let response = request.send().await.expect("request");
            let status = response.status().as_u16();
            let body = response.json::<Value>().await.expect("JSON");
            assert_eq!(status, 200, "{body}");
            body
        }
    };
    let pat =
        send(http.post(server.url("/api/svc/v1/personal-access-tokens")).json(&json!({"name": "ci-token"}))).await;
    let (_, _, group) = canary_group(&server).await;
    let permission = json!({"resource_fqn": format!("default:{group}"), "resource_type": "secret-group",
                            "role_id": "secret-group-viewer"});
    let va = json!({"manifest": {"name": "deployer", "permissions": [permission], "expiration_date": "2099-01-01"}});
    let va = send(http.put(server.url("/api/svc/v1/virtual-accounts")).json(&va)).await;
    let team = json!({"manifest": {"name": "payments-team", "members": ["dev@example.com"]}});
    send(http.put(server.url("/api/svc/v1/teams")).json(&team)).await;
    let roles = json!({"email": "dev@example.com", "roles": ["tenant-admin"]});
    send(http.patch(server.url("/api/svc/v1/users/roles")).json(&roles)).await;
    let events = stored(&server).await;
    for action in ["createPersonalAccessToken", "createOrUpdateVirtualAccount", "createOrUpdateTeam", "updateUserRoles"]
    {
        let found = find(&events, action, 200);
        assert_eq!(found.len(), 1, "{action}: {events:#?}");
        assert_eq!(found[0].actor_name, "admin@localhost");
    }
    let one = |action: &str| find(&events, action, 200)[0].clone();
    let roles = one("updateUserRoles");
    let parsed = |text: &str| serde_json::from_str::<Value>(text).expect("JSON");
    assert_eq!(parsed(&roles.resources), json!([{"type": "user", "name": "dev@example.com"}]));
    assert_eq!(parsed(&roles.changes), json!({"roles": ["tenant-admin"]}));
    assert!(one("createOrUpdateVirtualAccount").changes.contains(&format!("default:{group}")));
    assert!(one("createOrUpdateTeam").changes.contains("dev@example.com"));
    assert!(one("createPersonalAccessToken").resources.contains(r#""name":"ci-token""#));
    let everything = format!("{events:?}");
    for token in [pat["token"].as_str(), va["token"].as_str()] {
        let token = token.expect("a token answered once");
        assert!(!everything.contains(token), "an event holds a token it answered");
    }
    server.stop().await;
}

crate::on_both_backends!(
    each_audited_action_appears_without_values_or_tokens,
    verify_names_an_edited_deleted_or_swapped_event,
    value_reads_fail_closed_when_events_cannot_be_stored,
    two_replicas_writing_concurrently_still_verify,
    the_api_shows_the_tenants_events_to_its_admins_only,
    audit_off_records_nothing,
    prune_keeps_the_rest_verifiable,
    the_verify_command_exits_non_zero_naming_the_event,
    identity_writes_are_audited_without_the_tokens_they_answer,
    operator_commands_are_audited,
);

/// The binary reopens `SG_AUDIT_FILE` on SIGHUP, after log rotation moved it away.
#[tokio::test]
async fn the_binary_reopens_the_audit_file_on_sighup() {
    let dir = tempfile::tempdir().expect("dir");
    let database_url = format!("sqlite://{}", dir.path().join("audit.db").display());
    let (file, rotated) = (dir.path().join("audit.jsonl"), dir.path().join("audit.jsonl.1"));
    let token = secret_groups_server::auth::generate_token();
    let file_env = file.display().to_string();
    let running = crate::cli::start_with(&database_url, Some(&token), &[], &[("SG_AUDIT_FILE", &file_env)]).await;
    // A 404 for an authenticated caller is audited.
    let refused = || async {
        let url = format!("http://{}/api/svc/v1/secrets/no-such-secret", running.address);
        let response = reqwest::Client::new().get(url).bearer_auth(&token).send().await.expect("GET");
        assert_eq!(response.status(), 404);
    };
    let lines = |path: &std::path::Path| std::fs::read_to_string(path).map_or(0, |text| text.lines().count());
    refused().await;
    assert_eq!(lines(&file), 1);
    std::fs::rename(&file, &rotated).expect("rotate");
    let pid = running.child.id().expect("pid").to_string();
    let hup = tokio::process::Command::new("kill").args(["-HUP", &pid]).status().await.expect("kill -HUP");
    assert!(hup.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while lines(&file) == 0 {
        assert!(std::time::Instant::now() < deadline, "no event reached the reopened file");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        refused().await;
    }
    assert!(lines(&rotated) >= 1, "the rotated file keeps what was written before");
    let (status, log) = crate::cli::stop(running).await;
    assert!(status.success());
    assert!(log.join("\n").contains("reopened the audit file"));
}

/// Operator commands at the console are audited too: the actor is the operator's login, the
/// event lands in the tenant's chain, and the trail still verifies.
async fn operator_commands_are_audited(backend: Backend) {
    let server = TestServer::start(backend).await;
    let run = |args: Vec<String>| {
        let store = server.cli_store_args();
        async move {
            let output = tokio::process::Command::new(crate::cli::BIN)
                .args(&args)
                .args(store)
                .env("USER", "ops-alice")
                .env_remove("SUDO_USER")
                .output()
                .await
                .expect("run the command");
            assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
            String::from_utf8_lossy(&output.stdout).trim().to_owned()
        }
    };
    let email = format!("{}@example.com", unique("op"));
    run(vec!["users".into(), "create".into(), "--tenant".into(), "default".into(), "--email".into(), email.clone()])
        .await;
    let token = run(vec![
        "tokens".into(),
        "create".into(),
        "--tenant".into(),
        "default".into(),
        "--email".into(),
        email.clone(),
    ])
    .await;
    let tenant = unique("optenant");
    run(vec!["tenants".into(), "create".into(), tenant.clone()]).await;

    let events = stored(&server).await;
    let tenant_id =
        secret_groups_server::store::identity::tenant_by_name(&server.state.db, "default").await.expect("tenant").id;
    for action in ["cli:users create", "cli:tokens create", "cli:tenants create"] {
        let found = find(&events, action, 200);
        assert_eq!(found.len(), 1, "{action}: {events:?}");
        let event = found[0];
        assert_eq!((event.actor_type.as_str(), event.actor_name.as_str()), ("operator", "ops-alice"), "{action}");
        assert_eq!(event.source, "console");
        let expected_tenant = if action == "cli:tenants create" { "" } else { tenant_id.as_str() };
        assert_eq!(event.tenant_id, expected_tenant, "{action}");
    }
    assert!(find(&events, "cli:users create", 200)[0].resources.contains(&email));
    assert!(find(&events, "cli:tenants create", 200)[0].resources.contains(&tenant));
    assert!(events.iter().all(|e| !e.resources.contains(&token) && !e.changes.contains(&token)), "a token in an event");
    assert_eq!(first_mismatch(&server).await, None);
    server.stop().await;
}
