#!/usr/bin/env bash
# `npm test`: typecheck, lint, start (or reuse) the sandbox's real servers, then every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-deps.sh
echo "== typecheck"; npx tsc --noEmit -p .
echo "== lint"; npx eslint workflows activities workers scripts test
echo "== sandbox"; npx tsx scripts/sandbox/main.ts up
# Fault tests that take a shared sandbox server away from everyone (dc2's DataNode stopped, dc2's HDFS ports cut off
# with iptables) run alone after the rest, so no test running beside them finds dc2 gone. Arguments run as given.
EXCLUSIVE=(test/e2e/hdfs-faults.test.ts)
if [ $# -gt 0 ]; then
  echo "== tests"; npx vitest run "$@"
else
  echo "== tests"; npx vitest run --exclude "${EXCLUSIVE[@]}"
  echo "== tests that take a shared server away, alone"; npx vitest run "${EXCLUSIVE[@]}"
fi
