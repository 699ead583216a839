//! Starts the real server for a test and tears it down.
//!
//! SQLite: a fresh file in a temporary directory. PostgreSQL: a fresh database per test on the
//! server at `SG_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432`), dropped at
//! the end. PostgreSQL is required: a test that cannot reach it fails rather than skipping,
//! so CI can never pass without having run both backends.

use std::net::SocketAddr;

use secret_groups_client::Client;
use secret_groups_server::{
    api, auth, authz,
    config::{DatabaseArgs, ServeArgs},
    sensitive::SecretString,
    server,
    state::AppState,
    store::{identity, tokens},
};
use sqlx::{Connection as _, Executor as _};
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Generates `mod NAME { sqlite(), postgres() }` tests that call `NAME(Backend)`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            use $crate::harness::Backend;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(Backend::Sqlite).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(Backend::Postgres).await;
            }
        }
    )*};
}

/// The servers' token cache TTL: the bound within which a change made behind a server's back
/// (SQL, the CLI, another replica) takes effect.
pub const TOKEN_CACHE_TTL_MS: u64 = 1000;

pub fn postgres_base_url() -> String {
    std::env::var("SG_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

pub struct TestServer {
    pub base_url: String,
    /// The bootstrap admin's token in tenant `default`.
    pub token: String,
    pub state: AppState,
    /// What the server was started with (database URL, key file), for restarts and the CLI.
    pub args: ServeArgs,
    postgres_database: Option<String>,
    _dir: tempfile::TempDir,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl TestServer {
    /// A server with the default failed-authentication limit (20 per minute per address).
    pub async fn start(backend: Backend) -> Self {
        Self::start_with_auth_limit(backend, 20).await
    }

    /// A server whose failed-authentication limit is `limit` (0: off), for tests that fail
    /// authentication on purpose more often than a client would.
    pub async fn start_with_auth_limit(backend: Backend, limit: u32) -> Self {
        Self::start_with(backend, |args| args.auth_failure_limit = limit).await
    }

    /// A server started with the default settings as changed by `configure`.
    pub async fn start_with(backend: Backend, configure: impl FnOnce(&mut ServeArgs)) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let (database_url, postgres_database) = match backend {
            Backend::Sqlite => (format!("sqlite://{}", dir.path().join("test.db").display()), None),
            Backend::Postgres => {
                let name = format!("sg_test_{}", uuid_simple());
                admin_execute(&format!("CREATE DATABASE {name}")).await;
                (format!("{}/{name}", postgres_base_url()), Some(name))
            }
        };
        let token = auth::generate_token();
        let mut database = DatabaseArgs::url(database_url);
        // SQLite finds (creates) its key file beside the database; PostgreSQL gets one named.
        if backend == Backend::Postgres {
            database.master_key_file = Some(dir.path().join("postgres.master-key"));
        }
        let mut args = ServeArgs {
            listen: "127.0.0.1:0".parse().expect("address"),
            database,
            tenant: "default".to_owned(),
            admin_email: "admin@localhost".to_owned(),
            bootstrap_token: Some(SecretString::new(token.clone())),
            integration_id: "internal-secret-store".to_owned(),
            integration_fqn: "internal:secret-store:internal-secret-store".to_owned(),
            auth_failure_limit: 20,
            token_cache_ttl_ms: TOKEN_CACHE_TTL_MS,
            list_timeout_ms: 10_000,
            trusted_proxies: Default::default(),
            connections: Default::default(),
            metrics: Default::default(),
            audit: Default::default(),
        };
        configure(&mut args);
        let mut server = Self {
            base_url: String::new(),
            token,
            state: server::prepare(&args).await.expect("server state"),
            args,
            postgres_database,
            _dir: dir,
            shutdown: None,
            task: None,
        };
        server.serve().await;
        server
    }

    /// Serves `self.state` on a new port.
    async fn serve(&mut self) {
        let listener = TcpListener::bind(self.args.listen).await.expect("bind 127.0.0.1:0");
        let address: SocketAddr = listener.local_addr().expect("local address");
        let (shutdown, stopped) = oneshot::channel::<()>();
        // The server's own accept loop (connection limits, timeouts, lingering close), as the
        // binary serves.
        let (app, limits) = (api::app(self.state.clone()), self.args.connections.clone());
        let task = tokio::spawn(async move {
            let stopped = async {
                let _ = stopped.await;
            };
            secret_groups_server::conn::serve(listener, app, &limits, stopped).await.expect("server runs");
        });
        self.base_url = format!("http://{address}");
        self.shutdown = Some(shutdown);
        self.task = Some(task);
    }

    /// A second server on the same database and keys, as another replica would be; stopping
    /// it leaves the database to this one.
    pub async fn replica(&self) -> TestServer {
        let mut replica = Self {
            base_url: String::new(),
            token: self.token.clone(),
            state: server::prepare(&self.args).await.expect("replica state"),
            args: self.args.clone(),
            postgres_database: None,
            _dir: tempfile::tempdir().expect("temporary directory"),
            shutdown: None,
            task: None,
        };
        replica.serve().await;
        replica
    }

    /// Stops serving and starts again on the same database and keys, as a restarted process
    /// would: migrations, key checks and start-up conversions run again.
    pub async fn restart(&mut self) {
        self.halt().await;
        self.state = server::prepare(&self.args).await.expect("server state after restart");
        self.serve().await;
    }

    /// Stops serving and closes the database, keeping it and the keys: for a server process
    /// started on `self.args` (e.g. one to be killed), after which `restart()` serves it here.
    pub async fn halt(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        self.state.db.close().await;
    }

    /// The directory holding the SQLite file and key files.
    pub fn dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    /// `--database-url` and `--master-key-file` for the operator CLI on this server's store.
    pub fn cli_store_args(&self) -> Vec<String> {
        let mut args = vec!["--database-url".to_owned(), self.args.database.database_url.clone()];
        if let Some(file) = &self.args.database.master_key_file {
            args.extend(["--master-key-file".to_owned(), file.display().to_string()]);
        }
        args
    }

    /// The generated client, authenticated as the bootstrap admin.
    pub fn client(&self) -> Client {
        self.client_with(&self.token)
    }

    pub fn client_with(&self, token: &str) -> Client {
        Client::with_token(&self.base_url, token).expect("client")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// A plain HTTP client, for what the typed client cannot send (bad JSON, odd headers).
    pub fn http(&self) -> reqwest::Client {
        reqwest::Client::new()
    }

    /// A second tenant with its own admin; returns that admin's token.
    pub async fn other_tenant(&self, name: &str) -> String {
        let db = &self.state.db;
        let tenant = identity::create_tenant(db, name).await.expect("tenant");
        identity::create_user(db, &tenant.id, "admin@other", identity::ROLE_TENANT_ADMIN).await.expect("user");
        self.token_for(name, "admin@other").await
    }

    /// A new user of `tenant` (a member, or an admin) and a token for them.
    pub async fn user(&self, tenant: &str, email: &str, admin: bool) -> String {
        let db = &self.state.db;
        let tenant_row = identity::tenant_by_name(db, tenant).await.expect("tenant");
        let role = if admin { identity::ROLE_TENANT_ADMIN } else { identity::ROLE_TENANT_MEMBER };
        identity::create_user(db, &tenant_row.id, email, role).await.expect("user");
        self.token_for(tenant, email).await
    }

    /// A new token for an existing user.
    pub async fn token_for(&self, tenant: &str, email: &str) -> String {
        let token = auth::generate_token();
        let tenant = identity::tenant_by_name(&self.state.db, tenant).await.expect("tenant");
        let name = format!("t{}", &uuid_simple()[..12]);
        // The harness seeds as the operator would, at the console.
        let grant = authz::operator_issues_token(&tenant.id, email);
        tokens::create_pat(&self.state.db, &grant, &name, &self.state.keys.hash_token(&token), None)
            .await
            .expect("token");
        token
    }

    /// Creates `groups` groups `<prefix>-<i>` of `keys` keys each over the API, 16 at a time.
    pub async fn seed(&self, prefix: &str, groups: usize, keys: usize) {
        use futures::StreamExt as _;
        let http = self.http();
        let mut pending = futures::stream::iter(0..groups)
            .map(|i| {
                let secrets: Vec<_> =
                    (0..keys).map(|k| serde_json::json!({"key": format!("KEY_{k}"), "value": "v"})).collect();
                let body = serde_json::json!({
                    "name": format!("{prefix}-{i}"), "integrationId": "internal-secret-store", "secrets": secrets
                });
                let request = http.post(self.url("/api/svc/v1/secret-groups")).bearer_auth(&self.token).json(&body);
                async move { request.send().await.expect("create").status().as_u16() }
            })
            .buffer_unordered(16);
        while let Some(status) = pending.next().await {
            assert_eq!(status, 200);
        }
    }

    /// Stops the server and removes its database.
    pub async fn stop(mut self) {
        self.halt().await;
        if let Some(name) = self.postgres_database.take() {
            admin_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
        }
    }
}

fn uuid_simple() -> String {
    auth::generate_token()[auth::TOKEN_PREFIX.len()..].to_ascii_lowercase().replace(['-', '_'], "x")[..24].to_owned()
}

/// A new master key, base64 (what `SG_MASTER_KEY` takes).
pub fn random_master_key() -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(*secret_groups_server::crypto::random_key())
}

pub async fn admin_execute(sql: &str) {
    let url = format!("{}/test", postgres_base_url());
    let mut conn = sqlx::PgConnection::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL is required for these tests ({url}): {e}"));
    conn.execute(sqlx::AssertSqlSafe(sql.to_owned())).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    let _ = conn.close().await;
}

// ---- helpers over the generated client ----

use secret_groups_client::types;

/// A unique name for a group, so tests sharing a database never collide.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", &uuid_simple()[..10])
}

pub fn secret_input(key: &str, value: &str) -> types::SecretInput {
    types::SecretInput { key: key.parse().expect("valid key"), value: value.parse().expect("valid value") }
}

pub fn update_input(key: &str, value: Option<&str>) -> types::UpdateSecretInput {
    types::UpdateSecretInput {
        key: key.parse().expect("valid key"),
        value: value.map(|v| v.parse().expect("valid value")),
    }
}

pub async fn create_group(client: &Client, name: &str, secrets: &[(&str, &str)]) -> types::SecretGroup {
    client
        .create_secret_group()
        .body(types::CreateSecretGroupRequest {
            name: name.parse().expect("valid name"),
            integration_id: "internal-secret-store".parse().expect("valid id"),
            secrets: secrets.iter().map(|(k, v)| secret_input(k, v)).collect(),
        })
        .send()
        .await
        .expect("create succeeds")
        .into_inner()
        .data
}

pub async fn get_secret(client: &Client, id: &str) -> types::Secret {
    client.get_secret().id(id).send().await.expect("get secret succeeds").into_inner().data
}

/// The status and `HttpError` body of a call that must fail with a declared error status.
pub fn expect_error<T: std::fmt::Debug>(
    result: Result<progenitor_client::ResponseValue<T>, progenitor_client::Error<types::HttpError>>,
) -> (u16, types::HttpError) {
    match result {
        Err(progenitor_client::Error::ErrorResponse(response)) => {
            let status = response.status().as_u16();
            let body = response.into_inner();
            assert_eq!(i64::from(body.status_code), i64::from(status), "statusCode repeats the status");
            (status, body)
        }
        other => panic!("expected an error answer, got {other:?}"),
    }
}

/// Status and JSON body of a raw request.
pub async fn json_of(response: reqwest::Response) -> (u16, serde_json::Value) {
    let status = response.status().as_u16();
    let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    assert!(content_type.starts_with("application/json"), "JSON answer expected, got {content_type:?}");
    (status, response.json().await.expect("JSON body"))
}

/// Asserts a raw answer is the documented error: status, HttpError shape, code.
pub async fn assert_http_error(response: reqwest::Response, status: u16, code: &str) -> serde_json::Value {
    let (actual, body) = json_of(response).await;
    assert_eq!(actual, status, "{body}");
    assert_eq!(body["statusCode"], status, "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    assert_eq!(body["code"], code, "{body}");
    body
}
