#!/usr/bin/env bash
# Rebuild contracts/build/ offline-capable: solc-js from the npm registry (no compiler download at run time).
set -euo pipefail
cd "$(dirname "$0")"
work=$(mktemp -d)
(cd "$work" && npm init -y >/dev/null && npm install --silent solc@0.8.28 >/dev/null)
node "$work/node_modules/solc/solc.js" --optimize --bin --abi -o build LedgerAnchor.sol
for f in build/*LedgerAnchor_sol_LedgerAnchor.*; do mv "$f" "build/LedgerAnchor.${f##*.}"; done
rm -rf "$work"
