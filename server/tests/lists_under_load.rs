//! How fast a lookup by FQN answers while 32 lists that scan run, on SQLite and then on
//! PostgreSQL (README, "Lists under load"): p99 under 100 ms.
//!
//! A test binary of its own, and one test in it, so that while it measures no other test shares
//! the machine's cores (the integration suite in `tests/api/` runs its tests two at a time);
//! everything else about lists is tested there (`lists.rs`).

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

#[allow(dead_code)]
#[path = "api/harness.rs"]
mod harness;

use harness::{Backend, TestServer, unique};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_fqn_lookup_stays_fast_while_32_lists_scan() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let (p99, scans) = measure(backend).await;
        assert!(scans >= 32, "{backend:?}: the scanners kept scanning ({scans} answers)");
        assert!(p99 < Duration::from_millis(100), "{backend:?}: fqn lookup p99 {p99:?} behind {scans} scans");
    }
}

/// The p99 of 100 lookups by FQN while 4 users run 8 scans each, and how many scans answered.
async fn measure(backend: Backend) -> (Duration, usize) {
    let server = TestServer::start(backend).await;
    let prefix = unique("scan");
    server.seed(&prefix, 1000, 10).await;
    let http = server.http();
    let scan_url = server.url("/api/svc/v1/secret-groups?search=no-such-text-anywhere&limit=100");
    let stop = Arc::new(AtomicBool::new(false));
    let mut scanners = Vec::new();
    for user in 0..4 {
        let token = server.user("default", &format!("scanner{user}@example.com"), true).await;
        for _ in 0..8 {
            let (http, url, token, stop) = (http.clone(), scan_url.clone(), token.clone(), stop.clone());
            scanners.push(tokio::spawn(async move {
                let mut answered = 0;
                while !stop.load(Ordering::Relaxed) {
                    let status = http.get(&url).bearer_auth(&token).send().await.expect("scan").status();
                    assert!(status == 200 || status == 503, "a scan answered {status}");
                    answered += 1;
                }
                answered
            }));
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let fqn_url = server.url(&format!("/api/svc/v1/secret-groups?fqn=default:{prefix}-7"));
    let mut latencies = Vec::new();
    for _ in 0..100 {
        let started = Instant::now();
        let response = http.get(&fqn_url).bearer_auth(&server.token).send().await.expect("lookup");
        latencies.push(started.elapsed());
        assert_eq!(response.status(), 200);
        let body: serde_json::Value = response.json().await.expect("JSON");
        assert_eq!(body["pagination"]["total"], 1, "{body}");
    }
    stop.store(true, Ordering::Relaxed);
    let mut scans = 0;
    for scanner in scanners {
        scans += scanner.await.expect("scanner");
    }
    latencies.sort();
    println!("{backend:?}: fqn lookup p50 {:?}, p99 {:?}, while {scans} scans answered", latencies[49], latencies[98]);
    server.stop().await;
    (latencies[98], scans)
}
