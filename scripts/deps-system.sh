#!/usr/bin/env bash
# Debian packages the platform and its tests use (ARCHITECTURE.md §7). Idempotent: a stamp keyed
# on the package list skips the work when nothing changed and every package is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
PACKAGES=(bubblewrap util-linux procps iproute2 git zstd postgresql-15 docker-registry skopeo umoci
          chromium etcd-server)
stamp_dir=.cache/stamps
mkdir -p "$stamp_dir"
stamp="$stamp_dir/system-$(printf '%s\n' "${PACKAGES[@]}" | sha256sum | cut -c1-16)"
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  touch "$stamp"; exit 0
fi
echo "==> installing Debian packages: ${missing[*]}"
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
touch "$stamp"
