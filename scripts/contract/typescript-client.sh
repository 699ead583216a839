#!/usr/bin/env bash
# typescript-client: openapi-typescript generates the document's types; tsc --strict checks
# tests/contract/clients/typescript/every_operation.ts, which calls every operation through
# openapi-fetch; the compiled program then runs against the real server and asserts each answer.
source "$(dirname "$0")/lib.sh"

npm_tools openapi-typescript@7.13.0 openapi-fetch@0.17.0 typescript@5.9.3 @types/node@20.19.43

OUT="$TOOLS/typescript-client"
rm -rf "$OUT"
mkdir -p "$OUT/src"
cp "$ROOT/tests/contract/clients/typescript/every_operation.ts" "$OUT/src/"
ln -s "$TOOLS/npm/node_modules" "$OUT/node_modules"
echo '{"private": true, "type": "module"}' >"$OUT/package.json"

log "openapi-typescript $(openapi-typescript --version 2>/dev/null | grep -o '[0-9][0-9.]*' | head -1): generating src/schema.d.ts"
# --default-non-nullable false: openapi-typescript 7 otherwise makes every property with a
# `default` required, in request bodies too (ListSecretsRequest.limit/offset/withValue,
# CreateOrUpdateSecretGroupRequest.dryRun), though the server treats them as optional.
openapi-typescript "$SPEC" -o "$OUT/src/schema.d.ts" --default-non-nullable false >&2

# Clean names: the component schemas come out under the document's names; openapi-typescript only
# changes a name it cannot use as is.
schemas=$(sed -n '/^    schemas: {$/,/^    };$/p' "$OUT/src/schema.d.ts" | grep -oE '^        [A-Za-z0-9_"$-]+:' | tr -d ' :"')
log "schemas: $(echo $schemas)"
bad=$(grep -Ev '^[A-Z][A-Za-z0-9]*$' <<<"$schemas" || true)
[[ -z "$bad" ]] || { log "schemas with unclean names: $bad"; exit 1; }

cat >"$OUT/tsconfig.json" <<'EOF'
{
  "compilerOptions": {
    "target": "ES2022",
    "module": "NodeNext",
    "moduleResolution": "NodeNext",
    "lib": ["ES2022", "DOM"],
    "types": ["node"],
    "strict": true,
    "noUncheckedIndexedAccess": true,
    "exactOptionalPropertyTypes": true,
    "noImplicitOverride": true,
    "noUnusedLocals": true,
    "noUnusedParameters": true,
    "skipLibCheck": false,
    "outDir": "dist",
    "rootDir": "src"
  },
  "include": ["src"]
}
EOF
log "tsc $(tsc --version | awk '{print $2}') --noEmit --strict"
(cd "$OUT" && tsc -p tsconfig.json --noEmit --strict) >&2
(cd "$OUT" && tsc -p tsconfig.json) >&2

start_server
log "running every_operation against $SG_URL"
node "$OUT/dist/every_operation.js"
