#!/usr/bin/env bash
# go-client: openapi-generator (-g go, from PyPI's openapi-generator-cli, which ships the jar) generates
# a Go client from the document; Debian's Go builds it with tests/contract/clients/go/main.go, with
# no network (GOPROXY=off), and the program drives the real server: create, get and check fields,
# read a value, delete, 404.
#
# No third-party Go module is needed: for a document whose only security scheme is HTTP bearer,
# the generated client imports the standard library only (golang.org/x/oauth2 would come in with an
# OAuth2 scheme, testify only with the generated tests, which are skipped). So withGoMod=false, and
# the check writes a go.mod without requirements around it.
source "$(dirname "$0")/lib.sh"

venv go-client openapi-generator-cli==7.26.0
apt_packages golang-go
command -v java >/dev/null || apt_packages default-jre-headless
export GOPROXY=off GOFLAGS=-mod=mod GOTOOLCHAIN=local GO111MODULE=on GOWORK=off
export GOCACHE="$TOOLS/go-cache" GOPATH="$TOOLS/gopath"

OUT="$TOOLS/go-client"
rm -rf "$OUT"
mkdir -p "$OUT/secretgroups"

log "openapi-generator $(openapi-generator-cli version 2>/dev/null | tail -n 1) -g go: generating"
# apiTests/modelTests off (they import testify), docs off; the generated package is secretgroups
# inside this check's own module.
openapi-generator-cli generate -g go -i "$SPEC" -o "$OUT/secretgroups" \
  --package-name secretgroups \
  --global-property apiTests=false,modelTests=false,apiDocs=false,modelDocs=false \
  -p withGoMod=false,hideGenerationTimestamp=true \
  >"$OUT/generate.log" 2>&1 || {
  grep -v '^\s*at ' "$OUT/generate.log" >&2
  log "openapi-generator failed; a SpecValidationException means its parser refuses the document"
  log "(users would have to pass --skip-validate-spec): the document has to change"
  exit 1
}
grep -E 'WARN|ERROR|Exception' "$OUT/generate.log" >&2 || true

# Clean names: one model file per schema of the document, under its own name.
models=$(cd "$OUT/secretgroups" && ls model_*.go | sed 's/^model_//; s/\.go$//')
log "models: $(echo $models)"
bad=$(grep -Ei '(^model|_[0-9]+$|^object|^inline|one_of|any_of|_request_[0-9]|^_)' <<<"$models" || true)
[[ -z "$bad" ]] || { log "models with unclean names: $(echo $bad)"; exit 1; }
# Only the standard library may be imported (there is no module proxy to fetch anything else).
imports=$(sed -n '/^import (/,/^)/p; /^import "/p' "$OUT/secretgroups"/*.go | grep -oE '"[^"]+"' | sort -u | tr -d '"')
third_party=$(grep -E '^[^/]+\.[^/]+/' <<<"$imports" || true)
[[ -z "$third_party" ]] || { log "the generated client imports modules that are not reachable: $third_party"; exit 1; }

cat >"$OUT/go.mod" <<'EOF'
module contractclient

go 1.19
EOF
cp "$ROOT/tests/contract/clients/go/main.go" "$OUT/main.go"
log "$(go version): vet + build"
(cd "$OUT" && go vet ./... && go build -o "$OUT/go-client" .) >&2

start_server
log "running the Go program against $SG_URL"
"$OUT/go-client"
