#!/usr/bin/env bash
# Runs the whole suite. Services (PostgreSQL, registry, kube-apiservers, Chromium) are started by
# the fixtures in tests/conftest.py and stopped when the run ends.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p test-artifacts
scripts/lint.sh || exit 1
.venv/bin/python -m pytest "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: failing on purpose (a run that tests nothing proves nothing)" >&2
  exit 1
fi
exit "$rc"
