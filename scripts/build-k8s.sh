#!/usr/bin/env bash
# Build the Kubernetes test binaries from Go modules (no registry ships them):
#   kube-apiserver, kube-controller-manager, kube-scheduler  (module k8s.io/kubernetes)
#   etcd                                                      (go.etcd.io/etcd/server/v3, the
#                                                              version k8s.io/kubernetes pins)
#   kwok                                                      (sigs.k8s.io/kwok, simulated nodes)
# into the git-ignored .cache/k8s-bin/, for the test harness in tests/services/kube.py.
#
# Idempotent: a binary whose stamp (<name>.version) matches the pinned version is kept. A copy is
# kept in $HOME/.cache/hemisphere/k8s-bin (override: HEMISPHERE_K8S_HOME_CACHE) so another clone
# on the same machine (and CI) reuses it instead of building again.
#
# Debian's etcd-server (3.4) is older than the etcd that Kubernetes 1.34 is tested with (3.6), so
# etcd is built too, from the same module graph as the API server.
set -euo pipefail
cd "$(dirname "$0")/.."

K8S_VERSION="v1.34.4"                 # k8s.io/kubernetes; staging modules at v0.34.4
KWOK_VERSION="v0.7.0"                 # sigs.k8s.io/kwok
ETCD_MODULE="go.etcd.io/etcd/server/v3"

ROOT="$(pwd)"
OUT="$ROOT/.cache/k8s-bin"
HOME_CACHE="${HEMISPHERE_K8S_HOME_CACHE:-$HOME/.cache/hemisphere/k8s-bin}"
WORK="$ROOT/.cache/k8s-build"
STAGING_VERSION="v0.${K8S_VERSION#v1.}"

export GOFLAGS="-trimpath -buildvcs=false -mod=mod"
export CGO_ENABLED=0
export GOTOOLCHAIN=local
export GOMAXPROCS="${GOMAXPROCS:-2}"

start_all=$(date +%s)
log() { printf '[build-k8s %4ss] %s\n' "$(( $(date +%s) - start_all ))" "$*"; }

mkdir -p "$OUT" "$HOME_CACHE" "$WORK"

# One build at a time (a second invocation waits, then finds everything present).
exec 9>"$ROOT/.cache/k8s-build.lock"
flock 9

# have NAME VERSION DIR: the binary is present in DIR with a matching stamp.
have() { [ -x "$3/$1" ] && [ "$(cat "$3/$1.version" 2>/dev/null)" = "$2" ]; }

# reuse NAME VERSION: from .cache/k8s-bin, else from the home cache. Returns 1 when absent.
reuse() {
  local name=$1 version=$2
  if have "$name" "$version" "$OUT"; then
    have "$name" "$version" "$HOME_CACHE" || publish "$name" "$version"
    log "$name $version: present"
    return 0
  fi
  if have "$name" "$version" "$HOME_CACHE"; then
    cp -f "$HOME_CACHE/$name" "$OUT/$name.tmp" && mv -f "$OUT/$name.tmp" "$OUT/$name"
    echo "$version" > "$OUT/$name.version"
    log "$name $version: reused from $HOME_CACHE"
    return 0
  fi
  return 1
}

# publish NAME VERSION: copy a finished binary into the home cache (atomically).
publish() {
  cp -f "$OUT/$1" "$HOME_CACHE/$1.tmp" && mv -f "$HOME_CACHE/$1.tmp" "$HOME_CACHE/$1"
  echo "$2" > "$HOME_CACHE/$1.version"
}

# install_built NAME VERSION TMPFILE
install_built() {
  mv -f "$3" "$OUT/$1"
  echo "$2" > "$OUT/$1.version"
  publish "$1" "$2"
}

need_k8s=()
for name in kube-apiserver kube-controller-manager kube-scheduler etcd; do
  version="$K8S_VERSION"
  reuse "$name" "$version" || need_k8s+=("$name")
done
need_kwok=0
reuse kwok "$KWOK_VERSION" || need_kwok=1

if [ ${#need_k8s[@]} -gt 0 ] || [ $need_kwok -eq 1 ]; then
  command -v go >/dev/null || { echo "build-k8s: 'go' is not on PATH; install Go >= 1.24" >&2; exit 1; }
  log "go: $(go version)"
fi

if [ ${#need_k8s[@]} -gt 0 ]; then
  # A wrapper module: k8s.io/kubernetes replaces its staging modules with local paths, which a
  # dependent module cannot see, so point each of them at the published k8s.io/* v0.x release.
  mod="$WORK/kubernetes-$K8S_VERSION"
  mkdir -p "$mod"
  if [ ! -f "$mod/.ready" ]; then
    log "downloading k8s.io/kubernetes@$K8S_VERSION (module source, once)"
    k8s_gomod=$(cd "$mod" && GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@$K8S_VERSION" \
      | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
    [ -f "$k8s_gomod" ] || { echo "build-k8s: could not download k8s.io/kubernetes@$K8S_VERSION" >&2; exit 1; }
    go_line=$(grep -m1 '^go ' "$k8s_gomod")
    {
      echo "module hemisphere.dev/k8s-build"
      echo
      echo "$go_line"
      grep '^godebug ' "$k8s_gomod" || true
      echo
      echo "require k8s.io/kubernetes $K8S_VERSION"
      echo
      echo "replace ("
      grep -E '^\s+k8s\.io/[a-z0-9-]+ => \./staging/' "$k8s_gomod" \
        | awk -v v="$STAGING_VERSION" '{ printf "\t%s => %s %s\n", $1, $1, v }'
      echo ")"
    } > "$mod/go.mod"
    log "resolving the module graph (go get)"
    (cd "$mod" && go get "k8s.io/kubernetes/cmd/kube-apiserver@$K8S_VERSION" \
       "k8s.io/kubernetes/cmd/kube-controller-manager@$K8S_VERSION" \
       "k8s.io/kubernetes/cmd/kube-scheduler@$K8S_VERSION")
    # etcd at the version k8s.io/kubernetes already pins (indirect requirement of its tests).
    etcd_version=$(grep -E "^\s+$ETCD_MODULE v" "$k8s_gomod" | awk '{print $2}')
    (cd "$mod" && go get "$ETCD_MODULE@$etcd_version")
    touch "$mod/.ready"
  fi

  major=${K8S_VERSION#v}; major=${major%%.*}
  minor=${K8S_VERSION#v*.}; minor=${minor%%.*}
  vpkgs="k8s.io/component-base/version k8s.io/client-go/pkg/version"
  xflags=""
  for p in $vpkgs; do
    xflags+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=$major -X $p.gitMinor=$minor"
    xflags+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  for name in "${need_k8s[@]}"; do
    case "$name" in
      etcd) pkg="$ETCD_MODULE" ;;
      *) pkg="k8s.io/kubernetes/cmd/$name" ;;
    esac
    t0=$(date +%s)
    log "building $name ($pkg) ..."
    (cd "$mod" && go build -p 2 -ldflags="-s -w$xflags" -o "$OUT/$name.tmp" "$pkg")
    install_built "$name" "$K8S_VERSION" "$OUT/$name.tmp"
    log "built $name in $(( $(date +%s) - t0 ))s ($(du -h "$OUT/$name" | cut -f1))"
  done
fi

if [ $need_kwok -eq 1 ]; then
  t0=$(date +%s)
  log "building kwok $KWOK_VERSION ..."
  kmod="$WORK/kwok-$KWOK_VERSION"
  mkdir -p "$kmod"
  if [ ! -f "$kmod/go.mod" ]; then
    printf 'module hemisphere.dev/kwok-build\n\ngo 1.24\n' > "$kmod/go.mod"
    (cd "$kmod" && go get "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION")
  fi
  (cd "$kmod" && go build -p 2 -ldflags="-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION" \
     -o "$OUT/kwok.tmp" sigs.k8s.io/kwok/cmd/kwok)
  install_built kwok "$KWOK_VERSION" "$OUT/kwok.tmp"
  log "built kwok in $(( $(date +%s) - t0 ))s ($(du -h "$OUT/kwok" | cut -f1))"
fi

# Debian's kubectl (package kubernetes-client), the independent client the tests read objects
# back with. Extracted, not installed: /usr/bin/kubectl may belong to another package (a cloud
# SDK's kubectl), which dpkg would refuse to overwrite.
if [ ! -x "$OUT/debian-kubectl" ] && [ -x "$HOME_CACHE/debian-kubectl" ]; then
  cp -f "$HOME_CACHE/debian-kubectl" "$HOME_CACHE/debian-kubectl.version" "$OUT/"
  log "Debian kubectl: reused from $HOME_CACHE"
fi
if [ ! -x "$OUT/debian-kubectl" ]; then
  if command -v apt-get >/dev/null; then
    log "fetching Debian's kubernetes-client (kubectl) ..."
    tmp=$(mktemp -d)
    chmod 755 "$tmp"
    if (cd "$tmp" && apt-get download -qq kubernetes-client >/dev/null 2>&1 \
          || { apt-get update -qq >/dev/null 2>&1 && apt-get download -qq kubernetes-client >/dev/null 2>&1; }); then
      dpkg-deb -x "$tmp"/kubernetes-client_*.deb "$tmp/x"
      mv -f "$tmp/x/usr/bin/kubectl" "$OUT/debian-kubectl"
      dpkg-deb -f "$tmp"/kubernetes-client_*.deb Version > "$OUT/debian-kubectl.version"
      cp -f "$OUT/debian-kubectl" "$OUT/debian-kubectl.version" "$HOME_CACHE/"
      log "Debian kubectl $(cat "$OUT/debian-kubectl.version")"
    else
      rm -rf "$tmp"
      log "error: could not download Debian's kubernetes-client (kubectl); the tests need it"
      exit 1
    fi
    rm -rf "$tmp"
  else
    log "error: no apt-get to fetch Debian's kubernetes-client (kubectl); the tests need it"
    exit 1
  fi
fi

log "done: $(du -sh "$OUT" | cut -f1) in $OUT (copy in $HOME_CACHE)"
