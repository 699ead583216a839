//! The real binary: first start on a fresh SQLite file, `tokens create`, graceful shutdown, and
//! that neither tokens nor values reach its log.

use std::{process::Stdio, time::Duration};

use tokio::{
    io::{AsyncBufReadExt as _, AsyncRead, BufReader},
    process::{Child, Command},
    time::timeout,
};

pub const BIN: &str = env!("CARGO_BIN_EXE_secret-groups-server");

pub struct Running {
    pub child: Child,
    pub address: String,
    stdout: Vec<String>,
    stderr_task: tokio::task::JoinHandle<Vec<String>>,
}

/// Reads lines until one satisfies `found`; returns all lines read.
async fn read_until(
    reader: impl AsyncRead + Unpin,
    found: impl Fn(&str) -> bool,
) -> (Vec<String>, impl AsyncRead + Unpin) {
    let mut lines = BufReader::new(reader).lines();
    let mut seen = Vec::new();
    while let Ok(Some(line)) = lines.next_line().await {
        let done = found(&line);
        seen.push(line);
        if done {
            break;
        }
    }
    (seen, lines.into_inner())
}

async fn start(database_url: &str, bootstrap_token: Option<&str>) -> Running {
    start_with(database_url, bootstrap_token, &[], &[]).await
}

/// Starts the binary with extra `args` and `env` (e.g. a key file, `SG_LOG=trace`).
pub async fn start_with(
    database_url: &str,
    bootstrap_token: Option<&str>,
    args: &[&str],
    env: &[(&str, &str)],
) -> Running {
    let mut command = Command::new(BIN);
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--database-url", database_url])
        .args(args)
        .env("SG_LOG", "info")
        .envs(env.iter().copied())
        .env_remove("SG_BOOTSTRAP_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(token) = bootstrap_token {
        command.env("SG_BOOTSTRAP_TOKEN", token);
    }
    let mut child = command.spawn().expect("spawn the server");
    let stderr = child.stderr.take().expect("stderr");
    let (log, stderr) = timeout(Duration::from_secs(30), read_until(stderr, |l| l.contains("serving")))
        .await
        .expect("the server starts within 30 s");
    let address = log
        .iter()
        .find_map(|line| line.split("address=").nth(1))
        .map(|rest| rest.split_whitespace().next().unwrap_or_default().to_owned())
        .expect("the log names the address");
    let stderr_task = tokio::spawn(async move {
        let (mut rest, _) = read_until(stderr, |_| false).await;
        let mut all = log;
        all.append(&mut rest);
        all
    });
    Running { child, address, stdout: Vec::new(), stderr_task }
}

pub async fn stop(mut running: Running) -> (std::process::ExitStatus, Vec<String>) {
    let pid = running.child.id().expect("pid").to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().await.expect("kill");
    assert!(killed.success());
    let status =
        timeout(Duration::from_secs(30), running.child.wait()).await.expect("stops within 30 s").expect("wait");
    let log = running.stderr_task.await.expect("log reader");
    (status, log)
}

async fn status_with(address: &str, token: &str) -> u16 {
    reqwest::Client::new()
        .get(format!("http://{address}/api/svc/v1/secret-groups"))
        .bearer_auth(token)
        .send()
        .await
        .expect("GET")
        .status()
        .as_u16()
}

#[tokio::test]
async fn first_start_prints_a_working_token_and_tokens_create_adds_another() {
    let dir = tempfile::tempdir().expect("dir");
    let database_url = format!("sqlite://{}", dir.path().join("fresh.db").display());
    let mut running = start(&database_url, None).await;
    let stdout = running.child.stdout.take().expect("stdout");
    let (printed, _) = timeout(Duration::from_secs(10), read_until(stdout, |l| l.trim_start().starts_with("tfy_sg_")))
        .await
        .expect("the first start prints a token");
    running.stdout = printed;
    let token = running.stdout.last().map(|l| l.trim().to_owned()).expect("token line");
    assert!(secret_groups_server::auth::is_well_formed(&token), "{token}");
    assert_eq!(status_with(&running.address, &token).await, 200);

    // A second token for the admin, created by another process while the server runs.
    let output = Command::new(BIN)
        .args(["tokens", "create", "--email", "admin@localhost", "--name", "ci", "--database-url", &database_url])
        .output()
        .await
        .expect("tokens create");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let second = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    assert!(secret_groups_server::auth::is_well_formed(&second), "{second}");
    assert_ne!(second, token);
    assert_eq!(status_with(&running.address, &second).await, 200);

    let output = Command::new(BIN)
        .args(["tokens", "create", "--email", "nobody@localhost", "--database-url", &database_url])
        .output()
        .await
        .expect("tokens create");
    assert!(!output.status.success(), "a token for an unknown user");
    assert!(String::from_utf8_lossy(&output.stderr).contains("nobody@localhost"));

    let (status, log) = stop(running).await;
    assert!(status.success(), "graceful shutdown exits 0, got {status}");
    let log = log.join("\n");
    assert!(log.contains("shutting down"), "{log}");
    assert!(!log.contains(&token) && !log.contains(&second), "a token reached the log");

    // A restart on the same file bootstraps nothing and keeps the tokens valid.
    let mut again = start(&database_url, None).await;
    assert_eq!(status_with(&again.address, &token).await, 200);
    let stdout = again.child.stdout.take().expect("stdout");
    let (status, _) = stop(again).await;
    assert!(status.success());
    let (printed, _) = read_until(stdout, |_| false).await;
    assert!(printed.iter().all(|l| !l.contains("tfy_sg_")), "a restart printed a token: {printed:?}");
}

#[tokio::test]
async fn a_malformed_bootstrap_token_refuses_to_start() {
    let dir = tempfile::tempdir().expect("dir");
    let database_url = format!("sqlite://{}", dir.path().join("bad.db").display());
    let output = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--database-url", &database_url])
        .env("SG_BOOTSTRAP_TOKEN", "hunter2")
        .output()
        .await
        .expect("run");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("SG_BOOTSTRAP_TOKEN"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "the rejected token was echoed");
}

#[tokio::test]
async fn the_bootstrap_token_from_the_environment_works_and_is_not_printed() {
    let dir = tempfile::tempdir().expect("dir");
    let database_url = format!("sqlite://{}", dir.path().join("env.db").display());
    let token = secret_groups_server::auth::generate_token();
    let mut running = start(&database_url, Some(&token)).await;
    assert_eq!(status_with(&running.address, &token).await, 200);
    let stdout = running.child.stdout.take().expect("stdout");
    let (status, log) = stop(running).await;
    assert!(status.success());
    let (printed, _) = read_until(stdout, |_| false).await;
    assert!(!printed.join("\n").contains(&token) && !log.join("\n").contains(&token));
}

#[tokio::test]
async fn tenants_and_users_are_created_from_the_command_line() {
    let dir = tempfile::tempdir().expect("dir");
    let database_url = format!("sqlite://{}", dir.path().join("ops.db").display());
    let token = secret_groups_server::auth::generate_token();
    let running = start(&database_url, Some(&token)).await;
    let run = |args: Vec<&str>| {
        let mut all = args;
        all.extend(["--database-url", database_url.as_str()]);
        Command::new(BIN).args(all).output()
    };

    let output = run(vec!["tenants", "create", "acme"]).await.expect("tenants create");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let output = run(vec!["tenants", "create", "acme"]).await.expect("tenants create");
    assert!(!output.status.success(), "a second tenant of the same name");
    let output = run(vec!["tenants", "create", "bad:name"]).await.expect("tenants create");
    assert!(!output.status.success(), "a name that would break FQNs");

    let output =
        run(vec!["users", "create", "--email", "boss@acme.test", "--tenant", "acme", "--admin"]).await.expect("users");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let output = run(vec!["users", "create", "--email", "not-an-email", "--tenant", "acme"]).await.expect("users");
    assert!(!output.status.success(), "a user without an e-mail");
    let output = run(vec!["users", "create", "--email", "x@acme.test", "--tenant", "nowhere"]).await.expect("users");
    assert!(!output.status.success(), "a user of a tenant that does not exist");

    let output = run(vec!["tokens", "create", "--email", "boss@acme.test", "--tenant", "acme"]).await.expect("tokens");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let boss = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    // Two tokens in a row get distinct default names.
    let output = run(vec!["tokens", "create", "--email", "boss@acme.test", "--tenant", "acme"]).await.expect("tokens");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));

    let whoami: serde_json::Value = reqwest::Client::new()
        .get(format!("http://{}/api/svc/v1/x/users/info", running.address))
        .bearer_auth(&boss)
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("JSON");
    assert_eq!(whoami["tenantName"], "acme");
    assert_eq!(whoami["subjectSlug"], "boss@acme.test");
    assert_eq!(whoami["roles"], serde_json::json!(["tenant-admin"]));
    assert_eq!(status_with(&running.address, &boss).await, 200);
    let (status, _) = stop(running).await;
    assert!(status.success());
}

#[tokio::test]
async fn a_key_file_created_inside_a_git_work_tree_is_warned_about() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::create_dir(dir.path().join(".git")).expect("a repository");
    let database_url = format!("sqlite://{}", dir.path().join("in-repo.db").display());
    let token = secret_groups_server::auth::generate_token();
    let running = start(&database_url, Some(&token)).await;
    let (status, log) = stop(running).await;
    assert!(status.success());
    let warning = log.iter().find(|l| l.contains("inside a git working tree")).expect("a warning in the log");
    assert!(warning.contains("WARN") && warning.contains("--master-key-file"), "{warning}");

    // Outside a repository, and at a later start inside one, nothing is said.
    let again = start(&database_url, Some(&token)).await;
    let (_, log) = stop(again).await;
    assert!(log.iter().all(|l| !l.contains("git working tree")), "{log:?}");
    let elsewhere = tempfile::tempdir().expect("dir");
    let database_url = format!("sqlite://{}", elsewhere.path().join("plain.db").display());
    let running = start(&database_url, Some(&token)).await;
    let (_, log) = stop(running).await;
    assert!(log.iter().any(|l| l.contains("created a new master key file")), "{log:?}");
    assert!(log.iter().all(|l| !l.contains("git working tree")), "{log:?}");
}
