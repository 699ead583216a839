#!/usr/bin/env bash
# Schemathesis against the real server: every phase (examples, coverage, fuzzing, stateful through
# the document's links) and every check, with a fixed seed and a bounded number of examples, as
# configured in tests/contract/schemathesis.toml (where warnings are failures too).
#
#   scripts/contract/schemathesis.sh            on SQLite
#   BACKEND=postgres scripts/contract/schemathesis.sh
#   scripts/contract/schemathesis.sh --output-sanitize false   (extra arguments go to `st run`)
#
# JUnit report: ci-artifacts/schemathesis-junit.xml (…-postgres.xml on PostgreSQL).
source "$(dirname "$0")/lib.sh"

BACKEND="${BACKEND:-sqlite}"
CONFIG="$ROOT/tests/contract/schemathesis.toml"

venv schemathesis schemathesis==4.32.5
# With the server's default settings: Schemathesis' authentication checks present invalid tokens on
# purpose, dozens per operation, and its valid token must keep working meanwhile (the failure limit
# throttles failed attempts only; a `rate_limited` warning fails the run).
start_server "$BACKEND"

# Test data the generated cases need to reach the success paths: users (only the operator CLI
# makes them; `dev@example.com` is the user of the document's examples), and a group and a spare
# token (tests/contract/schemathesis_fixtures.py). The hooks read SG_CONTRACT_FIXTURES and keep
# the bearer (admin@localhost and its token) out of reach of the destructive operations.
for email in dev@example.com leaver@example.com; do
  "$SG_SERVER_BIN" users create --email "$email" --database-url "$SG_DATABASE_URL" >/dev/null
done
SG_CONTRACT_FIXTURES="$(python3 "$ROOT/tests/contract/schemathesis_fixtures.py")"
export SG_CONTRACT_FIXTURES

junit="$ARTIFACTS/schemathesis-junit.xml"
[[ "$BACKEND" == sqlite ]] || junit="$ARTIFACTS/schemathesis-junit-$BACKEND.xml"
rm -f "$junit"

log "schemathesis $(st --version | awk '{print $NF}') against $SG_URL ($BACKEND)"
# The hooks and cache paths of the config are relative to the repository root; Hypothesis keeps
# its own files under target/ too.
cd "$ROOT"
export HYPOTHESIS_STORAGE_DIRECTORY="$ROOT/target/schemathesis/hypothesis"
set +e
st --config-file "$CONFIG" run "$SPEC" \
  --url "$SG_URL" \
  -H "Authorization: Bearer $SG_TOKEN" \
  --checks all \
  --phases examples,coverage,fuzzing,stateful \
  --report junit --report-junit-path "$junit" \
  --no-color \
  "$@"
status=$?
set -e

if [[ ! -s "$junit" ]]; then
  log "schemathesis wrote no JUnit report ($junit)"
  exit 1
fi
if ((status != 0)); then
  log "schemathesis failed (exit $status); report: ${junit#"$ROOT"/}"
  exit "$status"
fi
log "schemathesis passed; report: ${junit#"$ROOT"/}"
