#!/usr/bin/env bash
# Swagger UI as a person sees it: the real server's /swagger-ui/ loaded in headless Chromium
# (Debian's package). Every operation of openapi/secret-groups.yaml must be rendered (method,
# path and operationId, the expected set derived from the document), a screenshot goes to
# ci-artifacts/swagger-ui.png, and /openapi.json and /openapi.yaml as served must equal the
# checked-in document once parsed.
source "$(dirname "$0")/lib.sh"

apt_packages chromium
venv swagger-ui pyyaml==6.0.3
start_server sqlite

work="$(mktemp -d)"
cleanup() {
  rm -rf -- "$work"
  stop_server
}
trap cleanup EXIT

# chromium_run ARGS... : headless Chromium on a fresh profile; its own chatter (D-Bus, GPU) goes
# to a log, shown only when it fails.
chromium_run() {
  local profile
  profile="$(mktemp -d -p "$work" profile.XXXXXX)"
  if ! timeout 180 chromium --headless --no-sandbox --disable-gpu --disable-background-networking \
    --disable-component-update --disable-sync --no-first-run --disable-quic \
    --user-data-dir="$profile" --virtual-time-budget=10000 "$@" 2>>"$work/chromium.log"; then
    log "chromium failed:"
    tail -n 20 "$work/chromium.log" >&2
    return 1
  fi
}

page="$SG_URL/swagger-ui/"
log "loading $page in $(chromium --version 2>/dev/null)"
chromium_run --dump-dom "$page" >"$work/dom.html"

screenshot="$ARTIFACTS/swagger-ui.png"
rm -f "$screenshot"
chromium_run --screenshot="$screenshot" --window-size=1280,2400 "$page" >/dev/null
[[ -s "$screenshot" ]] || {
  log "no screenshot was written"
  exit 1
}
log "screenshot: ${screenshot#"$ROOT"/}"

curl -fsS "$SG_URL/openapi.json" -o "$work/openapi.json"
curl -fsS "$SG_URL/openapi.yaml" -o "$work/openapi.yaml"

python3 - "$SPEC" "$work/dom.html" "$work/openapi.json" "$work/openapi.yaml" <<'PY'
import html.parser
import json
import re
import sys

import yaml

spec_path, dom_path, served_json_path, served_yaml_path = sys.argv[1:]
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
failures = []

with open(spec_path, encoding="utf-8") as fd:
    spec = yaml.safe_load(fd)

# What the document declares: (method, path, operationId) of every operation.
expected = {
    (method, path, operation.get("operationId"))
    for path, item in spec["paths"].items()
    for method, operation in item.items()
    if method in METHODS
}


class Operations(html.parser.HTMLParser):
    """Each `div.opblock` of the page: its method (class `opblock-<method>`), its id
    (`operations-<tag>-<operationId>`) and the `data-path` of its summary."""

    def __init__(self):
        super().__init__()
        self.blocks = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        classes = (attrs.get("class") or "").split()
        if tag == "div" and "opblock" in classes:
            methods = [c[len("opblock-"):] for c in classes if c.startswith("opblock-") and c[len("opblock-"):] in METHODS]
            self.blocks.append({"method": methods[0] if methods else None, "id": attrs.get("id", ""), "path": None})
        elif "data-path" in attrs and self.blocks and self.blocks[-1]["path"] is None:
            self.blocks[-1]["path"] = attrs["data-path"]


with open(dom_path, encoding="utf-8") as fd:
    dom = fd.read()
parser = Operations()
parser.feed(dom)

marker_count = dom.count('class="opblock opblock-')
if marker_count != len(expected):
    failures.append(f'{marker_count} `class="opblock opblock-` blocks rendered, the document has {len(expected)} operations')

rendered = set()
for block in parser.blocks:
    operation_id = block["id"].rsplit("-", 1)[-1] if block["id"].startswith("operations-") else None
    rendered.add((block["method"], block["path"], operation_id))
for method, path, operation_id in sorted(expected - rendered):
    failures.append(f"not rendered: {method.upper()} {path} ({operation_id})")
for method, path, operation_id in sorted(rendered - expected, key=str):
    failures.append(f"rendered but not in the document: {method} {path} ({operation_id})")
if re.search(r'class="[^"]*\bloading-container\b', dom):
    failures.append("the page still shows its loading spinner")
if "Failed to load API definition" in dom or "Fetch error" in dom:
    failures.append("Swagger UI reports that it could not load the document")


def first_difference(a, b, where="#"):
    if type(a) is not type(b):
        return f"{where}: {type(a).__name__} vs {type(b).__name__}"
    if isinstance(a, dict):
        for key in sorted(set(a) | set(b), key=str):
            if key not in a or key not in b:
                return f"{where}/{key}: only in the {'checked-in' if key in a else 'served'} document"
            found = first_difference(a[key], b[key], f"{where}/{key}")
            if found:
                return found
        return None
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{where}: {len(a)} vs {len(b)} items"
        for index, (x, y) in enumerate(zip(a, b)):
            found = first_difference(x, y, f"{where}/{index}")
            if found:
                return found
        return None
    return None if a == b else f"{where}: {a!r} vs {b!r}"


with open(served_json_path, encoding="utf-8") as fd:
    served_json = json.load(fd)
with open(served_yaml_path, encoding="utf-8") as fd:
    served_yaml = yaml.safe_load(fd)
for name, served in (("/openapi.json", served_json), ("/openapi.yaml", served_yaml)):
    difference = first_difference(spec, served)
    if difference:
        failures.append(f"{name} differs from openapi/secret-groups.yaml (rebuild the server?): {difference}")

print(f"    {len(parser.blocks)} operations rendered of {len(expected)} in the document; "
      f"/openapi.json and /openapi.yaml checked", file=sys.stderr)
for failure in failures:
    print(f"    FAIL {failure}", file=sys.stderr)
sys.exit(1 if failures else 0)
PY
log "Swagger UI renders every operation; the served documents equal the checked-in one"
