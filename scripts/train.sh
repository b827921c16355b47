#!/usr/bin/env bash
# Installs what is missing, then trains on MNIST on the GPU (or SwiftShader) with a progress bar.
# Arguments go to `webgpu-dl train`, e.g. `bash scripts/train.sh --model cnn --epochs 1`;
# `bash scripts/train.sh --help` lists them.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh >&2
exec node bin/webgpu-dl.js train "$@"
