#!/usr/bin/env bash
# Throughput/latency benchmark of the secret-groups server (issue 6, part 1). Why it exists: to
# see what each kind of request costs next to the server's ceiling (GET /healthz) on realistic
# data, on SQLite or PostgreSQL, and to keep the figures per commit. It builds the release
# binary, starts it on a fresh database, seeds it (scripts/bench/seed.py), drives each scenario
# with wrk over loopback (scripts/bench/scenarios.lua), samples the server's RSS, and reports
# (scripts/bench/report.py). Run `scripts/bench.sh --help` for the options.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH="$ROOT/scripts/bench"
ALL_SCENARIOS=(ceiling get-secret get-secret-audit-off list-groups list-secrets-values list-offset-0 list-offset-90pct
  create-group update-group)

usage() {
  cat <<EOF
Usage: scripts/bench.sh [options]

Builds the release server, starts it on a fresh database, seeds it, and runs every scenario
with wrk (-t THREADS -c CONNECTIONS --latency) over loopback. Prints a Markdown table and writes
it, with a JSON document (git sha, date, backend, data size, wrk parameters, nproc, numbers),
to OUT/results-<git short sha>-<backend>[-<size>].{md,json} (the size suffix only for a
non-default data size).

Data (default 1,000 groups x 20 secrets x 3 versions; the create is version 1, then two PUTs
change every value), plus 64 groups of 20 secrets reserved for update-group:
  --groups N              groups to seed (default 1000)
  --secrets-per-group M   secrets per group (default 20)
  --versions V            versions per secret (default 3)
  --large                 100,000 groups x 10 secrets = 1M secrets x 3 versions (10 per group
                          to keep 1M secrets within 100k groups). Seeding runs at ~60 groups/s
                          on 2 cores, so expect about half an hour; it prints progress
  --seed-workers N        concurrent seeding connections (default 12)

  --scale                 instead of the scenarios: seed 2,000 groups x 10 secrets x 1 version,
                          time list pages one request at a time (both lists, limit 100, offset 0
                          and 90 %; p50 of 30 after 3 warm-up requests), add 18,000 groups (200,000
                          secrets in all), time them again, and print both and the growth factor
                          (scripts/bench/scale.py; written to OUT/scale-<sha>-<backend>.md)

Backend:
  --postgres              PostgreSQL on postgres://postgres@127.0.0.1:5432, fresh database
                          sg_bench_<random> (dropped at exit); default: SQLite in a fresh temp dir.
                          First runs PostgreSQL's own benchmark on a scratch database,
                          `pgbench -S -M prepared -c CONNECTIONS -j THREADS` (scale 1, same
                          duration), and reports get-secret's req/s as a ratio to its tps

Load:
  --duration S            seconds per scenario (default 10; wrk suffixes like 30s or 2m work)
  --connections C         wrk connections (default 64)
  --threads T             wrk threads (default 2)
  --timeout S             wrk request timeout; a timed-out request fails the scenario (default 10s)
  --scenarios a,b         run only these (ceiling is always added, for the ratio); they run in
                          the order below, reads before writes
Output:
  --out DIR               where results go (default target/bench)
  --keep                  keep the temp dir (database, server log, raw wrk output, seed files)
                          and, with --postgres, the database
  -h, --help              this text

Scenarios (each a row: req/s, p50 and p99 ms, peak server RSS during it, ratio to ceiling):
  ceiling              GET /healthz (no auth, no database)
  get-secret           GET /api/svc/v1/secrets/{id}, ids drawn at random from the seeded ones
                       (the audit trail on, the default: each read's event is durable first)
  get-secret-audit-off the same on the same data, the server restarted with SG_AUDIT=off; the
                       report prints get-secret's throughput as a percentage of this one's
  list-groups          GET /api/svc/v1/secret-groups?limit=100
  list-secrets-values  POST /api/svc/v1/secrets {"limit":100,"withValue":true}
  list-offset-0        POST /api/svc/v1/secrets {"limit":100,"offset":0}
  list-offset-90pct    the same at offset = 90 % of all secrets (cost of deep pages)
  create-group         POST /api/svc/v1/secret-groups, 10 secrets, a unique name per request
  update-group         PUT /api/svc/v1/secret-groups/{id} on one of the 64 update groups at
                       random, all keys listed, one of them with a new (unique) value

A scenario FAILS if any answer is not 2xx (counted by wrk and by the Lua script, which also
keeps the first failing status and body), on any socket error or timeout, or with no answer;
the exit code is then 1. Installs wrk with apt-get if missing. Environment: SG_SERVER_BIN
(use this binary, skip the build), CARGO_TARGET_DIR, TMPDIR (where the temp dir goes).
EOF
}

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 2; }

BACKEND=sqlite N_GROUPS=1000 PER_GROUP=20 VERSIONS=3 SEED_WORKERS=12
DURATION=10s CONNECTIONS=64 THREADS=2 TIMEOUT=10s SELECTED="" KEEP=0 OUT="$ROOT/target/bench" SCALE=0
while (($#)); do
  case "$1" in
    --postgres) BACKEND=postgres ;;
    --large) N_GROUPS=100000 PER_GROUP=10 ;;
    --scale) SCALE=1 ;;
    --groups) N_GROUPS="${2:?}"; shift ;;
    --secrets-per-group) PER_GROUP="${2:?}"; shift ;;
    --versions) VERSIONS="${2:?}"; shift ;;
    --seed-workers) SEED_WORKERS="${2:?}"; shift ;;
    --duration) DURATION="${2:?}"; shift ;;
    --connections) CONNECTIONS="${2:?}"; shift ;;
    --threads) THREADS="${2:?}"; shift ;;
    --timeout) TIMEOUT="${2:?}"; shift ;;
    --scenarios) SELECTED="${2:?}"; shift ;;
    --out) OUT="${2:?}"; shift ;;
    --keep) KEEP=1 ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
  shift
done
for n in "$N_GROUPS" "$PER_GROUP" "$VERSIONS" "$SEED_WORKERS" "$CONNECTIONS" "$THREADS"; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || die "expected a positive number, got '$n'"
done
[[ "$DURATION" =~ ^[0-9]+$ ]] && DURATION="${DURATION}s"
[[ "$TIMEOUT" =~ ^[0-9]+$ ]] && TIMEOUT="${TIMEOUT}s"
OUT="$(mkdir -p "$OUT" && cd "$OUT" && pwd)"

# The scenarios to run: the canonical order, filtered, ceiling always first.
SCENARIOS=(ceiling)
if [[ -n "$SELECTED" ]]; then
  for s in ${SELECTED//,/ }; do
    [[ " ${ALL_SCENARIOS[*]} " == *" $s "* ]] || die "unknown scenario '$s' (see --help)"
  done
fi
for s in "${ALL_SCENARIOS[@]:1}"; do
  [[ -z "$SELECTED" || ",$SELECTED," == *",$s,"* ]] && SCENARIOS+=("$s")
done

# ------------------------------------------------------------------ cleanup (trap)
SERVER_PID="" SAMPLER_PID="" PG_DB="" PGBENCH_DB="" DATA_DIR=""
PG_BASE="postgres://postgres@127.0.0.1:5432"
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  [[ -z "$SAMPLER_PID" ]] || kill "$SAMPLER_PID" 2>/dev/null || true
  if [[ -n "$SERVER_PID" ]]; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  if ((KEEP)); then
    [[ -z "$DATA_DIR" ]] || log "kept $DATA_DIR"
    [[ -z "$PG_DB" ]] || log "kept PostgreSQL database $PG_DB"
    return
  fi
  if [[ -n "$PGBENCH_DB" ]]; then
    psql -h 127.0.0.1 -U postgres -d test -qAt -c "DROP DATABASE IF EXISTS \"$PGBENCH_DB\" WITH (FORCE)" \
      >/dev/null 2>&1 || log "warning: could not drop database $PGBENCH_DB"
  fi
  if [[ -n "$PG_DB" ]]; then
    psql -h 127.0.0.1 -U postgres -d test -qAt -c "DROP DATABASE IF EXISTS \"$PG_DB\" WITH (FORCE)" \
      >/dev/null 2>&1 || log "warning: could not drop database $PG_DB"
  fi
  [[ -z "$DATA_DIR" ]] || rm -rf -- "$DATA_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------ tools, binary, database
if ! command -v wrk >/dev/null; then
  log "installing wrk (apt-get)"
  SUDO=""; ((EUID == 0)) || SUDO=sudo
  $SUDO apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq wrk >/dev/null
fi

BIN="${SG_SERVER_BIN:-}"
if [[ -z "$BIN" ]]; then
  log "cargo build --release -p secret-groups-server"
  (cd "$ROOT" && cargo build --quiet --release -p secret-groups-server)
  TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
  [[ "$TARGET_DIR" = /* ]] || TARGET_DIR="$ROOT/$TARGET_DIR"
  BIN="$TARGET_DIR/release/secret-groups-server"
fi

DATA_DIR="$(mktemp -d "${TMPDIR:-/tmp}/sg-bench.XXXXXX")"

# pgbench_reference: PostgreSQL's own read ceiling on this machine, in this run, for the ratio
# get-secret / pgbench (one point select per transaction, prepared, same connections and
# threads as wrk). Its database is separate and dropped before the server starts.
pgbench_reference() {
  local seconds
  seconds=$(python3 -c 'import re,sys; m=re.fullmatch(r"(\d+)([smh]?)", sys.argv[1]); print(int(m[1])*{"":1,"s":1,"m":60,"h":3600}[m[2]])' "$DURATION")
  PGBENCH_DB="sg_pgbench_$(python3 -c 'import secrets; print(secrets.token_hex(6))')"
  psql -h 127.0.0.1 -U postgres -d test -qAt -v ON_ERROR_STOP=1 -c "CREATE DATABASE \"$PGBENCH_DB\"" >/dev/null
  log "pgbench -S -M prepared -c $CONNECTIONS -j $THREADS -T $seconds (PostgreSQL's own point-select rate)"
  pgbench -h 127.0.0.1 -U postgres -i -s 1 -q "$PGBENCH_DB" >"$DATA_DIR/pgbench-init.txt" 2>&1
  pgbench -h 127.0.0.1 -U postgres -S -M prepared -c "$CONNECTIONS" -j "$THREADS" -T "$seconds" \
    "$PGBENCH_DB" >"$DATA_DIR/pgbench.txt" 2>&1 || die "pgbench failed: $(tail -n 5 "$DATA_DIR/pgbench.txt")"
  grep -E '^tps' "$DATA_DIR/pgbench.txt" | sed 's/^/    /' >&2 || true
  psql -h 127.0.0.1 -U postgres -d test -qAt -c "DROP DATABASE \"$PGBENCH_DB\" WITH (FORCE)" >/dev/null
  PGBENCH_DB=""
}
SERVER_ENV=(SG_LOG=warn SG_AUTH_FAILURE_LIMIT=0)
if [[ "$BACKEND" == postgres ]]; then
  if ! pg_isready -h 127.0.0.1 -p 5432 -q; then
    log "starting the local PostgreSQL cluster"
    # shellcheck disable=SC2012  # the cluster version is the only entry of /etc/postgresql
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start
    for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
  fi
  if ((!SCALE)); then pgbench_reference; fi
  PG_DB="sg_bench_$(python3 -c 'import secrets; print(secrets.token_hex(6))')"
  psql -h 127.0.0.1 -U postgres -d test -qAt -v ON_ERROR_STOP=1 -c "CREATE DATABASE \"$PG_DB\"" >/dev/null
  DB_URL="$PG_BASE/$PG_DB"
  SERVER_ENV+=("SG_MASTER_KEY=$(python3 -c 'import os,base64;print(base64.b64encode(os.urandom(32)).decode())')")
else
  DB_URL="sqlite://$DATA_DIR/bench.db"
fi

# ------------------------------------------------------------------ server
BENCH_TOKEN="tfy_sg_$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
[[ ${#BENCH_TOKEN} -eq 50 ]] || die "generated token has the wrong length"
export BENCH_TOKEN
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
URL="http://127.0.0.1:$PORT"
# start_server [VAR=VALUE…]: starts the server on the database with SERVER_ENV and these extra
# variables, and waits until it is ready. (Exported in a subshell that execs the server, so no
# secret appears in a command line.)
start_server() {
  (export "${SERVER_ENV[@]}" SG_BOOTSTRAP_TOKEN="$BENCH_TOKEN" "$@"
    exec "$BIN" serve --listen "127.0.0.1:$PORT" --database-url "$DB_URL" >>"$DATA_DIR/server.log" 2>&1) &
  SERVER_PID=$!
  for _ in $(seq 1 150); do
    [[ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/readyz" || true)" == 200 ]] && break
    kill -0 "$SERVER_PID" 2>/dev/null || { tail -n 30 "$DATA_DIR/server.log" >&2; die "the server exited"; }
    sleep 0.2
  done
  [[ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/readyz")" == 200 ]] || die "the server is not ready"
}
stop_server() {
  kill -TERM "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}
log "starting the server on $BACKEND ($URL, data in $DATA_DIR)"
start_server

# ------------------------------------------------------------------ scale mode
if ((SCALE)); then
  SHA="$(git -C "$ROOT" rev-parse --short HEAD)"
  for step in "1 2000 20,000" "2001 18000 200,000"; do
    read -r first groups label <<<"$step"
    log "seeding $groups groups x 10 secrets from g-$(printf %06d "$first") ($SEED_WORKERS workers)"
    python3 "$BENCH/seed.py" --url "$URL" --first "$first" --groups "$groups" --secrets-per-group 10 \
      --versions 1 --update-groups 0 --workers "$SEED_WORKERS" --data-dir "$DATA_DIR"
    log "list pages with $label secrets"
    python3 "$BENCH/scale.py" probe --url "$URL" --label "$label secrets" --out "$DATA_DIR/scale.jsonl"
  done
  {
    echo "List pages as the data grows, \`$SHA\` on **$BACKEND**, $(date -u +%Y-%m-%dT%H:%M:%SZ), one request at a time, limit 100, $(nproc) CPUs:"
    echo
    python3 "$BENCH/scale.py" report "$DATA_DIR/scale.jsonl"
  } | tee "$OUT/scale-$SHA-$BACKEND.md"
  log "wrote $OUT/scale-$SHA-$BACKEND.md"
  exit 0
fi

# ------------------------------------------------------------------ seed
log "seeding $N_GROUPS groups x $PER_GROUP secrets x $VERSIONS versions ($SEED_WORKERS workers)"
python3 "$BENCH/seed.py" --url "$URL" --groups "$N_GROUPS" --secrets-per-group "$PER_GROUP" \
  --versions "$VERSIONS" --workers "$SEED_WORKERS" --data-dir "$DATA_DIR"

# ------------------------------------------------------------------ scenarios
# sample_rss PID FILE: samples the VmRSS (KiB) of PID every 100 ms until FILE.stop exists, then
# writes the largest to FILE (once, so stopping it can never leave a half-written file).
sample_rss() {
  local pid=$1 out=$2 max=0 key val _
  while [[ ! -e "$out.stop" && -r /proc/$pid/status ]]; do
    while read -r key val _; do
      [[ "$key" == VmRSS: ]] || continue
      ((val <= max)) || max=$val
      break
    done <"/proc/$pid/status"
    sleep 0.1
  done
  echo "$max" >"$out"
}

total_secrets() {
  curl -sf -X POST "$URL/api/svc/v1/secrets" -H "Authorization: Bearer $BENCH_TOKEN" \
    -H 'Content-Type: application/json' -d '{"limit":1}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["pagination"]["total"])'
}

RUN_ID="$(python3 -c 'import secrets; print(secrets.token_hex(4))')"
for s in "${SCENARIOS[@]}"; do
  offset=0 detail=""
  if [[ "$s" == list-offset-90pct ]]; then
    offset=$(($(total_secrets) * 9 / 10)) detail=", offset $offset"
  fi
  lua_scenario="$s"
  if [[ "$s" == get-secret-audit-off ]]; then
    log "restarting the server with SG_AUDIT=off"
    # The peak so far (seeding included), which the restarted process does not know.
    awk '/^VmHWM:/ {print $2}' "/proc/$SERVER_PID/status" >"$DATA_DIR/vmhwm-before-restart.txt"
    stop_server
    start_server SG_AUDIT=off
    lua_scenario=get-secret
  fi
  log "$s (wrk -t $THREADS -c $CONNECTIONS -d $DURATION$detail)"
  sample_rss "$SERVER_PID" "$DATA_DIR/rss-$s.txt" &
  SAMPLER_PID=$!
  BENCH_SCENARIO="$lua_scenario" BENCH_DATA="$DATA_DIR" BENCH_RUN="$RUN_ID" BENCH_OFFSET="$offset" \
    wrk -t "$THREADS" -c "$CONNECTIONS" -d "$DURATION" --timeout "$TIMEOUT" --latency \
    -s "$BENCH/scenarios.lua" "$URL" >"$DATA_DIR/wrk-$s.txt" 2>&1 ||
    echo "wrk exited with status $?" >>"$DATA_DIR/wrk-$s.txt"
  touch "$DATA_DIR/rss-$s.txt.stop"
  wait "$SAMPLER_PID" || true
  SAMPLER_PID=""
  grep -E 'Requests/sec|Non-2xx|Socket errors|bench-lua: sample|wrk exited' "$DATA_DIR/wrk-$s.txt" |
    sed 's/^/    /' >&2 || true
  if [[ "$s" == get-secret-audit-off ]]; then
    log "restarting the server with the audit trail on"
    stop_server
    start_server
  fi
done
{ awk '/^VmHWM:/ {print $2}' "/proc/$SERVER_PID/status"; cat "$DATA_DIR/vmhwm-before-restart.txt" 2>/dev/null; } |
  sort -n | tail -n 1 >"$DATA_DIR/vmhwm.txt"

# ------------------------------------------------------------------ report
SHA="$(git -C "$ROOT" rev-parse --short HEAD)"
DIRTY=false; git -C "$ROOT" diff --quiet HEAD -- || DIRTY=true
NAME="results-$SHA-$BACKEND"
[[ "$N_GROUPS/$PER_GROUP/$VERSIONS" == 1000/20/3 ]] || NAME+="-${N_GROUPS}x${PER_GROUP}x${VERSIONS}"
python3 - "$DATA_DIR/meta.json" <<PY
import json, sys
json.dump({"git_sha": "$SHA", "git_dirty": $([[ $DIRTY == true ]] && echo True || echo False),
           "server_bin": "${SG_SERVER_BIN:-}",  # set: the figures are that binary's, not the commit's
           "date": "$(date -u +%Y-%m-%dT%H:%M:%SZ)", "backend": "$BACKEND", "nproc": $(nproc),
           "server_log_warnings": $(grep ' WARN ' "$DATA_DIR/server.log" | grep -vc 'SG_AUDIT=off' || true),
           "server_log_errors": $(grep -c ' ERROR ' "$DATA_DIR/server.log" || true),
           "wrk": {"threads": $THREADS, "connections": $CONNECTIONS, "duration": "$DURATION",
                   "timeout": "$TIMEOUT", "version": "$(wrk --version 2>&1 | head -n 1 | cut -d' ' -f2)"}},
          open(sys.argv[1], "w"))
PY
rc=0
python3 "$BENCH/report.py" --data-dir "$DATA_DIR" --scenarios "$(IFS=,; echo "${SCENARIOS[*]}")" \
  --meta "$DATA_DIR/meta.json" --json "$OUT/$NAME.json" --markdown "$OUT/$NAME.md" || rc=$?
log "wrote $OUT/$NAME.md and $OUT/$NAME.json"
if ((rc)); then
  log "some scenarios FAILED; server log tail:"
  tail -n 20 "$DATA_DIR/server.log" >&2 || true
fi
exit "$rc"
