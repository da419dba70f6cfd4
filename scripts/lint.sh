#!/usr/bin/env bash
# The static checks, one list for `make lint` and `make test` (CI): lint, format, types, layers.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check src tests bench
.venv/bin/ruff format --check src tests bench
.venv/bin/mypy
.venv/bin/lint-imports
