#!/usr/bin/env bash
# The project's one test command (README "Run the tests"; .ci/run calls exactly this):
#   1. every Rust test with `cargo test` — unit tests, the contract test, and the integration
#      suite, each integration test on SQLite and on PostgreSQL;
#   2. TrueFoundry's official Python SDK against the real server (scripts/sdk-tests.sh),
#      again on both backends, then TrueFoundry's own CLI, `tfy` (scripts/tfy-cli-tests.sh);
#   3. the contract checks for every consumer of the document (scripts/contract.sh): lint,
#      clients in Python/TypeScript/Go, schemathesis, breaking-change guard, Swagger UI.
# First scripts/prerequisites.sh checks every tool these need and installs what is missing (or
# stops at once, naming it). PostgreSQL must be reachable at 127.0.0.1:5432; when it is a local
# Debian cluster that is down, it is started. Nothing is skipped.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
LOGS="$ROOT/target/test-logs"
mkdir -p "$LOGS"

# Every tool the phases below call is checked (and installed if missing) first, so a run never
# stops half-way for want of one; PostgreSQL is started if it is a local cluster that is down.
echo "==> prerequisites (scripts/prerequisites.sh)"
"$ROOT/scripts/prerequisites.sh" || exit 1

echo "==> cargo test (Rust: unit, contract, integration on SQLite and PostgreSQL)"
cargo test --workspace --no-fail-fast 2>&1 | tee "$LOGS/cargo-test.log"
cargo_rc=${PIPESTATUS[0]}

# The SDK suite and the contract checks start the binary that `cargo test` just built (same
# features, so nothing is compiled again; see scripts/server-bin.sh).
if SG_SERVER_BIN="$("$ROOT/scripts/server-bin.sh")"; then
  export SG_SERVER_BIN
fi

echo "==> TrueFoundry Python SDK suite (SQLite and PostgreSQL)"
"$ROOT/scripts/sdk-tests.sh" 2>&1 | tee "$LOGS/sdk-tests.log"
sdk_rc=${PIPESTATUS[0]}

echo "==> TrueFoundry CLI suite, tfy (SQLite and PostgreSQL)"
"$ROOT/scripts/tfy-cli-tests.sh" 2>&1 | tee "$LOGS/tfy-cli-tests.log"
tfy_rc=${PIPESTATUS[0]}

echo "==> contract checks (scripts/contract.sh)"
"$ROOT/scripts/contract.sh" 2>&1 | tee "$LOGS/contract.log"
contract_rc=${PIPESTATUS[0]}

# One closing line over all runners, so a reader (or CI) sees the whole count at once.
summary=$(python3 - "$LOGS/cargo-test.log" "$LOGS/sdk-tests.log" "$LOGS/contract.log" "$LOGS/tfy-cli-tests.log" <<'PY'
import re, sys
passed = failed = 0
cargo = open(sys.argv[1], errors="replace").read()
for p, f in re.findall(r"^test result: \w+\. (\d+) passed; (\d+) failed", cargo, re.M):
    passed += int(p); failed += int(f)
# pytest's closing lines ("12 passed in 3.4s"), of the SDK suite and of the CLI suite.
for pytest_log in (sys.argv[2], sys.argv[4]):
    for line in open(pytest_log, errors="replace").read().splitlines():
        if re.search(r"\bin [\d.]+s\b", line) and re.search(r"\d+ (passed|failed)", line):
            passed += sum(int(n) for n in re.findall(r"(\d+) passed", line))
            failed += sum(int(n) for n in re.findall(r"(\d+) (?:failed|error)", line))
contract = open(sys.argv[3], errors="replace").read()
passed += len(re.findall(r"^PASS ", contract, re.M))
failed += len(re.findall(r"^FAIL ", contract, re.M))
print(f"{passed} passed, {failed} failed")
PY
)
echo "cargo test exit $cargo_rc; sdk suite exit $sdk_rc; tfy cli suite exit $tfy_rc; contract checks exit $contract_rc"
echo "$summary"
[ "$cargo_rc" -eq 0 ] && [ "$sdk_rc" -eq 0 ] && [ "$tfy_rc" -eq 0 ] && [ "$contract_rc" -eq 0 ]
