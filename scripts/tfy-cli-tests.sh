#!/usr/bin/env bash
# TrueFoundry CLI suite: drives TrueFoundry's own command-line tool, `tfy` (PyPI `truefoundry`,
# pinned in tests/tfy/requirements.txt), unmodified, as a new user would against the real
# secret-groups server, once on SQLite and once on PostgreSQL: `tfy login` with a token from
# `secret-groups-server tokens create`, `tfy apply -f` / `-d`, `--dry-run --show-diff`,
# re-applying unchanged manifests, `tfy delete -f`, a manifest of a type the server does not own.
#
# Usage: scripts/tfy-cli-tests.sh [extra pytest args, e.g. -k delete]
#
# It runs through scripts/sdk-tests.sh (SG_SUITE=tfy), which installs the venv
# (target/tfy-venv), starts the server on each backend and checks its log; that script's
# environment variables (SG_SERVER_BIN, SG_TEST_POSTGRES_URL) apply here too.
set -euo pipefail
SG_SUITE=tfy exec "$(dirname "${BASH_SOURCE[0]}")/sdk-tests.sh" "$@"
