#!/usr/bin/env bash
# Go-built test binaries: toxiproxy for the lab's WAN (scripts/build-toxiproxy.sh) and the
# Kubernetes binaries (scripts/build-k8s.sh, a no-op until that script exists). Both idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build-toxiproxy.sh
[ -x scripts/build-k8s.sh ] || exit 0
exec scripts/build-k8s.sh
