#!/usr/bin/env bash
# The project's virtualenv (.venv) with Hemisphere installed editable plus dev tools.
# Reinstalls only when pyproject.toml changes.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
mkdir -p .cache/stamps
stamp=".cache/stamps/python-$(sha256sum pyproject.toml | cut -c1-16)"
if [ -x .venv/bin/python ] && [ -f "$stamp" ]; then exit 0; fi
echo "==> preparing .venv (Python deps)"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e '.[dev]'
rm -f .cache/stamps/python-*
touch "$stamp"
