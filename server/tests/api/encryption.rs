//! Encryption at rest: nothing secret on disk or in the log in the clear, tampered rows fail
//! closed, master-key rotation under load, and refusing to start with a wrong or missing key.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use serde_json::{Value, json};
use tokio::process::Command;

use crate::{
    cli::{BIN, start_with, stop},
    harness::{Backend, TestServer, postgres_base_url, random_master_key, unique},
    on_both_backends,
};

on_both_backends!(
    canaries_never_reach_the_database_or_the_log,
    tampered_ciphertexts_fail_closed,
    rotation_under_load_rewraps_every_data_key,
    values_stored_before_encryption_are_sealed_at_start,
);

const GROUPS: &str = "/api/svc/v1/secret-groups";

async fn call(server: &TestServer, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
    call_with(server, &server.token, method, path, body).await
}

async fn call_with(
    server: &TestServer,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = server.http().request(method, server.url(path)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// Creates a group with `secrets` (key → value); returns its id and each key's secret id.
async fn create_group(server: &TestServer, secrets: &[(&str, &str)]) -> (String, HashMap<String, String>) {
    let body = json!({
        "name": unique("enc"),
        "integrationId": "internal-secret-store",
        "secrets": secrets.iter().map(|(k, v)| json!({"key": k, "value": v})).collect::<Vec<_>>(),
    });
    let (status, answer) = call(server, reqwest::Method::POST, GROUPS, Some(body)).await;
    assert!(status == 200 || status == 201, "{status} {answer}");
    let data = &answer["data"];
    let ids = data["associatedSecrets"]
        .as_array()
        .expect("secrets")
        .iter()
        .map(|s| (s["name"].as_str().expect("name").to_owned(), s["id"].as_str().expect("id").to_owned()))
        .collect();
    (data["id"].as_str().expect("id").to_owned(), ids)
}

async fn secret_value(server: &TestServer, id: &str) -> (u16, Value) {
    call(server, reqwest::Method::GET, &format!("/api/svc/v1/secrets/{id}"), None).await
}

/// The text of every file under `dir`, lossily decoded, for scanning.
fn files_under(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    std::fs::read_dir(dir)
        .expect("read dir")
        .filter_map(Result::ok)
        .filter(|e| e.path().is_file())
        .map(|e| (e.path().display().to_string(), std::fs::read(e.path()).expect("read file")))
        .collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Values and tokens written through the API appear nowhere in the clear: not in the SQLite
/// file (with its WAL), not in a `pg_dump` of the PostgreSQL database (also searched in hex, the
/// form `bytea` dumps in), not in the server's log at trace level.
async fn canaries_never_reach_the_database_or_the_log(backend: Backend) {
    let dir = tempfile::tempdir().expect("dir");
    let (database_url, pg_name) = match backend {
        Backend::Sqlite => (format!("sqlite://{}", dir.path().join("canary.db").display()), None),
        Backend::Postgres => {
            let name = format!("sg_canary_{}", &unique("x")[2..].replace('-', ""));
            psql(&format!("CREATE DATABASE {name}")).await;
            (format!("{}/{name}", postgres_base_url()), Some(name))
        }
    };
    let key_file = dir.path().join("canary.master-key");
    let key_file_arg = key_file.display().to_string();
    let admin = secret_groups_server::auth::generate_token();
    let running = start_with(
        &database_url,
        Some(&admin),
        &["--master-key-file", &key_file_arg],
        &[("SG_LOG", "trace"), ("SG_AUTH_FAILURE_LIMIT", "0")],
    )
    .await;
    let http = reqwest::Client::new();
    let url = |path: &str| format!("http://{}{path}", running.address);
    let first = "canary-value-one-7f3a9c";
    let second = "canary-value-two-b81d4e";
    let body = json!({"name": "canaries", "integrationId": "internal-secret-store",
                      "secrets": [{"key": "A", "value": first}, {"key": "B", "value": "canary-b-0c2e"}]});
    let created: Value = http
        .post(url(GROUPS))
        .bearer_auth(&admin)
        .json(&body)
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("json");
    let group_id = created["data"]["id"].as_str().expect("group id").to_owned();
    let update = json!({"secrets": [{"key": "A", "value": second}, {"key": "B"}]});
    let status =
        http.put(url(&format!("{GROUPS}/{group_id}"))).bearer_auth(&admin).json(&update).send().await.expect("update");
    assert_eq!(status.status(), 200);
    let listed: Value = http
        .post(url("/api/svc/v1/secrets"))
        .bearer_auth(&admin)
        .json(&json!({"withValue": true}))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert!(listed.to_string().contains(second), "values read back: {listed}");
    let pat: Value = http
        .post(url("/api/svc/v1/personal-access-tokens"))
        .bearer_auth(&admin)
        .json(&json!({"name": "canary-pat"}))
        .send()
        .await
        .expect("pat")
        .json()
        .await
        .expect("json");
    let pat = pat["token"].as_str().expect("token").to_owned();
    assert_eq!(http.get(url(GROUPS)).bearer_auth(&pat).send().await.expect("GET").status(), 200);
    // A failed authentication with a real-looking token is logged as a failure, without it.
    let wrong = secret_groups_server::auth::generate_token();
    assert_eq!(http.get(url(GROUPS)).bearer_auth(&wrong).send().await.expect("GET").status(), 401);
    let (exit, log) = stop(running).await;
    assert!(exit.success());

    let canaries = [first, second, "canary-b-0c2e", admin.as_str(), pat.as_str(), wrong.as_str()];
    let log = log.join("\n");
    assert!(log.len() > 1000, "the trace log was captured ({} bytes)", log.len());
    for canary in canaries {
        assert!(!log.contains(canary), "{canary} reached the log");
    }
    let mut stored: Vec<(String, Vec<u8>)> = files_under(dir.path());
    if let Some(name) = &pg_name {
        let dump = Command::new("pg_dump")
            .args(["--data-only", "--dbname", &format!("{}/{name}", postgres_base_url())])
            .output()
            .await
            .expect("pg_dump");
        assert!(dump.status.success(), "{}", String::from_utf8_lossy(&dump.stderr));
        assert!(contains(&dump.stdout, b"secret_versions"), "the dump holds the values' table");
        stored.push(("pg_dump".to_owned(), dump.stdout));
        psql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
    } else {
        assert!(stored.iter().any(|(path, bytes)| path.ends_with("canary.db") && contains(bytes, b"canaries")));
    }
    for (path, bytes) in &stored {
        for canary in canaries {
            assert!(!contains(bytes, canary.as_bytes()), "{canary} found in the clear in {path}");
            assert!(!contains(bytes, hex(canary.as_bytes()).as_bytes()), "{canary} found as hex in {path}");
        }
    }
}

async fn psql(sql: &str) {
    let output = Command::new("psql")
        .args(["--no-psqlrc", "-v", "ON_ERROR_STOP=1", "--dbname", &format!("{}/test", postgres_base_url()), "-c", sql])
        .output()
        .await
        .expect("psql");
    assert!(output.status.success(), "{sql}: {}", String::from_utf8_lossy(&output.stderr));
}

async fn ciphertext(server: &TestServer, secret_id: &str, version: i64) -> Vec<u8> {
    sqlx::query_scalar("SELECT ciphertext FROM secret_versions WHERE secret_id = $1 AND version = $2")
        .bind(secret_id)
        .bind(version)
        .fetch_one(server.state.db.pool())
        .await
        .expect("ciphertext")
}

async fn set_ciphertext(server: &TestServer, secret_id: &str, version: i64, bytes: Vec<u8>) {
    sqlx::query("UPDATE secret_versions SET ciphertext = $1 WHERE secret_id = $2 AND version = $3")
        .bind(bytes)
        .bind(secret_id)
        .bind(version)
        .execute(server.state.db.pool())
        .await
        .expect("tamper");
}

/// A flipped byte, two rows' ciphertexts swapped, a changed version number, a data key moved to
/// another group: each read fails with a 500 in the error shape that names no value, never
/// answering another secret's value; the rows nobody touched still read.
async fn tampered_ciphertexts_fail_closed(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (group, ids) = create_group(&server, &[("FLIP", "v-flip"), ("SWAP1", "v-swap-1"), ("SWAP2", "v-swap-2")]).await;
    let (_, other_ids) = create_group(&server, &[("OTHER", "v-other")]).await;
    let (version_group, version_ids) = create_group(&server, &[("VERSIONED", "v-old")]).await;
    let update = json!({"secrets": [{"key": "VERSIONED", "value": "v-new"}]});
    assert_eq!(call(&server, reqwest::Method::PUT, &format!("{GROUPS}/{version_group}"), Some(update)).await.0, 200);
    let all_values = ["v-flip", "v-swap-1", "v-swap-2", "v-other", "v-old", "v-new"];
    let fails_closed = |(status, body): (u16, Value)| {
        assert_eq!(status, 500, "{body}");
        assert_eq!(body["code"], "internal", "{body}");
        for value in all_values {
            assert!(!body.to_string().contains(value), "a value in an error: {body}");
        }
    };

    // One flipped byte.
    let mut flipped = ciphertext(&server, &ids["FLIP"], 1).await;
    *flipped.last_mut().expect("bytes") ^= 0x01;
    set_ciphertext(&server, &ids["FLIP"], 1, flipped).await;
    fails_closed(secret_value(&server, &ids["FLIP"]).await);
    // A list with values fails as a whole rather than leaving the value out.
    let list = json!({"secretGroupId": group, "withValue": true});
    fails_closed(call(&server, reqwest::Method::POST, "/api/svc/v1/secrets", Some(list)).await);
    // Without values the group still lists, and its untouched secrets still read.
    let list = json!({"secretGroupId": group});
    assert_eq!(call(&server, reqwest::Method::POST, "/api/svc/v1/secrets", Some(list)).await.0, 200);
    assert_eq!(secret_value(&server, &ids["SWAP1"]).await.1["data"]["value"], "v-swap-1");

    // Two rows' ciphertexts swapped (same group, same data key).
    let (a, b) = (ciphertext(&server, &ids["SWAP1"], 1).await, ciphertext(&server, &ids["SWAP2"], 1).await);
    set_ciphertext(&server, &ids["SWAP1"], 1, b).await;
    set_ciphertext(&server, &ids["SWAP2"], 1, a).await;
    fails_closed(secret_value(&server, &ids["SWAP1"]).await);
    fails_closed(secret_value(&server, &ids["SWAP2"]).await);

    // A ciphertext copied into another group's row.
    let foreign = ciphertext(&server, &version_ids["VERSIONED"], 2).await;
    set_ciphertext(&server, &other_ids["OTHER"], 1, foreign).await;
    fails_closed(secret_value(&server, &other_ids["OTHER"]).await);

    // The version column changed: version 2 renumbered 3 and made current.
    let secret = &version_ids["VERSIONED"];
    assert_eq!(secret_value(&server, secret).await.1["data"]["value"], "v-new");
    for sql in [
        "UPDATE secret_versions SET version = 3 WHERE secret_id = $1 AND version = 2",
        "UPDATE secrets SET current_version = 3 WHERE id = $1",
    ] {
        sqlx::query(sql).bind(secret).execute(server.state.db.pool()).await.expect("renumber");
    }
    fails_closed(secret_value(&server, secret).await);
    // An update of the group reads the current value to compare it, so it fails too and
    // writes nothing.
    let update = json!({"secrets": [{"key": "VERSIONED", "value": "v-newer"}]});
    fails_closed(call(&server, reqwest::Method::PUT, &format!("{GROUPS}/{version_group}"), Some(update)).await);

    // A group's wrapped data key swapped with another group's.
    let (g1, g1_ids) = create_group(&server, &[("K", "v-one")]).await;
    let (g2, _) = create_group(&server, &[("K", "v-two")]).await;
    let wrapped = |group: String| {
        let pool = server.state.db.pool().clone();
        async move {
            sqlx::query_scalar::<_, Vec<u8>>("SELECT wrapped FROM data_keys WHERE group_id = $1")
                .bind(group)
                .fetch_one(&pool)
                .await
                .expect("wrapped")
        }
    };
    let (w1, w2) = (wrapped(g1.clone()).await, wrapped(g2.clone()).await);
    for (group, bytes) in [(&g1, w2), (&g2, w1)] {
        sqlx::query("UPDATE data_keys SET wrapped = $1 WHERE group_id = $2")
            .bind(bytes)
            .bind(group)
            .execute(server.state.db.pool())
            .await
            .expect("swap keys");
    }
    fails_closed(secret_value(&server, &g1_ids["K"]).await);
    server.stop().await;
}

/// (group id, key) → (secret id, the value last written).
type Expected = Arc<Mutex<HashMap<(String, String), (String, String)>>>;

/// `keys rotate` (another process, small batches) while readers and writers run: afterwards
/// every value reads back as last written, no data key is wrapped by the old master key, the
/// old key is retired, `keys prune` drops it from the key file, and a restart with the pruned
/// file reads everything.
async fn rotation_under_load_rewraps_every_data_key(backend: Backend) {
    let server = TestServer::start(backend).await;
    let old_key: String = sqlx::query_scalar("SELECT id FROM master_keys WHERE state = 'active'")
        .fetch_one(server.state.db.pool())
        .await
        .expect("active key");
    // (group id, key) → (secret id, last value written)
    let expected: Expected = Arc::default();
    let mut groups = Vec::new();
    for g in 0..40 {
        let secrets: Vec<(String, String)> = (0..3).map(|k| (format!("K{k}"), format!("g{g}-k{k}-v0"))).collect();
        let pairs: Vec<(&str, &str)> = secrets.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let (group, ids) = create_group(&server, &pairs).await;
        let mut map = expected.lock().expect("lock");
        for (key, value) in &secrets {
            map.insert((group.clone(), key.clone()), (ids[key].clone(), value.clone()));
        }
        groups.push(group);
    }
    let server = Arc::new(server);
    let stop_load = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut load = Vec::new();
    // Writers: each owns some groups and changes their values; readers check every value
    // they read against what was last acknowledged (or the write in flight).
    for writer in 0..2 {
        let (server, expected, stop_load) = (server.clone(), expected.clone(), stop_load.clone());
        let mine: Vec<String> = groups.iter().skip(writer).step_by(2).cloned().collect();
        load.push(tokio::spawn(async move {
            let mut n = 0u64;
            let mut created = 0u64;
            while !stop_load.load(std::sync::atomic::Ordering::Relaxed) {
                let group = &mine[(n as usize) % mine.len()];
                n += 1;
                let value = format!("w{writer}-{n}");
                let body = json!({"secrets": [{"key": "K0", "value": value}, {"key": "K1"}, {"key": "K2"}]});
                let (status, answer) =
                    call(&server, reqwest::Method::PUT, &format!("{GROUPS}/{group}"), Some(body)).await;
                assert_eq!(status, 200, "update during rotation: {answer}");
                if let Some(entry) = expected.lock().expect("lock").get_mut(&(group.clone(), "K0".to_owned())) {
                    entry.1 = value;
                }
                if n.is_multiple_of(5) {
                    // New groups get data keys wrapped by whichever key is active at that moment.
                    let (group, ids) = create_group(&server, &[("NEW", "fresh")]).await;
                    expected
                        .lock()
                        .expect("lock")
                        .insert((group, "NEW".to_owned()), (ids["NEW"].clone(), "fresh".into()));
                    created += 1;
                }
            }
            (n, created)
        }));
    }
    for _ in 0..2 {
        let (server, expected, stop_load) = (server.clone(), expected.clone(), stop_load.clone());
        load.push(tokio::spawn(async move {
            let mut n = 0u64;
            while !stop_load.load(std::sync::atomic::Ordering::Relaxed) {
                let entries: Vec<(String, String)> =
                    expected.lock().expect("lock").values().map(|(id, v)| (id.clone(), v.clone())).collect();
                let (id, _) = &entries[(n as usize * 7) % entries.len()];
                n += 1;
                let (status, body) = secret_value(&server, id).await;
                assert_eq!(status, 200, "read during rotation: {body}");
                assert!(body["data"]["value"].is_string(), "{body}");
            }
            (n, 0)
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut rotate = vec!["keys".to_owned(), "rotate".to_owned(), "--batch-size".to_owned(), "3".to_owned()];
    rotate.extend(server.cli_store_args());
    let output = Command::new(BIN).args(&rotate).output().await.expect("keys rotate");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("rotated to master key"), "{stdout}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop_load.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut requests = 0;
    for task in load {
        requests += task.await.expect("load task").0;
    }
    assert!(requests > 20, "load ran during the rotation ({requests} requests)");

    let pool = server.state.db.pool().clone();
    let new_key: String = sqlx::query_scalar("SELECT id FROM master_keys WHERE state = 'active'")
        .fetch_one(&pool)
        .await
        .expect("active key");
    assert_ne!(new_key, old_key);
    let on_old: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM data_keys WHERE kek_id = $1")
        .bind(&old_key)
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(on_old, 0, "data keys still wrapped by the old master key");
    let state: String = sqlx::query_scalar("SELECT state FROM master_keys WHERE id = $1")
        .bind(&old_key)
        .fetch_one(&pool)
        .await
        .expect("state");
    assert_eq!(state, "retired");

    let check_all = |server: Arc<TestServer>, expected: Expected| async move {
        let entries: Vec<(String, String)> = expected.lock().expect("lock").values().cloned().collect();
        for (id, value) in entries {
            let (status, body) = secret_value(&server, &id).await;
            assert_eq!(status, 200, "{body}");
            assert_eq!(body["data"]["value"], value.as_str(), "{body}");
        }
    };
    check_all(server.clone(), expected.clone()).await;

    // The old key leaves the key file; a restart with only the new key reads everything.
    let mut prune = vec!["keys".to_owned(), "prune".to_owned()];
    prune.extend(server.cli_store_args());
    let output = Command::new(BIN).args(&prune).output().await.expect("keys prune");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("removed 1"),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    let mut server = Arc::try_unwrap(server).ok().expect("sole owner");
    server.restart().await;
    assert_eq!(server.state.keys.masters().ids(), vec![new_key.clone()]);
    let server = Arc::new(server);
    check_all(server.clone(), expected).await;
    Arc::try_unwrap(server).ok().expect("sole owner").stop().await;
}

/// Rows written before encryption existed (clear `legacy_value`, no data key, plain SHA-256
/// token hashes) are sealed and converted at the next start, and still read and authenticate.
async fn values_stored_before_encryption_are_sealed_at_start(backend: Backend) {
    use sha2::Digest as _;
    let mut server = TestServer::start(backend).await;
    let (group, ids) = create_group(&server, &[("OLD", "placeholder")]).await;
    let token = server.token_for("default", "admin@localhost").await;
    let pool = server.state.db.pool().clone();
    let legacy = "legacy-canary-5d1e0b";
    // Make the store look as a server before encryption left it.
    let hash = server.state.keys.hash_token(&token);
    let sha256 = hex(&sha2::Sha256::digest(token.as_bytes()));
    let admin_sha256 = hex(&sha2::Sha256::digest(server.token.as_bytes()));
    let admin_hash = server.state.keys.hash_token(&server.token);
    for (sql, binds) in [
        (
            "UPDATE secret_versions SET ciphertext = NULL, legacy_value = $1 WHERE secret_id = $2",
            vec![legacy.to_owned(), ids["OLD"].clone()],
        ),
        ("DELETE FROM data_keys WHERE group_id = $1", vec![group.clone()]),
        ("DELETE FROM data_keys WHERE purpose = 'token-hmac'", vec![]),
        ("UPDATE access_tokens SET token_hash = $1 WHERE token_hash = $2", vec![sha256, hash]),
        ("UPDATE access_tokens SET token_hash = $1 WHERE token_hash = $2", vec![admin_sha256, admin_hash]),
    ] {
        let mut query = sqlx::query(sql);
        for bind in binds {
            query = query.bind(bind);
        }
        query.execute(&pool).await.expect("make legacy");
    }
    server.restart().await;
    let (status, body) = secret_value(&server, &ids["OLD"]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["value"], legacy);
    let (status, _) = call_with(&server, &token, reqwest::Method::GET, GROUPS, None).await;
    assert_eq!(status, 200, "a token issued before keyed hashes still works");
    let clear: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM secret_versions WHERE legacy_value IS NOT NULL")
        .fetch_one(server.state.db.pool())
        .await
        .expect("count");
    assert_eq!(clear, 0);
    if backend == Backend::Sqlite {
        // Vacuumed: the clear text is not left behind in free pages either.
        for (path, bytes) in files_under(server.dir()) {
            assert!(!contains(&bytes, legacy.as_bytes()), "the legacy value lingers in {path}");
        }
    }
    server.stop().await;
}

/// A server refuses to start, with a message that says why, when the key is wrong or missing;
/// PostgreSQL without any key setting is refused too. Nothing is served in any of these cases.
#[tokio::test]
async fn wrong_or_missing_master_keys_refuse_to_start() {
    let dir = tempfile::tempdir().expect("dir");
    let database_url = format!("sqlite://{}", dir.path().join("keyed.db").display());
    let key_file = dir.path().join("keyed.master-key");
    let running = start_with(&database_url, None, &[], &[]).await;
    let (exit, log) = stop(running).await;
    let log = log.join("\n");
    assert!(exit.success(), "{exit}: {log}");
    assert!(log.contains("created a new master key file"), "{log}");
    let original = std::fs::read_to_string(&key_file).expect("key file beside the database");
    assert!(!log.contains(original.trim()), "the key reached the log");

    let serve = |env: Vec<(&'static str, String)>| {
        let database_url = database_url.clone();
        async move {
            Command::new(BIN)
                .args(["serve", "--listen", "127.0.0.1:0", "--database-url", &database_url])
                .env_remove("SG_MASTER_KEY")
                .env_remove("SG_MASTER_KEY_FILE")
                .envs(env)
                .output()
                .await
                .expect("run")
        }
    };
    // A different key in the file.
    std::fs::write(&key_file, format!("{}\n", random_master_key())).expect("write");
    let output = serve(vec![]).await;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("wrong or missing master key"), "{stderr}");
    // A different key in SG_MASTER_KEY.
    let output = serve(vec![("SG_MASTER_KEY", random_master_key())]).await;
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("wrong or missing master key"));
    // No key file at all: not silently replaced by a new key.
    std::fs::remove_file(&key_file).expect("remove");
    let output = serve(vec![]).await;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no master key"), "{stderr}");
    assert!(!key_file.exists(), "a new key file was made for an existing database");
    // Garbage in the key file.
    std::fs::write(&key_file, "not a key\n").expect("write");
    let output = serve(vec![]).await;
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("not base64"));
    // The right key again: it starts.
    std::fs::write(&key_file, original).expect("restore");
    let running = start_with(&database_url, None, &[], &[]).await;
    let (exit, _) = stop(running).await;
    assert!(exit.success());

    // PostgreSQL has no place for a default key file.
    let output = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--database-url", &format!("{}/test", postgres_base_url())])
        .env_remove("SG_MASTER_KEY")
        .env_remove("SG_MASTER_KEY_FILE")
        .output()
        .await
        .expect("run");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("SG_MASTER_KEY_FILE"));
}
