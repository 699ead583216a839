//! The `secret-groups` command line, as a user runs it: the built binary against the real
//! server binary, on SQLite and on PostgreSQL.
//!
//! These live in the root (client) crate so that cargo builds the CLI for them and hands over
//! its path (`CARGO_BIN_EXE_secret-groups`); the server binary comes from the same
//! `cargo test --workspace`, which builds it for the server's own integration tests.

mod harness;

use std::{os::unix::fs::PermissionsExt as _, time::Duration};

use harness::{Backend, Sg, unique};
use tokio::io::{AsyncBufReadExt as _, BufReader};

/// Values that break naive .env writers and readers.
const AWKWARD: &[(&str, &str)] = &[
    ("SPACES", "  two  spaces  "),
    ("QUOTES", "it's \"quoted\""),
    ("EQUALS", "a=b==c"),
    ("HASH", "x #not a comment"),
    ("NEWLINES", "line 1\nline 2\n"),
    ("CRLF", "windows\r\nline"),
    ("UNICODE", "é ü 日本 🙂"),
    ("BACKSLASH", "C:\\path\\"),
    ("DOLLAR", "${HOME} $PATH"),
    ("EMPTY", ""),
];

async fn versions(sg: &Sg, secret: &str) -> usize {
    let out: serde_json::Value =
        serde_json::from_str(&sg.ok(&["history", secret, "--output", "json"]).await).expect("JSON");
    out["versions"].as_array().expect("versions").len()
}

async fn set_and_unset_keep_other_keys(backend: Backend) {
    let sg = Sg::start(backend).await;
    sg.ok(&["groups", "create", "app", "A=1", "B=2"]).await;
    // A unchanged, C new: only C gets a version; A stays at version 1.
    sg.ok(&["set", "app", "A=1", "C=3"]).await;
    sg.ok(&["set", "app", "B=value-two"]).await;
    assert_eq!(sg.ok(&["get", "app:A"]).await, "1");
    assert_eq!(sg.ok(&["get", "app:B"]).await, "value-two");
    assert_eq!(sg.ok(&["get", "default:app:C"]).await, "3");
    assert_eq!(versions(&sg, "app:A").await, 1);
    assert_eq!(versions(&sg, "app:B").await, 2);
    assert_eq!(versions(&sg, "app:C").await, 1);
    // A value from stdin (one trailing newline dropped).
    let (code, _, err) = sg.sg_with(sg.command(&["set", "app", "D=-"]), Some(b"from stdin\n")).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(sg.ok(&["get", "app:D"]).await, "from stdin");
    sg.ok(&["unset", "app", "C"]).await;
    assert_eq!(sg.ok(&["get", "app"]).await, "A='1'\nB='value-two'\nD='from stdin'\n");
    let json: serde_json::Value = serde_json::from_str(&sg.ok(&["get", "app", "--format", "json"]).await).unwrap();
    assert_eq!(json, serde_json::json!({"A": "1", "B": "value-two", "D": "from stdin"}));
    // Lists never print values.
    let list = sg.ok(&["groups", "list"]).await + &sg.ok(&["groups", "get", "app"]).await;
    assert!(list.contains("default:app") && !list.contains("from stdin") && !list.contains("value-two"), "{list}");
    // Unsetting an unknown key changes nothing and says so.
    let (code, _, err) = sg.sg(&["unset", "app", "A", "NOPE"]).await;
    assert_eq!(code, 1);
    assert!(err.contains("no key NOPE"), "{err}");
    assert_eq!(sg.ok(&["get", "app:A"]).await, "1");
    sg.stop().await;
}

async fn export_import_round_trip(backend: Backend) {
    let sg = Sg::start(backend).await;
    let source: serde_json::Map<String, serde_json::Value> =
        AWKWARD.iter().map(|(k, v)| (k.to_string(), serde_json::Value::from(*v))).collect();
    let json_file = sg.dir.path().join("source.json");
    std::fs::write(&json_file, serde_json::to_string(&source).unwrap()).unwrap();
    sg.ok(&["import", "src", json_file.to_str().unwrap()]).await;
    for (key, value) in AWKWARD {
        assert_eq!(sg.ok(&["get", &format!("src:{key}")]).await, *value, "{key}");
    }
    for format in ["env", "json", "yaml"] {
        let file = sg.dir.path().join(format!("export.{format}"));
        sg.ok(&["export", "src", "--format", format, "-o", file.to_str().unwrap()]).await;
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
        let copy = format!("copy-{format}");
        sg.ok(&["import", &copy, file.to_str().unwrap()]).await;
        let back: serde_json::Value =
            serde_json::from_str(&sg.ok(&["export", &copy, "--format", "json"]).await).unwrap();
        assert_eq!(back, serde_json::Value::Object(source.clone()), "{format}");
    }
    // python-dotenv itself reads the exported .env back exactly.
    let env_file = sg.dir.path().join("export.env");
    let script = "import json,sys; from dotenv import dotenv_values; \
                  print(json.dumps(dotenv_values(sys.argv[1], interpolate=False)))";
    let out = std::process::Command::new(harness::python_with_dotenv())
        .args(["-c", script])
        .arg(&env_file)
        .output()
        .expect("python3");
    assert!(out.status.success(), "python-dotenv: {}", String::from_utf8_lossy(&out.stderr));
    let read: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(read, serde_json::Value::Object(source.clone()));
    sg.stop().await;
}

async fn run_injects_groups_and_references(backend: Backend) {
    let sg = Sg::start(backend).await;
    sg.ok(&["groups", "create", "web", "GREETING=hello world", "SHARED=from-web"]).await;
    sg.ok(&["groups", "create", "db", "PASSWORD=pa ss"]).await;
    let env_file = sg.dir.path().join("local.env");
    std::fs::write(&env_file, "SHARED=from-file\nFROM_FILE='file value'\n").unwrap();
    let mut command = sg.command(&[
        "run",
        "--group",
        "web",
        "--env-file",
        env_file.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        "printf '%s|%s|%s|%s|%s' \"$GREETING\" \"$SHARED\" \"$FROM_FILE\" \"$DB_PASSWORD\" \"$KEEP\"; exit 7",
    ]);
    command.env("DB_PASSWORD", "tfy-secret://default:db:PASSWORD").env("KEEP", "untouched");
    let (code, out, err) = sg.sg_with(command, None).await;
    assert_eq!(code, 7, "{err}");
    assert_eq!(out, "hello world|from-web|file value|pa ss|untouched");
    sg.stop().await;
}

async fn run_masks_values(backend: Backend) {
    let sg = Sg::start(backend).await;
    sg.ok(&["groups", "create", "mask", "TOKEN=very-secret-token", "OTHER=hunter2"]).await;
    let mut command = sg.command(&[
        "run",
        "--mask",
        "--group",
        "mask",
        "--",
        "sh",
        "-c",
        "printf 'token=%s ref=%s\\n' \"$TOKEN\" \"$REF\"; printf 'err %s' \"$OTHER\" >&2",
    ]);
    command.env("REF", "tfy-secret://default:mask:OTHER");
    let (code, out, err) = sg.sg_with(command, None).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "token=***** ref=*****\n");
    assert_eq!(err, "err *****");
    sg.stop().await;
}

async fn run_forwards_sigterm(backend: Backend) {
    let sg = Sg::start(backend).await;
    let script = "trap 'echo got-term; exit 42' TERM; echo ready; while true; do sleep 0.1; done";
    for (trap, expected) in [(true, 42), (false, 128 + libc_sigterm())] {
        let body = if trap { script.to_owned() } else { "echo ready; exec sleep 600".to_owned() };
        let mut command = sg.command(&["run", "--", "sh", "-c", &body]);
        let mut child = command.spawn().expect("start run");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await.expect("ready in 30 s");
        assert_eq!(ready.unwrap().as_deref(), Some("ready"));
        let pid = child.id().expect("pid").to_string();
        assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let status = tokio::time::timeout(Duration::from_secs(30), child.wait()).await.expect("ends in 30 s").unwrap();
        assert_eq!(status.code(), Some(expected), "trap {trap}");
    }
    sg.stop().await;
}

fn libc_sigterm() -> i32 {
    15
}

async fn inject_renders_template(backend: Backend) {
    let sg = Sg::start(backend).await;
    sg.ok(&["groups", "create", "cfg", "USER=app", "PASS=p@ss \"w0rd\""]).await;
    let template = sg.dir.path().join("config.tmpl");
    std::fs::write(
        &template,
        "user={{ tfy-secret://default:cfg:USER }}\npass={{tfy-secret://default:cfg:PASS}}\nkeep={{ other }}\n",
    )
    .unwrap();
    let out_file = sg.dir.path().join("config.ini");
    sg.ok(&["inject", "-i", template.to_str().unwrap(), "-o", out_file.to_str().unwrap()]).await;
    assert_eq!(std::fs::read_to_string(&out_file).unwrap(), "user=app\npass=p@ss \"w0rd\"\nkeep={{ other }}\n");
    assert_eq!(std::fs::metadata(&out_file).unwrap().permissions().mode() & 0o777, 0o600);
    // A malformed reference fails and writes nothing.
    std::fs::write(&template, "x={{ tfy-secret://cfg:USER }}\n").unwrap();
    let other = sg.dir.path().join("other.ini");
    let (code, _, err) = sg.sg(&["inject", "-i", template.to_str().unwrap(), "-o", other.to_str().unwrap()]).await;
    assert_eq!(code, 1);
    assert!(err.contains("malformed reference `tfy-secret://cfg:USER`"), "{err}");
    assert!(!other.exists());
    sg.stop().await;
}

async fn errors_are_clear(backend: Backend) {
    let sg = Sg::start(backend).await;
    sg.ok(&["groups", "create", "errs", "K=v"]).await;
    // A wrong token.
    let mut command = sg.command(&["get", "errs:K"]);
    command.env("SG_TOKEN", format!("sgt_{}", "x".repeat(43)));
    let (code, out, err) = sg.sg_with(command, None).await;
    assert_eq!((code, out.as_str()), (1, ""));
    assert!(err.contains("HTTP 401") && err.contains("secret-groups login"), "{err}");
    // An unknown group.
    let (code, _, err) = sg.sg(&["get", "nope"]).await;
    assert_eq!(code, 1);
    assert!(err.contains("no group nope in tenant default") && err.contains("secret-groups groups list"), "{err}");
    let (code, _, err) = sg.sg(&["get", "errs:MISSING"]).await;
    assert_eq!(code, 1);
    assert!(err.contains("no key MISSING in group default:errs"), "{err}");
    // A malformed reference in the environment of `run`: the command never starts.
    let mut command = sg.command(&["run", "--", "sh", "-c", "echo started"]);
    command.env("BROKEN", "tfy-secret://errs:K");
    let (code, out, err) = sg.sg_with(command, None).await;
    assert_eq!((code, out.as_str()), (1, ""));
    assert!(err.contains("variable BROKEN") && err.contains("malformed reference"), "{err}");
    // Usage errors exit 2.
    let (code, _, err) = sg.sg(&["set", "bad:name:x:y", "A=1"]).await;
    assert_eq!(code, 2, "{err}");
    let (code, _, _) = sg.sg(&["set", "errs", "not-a-pair"]).await;
    assert_eq!(code, 2);
    let (code, _, _) = sg.sg(&["frobnicate"]).await;
    assert_eq!(code, 2);
    sg.stop().await;
}

async fn login_profile_and_environment(backend: Backend) {
    let sg = Sg::start(backend).await;
    let mut command = sg.command(&["login", "--url", &sg.url, "--profile", "work"]);
    command.env_remove("SG_TOKEN").env_remove("SG_URL");
    let (code, _, err) = sg.sg_with(command, Some(format!("{}\n", sg.token).as_bytes())).await;
    assert_eq!(code, 0, "{err}");
    let file = sg.dir.path().join("config/secret-groups/config.toml");
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    // The profile alone is enough.
    let mut command = sg.command(&["groups", "list", "--output", "json"]);
    command.env_remove("SG_TOKEN").env_remove("SG_URL").env("SG_PROFILE", "work");
    let (code, out, err) = sg.sg_with(command, None).await;
    assert_eq!((code, out.trim()), (0, "[]"), "{err}");
    // The environment beats the profile.
    let mut command = sg.command(&["groups", "list", "--profile", "work"]);
    command.env_remove("SG_URL").env("SG_TOKEN", format!("sgt_{}", "y".repeat(43)));
    let (code, _, err) = sg.sg_with(command, None).await;
    assert_eq!(code, 1);
    assert!(err.contains("HTTP 401"), "{err}");
    // A wrong token is refused at login and nothing is saved.
    let mut command = sg.command(&["login", "--url", &sg.url, "--profile", "bad"]);
    command.env_remove("SG_TOKEN");
    let (code, _, _) = sg.sg_with(command, Some(b"sgt_wrong\n")).await;
    assert_eq!(code, 1);
    assert!(!std::fs::read_to_string(&file).unwrap().contains("bad"));
    sg.stop().await;
}

on_both_backends!(
    set_and_unset_keep_other_keys,
    export_import_round_trip,
    run_injects_groups_and_references,
    run_masks_values,
    run_forwards_sigterm,
    inject_renders_template,
    errors_are_clear,
    login_profile_and_environment,
);

#[test]
fn completions_and_help() {
    for shell in ["bash", "zsh", "fish"] {
        let out = std::process::Command::new(harness::CLI).args(["completions", shell]).output().unwrap();
        assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("secret-groups"), "{shell}");
    }
    let _ = unique("x");
    for command in [&["--help"][..], &["run", "--help"], &["groups", "create", "--help"], &["inject", "--help"]] {
        let out = std::process::Command::new(harness::CLI).args(command).output().unwrap();
        assert!(out.status.success(), "{command:?}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("Usage"), "{command:?}");
    }
}
