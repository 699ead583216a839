//! The verified-token cache never outlives a revoke: at once through the server that made the
//! change, within the TTL on another replica of the same database.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::{
    harness::{Backend, TOKEN_CACHE_TTL_MS, TestServer},
    on_both_backends,
};

on_both_backends!(
    changes_through_the_api_apply_at_once_to_cached_tokens,
    a_revoke_on_one_replica_applies_on_another_within_the_ttl
);

const GROUPS: &str = "/api/svc/v1/secret-groups";

async fn status(server: &TestServer, token: &str) -> u16 {
    server.http().get(server.url(GROUPS)).bearer_auth(token).send().await.expect("GET").status().as_u16()
}

async fn admin_call(server: &TestServer, method: reqwest::Method, path: &str, body: serde_json::Value) {
    let response = server
        .http()
        .request(method, server.url(path))
        .bearer_auth(&server.token)
        .json(&body)
        .send()
        .await
        .expect("call");
    assert!(response.status().is_success(), "{path}: {}", response.text().await.unwrap_or_default());
}

async fn changes_through_the_api_apply_at_once_to_cached_tokens(backend: Backend) {
    let server = TestServer::start(backend).await;
    let revoked = server.user("default", "revoked@example.com", false).await;
    let deactivated = server.user("default", "deactivated@example.com", false).await;
    for token in [&revoked, &deactivated] {
        // Verified, so now cached.
        assert_eq!(status(&server, token).await, 200);
        assert_eq!(status(&server, token).await, 200);
    }
    admin_call(
        &server,
        reqwest::Method::DELETE,
        "/api/svc/v1/personal-access-tokens/revoke/all",
        json!({"email": "revoked@example.com"}),
    )
    .await;
    assert_eq!(status(&server, &revoked).await, 401, "a revoke through this server applies at once");
    admin_call(
        &server,
        reqwest::Method::PATCH,
        "/api/svc/v1/users/deactivate",
        json!({"email": "deactivated@example.com"}),
    )
    .await;
    assert_eq!(status(&server, &deactivated).await, 401, "a deactivation through this server applies at once");
    assert_eq!(status(&server, &server.token).await, 200, "other tokens still work");
    server.stop().await;
}

async fn a_revoke_on_one_replica_applies_on_another_within_the_ttl(backend: Backend) {
    let first = TestServer::start(backend).await;
    let second = first.replica().await;
    let token = first.user("default", "roaming@example.com", false).await;
    assert_eq!(status(&second, &token).await, 200);
    assert_eq!(status(&first, &token).await, 200);
    admin_call(
        &first,
        reqwest::Method::DELETE,
        "/api/svc/v1/personal-access-tokens/revoke/all",
        json!({"email": "roaming@example.com"}),
    )
    .await;
    let revoked = Instant::now();
    assert_eq!(status(&first, &token).await, 401, "at once on the replica that revoked");
    loop {
        match status(&second, &token).await {
            401 => break,
            200 => assert!(
                revoked.elapsed() < Duration::from_millis(TOKEN_CACHE_TTL_MS + 500),
                "the other replica still accepts the token {:?} after the revoke",
                revoked.elapsed()
            ),
            other => panic!("unexpected status {other}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    second.stop().await;
    first.stop().await;
}
