#!/usr/bin/env bash
# python-client: openapi-python-client generates a typed client from the document; mypy --strict
# checks the generated package and tests/contract/clients/python/use_client.py, which then drives
# the real server with it (create, list, get, update, read a secret's versions, delete, 404).
source "$(dirname "$0")/lib.sh"

# The generated package needs httpx and attrs at run time (pinned here too, so a new release of
# either cannot change the result); ruff is openapi-python-client's post-generation formatter.
venv python-client \
  openapi-python-client==0.29.1 mypy==2.4.1 ruff==0.17.6 httpx==0.28.1 attrs==26.1.0

OUT="$TOOLS/python-client"
PKG="$OUT/gen"
rm -rf "$OUT"
mkdir -p "$OUT"

log "openapi-python-client $(openapi-python-client --version 2>/dev/null | awk '{print $NF}'): generating"
# The default layout (a Poetry project): its pyproject.toml limits the generator's ruff post-hook
# to rules F, I, UP. (With --meta none, ruff >= 0.17 applies its wider default rules, and PYI036
# rewrites the client's `__exit__(self, *args: Any)` into `*args: object`, which mypy --strict
# then rejects where it forwards them to httpx.)
openapi-python-client generate --path "$SPEC" --output-path "$PKG" --overwrite \
  >"$OUT/generate.log" 2>&1 || { cat "$OUT/generate.log" >&2; exit 1; }
cat "$OUT/generate.log" >&2
# It says "Warning(s) encountered" for every schema or operation it had to skip.
if grep -qi 'warning' "$OUT/generate.log"; then
  log "openapi-python-client skipped parts of the document (see above)"
  exit 1
fi
[[ -d "$PKG/secret_groups_client" ]] || { log "no package secret_groups_client generated"; exit 1; }

# Clean names: every model module is a schema of the document (or an enum or inline item of
# one), never a generator's fallback name.
models=$(cd "$PKG/secret_groups_client/models" && ls -- *.py | grep -v '^__init__' | sed 's/\.py$//')
log "models: $(echo $models)"
bad=$(grep -Ei '(^model_|_[0-9]+$|^object|any_of|one_of|^inline|^body_|_response_200)' <<<"$models" || true)
if [[ -n "$bad" ]]; then
  log "generated models with unclean names: $(echo $bad)"
  exit 1
fi
for op in get_liveness get_readiness list_secret_groups create_secret_group create_or_update_secret_group \
  get_secret_group update_secret_group delete_secret_group list_secrets get_secret delete_secret; do
  compgen -G "$PKG/secret_groups_client/api/*/$op.py" >/dev/null || { log "no module for operation $op"; exit 1; }
done

log "mypy $(mypy --version | awk '{print $2}') --strict"
(cd "$PKG" && MYPYPATH="$PKG" mypy --strict --no-incremental --cache-dir=/dev/null \
  secret_groups_client "$ROOT/tests/contract/clients/python/use_client.py") >&2

start_server
log "running use_client.py against $SG_URL"
PYTHONPATH="$PKG" python "$ROOT/tests/contract/clients/python/use_client.py"
