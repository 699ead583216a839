#!/usr/bin/env bash
# The contract checks, one line each with pass/fail and time. Every consumer of
# openapi/secret-groups.yaml is exercised with the tool it really uses.
#
#   scripts/contract.sh                 run every check
#   scripts/contract.sh NAME [NAME...]  run some (each is also scripts/contract/NAME.sh, runnable alone)
#   scripts/contract.sh --list          list the checks
#
# A check's full output goes to target/contract-logs/NAME.log (printed when it fails); reports
# and screenshots to ci-artifacts/.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CHECKS=(lint-redocly lint-spectral lint-validator breaking-changes python-client typescript-client go-client schemathesis swagger-ui)
LOGS="$ROOT/target/contract-logs"
mkdir -p "$LOGS"

if [[ "${1:-}" == "--list" ]]; then
  printf '%s\n' "${CHECKS[@]}"
  exit 0
fi
selected=("$@")
((${#selected[@]})) || selected=("${CHECKS[@]}")

# Build the server once for all checks that start it (scripts/server-bin.sh says how).
SG_SERVER_BIN="$("$ROOT/scripts/server-bin.sh")" || exit 1
export SG_SERVER_BIN

passed=0
failed=0
for check in "${selected[@]}"; do
  script="$ROOT/scripts/contract/$check.sh"
  if [[ ! -x "$script" ]]; then
    echo "contract: unknown check $check (see --list)" >&2
    failed=$((failed + 1))
    continue
  fi
  start=$(date +%s)
  if "$script" >"$LOGS/$check.log" 2>&1; then
    printf 'PASS  %-18s %4ss\n' "$check" "$(($(date +%s) - start))"
    passed=$((passed + 1))
  else
    printf 'FAIL  %-18s %4ss   (log: target/contract-logs/%s.log)\n' "$check" "$(($(date +%s) - start))" "$check"
    tail -n 40 "$LOGS/$check.log" | sed 's/^/      | /'
    failed=$((failed + 1))
  fi
done
echo "contract: $passed passed, $failed failed"
((failed == 0))
