#!/usr/bin/env bash
# Installs the npm dependencies when they are missing or older than package-lock.json (fresh clone, new machine).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d node_modules/@temporalio/worker ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "== installing npm dependencies"
  npm install --no-audit --no-fund
fi
