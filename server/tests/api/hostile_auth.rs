//! Issue 12: failed-authentication throttling that never refuses a valid token, trusted
//! proxies, and the small defects (1,000 `secretFqns`, `Cache-Control`, file modes, `/readyz`
//! on a database that cannot write, team names of deleted teams).

use std::time::{Duration, Instant};

use secret_groups_client::{Client, types};
use secret_groups_server::auth::generate_token;

use crate::{
    harness::{
        Backend, TestServer, admin_execute, assert_http_error, create_group, expect_error, json_of, secret_input,
        unique,
    },
    on_both_backends,
};

on_both_backends!(
    valid_tokens_are_served_while_invalid_ones_are_throttled,
    a_thousand_secret_fqns_are_listed,
    readyz_fails_while_the_database_cannot_write,
    a_deleted_teams_name_cannot_be_captured,
);

const GROUPS: &str = "/api/svc/v1/secret-groups";

/// The `Retry-After` of an answer, in whole seconds.
fn retry_after(response: &reqwest::Response) -> Option<u64> {
    response.headers().get("retry-after")?.to_str().ok()?.parse().ok()
}

/// Status of a GET of the group list with `authorization`, and its Retry-After if any.
async fn attempt(http: &reqwest::Client, url: &str, authorization: &str) -> (u16, Option<u64>) {
    let response = http.get(url).header("authorization", authorization).send().await.expect("GET");
    let status = response.status().as_u16();
    let retry = retry_after(&response);
    let code = if status == 200 { None } else { Some(json_of(response).await.1["code"].clone()) };
    match status {
        401 => assert_eq!(code, Some("unauthenticated".into())),
        429 => assert_eq!(code, Some("rate_limited".into())),
        _ => {}
    }
    (status, retry)
}

// ---- throttling ----

/// 64 clients with invalid tokens and one with a valid token, all from one address (as behind a
/// NAT or a proxy): the valid one only ever gets 200s; the invalid ones 401 and then 429.
async fn valid_tokens_are_served_while_invalid_ones_are_throttled(backend: Backend) {
    let server = TestServer::start(backend).await;
    // A token the server has never seen presented, created behind its back (as the CLI or
    // another replica would): it must be recognised too once the address is throttled.
    let fresh = server.user("default", "fresh@example.com", false).await;
    let url = server.url(GROUPS);

    let mut guessers = Vec::new();
    for _ in 0..64 {
        let (http, url) = (server.http(), url.clone());
        guessers.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            for _ in 0..6 {
                answers.push(attempt(&http, &url, &format!("Bearer {}", generate_token())).await);
            }
            answers
        }));
    }
    let (http, valid_url, token) = (server.http(), url.clone(), server.token.clone());
    let valid = tokio::spawn(async move {
        let mut statuses = Vec::new();
        for _ in 0..60 {
            statuses.push(attempt(&http, &valid_url, &format!("Bearer {token}")).await.0);
        }
        statuses
    });
    let mut answers = Vec::new();
    for guesser in guessers {
        let sequence = guesser.await.expect("guesser");
        // Per client: 401s first, then 429s; never back to 401 within the window.
        let first_429 = sequence.iter().position(|(status, _)| *status == 429).unwrap_or(sequence.len());
        assert!(sequence[first_429..].iter().all(|(status, _)| *status == 429), "{sequence:?}");
        answers.extend(sequence);
    }
    let statuses = valid.await.expect("valid client");
    assert!(statuses.iter().all(|status| *status == 200), "the valid token was refused: {statuses:?}");

    let unauthenticated = answers.iter().filter(|(status, _)| *status == 401).count();
    let limited: Vec<_> = answers.iter().filter(|(status, _)| *status == 429).collect();
    assert_eq!(unauthenticated + limited.len(), answers.len(), "only 401 and 429: {answers:?}");
    // 20 failures are answered 401; a few more may be, that were in flight when the 20th landed.
    assert!((20..=20 + 64).contains(&unauthenticated), "{unauthenticated} answered 401");
    assert!(limited.iter().all(|(_, retry)| retry.is_some_and(|s| (1..=60).contains(&s))), "{limited:?}");

    // Past the verified-token cache's TTL: the valid token is looked up again and still served,
    // as is the one never presented before; another guess is refused without a lookup.
    tokio::time::sleep(Duration::from_millis(crate::harness::TOKEN_CACHE_TTL_MS + 200)).await;
    let http = server.http();
    assert_eq!(attempt(&http, &url, &format!("Bearer {}", server.token)).await.0, 200);
    assert_eq!(attempt(&http, &url, &format!("Bearer {fresh}")).await.0, 200, "a fresh valid token was refused");
    assert_eq!(attempt(&http, &url, &format!("Bearer {}", generate_token())).await.0, 429);
    // A credential not shaped like a token costs no lookup: always 401, even now.
    assert_eq!(attempt(&http, &url, "Bearer not-a-token").await.0, 401);
    assert_eq!(attempt(&http, &url, "Basic YWRtaW46YWRtaW4=").await.0, 401);
    server.stop().await;
}

/// Over the limit, a guess is refused without a database lookup: with the database gone, a
/// throttled client's unknown token is still a 429 (a lookup would fail: 500).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttled_guesses_cost_no_lookup() {
    let server = TestServer::start(Backend::Postgres).await;
    fail_times(&server, 20, None).await;
    assert_eq!(next_status(&server, &[]).await, 429);
    let database = server.args.database.database_url.rsplit('/').next().expect("database name").to_owned();
    admin_execute(&format!("ALTER DATABASE {database} ALLOW_CONNECTIONS false")).await;
    admin_execute(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database}' AND pid <> pg_backend_pid()"
    ))
    .await;
    // Past the catch-up interval: the next unknown token makes the server try to catch up with
    // the database's tokens, which fails; that leaves the token unknown (429), not a 500.
    tokio::time::sleep(secret_groups_server::ratelimit::CATCH_UP_EVERY + Duration::from_millis(200)).await;
    for _ in 0..3 {
        assert_eq!(next_status(&server, &[]).await, 429);
    }
    admin_execute(&format!("ALTER DATABASE {database} ALLOW_CONNECTIONS true")).await;
    server.stop().await;
}

/// Fails `n` well-formed authentications as the client `forwarded_for` says (none: no header).
async fn fail_times(server: &TestServer, n: usize, forwarded_for: Option<&str>) {
    let http = server.http();
    for _ in 0..n {
        let mut request = http.get(server.url(GROUPS)).bearer_auth(generate_token());
        if let Some(client) = forwarded_for {
            request = request.header("x-forwarded-for", client);
        }
        assert_http_error(request.send().await.expect("GET"), 401, "unauthenticated").await;
    }
}

/// Status of one more invalid attempt from `headers`' client.
async fn next_status(server: &TestServer, headers: &[(&str, &str)]) -> u16 {
    let mut request = server.http().get(server.url(GROUPS)).bearer_auth(generate_token());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("GET").status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_addresses_count_only_from_trusted_proxies() {
    // The test's connections come from 127.0.0.1: here a trusted proxy.
    let server = TestServer::start_with(Backend::Sqlite, |args| {
        args.trusted_proxies = "10.0.0.0/8, 127.0.0.1/32".parse_proxies();
    })
    .await;
    fail_times(&server, 20, Some("203.0.113.7")).await;
    assert_eq!(next_status(&server, &[("x-forwarded-for", "203.0.113.7")]).await, 429);
    // The right-most address that is not a proxy is the client; what the client wrote left of
    // it does not matter.
    assert_eq!(next_status(&server, &[("x-forwarded-for", "198.51.100.1, 203.0.113.7, 10.1.2.3")]).await, 429);
    assert_eq!(next_status(&server, &[("x-forwarded-for", "203.0.113.7, 203.0.113.8")]).await, 401);
    assert_eq!(next_status(&server, &[("forwarded", "for=203.0.113.7;proto=https")]).await, 429);
    // The proxy itself, and other clients behind it, are not affected.
    assert_eq!(next_status(&server, &[]).await, 401);
    // IPv6 clients are counted by /64.
    fail_times(&server, 20, Some("2001:db8:1:2::1")).await;
    assert_eq!(next_status(&server, &[("x-forwarded-for", "2001:db8:1:2:abcd::9")]).await, 429);
    assert_eq!(next_status(&server, &[("x-forwarded-for", "2001:db8:1:3::1")]).await, 401);
    server.stop().await;

    // From a peer that is not a trusted proxy, the header is ignored: rotating it spoofs nothing.
    let server = TestServer::start_with(Backend::Sqlite, |args| {
        args.trusted_proxies = "10.0.0.0/8".parse_proxies();
    })
    .await;
    for i in 0..20 {
        fail_times(&server, 1, Some(&format!("203.0.113.{i}"))).await;
    }
    assert_eq!(next_status(&server, &[("x-forwarded-for", "198.51.100.99")]).await, 429);
    assert_eq!(next_status(&server, &[]).await, 429);
    server.stop().await;
}

trait ParseProxies {
    fn parse_proxies(self) -> secret_groups_server::client_addr::TrustedProxies;
}

impl ParseProxies for &str {
    fn parse_proxies(self) -> secret_groups_server::client_addr::TrustedProxies {
        secret_groups_server::client_addr::TrustedProxies::parse(self).expect("trusted proxies")
    }
}

// ---- small defects ----

async fn a_thousand_secret_fqns_are_listed(backend: Backend) {
    let server = TestServer::start(backend).await;
    let client = server.client();
    let name = unique("fqns");
    create_group(&client, &name, &[("A", "1"), ("B", "2"), ("C", "3")]).await;
    let other = unique("fqns");
    create_group(&client, &other, &[("A", "4")]).await;
    let mut fqns: Vec<String> = (0..997).map(|i| format!("default:{name}:MISSING_{i}")).collect();
    fqns.extend([format!("default:{name}:A"), format!("tfy-secret://default:{name}:C"), format!("default:{other}:A")]);
    assert_eq!(fqns.len(), 1000);
    let request = |fqns: Vec<String>| types::ListSecretsRequest {
        limit: std::num::NonZeroU64::new(1000),
        offset: Some(0),
        secret_fqns: Some(fqns),
        secret_group_id: None,
        with_value: Some(true),
    };
    let listed = client.list_secrets().body(request(fqns.clone())).send().await.expect("1,000 FQNs").into_inner();
    let mut found: Vec<(String, String)> =
        listed.data.iter().map(|s| (s.fqn.clone(), s.value.clone().unwrap_or_default())).collect();
    found.sort();
    let mut expected = vec![
        (format!("default:{name}:A"), "1".to_owned()),
        (format!("default:{name}:C"), "3".to_owned()),
        (format!("default:{other}:A"), "4".to_owned()),
    ];
    expected.sort();
    assert_eq!(found, expected);
    assert_eq!(listed.pagination.total, 3);
    // The documented limit still holds.
    fqns.push(format!("default:{name}:B"));
    let (status, error) = expect_error(client.list_secrets().body(request(fqns)).send().await);
    assert_eq!((status, error.code.as_deref()), (422, Some("validation_failed")), "{}", error.message);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_answer_may_be_cached() {
    let server = TestServer::start(Backend::Sqlite).await;
    let http = server.http();
    let group = create_group(&server.client(), &unique("cache"), &[("K", "value")]).await;
    let secret = &group.associated_secrets[0].id;
    let requests = [
        http.get(server.url(&format!("/api/svc/v1/secrets/{secret}"))).bearer_auth(&server.token),
        http.get(server.url(GROUPS)).bearer_auth(&server.token),
        http.get(server.url(GROUPS)),
        http.get(server.url(GROUPS)).bearer_auth(generate_token()),
        http.get(server.url("/api/svc/v1/secret-groups/no-such-group")).bearer_auth(&server.token),
        http.post(server.url(GROUPS)).bearer_auth(&server.token).header("content-type", "application/json").body("{"),
        http.get(server.url("/no/such/route")),
        http.get(server.url("/readyz")),
    ];
    for request in requests {
        let response = request.send().await.expect("request");
        let status = response.status();
        let cache_control = response.headers().get("cache-control").and_then(|v| v.to_str().ok());
        assert_eq!(cache_control, Some("no-store"), "{status} {:?}", response.url().path());
    }
    server.stop().await;
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_and_key_files_are_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let server = TestServer::start(Backend::Sqlite).await;
    // A write, so the WAL and its index exist.
    create_group(&server.client(), &unique("modes"), &[("K", "v")]).await;
    for name in ["test.db", "test.db-wal", "test.db-shm", "test.master-key"] {
        let path = server.dir().join(name);
        let mode = std::fs::metadata(&path).unwrap_or_else(|e| panic!("{name}: {e}")).permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{name} is {mode:o}");
    }
    server.stop().await;
}

/// Polls `/readyz` until it answers `status` (the probe's outcome stands for a second).
async fn wait_for_readyz(server: &TestServer, status: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let response = server.http().get(server.url("/readyz")).send().await.expect("readyz");
        let actual = response.status().as_u16();
        if actual == status {
            if status == 503 {
                assert_http_error(response, 503, "not_ready").await;
            }
            return;
        }
        assert!(Instant::now() < deadline, "/readyz still {actual}, expected {status}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// SQLite: another process holds the write lock. PostgreSQL: the database turned read-only (as a
/// standby is). Reads keep working either way; `/readyz` says the server cannot take writes.
async fn readyz_fails_while_the_database_cannot_write(backend: Backend) {
    let server = TestServer::start(backend).await;
    let client = server.client();
    wait_for_readyz(&server, 200).await;
    let blocker = match backend {
        Backend::Sqlite => {
            let conn = rusqlite::Connection::open(server.dir().join("test.db")).expect("open");
            conn.execute_batch("BEGIN IMMEDIATE").expect("take the write lock");
            Some(conn)
        }
        Backend::Postgres => {
            set_read_only(&server, true).await;
            None
        }
    };
    wait_for_readyz(&server, 503).await;
    let listed = client.list_secret_groups().send().await.expect("reads still work").into_inner();
    assert_eq!(listed.pagination.total, 0);
    match blocker {
        Some(conn) => conn.execute_batch("ROLLBACK").expect("release the lock"),
        None => set_read_only(&server, false).await,
    }
    wait_for_readyz(&server, 200).await;
    create_group(&client, &unique("after"), &[("K", "v")]).await;
    server.stop().await;
}

/// Makes the server's PostgreSQL database read-only (or writable again) for new sessions, and
/// ends its current sessions so the pool reconnects under the new default.
async fn set_read_only(server: &TestServer, read_only: bool) {
    let database = server.args.database.database_url.rsplit('/').next().expect("database name").to_owned();
    let setting =
        if read_only { "SET default_transaction_read_only = on" } else { "RESET default_transaction_read_only" };
    admin_execute(&format!("ALTER DATABASE {database} {setting}")).await;
    admin_execute(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database}' AND pid <> pg_backend_pid()"
    ))
    .await;
}

fn team(name: &str, members: &[&str]) -> types::CreateOrUpdateTeamRequest {
    types::CreateOrUpdateTeamRequest {
        dry_run: Some(false),
        manifest: types::TeamManifest {
            description: None,
            display_name: None,
            managers: None,
            members: members.iter().map(|m| (*m).to_owned()).collect(),
            name: name.parse().expect("valid team name"),
            type_: None,
        },
    }
}

/// Applies the group's manifest with `team:<team>` as editor (as a GitOps pipeline re-applies it).
async fn apply_group_manifest(client: &Client, group: &str, team: &str) -> Result<(), (u16, types::HttpError)> {
    let collaborators = [("user:admin@localhost", types::CollaboratorRoleId::SecretGroupAdmin)]
        .into_iter()
        .map(|(s, r)| (s.to_owned(), r))
        .chain([(format!("team:{team}"), types::CollaboratorRoleId::SecretGroupEditor)])
        .map(|(subject, role_id)| types::Collaborator { subject: subject.parse().expect("subject"), role_id })
        .collect();
    let result = client
        .create_or_update_secret_group()
        .body(types::CreateOrUpdateSecretGroupRequest {
            dry_run: Some(false),
            manifest: types::SecretGroupManifest {
                collaborators: Some(collaborators),
                integration_fqn: "internal:secret-store:internal-secret-store".parse().expect("fqn"),
                name: group.parse().expect("group name"),
                owned_by: None,
                type_: types::SecretGroupManifestType::SecretGroup,
            },
        })
        .send()
        .await;
    if result.is_ok() {
        return Ok(());
    }
    Err(expect_error(result))
}

/// A member cannot re-create a deleted team's name and so inherit the role a group manifest,
/// re-applied later, grants to `team:<name>`.
async fn a_deleted_teams_name_cannot_be_captured(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.client();
    let alice = server.client_with(&server.user("default", "alice@example.com", false).await);
    let mallory = server.client_with(&server.user("default", "mallory@example.com", false).await);
    let group = unique("captured");
    admin
        .create_secret_group()
        .body(types::CreateSecretGroupRequest {
            name: group.parse().expect("name"),
            integration_id: "internal-secret-store".parse().expect("id"),
            secrets: vec![secret_input("K", "the value")],
        })
        .send()
        .await
        .expect("create group");
    let ops = admin.create_or_update_team().body(team("ops", &["alice@example.com"])).send().await.expect("team");
    apply_group_manifest(&admin, &group, "ops").await.expect("manifest with team:ops");
    admin.delete_team().id(&ops.into_inner().data.id).send().await.expect("delete team");

    // Mallory, a plain member, tries to take the name over.
    let (status, error) =
        expect_error(mallory.create_or_update_team().body(team("ops", &["mallory@example.com"])).send().await);
    assert_eq!((status, error.code.as_deref()), (403, Some("forbidden")), "{}", error.message);
    assert!(error.message.contains("deleted team"), "{}", error.message);
    // Re-applying the manifest now names nothing: a clear error, and no role for anyone.
    let (status, error) = apply_group_manifest(&admin, &group, "ops").await.expect_err("team:ops names no team");
    assert_eq!(status, 404, "{}", error.message);
    assert!(error.message.contains("team:ops"), "{}", error.message);
    let visible = mallory.list_secret_groups().send().await.expect("list").into_inner();
    assert_eq!(visible.pagination.total, 0, "mallory sees no group");
    // Other names stay free for members; a tenant admin may reuse the retired one.
    mallory.create_or_update_team().body(team("mallorys", &[])).send().await.expect("a new name");
    admin.create_or_update_team().body(team("ops", &["alice@example.com"])).send().await.expect("admin reuses");
    apply_group_manifest(&admin, &group, "ops").await.expect("manifest with the new team:ops");
    assert_eq!(alice.list_secret_groups().send().await.expect("list").into_inner().pagination.total, 1);
    server.stop().await;
}
