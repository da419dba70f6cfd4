#!/usr/bin/env bash
# The project's virtualenv (.venv) with Hemisphere installed editable plus dev tools.
# Reinstalls only when pyproject.toml or the pinned check tools (constraints-dev.txt) change.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
mkdir -p .cache/stamps
stamp=".cache/stamps/python-$(cat pyproject.toml constraints-dev.txt | sha256sum | cut -c1-16)"
if [ -x .venv/bin/python ] && [ -f "$stamp" ]; then exit 0; fi
echo "==> preparing .venv (Python deps)"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e '.[dev]' -c constraints-dev.txt
rm -f .cache/stamps/python-*
touch "$stamp"
