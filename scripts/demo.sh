#!/usr/bin/env bash
# Installs the npm dependencies if needed and serves the demos on http://localhost:5173.
# Extra arguments go to Vite, e.g. `bash scripts/demo.sh --port 8080 --open`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! command -v node >/dev/null || ! node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)'; then
  echo "webgpu-dl needs Node.js 20 or newer (found: $(node --version 2>/dev/null || echo none)); see https://nodejs.org" >&2
  exit 1
fi

# npm ci only when node_modules is missing or older than the lock file.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

echo 'Open the address below in Chrome or Edge 113+ (on Linux: chrome://flags/#enable-unsafe-webgpu).'
exec npm run --silent demo -- "$@"
