#!/usr/bin/env bash
# Front-end packages from the npm registry (declared in package.json + lockfile), copied into the
# console's static folder. No-op until the console declares packages.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f package.json ] || exit 0
mkdir -p .cache/stamps
stamp=".cache/stamps/web-$(cat package.json package-lock.json 2>/dev/null | sha256sum | cut -c1-16)"
if [ -d node_modules ] && [ -f "$stamp" ]; then exit 0; fi
echo "==> installing npm packages"
if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --silent; else npm install --no-audit --no-fund --silent; fi
[ -x scripts/copy-web-assets.sh ] && scripts/copy-web-assets.sh
rm -f .cache/stamps/web-*
touch "$stamp"
