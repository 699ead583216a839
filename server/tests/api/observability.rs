//! Observability: request ids on every answer (also those the accept loop writes itself), the
//! request id in the access log and in error logs, JSON logs, and `GET /metrics` — checked by
//! `promtool`, scraped by a real Prometheus, free of ids and names, off or on a listener of its
//! own.
//!
//! Metrics are per process, and the in-process test servers share this binary's: so every
//! metrics test runs the real binary, a process of its own, where counts are exact. Request ids
//! do not depend on the backend; the metrics tests run on SQLite (the group-commit histogram is
//! SQLite's).

use std::{collections::HashMap, process::Stdio, time::Duration};

use serde_json::{Value, json};
use tokio::{
    io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader},
    net::TcpStream,
    process::{Child, Command},
    task::JoinHandle,
    time::{sleep, timeout},
};

use crate::{
    cli::BIN,
    harness::{Backend, TestServer},
};

const GROUPS: &str = "/api/svc/v1/secret-groups";

// ---- request ids ----

/// Sends `bytes` on a new connection; the status and head of what comes back before the
/// server closes (or 5 s pass).
async fn raw(address: &str, bytes: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(address).await.expect("connect");
    // The server may stop reading (and answer) before a large request is written.
    let _ = timeout(Duration::from_secs(5), stream.write_all(bytes)).await;
    read_answer(&mut stream).await
}

async fn read_answer(stream: &mut TcpStream) -> (u16, String) {
    let mut received = Vec::new();
    let _ = timeout(Duration::from_secs(5), async {
        let mut chunk = [0u8; 8192];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    let text = String::from_utf8_lossy(&received).into_owned();
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let head = text.split_once("\r\n\r\n").map_or(text.as_str(), |(head, _)| head).to_owned();
    (status, head)
}

/// The `X-Request-Id` of a raw answer's head.
fn request_id_of(head: &str) -> Option<String> {
    head.lines()
        .find_map(|line| line.split_once(':').filter(|(name, _)| name.eq_ignore_ascii_case("x-request-id")))
        .map(|(_, value)| value.trim().to_owned())
}

/// A UUIDv7 as the server generates them.
fn is_generated(id: &str) -> bool {
    uuid_like(id) && id.as_bytes()[14] == b'7'
}

fn uuid_like(id: &str) -> bool {
    id.len() == 36
        && id.char_indices().all(|(i, c)| if [8, 13, 18, 23].contains(&i) { c == '-' } else { c.is_ascii_hexdigit() })
}

fn get(path: &str, extra: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{extra}\r\n")
}

/// Every kind of answer carries `X-Request-Id`: successes and errors of the application, the
/// layers' refusals (413, 414, 429, 408), and what the accept loop writes before the
/// application sees the request (414, 431, 503 over the connection cap). A caller's well-formed
/// id comes back; a malformed one is replaced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_carries_a_request_id() {
    let server = TestServer::start_with(Backend::Sqlite, |args| args.auth_failure_limit = 1).await;
    let address = server.base_url.trim_start_matches("http://").to_owned();
    let token = server.token.clone();
    let bad_token = secret_groups_server::auth::generate_token();
    let auth = |token: &str| format!("Authorization: Bearer {token}\r\n");
    let big_body = format!(
        "POST {GROUPS} HTTP/1.1\r\nHost: x\r\n{}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        auth(&token),
        5 * 1024 * 1024
    );
    let cases: Vec<(&str, String, u16)> = vec![
        ("liveness", get("/healthz", ""), 200),
        ("authenticated", get(GROUPS, &auth(&token)), 200),
        ("no token", get(GROUPS, ""), 401),
        ("invalid token", get(GROUPS, &auth(&bad_token)), 401),
        ("over the failure limit", get(GROUPS, &auth(&bad_token)), 429),
        ("unknown route", get("/no/such/route", ""), 404),
        ("wrong method", format!("PATCH {GROUPS} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"), 405),
        ("body too large", big_body, 413),
        ("target just too long (axum)", get(&format!("/{}", "a".repeat(8200)), ""), 414),
        ("target far too long (accept loop)", get(&format!("/{}", "a".repeat(20_000)), ""), 414),
        ("too many headers (accept loop)", get("/healthz", &"x-a: b\r\n".repeat(150)), 431),
    ];
    for (what, request, status) in cases {
        let (got, head) = raw(&address, request.as_bytes()).await;
        assert_eq!(got, status, "{what}: {head}");
        let id = request_id_of(&head).unwrap_or_else(|| panic!("{what}: no X-Request-Id in {head}"));
        assert!(is_generated(&id), "{what}: {id}");
    }

    // A well-formed caller id comes back, on successes and errors alike.
    for (request, status) in [(get("/healthz", ""), 200), (get(GROUPS, ""), 401), (get("/nope", ""), 404)] {
        let with_id = request.replace("Host: x\r\n", "Host: x\r\nX-Request-Id: trace-4bf9.2:span_7\r\n");
        let (got, head) = raw(&address, with_id.as_bytes()).await;
        assert_eq!(got, status, "{head}");
        assert_eq!(request_id_of(&head).as_deref(), Some("trace-4bf9.2:span_7"), "{head}");
    }
    // Malformed ones are replaced: too long, a space, a control character, a quote.
    for malformed in ["a".repeat(129), "has space".to_owned(), "tab\there".to_owned(), "quo\"te".to_owned()] {
        let request = get("/healthz", &format!("X-Request-Id: {malformed}\r\n"));
        let (got, head) = raw(&address, request.as_bytes()).await;
        assert_eq!(got, 200, "{head}");
        let id = request_id_of(&head).expect("an id");
        assert!(is_generated(&id), "{malformed:?} was answered with {id}");
    }
    server.stop().await;
}

/// The accept loop's own 503 (over the connection cap) and the body timeout's 408 carry an id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_under_load_carry_a_request_id() {
    let server = TestServer::start_with(Backend::Sqlite, |args| {
        args.connections.max_connections = 2;
        // Longer than the second a connection over the cap waits for a place.
        args.connections.body_timeout = Duration::from_secs(3);
    })
    .await;
    let address = server.base_url.trim_start_matches("http://").to_owned();
    let head = format!(
        "POST {GROUPS} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\n\
         Content-Length: 100\r\nConnection: close\r\n\r\n{{",
        server.token
    );
    // Both places taken by requests waiting for their bodies: a third connection gets 503.
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(&address).await.expect("connect");
        stream.write_all(head.as_bytes()).await.expect("send");
        held.push(stream);
    }
    sleep(Duration::from_millis(300)).await;
    let (status, answer) = raw(&address, get("/healthz", "").as_bytes()).await;
    assert_eq!(status, 503, "{answer}");
    assert!(request_id_of(&answer).is_some_and(|id| is_generated(&id)), "{answer}");
    // The held requests time out waiting for their bodies: 408, with an id.
    for mut stream in held {
        let (status, answer) = read_answer(&mut stream).await;
        assert_eq!(status, 408, "{answer}");
        assert!(request_id_of(&answer).is_some_and(|id| is_generated(&id)), "{answer}");
    }
    server.stop().await;
}

// ---- the binary: logs and metrics ----

/// The server binary, started on a fresh SQLite file.
struct Binary {
    child: Child,
    /// `host:port` of the API.
    api: String,
    /// `host:port` of the metrics listener, when `SG_METRICS_LISTEN` is set.
    metrics: Option<String>,
    token: String,
    database_url: String,
    log: JoinHandle<Vec<String>>,
    _dir: tempfile::TempDir,
}

/// A field of a start-up log line, text (`name=value`) or JSON (`"name": "value"`).
fn log_field(line: &str, name: &str) -> Option<String> {
    if let Ok(event) = serde_json::from_str::<Value>(line) {
        return event[name].as_str().map(str::to_owned);
    }
    let rest = line.split(&format!(" {name}=")).nth(1)?;
    rest.split_whitespace().next().map(str::to_owned)
}

impl Binary {
    async fn start(env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("dir");
        let database_url = format!("sqlite://{}", dir.path().join("observed.db").display());
        let token = secret_groups_server::auth::generate_token();
        let mut child = Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--database-url", &database_url])
            .env("SG_LOG", "info")
            .env("SG_BOOTSTRAP_TOKEN", &token)
            .env_remove("SG_LOG_FORMAT")
            .env_remove("SG_METRICS")
            .env_remove("SG_METRICS_LISTEN")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn the server");
        let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
        let mut seen = Vec::new();
        let started = timeout(Duration::from_secs(30), async {
            while let Ok(Some(line)) = lines.next_line().await {
                let done = line.contains("serving");
                seen.push(line);
                if done {
                    return true;
                }
            }
            false
        })
        .await;
        assert!(matches!(started, Ok(true)), "the server did not start: {seen:#?}");
        let api = seen.iter().find_map(|line| log_field(line, "address")).expect("the log names the address");
        let metrics = seen.iter().find_map(|line| log_field(line, "metrics_listen"));
        let log = tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                seen.push(line);
            }
            seen
        });
        Self { child, api, metrics, token, database_url, log, _dir: dir }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.api)
    }

    /// Stops it with SIGTERM; its whole log.
    async fn stop(mut self) -> Vec<String> {
        let pid = self.child.id().expect("pid").to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().await.expect("kill").success());
        let status = timeout(Duration::from_secs(30), self.child.wait()).await.expect("stops").expect("wait");
        assert!(status.success(), "{status}");
        self.log.await.expect("log")
    }
}

/// Creates a group with one secret; (group id, secret id).
async fn create_group(server: &Binary, name: &str, value: &str) -> (String, String) {
    let body =
        json!({"name": name, "integrationId": "internal-secret-store", "secrets": [{"key": "K", "value": value}]});
    let response = reqwest::Client::new()
        .post(server.url(GROUPS))
        .bearer_auth(&server.token)
        .header("x-request-id", "req-create-1")
        .json(&body)
        .send()
        .await
        .expect("create");
    assert_eq!(response.status(), 200);
    let group: Value = response.json().await.expect("JSON");
    let id = group["data"]["id"].as_str().expect("id").to_owned();
    let secret = group["data"]["associatedSecrets"][0]["id"].as_str().expect("secret id").to_owned();
    (id, secret)
}

/// With `SG_LOG_FORMAT=json` every line is a JSON object; the access log line and the error
/// log of a failing request name its request id, method and path, and nothing logs a token, a
/// value or a query string.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_name_the_request_id_in_access_and_error_lines() {
    let server = Binary::start(&[("SG_LOG_FORMAT", "json")]).await;
    let (_group, secret) = create_group(&server, "logged-group", "value-canary-7f3").await;
    // A stored ciphertext spoiled behind the server's back: reading it fails with a 500 whose
    // cause is logged.
    let db = secret_groups_server::store::Db::connect(&server.database_url, Some(1)).await.expect("open the file");
    sqlx::query("UPDATE secret_versions SET ciphertext = $1 WHERE secret_id = $2")
        .bind(vec![7u8; 60])
        .bind(&secret)
        .execute(db.pool())
        .await
        .expect("spoil");
    db.close().await;
    let http = reqwest::Client::new();
    let read = http
        .get(server.url(&format!("/api/svc/v1/secrets/{secret}")))
        .bearer_auth(&server.token)
        .header("x-request-id", "req-broken-read")
        .send()
        .await
        .expect("read");
    assert_eq!(read.status(), 500);
    assert_eq!(read.headers()["x-request-id"], "req-broken-read");
    let query = http
        .get(server.url(&format!("{GROUPS}?fqn=default:logged-group&search=query-canary")))
        .bearer_auth(&server.token)
        .send()
        .await
        .expect("list");
    assert_eq!(query.status(), 200);
    let token = server.token.clone();
    let log = server.stop().await;

    let events: Vec<Value> = log
        .iter()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}")))
        .collect();
    let in_request = |id: &str| -> Vec<&Value> { events.iter().filter(|e| e["span"]["request_id"] == id).collect() };
    let failed = in_request("req-broken-read");
    let error = failed
        .iter()
        .find(|e| e["level"] == "ERROR" && e["message"] == "request failed")
        .unwrap_or_else(|| panic!("no error line for the request: {failed:#?}"));
    assert_eq!(error["span"]["method"], "GET", "{error}");
    assert_eq!(error["span"]["path"], format!("/api/svc/v1/secrets/{secret}"), "{error}");
    assert!(failed.iter().any(|e| e["status"] == 500), "no access log line with the status: {failed:#?}");
    let created = in_request("req-create-1");
    assert!(
        created.iter().any(|e| e["status"] == 200 && e["span"]["path"] == GROUPS && e["span"]["method"] == "POST"),
        "no access log line for the create: {created:#?}"
    );
    let text = log.join("\n");
    // Ids may be logged (in paths); tokens, values and query strings never are.
    for canary in [token.as_str(), "value-canary-7f3", "query-canary", "fqn="] {
        assert!(!text.contains(canary), "{canary:?} reached the log");
    }
}

// ---- metrics ----

/// Samples of a Prometheus text: `name{labels}` as written → value.
fn samples(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect()
}

/// Every label of a Prometheus text: (name, value).
fn labels(text: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for line in text.lines().filter(|line| !line.starts_with('#')) {
        let Some((_, rest)) = line.split_once('{') else { continue };
        let Some((inside, _)) = rest.rsplit_once('}') else { continue };
        for pair in inside.split(',').filter(|pair| !pair.is_empty()) {
            let (name, value) = pair.split_once('=').expect("name=value");
            found.push((name.to_owned(), value.trim_matches('"').to_owned()));
        }
    }
    found
}

async fn scrape(url: &str) -> String {
    let response = reqwest::get(url).await.expect("scrape");
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().expect("ASCII").to_owned();
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    response.text().await.expect("text")
}

/// `promtool check metrics` on `text`: no error, no lint problem.
async fn promtool_check(text: &str) {
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian package prometheus; scripts/prerequisites.sh installs it)");
    let mut stdin = promtool.stdin.take().expect("stdin");
    stdin.write_all(text.as_bytes()).await.expect("write");
    drop(stdin);
    let output = promtool.wait_with_output().await.expect("promtool runs");
    assert!(
        output.status.success(),
        "promtool check metrics: {}{}\n{text}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `/metrics` passes `promtool check metrics`, counts exactly what was done, and no label value
/// is anything but an operationId, a status code or a fixed word: no id, name or path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_pass_promtool_count_what_happened_and_carry_no_ids() {
    // Two invalid tokens a minute from one client, then 429s.
    let server = Binary::start(&[("SG_AUTH_FAILURE_LIMIT", "2")]).await;
    let http = reqwest::Client::new();
    let (group, secret) = create_group(&server, "metered-group-name", "v").await;
    let me = server.url("/api/svc/v1/x/users/info");
    for _ in 0..3 {
        assert_eq!(http.get(&me).bearer_auth(&server.token).send().await.expect("me").status(), 200);
    }
    for _ in 0..2 {
        assert_eq!(http.get(&me).send().await.expect("me").status(), 401);
    }
    let malformed = http.get(&me).header("authorization", "Basic eA==").send().await.expect("me");
    assert_eq!(malformed.status(), 401);
    let invalid = secret_groups_server::auth::generate_token();
    for status in [401, 401, 429] {
        assert_eq!(http.get(&me).bearer_auth(&invalid).send().await.expect("me").status(), status);
    }
    // A head the accept loop refuses as it arrives.
    let (status, _) = raw(&server.api, get("/healthz", &"x-a: b\r\n".repeat(150)).as_bytes()).await;
    assert_eq!(status, 431);
    // Ids and names in paths, queries and headers.
    let unknown = "0198f1e2-aaaa-7bbb-8ccc-123456789abc";
    for path in [
        format!("/api/svc/v1/secrets/{secret}"),
        format!("{GROUPS}/{group}"),
        format!("{GROUPS}/{unknown}"),
        format!("/no/such/{unknown}"),
        format!("{GROUPS}?fqn=default:metered-group-name"),
    ] {
        http.get(server.url(&path))
            .bearer_auth(&server.token)
            .header("x-request-id", "req-id-canary")
            .send()
            .await
            .expect("get");
    }

    let text = scrape(&server.url("/metrics")).await;
    promtool_check(&text).await;
    // Nothing a client sent is a label: no id, name, path or request id.
    for canary in [group.as_str(), secret.as_str(), unknown, "metered-group-name", "req-id-canary", "/api/"] {
        assert!(!text.contains(canary), "{canary:?} in the metrics:\n{text}");
    }
    let operations: Vec<&str> =
        secret_groups_server::api::operation::Operations::from_document(&secret_groups_server::api::declared_openapi())
            .ids()
            .chain(["other"])
            .collect();
    for (name, value) in labels(&text) {
        let allowed = match name.as_str() {
            "operation" => operations.contains(&value.as_str()),
            "status" => value.len() == 3 && value.bytes().all(|b| b.is_ascii_digit()),
            "reason" => ["missing", "malformed", "invalid", "throttled"].contains(&value.as_str()),
            "answer" => ["503", "none"].contains(&value.as_str()),
            "le" => value == "+Inf" || value.parse::<f64>().is_ok(),
            _ => false,
        };
        assert!(allowed, "label {name}={value:?} is not from a fixed set:\n{text}");
    }
    let values = samples(&text);
    let value = |series: &str| values.get(series).copied().unwrap_or_else(|| panic!("no {series} in\n{text}"));
    assert_eq!(value(r#"sg_http_requests_total{operation="getCurrentUser",status="200"}"#), 3.0);
    assert_eq!(value(r#"sg_http_requests_total{operation="getCurrentUser",status="401"}"#), 5.0);
    assert_eq!(value(r#"sg_http_requests_total{operation="getCurrentUser",status="429"}"#), 1.0);
    assert_eq!(value(r#"sg_http_requests_total{operation="createSecretGroup",status="200"}"#), 1.0);
    assert_eq!(value(r#"sg_http_requests_total{operation="getSecret",status="200"}"#), 1.0);
    assert_eq!(value(r#"sg_http_requests_total{operation="getSecretGroup",status="200"}"#), 1.0);
    assert_eq!(value(r#"sg_http_requests_total{operation="getSecretGroup",status="404"}"#), 1.0);
    assert_eq!(value(r#"sg_http_requests_total{operation="listSecretGroups",status="200"}"#), 1.0);
    assert_eq!(value(r#"sg_http_requests_total{operation="other",status="404"}"#), 1.0);
    assert_eq!(value(r#"sg_http_request_duration_seconds_count{operation="getCurrentUser"}"#), 9.0);
    // The scrape itself is being served.
    assert_eq!(value("sg_http_requests_in_flight"), 1.0);
    assert_eq!(value(r#"sg_auth_failures_total{reason="missing"}"#), 2.0);
    assert_eq!(value(r#"sg_auth_failures_total{reason="malformed"}"#), 1.0);
    assert_eq!(value(r#"sg_auth_failures_total{reason="invalid"}"#), 2.0);
    assert_eq!(value(r#"sg_auth_failures_total{reason="throttled"}"#), 1.0);
    assert_eq!(value("sg_auth_clients_throttled_total"), 1.0);
    assert_eq!(value(r#"sg_request_heads_refused_total{status="431"}"#), 1.0);
    // The first request of the token looked it up; every later one was a hit (within the TTL).
    assert!(value("sg_token_cache_hits_total") >= 1.0, "{text}");
    assert!(value("sg_token_cache_misses_total") >= 2.0, "{text}");
    // The bootstrap and the create committed through the group commit.
    assert!(value("sg_sqlite_group_commit_writes_count") >= 1.0, "{text}");
    assert!(value("sg_db_pool_max_connections") >= 1.0, "{text}");
    assert!(value("sg_db_pool_connections") >= value("sg_db_pool_idle_connections"), "{text}");
    assert!(value("sg_connections_open") >= 1.0, "{text}");

    server.stop().await;
}

/// `SG_METRICS=off` serves no metrics; `SG_METRICS_LISTEN` serves them there and not on the API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_can_be_turned_off_or_served_on_a_listener_of_their_own() {
    let off = Binary::start(&[("SG_METRICS", "off")]).await;
    let answer = reqwest::get(off.url("/metrics")).await.expect("GET");
    assert_eq!(answer.status(), 404);
    assert!(off.metrics.is_none());
    off.stop().await;

    let moved = Binary::start(&[("SG_METRICS_LISTEN", "127.0.0.1:0")]).await;
    let metrics = moved.metrics.clone().expect("the log names the metrics listener");
    assert_ne!(metrics, moved.api);
    assert_eq!(reqwest::get(moved.url("/metrics")).await.expect("GET").status(), 404);
    let text = scrape(&format!("http://{metrics}/metrics")).await;
    assert!(text.contains("# TYPE sg_http_requests_in_flight gauge"), "{text}");
    let elsewhere = reqwest::get(format!("http://{metrics}/api/svc/v1/secret-groups")).await.expect("GET");
    assert_eq!(elsewhere.status(), 404);
    assert!(elsewhere.headers().contains_key("x-request-id"));
    moved.stop().await;
}

/// A free port on 127.0.0.1 (bound, then released for the process about to listen on it).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("address").port()
}

/// A real Prometheus (Debian's `/usr/bin/prometheus`) scrapes the metrics listener every second;
/// the request counter it stores equals the requests made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_scrapes_the_server_and_stores_its_counts() {
    let server = Binary::start(&[("SG_METRICS_LISTEN", "127.0.0.1:0")]).await;
    let target = server.metrics.clone().expect("metrics listener");
    let dir = tempfile::tempdir().expect("dir");
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: secret-groups\n    \
             static_configs:\n      - targets: ['{target}']\n"
        ),
    )
    .expect("config");
    let port = free_port();
    let prometheus_url = format!("http://127.0.0.1:{port}");
    let mut prometheus = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--log.level=warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("prometheus (Debian package prometheus; scripts/prerequisites.sh installs it)");

    let http = reqwest::Client::new();
    let made = 5;
    for _ in 0..made {
        let me = http.get(server.url("/api/svc/v1/x/users/info")).bearer_auth(&server.token).send().await;
        assert_eq!(me.expect("me").status(), 200);
    }
    let query = r#"sg_http_requests_total{operation="getCurrentUser",status="200"}"#;
    let mut last = Value::Null;
    let stored = timeout(Duration::from_secs(60), async {
        loop {
            if let Ok(answer) =
                http.get(format!("{prometheus_url}/api/v1/query")).query(&[("query", query)]).send().await
                && let Ok(body) = answer.json::<Value>().await
            {
                last = body;
                // A scrape may have come before the last requests: wait for one after them.
                if let Some(value) = last["data"]["result"][0]["value"][1].as_str()
                    && value == made.to_string()
                {
                    return value.to_owned();
                }
            }
            sleep(Duration::from_millis(500)).await;
        }
    })
    .await;
    let _ = prometheus.start_kill();
    let log = match prometheus.stderr.take() {
        Some(mut stderr) => {
            let mut text = String::new();
            let _ = timeout(Duration::from_secs(5), stderr.read_to_string(&mut text)).await;
            text
        }
        None => String::new(),
    };
    let stored =
        stored.unwrap_or_else(|_| panic!("Prometheus did not store {made} within 60 s; last answer {last}\n{log}"));
    assert_eq!(stored, made.to_string(), "{last}");
    let job = &last["data"]["result"][0]["metric"];
    assert_eq!(job["job"], "secret-groups", "{last}");
    server.stop().await;
}
