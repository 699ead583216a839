#!/usr/bin/env bash
# Prints the absolute path of the debug server binary that the SDK suite and the contract checks
# start, building it first when needed. SG_SERVER_BIN, when set, is used as it is.
#
# It is built with `cargo test --workspace --no-run`: the same invocation, and so the same
# resolved features, as the `cargo test` of scripts/test.sh, which therefore leaves nothing to
# build here. `cargo build -p secret-groups-server` resolves other features for tokio, hyper,
# sqlx, axum and a dozen more (no dev-dependencies, no client crate), recompiles them (37 s to
# 1 min 19 s on 2 cores) and overwrites target/debug/secret-groups-server, so that the next
# `cargo test` recompiles them back.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ -n "${SG_SERVER_BIN:-}" ]]; then
  bin="$SG_SERVER_BIN"
else
  (cd "$ROOT" && cargo test --workspace --no-run --quiet) >&2
  target="${CARGO_TARGET_DIR:-$ROOT/target}"
  case "$target" in /*) ;; *) target="$ROOT/$target" ;; esac
  bin="$target/debug/secret-groups-server"
fi
if [[ ! -x "$bin" ]]; then
  echo "error: server binary $bin does not exist or is not executable" >&2
  exit 1
fi
# Callers run it from other directories: always an absolute path.
echo "$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"
