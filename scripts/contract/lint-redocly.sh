#!/usr/bin/env bash
# Redocly CLI's `recommended` ruleset (redocly.yaml) on the document: zero errors AND zero
# warnings. Single findings accepted on purpose are listed, with reasons, in
# .redocly.lint-ignore.yaml.
source "$(dirname "$0")/lib.sh"

npm_tools @redocly/cli@2.77.0
# No telemetry, no update check: the check must not depend on anything but the npm registry.
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true

cd "$ROOT"
doc="${SPEC#"$ROOT"/}"
report="$CONTRACT_LOGS/redocly-lint.json"
status=0
redocly lint --config redocly.yaml --format=json "$doc" >"$report" 2>"$CONTRACT_LOGS/redocly-lint.stderr" || status=$?
totals=$(node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  console.log(`${r.totals.errors} ${r.totals.warnings} ${r.totals.ignored}`);
' "$report" 2>/dev/null) || {
  log "redocly lint did not produce a JSON report (exit $status):"
  cat "$CONTRACT_LOGS/redocly-lint.stderr" >&2
  exit 1
}
read -r errors warnings ignored <<<"$totals"
log "redocly lint $doc: $errors error(s), $warnings warning(s), $ignored ignored on purpose (.redocly.lint-ignore.yaml)"
if ((errors + warnings > 0 || status != 0)); then
  # Again in the readable form, with the offending lines.
  redocly lint --config redocly.yaml --format=codeframe "$doc" 2>&1 | grep -v '[║╔╚]' || true
  log "FAIL: fix the document, or accept a single finding in .redocly.lint-ignore.yaml with its reason"
  exit 1
fi
