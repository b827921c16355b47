#!/usr/bin/env bash
# Installs what webgpu-dl needs on Debian, only where it is missing.
#   bash scripts/setup.sh system   chromium (its SwiftShader Vulkan driver gives Node and the browser
#                                  a WebGPU adapter when there is no GPU driver), libvulkan1, and
#                                  python3-torch for the PyTorch parity tests (as /usr/bin/python3)
#   bash scripts/setup.sh npm      Node.js 20+ check, then `npm ci` if node_modules is missing or stale,
#                                  then `npm run build` after an install or when dist/ is missing
#   bash scripts/setup.sh          both
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# onnxruntime-node's install script downloads GPU binaries the tests never use (and fails offline);
# its CPU binaries ship in the package.
export ONNXRUNTIME_NODE_INSTALL="${ONNXRUNTIME_NODE_INSTALL:-skip}"

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else echo "setup: need root to run: $*" >&2; exit 1
  fi
}

have_vulkan_loader() {
  ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1 ' || ls /usr/lib/*/libvulkan.so.1 /usr/lib/libvulkan.so.1 >/dev/null 2>&1
}

have_torch() {
  [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import torch, numpy' >/dev/null 2>&1
}

system() {
  local missing=()
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  have_vulkan_loader || missing+=(libvulkan1)
  have_torch || missing+=(python3-torch)
  if [ ${#missing[@]} -eq 0 ]; then return; fi
  command -v apt-get >/dev/null || { echo "setup: ${missing[*]} missing and there is no apt-get to install them" >&2; exit 1; }
  echo "setup: installing ${missing[*]} with apt-get"
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
}

npm_packages() {
  if ! command -v node >/dev/null || ! node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)'; then
    echo "setup: webgpu-dl needs Node.js 20 or newer (found: $(node --version 2>/dev/null || echo none)); see https://nodejs.org" >&2
    exit 1
  fi
  local installed=0
  if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund
    installed=1
  fi
  # The package builds only when packed (prepack), never on install, so the CLI's dist/ is built here.
  if [ "$installed" = 1 ] || [ ! -f dist/cli.js ] || [ ! -f dist/webgpu-dl.js ]; then
    npm run build
  fi
}

case "${1:-all}" in
  system) system ;;
  npm) npm_packages ;;
  all) system; npm_packages ;;
  *) echo "usage: bash scripts/setup.sh [system|npm]" >&2; exit 2 ;;
esac
