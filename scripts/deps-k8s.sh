#!/usr/bin/env bash
# Go-built Kubernetes test binaries (see scripts/build-k8s.sh). No-op until that script exists.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x scripts/build-k8s.sh ] || exit 0
exec scripts/build-k8s.sh
