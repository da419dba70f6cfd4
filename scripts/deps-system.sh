#!/usr/bin/env bash
# Debian packages (ARCHITECTURE.md §7). `runtime` is what `make up` needs; `test` adds the real
# components the test suite and benchmarks start. Idempotent: installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNTIME=(bubblewrap util-linux procps iproute2 git)
TEST=(zstd postgresql-15 docker-registry skopeo umoci chromium etcd-server openssl dnsmasq-base)
case "${1:-test}" in
  runtime) PACKAGES=("${RUNTIME[@]}") ;;
  test) PACKAGES=("${RUNTIME[@]}" "${TEST[@]}") ;;
  *) echo "usage: $0 runtime|test" >&2; exit 2 ;;
esac
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "==> installing Debian packages: ${missing[*]}"
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
