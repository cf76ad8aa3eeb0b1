#!/usr/bin/env bash
# Install what Ledgerline needs on a fresh Debian machine: system packages (apt) and the Python venv (pip).
# Idempotent and quick on a machine that already has everything. Usage: scripts/setup.sh [dev]
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(fluidsynth fluid-soundfont-gm libchromaprint1 libchromaprint-tools ffmpeg libsndfile1)
# dev: Debian's headless Chromium, which Playwright drives in the browser smoke test (no `playwright install`).
if [ "${1:-}" = "dev" ]; then APT_PACKAGES+=(chromium); fi
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing system packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PYTHON" -m venv .venv
fi
REQ=requirements.txt
[ "${1:-}" = "dev" ] && REQ=requirements-dev.txt
stamp=".venv/.installed-$(cat requirements.txt "$REQ" | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "setup: installing Python packages from $REQ"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r "$REQ"
  # Transcription model (Basic Pitch, ONNX inside the wheel). --no-deps: it declares TensorFlow, which would
  # pull numpy<2; requirements.txt lists what it really needs (onnxruntime, resampy, mir_eval).
  .venv/bin/python -m pip install -q --no-deps "basic-pitch==0.4.0"
  touch "$stamp"
fi

# The test suite also anchors the ledger on a real JSON-RPC node process: ganache from the npm registry,
# installed beside the venv. Without Node.js/npm the test that needs it says so and is skipped.
if [ "${1:-}" = "dev" ] && [ ! -x .venv/node/node_modules/.bin/ganache ]; then
  if command -v npm >/dev/null 2>&1; then
    echo "setup: installing ganache 7.9.2 (a local Ethereum JSON-RPC node) into .venv/node"
    npm install --prefix .venv/node --no-audit --no-fund --loglevel=error ganache@7.9.2 >/dev/null \
      || echo "setup: ganache could not be installed; the JSON-RPC node test will be skipped"
  else
    echo "setup: npm not found; the JSON-RPC node test will be skipped"
  fi
fi
