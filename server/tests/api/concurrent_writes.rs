//! Many writes at once: what is answered is stored, what fails or is rolled back leaves nothing
//! and disturbs no other write. On SQLite concurrent writes share one transaction and one
//! COMMIT (group commit, `server/src/store/mod.rs`); on PostgreSQL each has its own. The last
//! tests drive SQLite's batches directly, in a fixed order, to reach its failure paths.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use futures::FutureExt as _;
use reqwest::Method;
use secret_groups_server::store::Db;
use serde_json::{Value, json};

use crate::{
    cli::start_with,
    harness::{Backend, TestServer},
    on_both_backends,
};

on_both_backends!(
    acknowledged_creates_survive_a_kill,
    duplicate_creates_in_one_batch_fail_alone,
    rolled_back_writes_leave_nothing,
);

const GROUPS: &str = "/api/svc/v1/secret-groups";
/// Concurrent clients, as in `scripts/bench.sh`.
const CLIENTS: usize = 64;

/// A request to `base`; `None` when no complete answer arrived (e.g. the server was killed).
async fn send(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Option<(u16, Value)> {
    let mut request = http.request(method, format!("{base}{path}")).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.ok()?;
    let status = response.status().as_u16();
    let text = response.text().await.ok()?;
    Some((status, serde_json::from_str(&text).unwrap_or(Value::String(text))))
}

async fn call(server: &TestServer, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    send(&server.http(), &server.base_url, &server.token, method, path, body).await.expect("an answer")
}

fn create_body(name: &str, secrets: &BTreeMap<String, String>) -> Value {
    json!({
        "name": name,
        "integrationId": "internal-secret-store",
        "secrets": secrets.iter().map(|(k, v)| json!({"key": k, "value": v})).collect::<Vec<_>>(),
    })
}

/// Key → value of every secret of group `id`, read through the API.
async fn values_of(server: &TestServer, id: &str) -> BTreeMap<String, String> {
    let body = json!({"secretGroupId": id, "withValue": true, "limit": 1000});
    let (status, answer) = call(server, Method::POST, "/api/svc/v1/secrets", Some(body)).await;
    assert_eq!(status, 200, "{answer}");
    answer["data"]
        .as_array()
        .expect("secrets")
        .iter()
        .map(|s| (s["name"].as_str().expect("name").to_owned(), s["value"].as_str().expect("value").to_owned()))
        .collect()
}

/// Name → id of every group in the tenant.
async fn all_groups(server: &TestServer) -> BTreeMap<String, String> {
    let (status, answer) = call(server, Method::GET, &format!("{GROUPS}?limit=1000"), None).await;
    assert_eq!(status, 200, "{answer}");
    let groups: BTreeMap<String, String> = answer["data"]
        .as_array()
        .expect("groups")
        .iter()
        .map(|g| (g["name"].as_str().expect("name").to_owned(), g["id"].as_str().expect("id").to_owned()))
        .collect();
    assert_eq!(answer["pagination"]["total"], groups.len(), "names are unique and all fit on one page");
    groups
}

/// A group some client was told was created: its id and the values it was created with.
struct Acked {
    id: String,
    values: BTreeMap<String, String>,
}

/// 64 clients create groups of 10 secrets against a server process, which is killed (SIGKILL:
/// no shutdown, nothing flushed) while they do. After a restart on the same database every
/// group whose creation was answered is there with all its values: an answer is only given once
/// the write is committed (on SQLite, once the COMMIT of its batch has fsynced the WAL).
async fn acknowledged_creates_survive_a_kill(backend: Backend) {
    let mut server = TestServer::start(backend).await;
    // The database is the process's until it is killed.
    server.halt().await;
    let mut args = Vec::new();
    if let Some(file) = &server.args.database.master_key_file {
        args.extend(["--master-key-file".to_owned(), file.display().to_string()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut process = start_with(&server.args.database.database_url, None, &args, &[]).await;
    let base = format!("http://{}", process.address);

    let acked: Arc<Mutex<Vec<Acked>>> = Arc::default();
    let answered = Arc::new(AtomicUsize::new(0));
    let http = reqwest::Client::new();
    let mut clients = Vec::new();
    for client in 0..CLIENTS {
        let (http, base, token) = (http.clone(), base.clone(), server.token.clone());
        let (acked, answered) = (acked.clone(), answered.clone());
        clients.push(tokio::spawn(async move {
            // More than can finish before the kill: every client is mid-request when it lands.
            for n in 0..200 {
                let values: BTreeMap<String, String> =
                    (0..10).map(|k| (format!("K{k}"), format!("c{client}-g{n}-k{k}"))).collect();
                let body = create_body(&format!("kill-{client}-{n}"), &values);
                let Some((status, answer)) = send(&http, &base, &token, Method::POST, GROUPS, Some(body)).await else {
                    return; // killed
                };
                assert_eq!(status, 200, "create before the kill: {answer}");
                let id = answer["data"]["id"].as_str().expect("id").to_owned();
                acked.lock().expect("lock").push(Acked { id, values });
                answered.fetch_add(1, Ordering::Relaxed);
            }
            panic!("client {client} finished before the kill");
        }));
    }
    // Kill once enough was answered (a count, not a time, so a slow machine only takes longer).
    let enough = tokio::time::timeout(Duration::from_secs(120), async {
        while answered.load(Ordering::Relaxed) < 4 * CLIENTS {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    process.child.start_kill().expect("SIGKILL");
    process.child.wait().await.expect("the killed process is reaped");
    for client in clients {
        client.await.expect("client");
    }
    assert!(enough.is_ok(), "only {} creates answered in 120 s", answered.load(Ordering::Relaxed));

    server.restart().await;
    let acked = std::mem::take(&mut *acked.lock().expect("lock"));
    let stored = all_groups(&server).await;
    let stored_ids: BTreeSet<&String> = stored.values().collect();
    for group in &acked {
        assert!(stored_ids.contains(&group.id), "group {} was answered but is gone after the kill", group.id);
        assert_eq!(values_of(&server, &group.id).await, group.values, "values of group {}", group.id);
    }
    server.stop().await;
}

#[derive(Debug)]
struct Attempt {
    status: u16,
    id: Option<String>,
    values: BTreeMap<String, String>,
}

/// 64 clients create groups in pairs of the same name at once, in three rounds: per name exactly
/// one create succeeds and one gets 409, and every success is stored with its values. On SQLite
/// both creates of a pair usually share a batch, where the loser's failed statement must not
/// disturb the winner or anyone else's commit.
async fn duplicate_creates_in_one_batch_fail_alone(backend: Backend) {
    let server = Arc::new(TestServer::start(backend).await);
    let mut clients = Vec::new();
    for client in 0..CLIENTS {
        let server = server.clone();
        clients.push(tokio::spawn(async move {
            let mut outcomes = Vec::new();
            for round in 0..3 {
                let name = format!("dup-{round}-{}", client / 2);
                let values: BTreeMap<String, String> =
                    (0..3).map(|k| (format!("K{k}"), format!("c{client}-r{round}-k{k}"))).collect();
                let (status, answer) = call(&server, Method::POST, GROUPS, Some(create_body(&name, &values))).await;
                let id = answer["data"]["id"].as_str().map(str::to_owned);
                outcomes.push((name, Attempt { status, id, values }));
            }
            outcomes
        }));
    }
    let mut by_name: BTreeMap<String, Vec<Attempt>> = BTreeMap::new();
    for client in clients {
        for (name, attempt) in client.await.expect("client") {
            by_name.entry(name).or_default().push(attempt);
        }
    }
    let stored = all_groups(&server).await;
    assert_eq!(stored.len(), by_name.len(), "one group per name, nothing else: {stored:?}");
    for (name, attempts) in &by_name {
        let statuses: BTreeSet<u16> = attempts.iter().map(|a| a.status).collect();
        assert_eq!(statuses, BTreeSet::from([200, 409]), "{name}: {attempts:?}");
        let winner = attempts.iter().find(|a| a.status == 200).expect("the winner");
        let id = winner.id.as_deref().expect("the winner's id");
        assert_eq!(stored.get(name).map(String::as_str), Some(id), "{name}");
        assert_eq!(values_of(&server, id).await, winner.values, "{name} holds the winner's values");
    }
    Arc::try_unwrap(server).ok().expect("sole owner").stop().await;
}

/// Dry runs (rolled back explicitly) and updates that fail validation after writing a new
/// version (rolled back by dropping the transaction on the error path) run at once with real
/// creates and updates. Afterwards exactly the real writes are stored: no dry-run group, no
/// changed collaborators, no version from a failed update.
async fn rolled_back_writes_leave_nothing(backend: Backend) {
    let server = Arc::new(TestServer::start(backend).await);
    let admin = json!([{"subject": "user:admin@localhost", "role_id": "secret-group-admin"}]);
    // Groups the failing updates and dry runs aim at, and groups the real updates change.
    let mut setup = Vec::new();
    for i in 0..CLIENTS / 2 {
        let values = BTreeMap::from([("K0".to_owned(), format!("base-{i}")), ("K1".to_owned(), format!("keep-{i}"))]);
        setup.push((format!("base-{i}"), values));
    }
    for client in 0..CLIENTS {
        setup.push((format!("own-{client}"), BTreeMap::from([("K0".to_owned(), "own".to_owned())])));
    }
    let mut ids = HashMap::new();
    for (name, values) in &setup {
        let (status, answer) = call(&server, Method::POST, GROUPS, Some(create_body(name, values))).await;
        assert_eq!(status, 200, "{answer}");
        ids.insert(name.clone(), answer["data"]["id"].as_str().expect("id").to_owned());
    }
    let ids = Arc::new(ids);

    const ROUNDS: usize = 4;
    let mut clients = Vec::new();
    for client in 0..CLIENTS {
        let (server, ids, admin) = (server.clone(), ids.clone(), admin.clone());
        clients.push(tokio::spawn(async move {
            for round in 0..ROUNDS {
                let base = format!("base-{}", (client + round) % (CLIENTS / 2));
                let tag = format!("c{client}-r{round}");
                let manifest = |name: &str, collaborators: Value| {
                    json!({"manifest": {"type": "secret-group", "name": name,
                                        "integration_fqn": "internal:secret-store:internal-secret-store",
                                        "collaborators": collaborators},
                           "dryRun": true})
                };
                // Each client cycles through the four kinds, so every batch mixes them.
                let (method, path, body, expected) = match (client + round) % 4 {
                    0 if round % 2 == 0 => {
                        (Method::PUT, GROUPS.to_owned(), manifest(&format!("dry-{tag}"), admin.clone()), 200)
                    }
                    0 => (Method::PUT, GROUPS.to_owned(), manifest(&base, json!([])), 200),
                    1 => {
                        // K0 gets a new version before the missing key is found: 422.
                        let body = json!({"secrets": [{"key": "K0", "value": format!("leak-{tag}")},
                                                      {"key": "K1"}, {"key": "MISSING"}]});
                        (Method::PUT, format!("{GROUPS}/{}", ids[&base]), body, 422)
                    }
                    2 => {
                        let values = BTreeMap::from([("K0".to_owned(), format!("real-{tag}"))]);
                        (Method::POST, GROUPS.to_owned(), create_body(&format!("real-{tag}"), &values), 200)
                    }
                    _ => {
                        let body = json!({"secrets": [{"key": "K0", "value": format!("own-{tag}")}]});
                        (Method::PUT, format!("{GROUPS}/{}", ids[&format!("own-{client}")]), body, 200)
                    }
                };
                let (status, answer) = call(&server, method, &path, Some(body)).await;
                assert_eq!(status, expected, "{path}: {answer}");
            }
        }));
    }
    for client in clients {
        client.await.expect("client");
    }

    let stored = all_groups(&server).await;
    let mut expected: BTreeMap<String, BTreeMap<String, String>> = setup.into_iter().collect();
    for client in 0..CLIENTS {
        let mut last_own = None;
        for round in 0..ROUNDS {
            let tag = format!("c{client}-r{round}");
            match (client + round) % 4 {
                2 => {
                    expected.insert(format!("real-{tag}"), BTreeMap::from([("K0".to_owned(), format!("real-{tag}"))]));
                }
                3 => last_own = Some(format!("own-{tag}")),
                _ => {}
            }
        }
        if let Some(value) = last_own {
            expected.insert(format!("own-{client}"), BTreeMap::from([("K0".to_owned(), value)]));
        }
    }
    assert_eq!(stored.keys().collect::<Vec<_>>(), expected.keys().collect::<Vec<_>>(), "exactly the real writes");
    for (name, values) in &expected {
        assert_eq!(&values_of(&server, &stored[name]).await, values, "{name}");
    }
    for i in 0..CLIENTS / 2 {
        let (status, group) =
            call(&server, Method::GET, &format!("{GROUPS}/{}", ids[&format!("base-{i}")]), None).await;
        assert_eq!(status, 200, "{group}");
        assert_eq!(group["data"]["manifest"]["collaborators"], admin, "a dry run changed base-{i}");
        for secret in group["data"]["associatedSecrets"].as_array().expect("secrets") {
            let id = secret["id"].as_str().expect("id");
            let (status, answer) = call(&server, Method::GET, &format!("/api/svc/v1/secrets/{id}"), None).await;
            assert_eq!(status, 200, "{answer}");
            let versions = answer["data"]["secretVersions"].as_array().map(Vec::len);
            assert_eq!(versions, Some(1), "a failed update left a version: {answer}");
        }
    }
    Arc::try_unwrap(server).ok().expect("sole owner").stop().await;
}

// ---- SQLite's batches, driven in a fixed order ----
//
// A writer queues on the batch's FIFO mutex on the first poll of `begin_write`, so polling the
// next members' `begin_write` once while a member holds the mutex puts them into the same batch
// ahead of the flusher, without any timing.

async fn sqlite_db(dir: &tempfile::TempDir) -> Db {
    Db::connect(&format!("sqlite://{}", dir.path().join("batch.db").display()), None).await.expect("database")
}

async fn insert_tenant(wtx: &mut secret_groups_server::store::WriteTx, name: &str) {
    sqlx::query("INSERT INTO tenants (id, name, created_at) VALUES ($1, $1, 0)")
        .bind(name)
        .execute(wtx.conn())
        .await
        .expect("insert");
}

async fn tenants(db: &Db) -> BTreeSet<String> {
    sqlx::query_scalar("SELECT name FROM tenants").fetch_all(db.pool()).await.expect("tenants").into_iter().collect()
}

/// A member dropped on an error path loses its work and only its work: the members before and
/// after it in the same batch commit.
#[tokio::test]
async fn sqlite_a_dropped_member_is_rolled_back_alone() {
    let dir = tempfile::tempdir().expect("dir");
    let db = sqlite_db(&dir).await;
    let mut first = db.begin_write().await.expect("first");
    insert_tenant(&mut first, "first").await;
    let mut dropped = Box::pin(db.begin_write());
    let mut last = Box::pin(db.begin_write());
    assert!((&mut dropped).now_or_never().is_none() && (&mut last).now_or_never().is_none(), "both queue");
    let first = tokio::spawn(first.commit());

    let mut dropped = dropped.await.expect("dropped");
    insert_tenant(&mut dropped, "dropped").await;
    drop(dropped);
    let mut last = last.await.expect("last");
    insert_tenant(&mut last, "last").await;
    last.commit().await.expect("last commits");
    first.await.expect("task").expect("first commits");
    assert_eq!(tenants(&db).await, BTreeSet::from(["first".to_owned(), "last".to_owned()]));
    db.close().await;
}

/// When SQLite rolls back the whole transaction under a member (as it does on I/O errors or a
/// full disk; here the member does it itself), the batch is given up: the members already
/// waiting for its COMMIT and the member itself get an error, none of their work is stored,
/// and the next member starts a fresh transaction that commits.
#[tokio::test]
async fn sqlite_a_transaction_lost_mid_batch_fails_every_member_in_it() {
    let dir = tempfile::tempdir().expect("dir");
    let db = sqlite_db(&dir).await;
    let mut first = db.begin_write().await.expect("first");
    insert_tenant(&mut first, "first").await;
    let mut breaker = Box::pin(db.begin_write());
    let mut last = Box::pin(db.begin_write());
    assert!((&mut breaker).now_or_never().is_none() && (&mut last).now_or_never().is_none(), "both queue");
    let first = tokio::spawn(first.commit());

    let mut breaker = breaker.await.expect("breaker");
    insert_tenant(&mut breaker, "breaker").await;
    sqlx::query("ROLLBACK").execute(breaker.conn()).await.expect("the whole transaction rolls back");
    // In a task of its own, so that a commit wrongly waiting for the batch cannot hang the test.
    let breaker = tokio::spawn(breaker.commit());
    let mut last = last.await.expect("last");
    insert_tenant(&mut last, "last").await;
    last.commit().await.expect("last commits in a fresh transaction");
    assert!(breaker.await.expect("task").is_err(), "its savepoint is gone: the commit fails");
    assert!(first.await.expect("task").is_err(), "first was in the lost transaction: never answered success");
    assert_eq!(tenants(&db).await, BTreeSet::from(["last".to_owned()]));
    db.close().await;
}

/// A member whose caller goes away while it commits (an HTTP client that disconnects) neither
/// breaks the batch nor blocks it: the members before and after it commit.
#[tokio::test]
async fn sqlite_a_commit_abandoned_half_way_disturbs_nobody() {
    let dir = tempfile::tempdir().expect("dir");
    let db = sqlite_db(&dir).await;
    let mut first = db.begin_write().await.expect("first");
    insert_tenant(&mut first, "first").await;
    let mut abandoned = Box::pin(db.begin_write());
    let mut last = Box::pin(db.begin_write());
    assert!((&mut abandoned).now_or_never().is_none() && (&mut last).now_or_never().is_none(), "both queue");
    let first = tokio::spawn(first.commit());

    let mut abandoned = abandoned.await.expect("abandoned");
    insert_tenant(&mut abandoned, "abandoned").await;
    let mut commit = Box::pin(abandoned.commit());
    assert!((&mut commit).now_or_never().is_none(), "the commit is under way");
    drop(commit);
    let mut last = last.await.expect("last");
    insert_tenant(&mut last, "last").await;
    last.commit().await.expect("last commits");
    first.await.expect("task").expect("first commits");
    let stored = tenants(&db).await;
    assert!(stored.contains("first") && stored.contains("last"), "{stored:?}");
    db.close().await;
}
