#!/usr/bin/env bash
# openapi-spec-validator (the JSON Schema of OpenAPI 3.0 plus its semantic checks) on the document.
source "$(dirname "$0")/lib.sh"

venv spec-validator openapi-spec-validator==0.9.0

cd "$ROOT"
# --schema 3.0: the document must stay 3.0 (progenitor reads nothing newer), so a document that
# drifted to 3.1 fails here instead of being validated as 3.1.
openapi-spec-validator --schema 3.0 --validation-errors all "${SPEC#"$ROOT"/}"
