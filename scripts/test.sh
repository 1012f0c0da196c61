#!/usr/bin/env bash
# `npm test`: typecheck, lint, start (or reuse) the sandbox's real servers, then every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
echo "== typecheck"; npx tsc --noEmit -p .
echo "== lint"; npx eslint workflows activities workers scripts test
echo "== sandbox"; npx tsx scripts/sandbox/main.ts up
echo "== tests"; npx vitest run "$@"
