#!/usr/bin/env bash
# Packs webgpu-dl (`npm pack`, which builds dist/), installs the tarball into every app under
# examples/ as a user would, builds each one and runs it: the Node script in Node on Dawn, the web
# apps in headless Chromium with WebGPU (tests/examples/). Extra arguments go to vitest, e.g.
#   bash scripts/examples.sh --reporter=default --reporter=json --outputFile=report.json
# WEBGPU_DL_TARBALL=FILE installs that tarball instead of packing one.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
exec npx vitest run --config tests/examples/vitest.config.ts "$@"
