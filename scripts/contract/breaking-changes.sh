#!/usr/bin/env bash
# Breaking changes against the last released document, with openapi-diff (npm).
#
#   scripts/contract/breaking-changes.sh [WORKING_DOC [RELEASED_DIR]]
#
# Defaults: the working document openapi/secret-groups.yaml and openapi/released/, which holds a
# copy of every released document as secret-groups-<info.version>.yaml. The newest release older
# than the working info.version is compared with the working document (the working version's own
# copy, made in the same change, would compare the document with itself); that copy, when there
# is one, must equal the working document, so a released version never changes afterwards:
#   - the working info.version lower than the released one          -> FAIL
#   - a breaking difference and the same (or a lower) major version  -> FAIL
#   - a breaking difference and a higher major version               -> PASS (differences listed)
# openapi-diff classifies paths, methods, response status codes, request and response bodies and
# response headers; it does not compare parameters or security, which the contract test and the
# reviewer must catch. Its full report goes to ci-artifacts/openapi-diff.json.
source "$(dirname "$0")/lib.sh"

working="$(realpath "${1:-$SPEC}")"
released_dir="$(realpath "${2:-$ROOT/openapi/released}")"

npm_tools openapi-diff@0.24.1
differ_dir="$TOOLS/npm/node_modules/openapi-diff"

# The working info.version (the first `version:` under `info:`), and its own released copy.
working_version=$(awk '/^info:/ {inside = 1; next} inside && /^[^ ]/ {exit} inside && /^  version:/ {print $2; exit}' "$working" | tr -d "'\"")
own_copy="$released_dir/secret-groups-$working_version.yaml"
if [[ -f "$own_copy" ]] && ! cmp -s "$own_copy" "$working"; then
  log "FAIL: the working document differs from its released copy ${own_copy#"$ROOT"/}: a released version never"
  log "      changes; raise info.version (and copy the document to openapi/released/ under the new version)"
  exit 1
fi

# The newest release older than the working version, by the version in its file name.
released=$(find "$released_dir" -maxdepth 1 -name 'secret-groups-*.yaml' -printf '%f\n' 2>/dev/null |
  sed -n 's/^secret-groups-\([0-9]*\.[0-9]*\.[0-9]*\)\.yaml$/\1 &/p' | sort -V -k1,1 |
  awk -v w="$working_version" '$1 != w' | tail -n 1 | cut -d' ' -f2)
if [[ -z "$released" ]]; then
  log "FAIL: no released document (secret-groups-X.Y.Z.yaml) in $released_dir"
  exit 1
fi
released="$released_dir/$released"

report="$ARTIFACTS/openapi-diff.json"
diff_out="$CONTRACT_LOGS/openapi-diff.out"
diff_status=0
openapi-diff "$released" "$working" >"$diff_out" 2>"$CONTRACT_LOGS/openapi-diff.stderr" || diff_status=$?

# Everything else (versions, verdict, readable summary) in one small Node program, which can read
# YAML through openapi-diff's own js-yaml.
cd "$ROOT"
node - "$differ_dir" "$released" "$working" "$diff_out" "$diff_status" "$report" \
  "$CONTRACT_LOGS/openapi-diff.stderr" <<'JS'
const fs = require("fs");
const path = require("path");
const [differDir, releasedFile, workingFile, diffOut, diffStatus, reportFile, stderrFile] = process.argv.slice(2);
const yaml = require(require.resolve("js-yaml", { paths: [differDir] }));
const say = (line = "") => console.log(line);
const fail = (why) => { say(`FAIL: ${why}`); process.exit(1); };
const shown = (file) => (path.relative(process.cwd(), file).startsWith("..") ? file : path.relative(process.cwd(), file));

// --- Versions -------------------------------------------------------------------------------
const versionOf = (file) => {
  const v = String((yaml.load(fs.readFileSync(file, "utf8")) || {}).info?.version ?? "");
  const m = /^(\d+)\.(\d+)\.(\d+)$/.exec(v);
  if (!m) fail(`${file}: info.version "${v}" is not MAJOR.MINOR.PATCH`);
  return { text: v, parts: m.slice(1).map(Number) };
};
const compare = (a, b) => {
  for (let i = 0; i < 3; i++) if (a.parts[i] !== b.parts[i]) return a.parts[i] - b.parts[i];
  return 0;
};
const released = versionOf(releasedFile);
const working = versionOf(workingFile);
const named = /secret-groups-(\d+\.\d+\.\d+)\.yaml$/.exec(releasedFile)[1];
if (named !== released.text) {
  fail(`${path.basename(releasedFile)} says info.version ${released.text}; a released copy must be named after its version`);
}
say(`released: ${shown(releasedFile)} (${released.text})`);
say(`working:  ${shown(workingFile)} (${working.text})`);
if (compare(working, released) < 0) {
  fail(`the working info.version ${working.text} is lower than the released ${released.text}`);
}
const majorBump = working.parts[0] > released.parts[0];

// --- openapi-diff's outcome -----------------------------------------------------------------
const text = fs.readFileSync(diffOut, "utf8");
let outcome;
if (/^No changes found/.test(text)) {
  outcome = { breakingDifferences: [], nonBreakingDifferences: [], unclassifiedDifferences: [] };
} else {
  const start = text.indexOf("{");
  try {
    if (!/^(Breaking|Non breaking) changes found/.test(text) || start < 0) throw new Error("unexpected output");
    outcome = JSON.parse(text.slice(start));
  } catch (e) {
    say(`openapi-diff failed (exit ${diffStatus}):`);
    say(text.trim());
    say(fs.readFileSync(stderrFile, "utf8").trim());
    process.exit(1);
  }
}
fs.mkdirSync(path.dirname(reportFile), { recursive: true });
fs.writeFileSync(reportFile, JSON.stringify(outcome, null, 2) + "\n");

// What changed inside an entity: the JSON paths where the released and the working value differ.
const short = (v) => {
  const s = v === undefined ? "(absent)" : JSON.stringify(v);
  return s.length > 100 ? s.slice(0, 97) + "..." : s;
};
const changes = (a, b, at = "", out = []) => {
  if (out.length >= 8) return out;
  const isObj = (x) => x !== null && typeof x === "object" && !Array.isArray(x);
  const prim = (x) => Array.isArray(x) && x.every((y) => y === null || typeof y !== "object");
  if (isObj(a) && isObj(b)) {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
      if (k === "description" || k === "example" || k === "examples") continue;
      changes(a[k], b[k], `${at}.${k}`, out);
    }
  } else if (Array.isArray(a) && Array.isArray(b) && !prim(a) && a.length === b.length) {
    a.forEach((x, i) => changes(x, b[i], `${at}[${i}]`, out));
  } else if (JSON.stringify(a) !== JSON.stringify(b)) {
    if (prim(a) && prim(b)) {
      const gone = a.filter((x) => !b.includes(x));
      const added = b.filter((x) => !a.includes(x));
      out.push(`${at || "."}: ${gone.length ? `removed ${short(gone)}` : ""}${gone.length && added.length ? ", " : ""}${added.length ? `added ${short(added)}` : ""}`);
    } else {
      out.push(`${at || "."}: ${short(a)} -> ${short(b)}`);
    }
  }
  return out;
};
const describe = (d, detailed) => {
  const src = d.sourceSpecEntityDetails || [];
  const dst = d.destinationSpecEntityDetails || [];
  const where = [...new Set([...src, ...dst].map((e) => e.location))].join(", ");
  say(`  - ${d.code} at ${where}`);
  if (detailed && src.length === 1 && dst.length === 1) {
    for (const line of changes(src[0].value, dst[0].value)) say(`      ${line}`);
  }
};

const breaking = outcome.breakingDifferences || [];
const others = [...(outcome.nonBreakingDifferences || []), ...(outcome.unclassifiedDifferences || [])];
say(`openapi-diff: ${breaking.length} breaking, ${others.length} other difference(s); full report: ${shown(reportFile)}`);
if (others.length) {
  say("non-breaking / unclassified:");
  others.forEach((d) => describe(d, false));
}
if (breaking.length) {
  say("BREAKING:");
  breaking.forEach((d) => describe(d, true));
  if (!majorBump) {
    fail(`${breaking.length} breaking change(s) since ${released.text}, but info.version ${working.text} keeps major ${released.parts[0]}. ` +
      `Undo them, or raise info.version to ${released.parts[0] + 1}.0.0 for a new major version.`);
  }
  say(`PASS: the breaking changes come with a new major version (${released.text} -> ${working.text}).`);
} else {
  say(`PASS: no breaking change since ${released.text}.`);
}
JS
