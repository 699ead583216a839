#!/usr/bin/env bash
# SDK compatibility suite: drives TrueFoundry's official Python SDK
# (truefoundry-sdk, pinned in tests/sdk/requirements.txt), unmodified, against the
# real secret-groups server, once on SQLite and once on PostgreSQL.
#
# Usage: scripts/sdk-tests.sh [extra pytest args, e.g. -k delete]
#
# It also runs the TrueFoundry CLI suite (tests/tfy, `tfy` from PyPI `truefoundry`) when
# SG_SUITE=tfy, which is what scripts/tfy-cli-tests.sh does: the same venv handling, server
# start, backends and log checks, with tests/<suite>/requirements.txt in target/<suite>-venv.
#
# Environment:
#   SG_SUITE              `sdk` (default: tests/sdk) or `tfy` (tests/tfy)
#   SG_SERVER_BIN         use this server binary instead of building it with cargo
#   SG_TEST_POSTGRES_URL  PostgreSQL base URL without database
#                         (default postgres://postgres@127.0.0.1:5432); a database
#                         `test` must exist there to connect to. PostgreSQL is
#                         required: if it is unreachable the run fails.
#
# Each backend gets a fresh database, a free port, a fresh random bootstrap token
# and its own server log under target/sdk-logs/. The run fails if any test fails
# or if the server log contains the token or any secret value the tests used
# (they all contain the marker `sdk-secret-`).
#
# Besides SG_URL and SG_TOKEN, pytest gets SG_SERVER_BIN (absolute path of the server
# binary) and SG_DATABASE_URL (the database the server runs on), so tests can create
# users and tokens with the operator CLI (`users create`, `tokens create`).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SUITE="${SG_SUITE:-sdk}"
case "$SUITE" in
  sdk) SUITE_LABEL="sdk suite" ;;
  tfy) SUITE_LABEL="tfy cli suite" ;;
  *) echo "error: SG_SUITE must be sdk or tfy, not $SUITE" >&2; exit 2 ;;
esac
VENV="$ROOT/target/$SUITE-venv"
REQUIREMENTS="$ROOT/tests/$SUITE/requirements.txt"
LOG_DIR="$ROOT/target/$SUITE-logs"
PG_BASE="${SG_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432}"
PG_BASE="${PG_BASE%/}"
SECRET_MARKER="sdk-secret-"
READY_TIMEOUT_S=30

PYTEST_ARGS=("$@")

log() { printf '==> %s\n' "$*" >&2; }

# ------------------------------------------------------------------ state for cleanup
SERVER_PID=""
PG_DB=""
SQLITE_DIR=""

stop_server() {
  if [[ -n "$SERVER_PID" ]]; then
    if kill -0 "$SERVER_PID" 2>/dev/null; then
      kill -TERM "$SERVER_PID" 2>/dev/null || true
      for _ in $(seq 1 50); do
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
      done
      kill -KILL "$SERVER_PID" 2>/dev/null || true
    fi
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
  fi
}

drop_pg_db() {
  if [[ -n "$PG_DB" ]]; then
    psql "$PG_BASE/test" -v ON_ERROR_STOP=1 -qAt \
      -c "DROP DATABASE IF EXISTS \"$PG_DB\" WITH (FORCE)" >/dev/null 2>&1 \
      || log "warning: could not drop PostgreSQL database $PG_DB"
    PG_DB=""
  fi
}

remove_sqlite_dir() {
  if [[ -n "$SQLITE_DIR" ]]; then
    rm -rf -- "$SQLITE_DIR"
    SQLITE_DIR=""
  fi
}

cleanup() {
  stop_server
  drop_pg_db
  remove_sqlite_dir
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------------ venv
ensure_venv() {
  local want have=""
  want="$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)"
  if [[ -f "$VENV/.requirements.sha256" ]]; then
    have="$(cat "$VENV/.requirements.sha256")"
  fi
  if [[ "$want" == "$have" && -x "$VENV/bin/python" ]]; then
    return 0
  fi
  log "creating Python venv $VENV from tests/$SUITE/requirements.txt"
  rm -rf -- "$VENV"
  mkdir -p "$(dirname "$VENV")"
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$REQUIREMENTS"
  printf '%s\n' "$want" >"$VENV/.requirements.sha256"
}

# ------------------------------------------------------------------ server binary
resolve_server_bin() {
  # An absolute path: pytest runs from $ROOT and calls the binary (operator CLI).
  SERVER_BIN="$("$ROOT/scripts/server-bin.sh")"
}

# ------------------------------------------------------------------ helpers
free_port() {
  "$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

new_token() {
  "$VENV/bin/python" -c 'import secrets; print("tfy_sg_" + secrets.token_urlsafe(32))'
}

is_ready() {
  "$VENV/bin/python" - "$1" <<'PY' 2>/dev/null
import sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1] + "/readyz", timeout=2) as r:
        sys.exit(0 if r.status == 200 else 1)
except Exception:
    sys.exit(1)
PY
}

show_log_tail() {
  local logfile="$1"
  echo "----- last 80 lines of $logfile -----" >&2
  tail -n 80 "$logfile" >&2 || true
  echo "----- end of server log -----" >&2
}

# run_backend NAME DATABASE_URL: prints nothing on stdout, returns 0 when the suite
# passed and the log is clean. Written without relying on `set -e` (it is called
# in a `||` context, where errexit is off).
FAIL_REASON=""
run_backend() {
  local backend="$1" db_url="$2"
  local port token logfile url deadline rc
  FAIL_REASON=""

  port="$(free_port)" || { FAIL_REASON="could not pick a free port"; return 1; }
  token="$(new_token)" || { FAIL_REASON="could not make a token"; return 1; }
  logfile="$LOG_DIR/$backend-$(date +%Y%m%d-%H%M%S).log"
  url="http://127.0.0.1:$port"

  # The master key file, created on the first start; the operator CLI the tests run finds it
  # through the same variable.
  export SG_MASTER_KEY_FILE="$SQLITE_DIR/$backend.master-key"
  rm -f "$SG_MASTER_KEY_FILE"

  log "[$backend] starting server on $url (log: ${logfile#"$ROOT"/})"
  SG_BOOTSTRAP_TOKEN="$token" "$SERVER_BIN" serve --listen "127.0.0.1:$port" --database-url "$db_url" \
    >"$logfile" 2>&1 </dev/null &
  SERVER_PID=$!

  deadline=$((SECONDS + READY_TIMEOUT_S))
  until is_ready "$url"; do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      wait "$SERVER_PID" 2>/dev/null; rc=$?
      SERVER_PID=""
      FAIL_REASON="server exited during startup (status $rc)"
      show_log_tail "$logfile"
      return 1
    fi
    if ((SECONDS >= deadline)); then
      FAIL_REASON="server not ready after ${READY_TIMEOUT_S}s"
      stop_server
      show_log_tail "$logfile"
      return 1
    fi
    sleep 0.2
  done

  log "[$backend] running pytest"
  rc=0
  (
    cd "$ROOT" &&
      SG_URL="$url" SG_TOKEN="$token" SG_SERVER_BIN="$SERVER_BIN" SG_DATABASE_URL="$db_url" \
        PYTHONDONTWRITEBYTECODE=1 \
        "$VENV/bin/python" -m pytest "tests/$SUITE" -q -p no:cacheprovider "${PYTEST_ARGS[@]}"
  ) || rc=$?

  local alive=1
  kill -0 "$SERVER_PID" 2>/dev/null || alive=0
  stop_server

  if ((rc != 0)); then
    FAIL_REASON="pytest exited with status $rc"
    ((alive)) || FAIL_REASON="$FAIL_REASON; the server died during the run"
    show_log_tail "$logfile"
    return 1
  fi
  if ((!alive)); then
    FAIL_REASON="the server died during the run"
    show_log_tail "$logfile"
    return 1
  fi

  # secrets must never reach the log
  local leaks=()
  grep -qF -- "${token#tfy_sg_}" "$logfile" && leaks+=("the bearer token")
  grep -qF -- "$SECRET_MARKER" "$logfile" && leaks+=("secret values (marker '$SECRET_MARKER')")
  if ((${#leaks[@]} > 0)); then
    FAIL_REASON="server log leaks: ${leaks[*]} (see ${logfile#"$ROOT"/})"
    grep -nF -e "$SECRET_MARKER" "$logfile" | head -n 5 | sed 's/^/    leak: /' >&2 || true
    return 1
  fi
  return 0
}

# ------------------------------------------------------------------ main
ensure_venv
resolve_server_bin
mkdir -p "$LOG_DIR"

declare -A RESULT

# SQLite: a fresh file in a fresh temporary directory
SQLITE_DIR="$(mktemp -d "${TMPDIR:-/tmp}/sg-$SUITE-sqlite.XXXXXX")"
if run_backend sqlite "sqlite://$SQLITE_DIR/$SUITE-tests.db"; then
  RESULT[sqlite]="passed"
else
  RESULT[sqlite]="failed ($FAIL_REASON)"
fi
remove_sqlite_dir

# PostgreSQL: a fresh database, dropped afterwards. Not skippable.
PG_NAME="sg_${SUITE}_$(date +%s)_$$_$RANDOM"
pg_err=""
if ! pg_err="$(psql "$PG_BASE/test" -v ON_ERROR_STOP=1 -qAt -c "CREATE DATABASE \"$PG_NAME\"" 2>&1)"; then
  echo "error: PostgreSQL is not reachable at $PG_BASE (could not create a database through" \
    "'psql $PG_BASE/test'): $pg_err" >&2
  echo "error: the PostgreSQL run is required; start PostgreSQL or set SG_TEST_POSTGRES_URL." >&2
  RESULT[postgres]="failed (PostgreSQL unreachable at $PG_BASE)"
else
  PG_DB="$PG_NAME"
  if run_backend postgres "$PG_BASE/$PG_DB"; then
    RESULT[postgres]="passed"
  else
    RESULT[postgres]="failed ($FAIL_REASON)"
  fi
  drop_pg_db
fi

status=0
for backend in sqlite postgres; do
  echo "$SUITE_LABEL ($backend): ${RESULT[$backend]}"
  [[ "${RESULT[$backend]}" == "passed" ]] || status=1
done
exit "$status"
