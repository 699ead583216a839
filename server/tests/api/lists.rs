//! Lists under load and at size, on both backends: a lookup by FQN never waits behind lists that
//! scan, a list past its time limit is stopped with a 503, and a page that would hold too much
//! (values, keys) stops early and says so in `pagination.limit`, so paging still sees every row.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::{
    harness::{Backend, TestServer, create_group, json_of, unique},
    on_both_backends,
};

on_both_backends!(
    an_fqn_lookup_stays_fast_while_others_scan_and_scans_have_a_time_limit,
    a_page_of_large_values_stops_early_and_paging_sees_every_value,
    a_page_of_large_groups_stops_early_and_paging_sees_every_group,
);

/// Creates `groups` groups of `keys` keys each, 16 at a time.
async fn seed(server: &TestServer, prefix: &str, groups: usize, keys: usize) {
    use futures::StreamExt as _;
    let http = server.http();
    let mut pending = futures::stream::iter(0..groups)
        .map(|i| {
            let http = http.clone();
            let secrets: Vec<Value> = (0..keys).map(|k| json!({"key": format!("KEY_{k}"), "value": "v"})).collect();
            let body =
                json!({"name": format!("{prefix}-{i}"), "integrationId": "internal-secret-store", "secrets": secrets});
            let request = http.post(server.url("/api/svc/v1/secret-groups")).bearer_auth(&server.token).json(&body);
            async move { request.send().await.expect("create").status().as_u16() }
        })
        .buffer_unordered(16);
    while let Some(status) = pending.next().await {
        assert_eq!(status, 200);
    }
}

/// A search that matches nothing: every group name and every key is compared.
fn scan_url(server: &TestServer) -> String {
    server.url("/api/svc/v1/secret-groups?search=no-such-text-anywhere&limit=100")
}

async fn an_fqn_lookup_stays_fast_while_others_scan_and_scans_have_a_time_limit(backend: Backend) {
    let mut server = TestServer::start(backend).await;
    let prefix = unique("scan");
    seed(&server, &prefix, 1000, 10).await;
    let fqn_url = server.url(&format!("/api/svc/v1/secret-groups?fqn=default:{prefix}-7"));
    let http = server.http();

    // 32 lists that scan, from 4 other users, 8 at a time each, for as long as the lookups run.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut scanners = Vec::new();
    for user in 0..4 {
        let token = server.user("default", &format!("scanner{user}@example.com"), true).await;
        for _ in 0..8 {
            let (http, url, token, stop) = (http.clone(), scan_url(&server), token.clone(), stop.clone());
            scanners.push(tokio::spawn(async move {
                let mut answered = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let status = http.get(&url).bearer_auth(&token).send().await.expect("scan").status();
                    assert!(status == 200 || status == 503, "a scan answered {status}");
                    answered += 1;
                }
                answered
            }));
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut latencies = Vec::new();
    for _ in 0..100 {
        let started = Instant::now();
        let response = http.get(&fqn_url).bearer_auth(&server.token).send().await.expect("lookup");
        latencies.push(started.elapsed());
        let (status, body) = json_of(response).await;
        assert_eq!((status, body["pagination"]["total"].as_i64()), (200, Some(1)), "{body}");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut scans = 0;
    for scanner in scanners {
        scans += scanner.await.expect("scanner");
    }
    latencies.sort();
    let p99 = latencies[98];
    assert!(scans >= 32, "the scanners kept scanning ({scans} answers)");
    assert!(p99 < Duration::from_millis(100), "fqn lookup p99 {p99:?} behind {scans} scans (all: {latencies:?})");

    // With a 1 ms limit a scan is stopped (or not admitted) with a 503; lookups are not scans.
    server.args.list_timeout_ms = 1;
    server.restart().await;
    let fqn_url = server.url(&format!("/api/svc/v1/secret-groups?fqn=default:{prefix}-7"));
    let response = http.get(scan_url(&server)).bearer_auth(&server.token).send().await.expect("scan");
    let retry_after = response.headers().get("retry-after").cloned();
    let (status, body) = json_of(response).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["statusCode"], 503);
    match body["code"].as_str() {
        Some("timeout") => assert!(body["message"].as_str().is_some_and(|m| m.contains("1 ms")), "{body}"),
        Some("busy") => assert!(retry_after.is_some(), "busy answers carry Retry-After"),
        other => panic!("unexpected code {other:?}: {body}"),
    }
    let response = http.get(&fqn_url).bearer_auth(&server.token).send().await.expect("lookup");
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
    seed(&server, &prefix, 21, 500).await;
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
