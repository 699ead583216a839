//! Lists under load and at size, on both backends: a lookup by FQN never waits behind lists that
//! scan, a list past its time limit is stopped with a 503, and a page that would hold too much
//! (values, keys) stops early and says so in `pagination.limit`, so paging still sees every row.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::{
    harness::{Backend, TestServer, assert_http_error, create_group, json_of, unique},
    on_both_backends,
};

on_both_backends!(
    lookups_never_wait_for_scans_and_scans_are_time_limited,
    a_page_of_large_values_stops_early_and_paging_sees_every_value,
    a_page_of_large_groups_stops_early_and_paging_sees_every_group,
);

/// A search that matches nothing: every group name and every key is compared.
fn scan_url(server: &TestServer) -> String {
    server.url("/api/svc/v1/secret-groups?search=no-such-text-anywhere&limit=100")
}

/// Every slot for lists that scan is taken (held here through the server's own gate, as long
/// scans of other callers would hold them): a lookup by FQN still answers at once, while a scan
/// waits its turn and, past the time limit, answers 503 `busy` with `Retry-After`. With a 1 ms
/// time limit a scan that is admitted is stopped with 503 `timeout`. (How fast a lookup is while
/// real scans run is measured in `tests/lists_under_load.rs`, a binary of its own so that no
/// other test shares the cores.)
async fn lookups_never_wait_for_scans_and_scans_are_time_limited(backend: Backend) {
    let mut server = TestServer::start_with(backend, |args| args.list_timeout_ms = 300).await;
    let prefix = unique("gate");
    server.seed(&prefix, 20, 10).await;
    let http = server.http();
    let fqn_url = |server: &TestServer| server.url(&format!("/api/svc/v1/secret-groups?fqn=default:{prefix}-7"));

    let gate = server.state.lists.clone();
    let mut held = Vec::new();
    for caller in 0..64 {
        match tokio::time::timeout(Duration::from_millis(50), gate.enter(&format!("other-{caller}"))).await {
            Ok(Ok(permit)) => held.push(permit),
            _ => break,
        }
    }
    assert!(!held.is_empty(), "the test holds every slot");
    let started = Instant::now();
    let response = http.get(fqn_url(&server)).bearer_auth(&server.token).send().await.expect("lookup");
    let (status, body) = json_of(response).await;
    assert_eq!((status, body["pagination"]["total"].as_i64()), (200, Some(1)), "{body}");
    assert!(started.elapsed() < Duration::from_millis(250), "a lookup waited {:?}", started.elapsed());
    let by_group = json!({"secretGroupId": body["data"][0]["id"], "withValue": false});
    let response = http.post(server.url("/api/svc/v1/secrets")).bearer_auth(&server.token).json(&by_group).send().await;
    assert_eq!(response.expect("list by group").status(), 200, "one group's keys are a lookup too");

    let started = Instant::now();
    let response = http.get(scan_url(&server)).bearer_auth(&server.token).send().await.expect("scan");
    assert!(started.elapsed() >= Duration::from_millis(300), "the scan waited for its turn");
    assert_eq!(response.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("1"));
    assert_http_error(response, 503, "busy").await;
    drop(held);
    let response = http.get(scan_url(&server)).bearer_auth(&server.token).send().await.expect("scan");
    assert_eq!(response.status(), 200, "a free slot admits the scan");

    // A 1 ms time limit: the scan is admitted, then stopped.
    server.args.list_timeout_ms = 1;
    server.restart().await;
    server.seed(&unique("more"), 1000, 10).await;
    let response = http.get(scan_url(&server)).bearer_auth(&server.token).send().await.expect("scan");
    let body = assert_http_error(response, 503, "timeout").await;
    assert!(body["message"].as_str().is_some_and(|m| m.contains("1 ms")), "{body}");
    let response = http.get(fqn_url(&server)).bearer_auth(&server.token).send().await.expect("lookup");
    assert_eq!(response.status(), 200, "a lookup by FQN is not time-limited as a scan");
    server.stop().await;
}

/// The values of `keys` in a list page, by key.
fn values_of(page: &Value) -> Vec<(String, String)> {
    page["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|s| {
            (s["name"].as_str().unwrap_or_default().to_owned(), s["value"].as_str().unwrap_or_default().to_owned())
        })
        .collect()
}

async fn a_page_of_large_values_stops_early_and_paging_sees_every_value(backend: Backend) {
    let server = TestServer::start(backend).await;
    let client = server.client();
    let http = server.http();
    // 150 values of 64 KiB: 9.6 MiB, over the 8 MiB a page holds. Created 50 at a time, as a
    // body holds at most 4 MiB; an update keeps the keys it names without a value.
    let value = |k: usize| format!("{k:03}{}", "x".repeat(65_533));
    let group = create_group(&client, &unique("big"), &[]).await;
    let mut keys: Vec<Value> = Vec::new();
    for batch in 0..3 {
        let mut secrets: Vec<Value> = keys.iter().map(|k| json!({"key": k})).collect();
        for k in batch * 50..(batch + 1) * 50 {
            secrets.push(json!({"key": format!("K{k:03}"), "value": value(k)}));
            keys.push(json!(format!("K{k:03}")));
        }
        let response = http
            .put(server.url(&format!("/api/svc/v1/secret-groups/{}", group.id)))
            .bearer_auth(&server.token)
            .json(&json!({"secrets": secrets}))
            .send()
            .await
            .expect("update");
        assert_eq!(response.status(), 200);
    }

    let mut seen = Vec::new();
    let mut offset = 0;
    let mut first_page = None;
    loop {
        let body = json!({"secretGroupId": group.id, "withValue": true, "limit": 1000, "offset": offset});
        let response = http
            .post(server.url("/api/svc/v1/secrets"))
            .bearer_auth(&server.token)
            .json(&body)
            .send()
            .await
            .expect("list");
        let (status, page) = json_of(response).await;
        assert_eq!(status, 200, "{page}");
        let values = values_of(&page);
        if values.is_empty() {
            break;
        }
        assert_eq!(page["pagination"]["total"], 150);
        first_page.get_or_insert((values.len(), page["pagination"]["limit"].clone()));
        offset += values.len();
        seen.extend(values);
    }
    let (first_len, first_limit) = first_page.expect("a first page");
    assert!(first_len < 150, "the first page stopped early ({first_len} values)");
    assert!(first_len * 65_536 <= 8 * 1024 * 1024 + 65_536, "{first_len} values are more than 8 MiB");
    assert_eq!(first_limit, json!(first_len), "pagination.limit says where the page stopped");
    let expected: Vec<(String, String)> = (0..150).map(|k| (format!("K{k:03}"), value(k))).collect();
    assert!(seen == expected, "paging by data.length saw every value once, in order");
    server.stop().await;
}

async fn a_page_of_large_groups_stops_early_and_paging_sees_every_group(backend: Backend) {
    let server = TestServer::start(backend).await;
    let prefix = unique("wide");
    // 21 groups of 500 keys: 10,500 keys, over the 10,000 one page of groups carries.
    server.seed(&prefix, 21, 500).await;
    let http = server.http();
    let page = |offset: usize| {
        let url = server.url(&format!("/api/svc/v1/secret-groups?search={prefix}&limit=100&offset={offset}"));
        let request = http.get(url).bearer_auth(&server.token);
        async move { json_of(request.send().await.expect("list")).await }
    };
    let (status, first) = page(0).await;
    assert_eq!(status, 200);
    let groups = first["data"].as_array().expect("data");
    assert_eq!(groups.len(), 20, "20 groups of 500 keys fill the page");
    assert!(groups.iter().all(|g| g["associatedSecrets"].as_array().is_some_and(|s| s.len() == 500)));
    assert_eq!(first["pagination"], json!({"total": 21, "offset": 0, "limit": 20}));
    let (_, second) = page(20).await;
    assert_eq!(second["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(second["pagination"], json!({"total": 21, "offset": 20, "limit": 100}), "not cut: the asked limit");
    server.stop().await;
}
