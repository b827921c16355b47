#!/usr/bin/env bash
# Installs what is missing and serves the demos on http://localhost:5173.
# Extra arguments go to Vite, e.g. `bash scripts/demo.sh --port 8080 --open`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup.sh >&2

echo 'Open the address below in Chrome or Edge 113+ (on Linux: chrome://flags/#enable-unsafe-webgpu).'
exec npm run --silent demo -- "$@"
