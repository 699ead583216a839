//! Starts the real `secret-groups-server` binary (built by the same `cargo test --workspace`,
//! found beside the `secret-groups` binary, or `SG_SERVER_BIN`) on a fresh SQLite file or a
//! fresh PostgreSQL database, and runs the real `secret-groups` binary against it.

use std::{
    path::{Path, PathBuf},
    process::{Output, Stdio},
    time::Duration,
};

use sqlx::{Connection as _, Executor as _};
use tokio::{
    io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader},
    process::{Child, Command},
    time::timeout,
};

pub const CLI: &str = env!("CARGO_BIN_EXE_secret-groups");

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

fn server_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("SG_SERVER_BIN") {
        return PathBuf::from(bin);
    }
    let bin = Path::new(CLI).with_file_name("secret-groups-server");
    assert!(
        bin.exists(),
        "{} does not exist: run `cargo test --workspace` (which builds it) or set SG_SERVER_BIN",
        bin.display()
    );
    bin
}

fn postgres_base_url() -> String {
    std::env::var("SG_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

async fn admin_execute(sql: &str) {
    let url = format!("{}/test", postgres_base_url());
    let mut conn = sqlx::PgConnection::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL is required for these tests ({url}): {e}"));
    conn.execute(sqlx::AssertSqlSafe(sql.to_owned())).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    let _ = conn.close().await;
}

/// A fresh, unique, lower-case name (no UUID crate among the client's dev-dependencies).
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("{prefix}{}x{}x{}", std::process::id(), nanos % 1_000_000_000, COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// A running server plus a home for the CLI's profile file.
pub struct Sg {
    pub url: String,
    pub token: String,
    server: Child,
    postgres_database: Option<String>,
    pub dir: tempfile::TempDir,
}

impl Sg {
    pub async fn start(backend: Backend) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let token = format!("sgt_{:A<43}", unique("cli"));
        let mut command = Command::new(server_bin());
        command.args(["serve", "--listen", "127.0.0.1:0"]);
        let postgres_database = match backend {
            Backend::Sqlite => {
                command.arg("--database-url").arg(format!("sqlite://{}", dir.path().join("test.db").display()));
                None
            }
            Backend::Postgres => {
                let name = unique("sg_cli_test_");
                admin_execute(&format!("CREATE DATABASE {name}")).await;
                command.arg("--database-url").arg(format!("{}/{name}", postgres_base_url()));
                command.arg("--master-key-file").arg(dir.path().join("postgres.master-key"));
                Some(name)
            }
        };
        command
            .env("SG_LOG", "info")
            .env("SG_BOOTSTRAP_TOKEN", &token)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut server = command.spawn().expect("start secret-groups-server");
        let stderr = server.stderr.take().expect("stderr");
        let url = timeout(Duration::from_secs(60), async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if line.contains("serving")
                    && let Some(rest) = line.split("address=").nth(1)
                {
                    let address = rest.split_whitespace().next().unwrap_or_default().to_owned();
                    // Keep draining the log so the server never blocks on a full pipe.
                    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
                    return format!("http://{address}");
                }
            }
            panic!("the server stopped before serving");
        })
        .await
        .expect("the server starts within 60 s");
        Self { url, token, server, postgres_database, dir }
    }

    /// `secret-groups ARGS` with this server's URL and token in the environment.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(CLI);
        command
            .args(args)
            .env("SG_URL", &self.url)
            .env("SG_TOKEN", &self.token)
            .env("XDG_CONFIG_HOME", self.dir.path().join("config"))
            .env_remove("SG_PROFILE")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    }

    pub async fn output(&self, mut command: Command, stdin: Option<&[u8]>) -> Output {
        if stdin.is_some() {
            command.stdin(Stdio::piped());
        }
        let mut child = command.spawn().expect("start secret-groups");
        if let (Some(bytes), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(bytes).await.expect("write stdin");
        }
        timeout(Duration::from_secs(60), child.wait_with_output())
            .await
            .expect("the CLI ends within 60 s")
            .expect("output")
    }

    /// Runs the CLI; returns (exit code, stdout, stderr).
    pub async fn sg(&self, args: &[&str]) -> (i32, String, String) {
        self.sg_with(self.command(args), None).await
    }

    pub async fn sg_with(&self, command: Command, stdin: Option<&[u8]>) -> (i32, String, String) {
        let out = self.output(command, stdin).await;
        let text = |b: Vec<u8>| String::from_utf8(b).expect("UTF-8 output");
        (out.status.code().unwrap_or(-1), text(out.stdout), text(out.stderr))
    }

    /// Runs the CLI, expects success, returns stdout.
    pub async fn ok(&self, args: &[&str]) -> String {
        let (code, stdout, stderr) = self.sg(args).await;
        assert_eq!(code, 0, "secret-groups {args:?} failed: {stderr}");
        stdout
    }

    pub async fn stop(mut self) {
        let _ = self.server.kill().await;
        if let Some(name) = self.postgres_database.take() {
            admin_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
        }
    }
}

/// The python-dotenv the export test reads files with.
pub const PYTHON_DOTENV: &str = "python-dotenv==1.2.2";

/// A Python with [`PYTHON_DOTENV`], in a virtual environment under cargo's temporary directory
/// for tests (created, and the package installed, on first use; then reused).
pub fn python_with_dotenv() -> PathBuf {
    static PYTHON: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PYTHON
        .get_or_init(|| {
            let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli-python-dotenv");
            let python = venv.join("bin/python");
            let ready = |python: &Path| {
                std::process::Command::new(python)
                    .args([
                        "-c",
                        "import dotenv, importlib.metadata as m; assert m.version('python-dotenv') == '1.2.2'",
                    ])
                    .status()
                    .is_ok_and(|s| s.success())
            };
            if !ready(&python) {
                let run = |program: &Path, args: &[&str]| {
                    let status = std::process::Command::new(program).args(args).status();
                    assert!(status.is_ok_and(|s| s.success()), "{} {args:?} failed", program.display());
                };
                run(Path::new("python3"), &["-m", "venv", venv.to_str().expect("UTF-8 path")]);
                run(&python, &["-m", "pip", "install", "--quiet", "--disable-pip-version-check", PYTHON_DOTENV]);
            }
            python
        })
        .clone()
}
