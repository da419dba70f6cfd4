#!/usr/bin/env bash
# Build toxiproxy (the lab's WAN: latency, jitter, bandwidth and cuts in userspace, since the
# machine has no netem) from Go modules into $HOME/.cache/hemisphere/bin (override:
# HEMISPHERE_BIN_CACHE), for `hemisphere lab` (src/hemisphere/lab/) and the fault suite in
# tests/lab/. No registry ships a toxiproxy binary we may use, so it is built from the Go proxy.
#
# Idempotent: a binary whose stamp (<name>.version) matches the pinned version is kept.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION="v2.5.0"                               # github.com/Shopify/toxiproxy/v2
MODULE="github.com/Shopify/toxiproxy/v2"
OUT="${HEMISPHERE_BIN_CACHE:-$HOME/.cache/hemisphere/bin}"

export GOFLAGS="-trimpath -buildvcs=false -mod=mod"
export CGO_ENABLED=0
export GOTOOLCHAIN=local
export GOMAXPROCS="${GOMAXPROCS:-2}"

start_all=$(date +%s)
log() { printf '[build-toxiproxy %4ss] %s\n' "$(( $(date +%s) - start_all ))" "$*"; }

mkdir -p "$OUT"
# One build at a time (a second invocation waits, then finds everything present).
exec 9>"$OUT/.toxiproxy-build.lock"
flock 9

have() { [ -x "$OUT/$1" ] && [ "$(cat "$OUT/$1.version" 2>/dev/null)" = "$VERSION" ]; }
if have toxiproxy-server && have toxiproxy-cli; then
  log "toxiproxy $VERSION: present in $OUT"
  exit 0
fi
command -v go >/dev/null || { echo "build-toxiproxy: 'go' is not on PATH; install Go >= 1.22" >&2; exit 1; }
log "go: $(go version)"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf 'module hemisphere.dev/toxiproxy-build\n\ngo 1.22\n' > "$work/go.mod"
(cd "$work" && go get "$MODULE/cmd/server@$VERSION" "$MODULE/cmd/cli@$VERSION")
for pair in server:toxiproxy-server cli:toxiproxy-cli; do
  pkg=${pair%%:*}; name=${pair#*:}
  t0=$(date +%s)
  (cd "$work" && go build -p 2 -ldflags="-s -w -X $MODULE.Version=$VERSION" \
     -o "$OUT/$name.tmp" "$MODULE/cmd/$pkg")
  mv -f "$OUT/$name.tmp" "$OUT/$name"
  echo "$VERSION" > "$OUT/$name.version"
  log "built $name in $(( $(date +%s) - t0 ))s ($(du -h "$OUT/$name" | cut -f1))"
done
log "done in $(( $(date +%s) - start_all ))s"
