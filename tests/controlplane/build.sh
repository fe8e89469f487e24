#!/usr/bin/env bash
# Builds a real Kubernetes control plane (kube-apiserver, kubectl, etcd) from
# source with the Go toolchain, into a per-user cache OUTSIDE the repository:
#
#   ${MIRRORD_USAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mirrord-usage}/controlplane/
#       k8s-<K8S_VERSION>/kube-apiserver
#       k8s-<K8S_VERSION>/kubectl
#       etcd-<ETCD_VERSION>/etcd
#
# A binary that is already cached (and answers --version with the expected
# version) is not rebuilt. Progress goes to stderr; stdout gets exactly
#
#   KUBE_APISERVER=<path>
#   KUBECTL=<path>
#   ETCD=<path>
#
# so callers can eval it. Assign first, so that a failed build is not hidden
# (`eval "$(...)"` would exit 0):
#
#   bins="$(tests/controlplane/build.sh)" && eval "$bins"
#
# The first build of kube-apiserver takes a long time (see README.md); the Go
# module and build caches stay in Go's default places, so later builds of a new
# version reuse most of the work.
set -euo pipefail

# ---- versions: defined once here; must match go.mod and etcd/go.mod ---------
K8S_VERSION=v1.34.4     # k8s.io/kubernetes in go.mod (staging modules: v0.34.4)
ETCD_VERSION=v3.6.16    # go.etcd.io/etcd/server/v3 in etcd/go.mod
# -----------------------------------------------------------------------------

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE_ROOT="${MIRRORD_USAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mirrord-usage}/controlplane"
K8S_DIR="$CACHE_ROOT/k8s-$K8S_VERSION"
ETCD_DIR="$CACHE_ROOT/etcd-$ETCD_VERSION"

log() { printf 'controlplane: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

command -v go >/dev/null 2>&1 || die "go is not on PATH (Go >= 1.26 is needed to build etcd $ETCD_VERSION)"

# Never let the go command fetch a different toolchain (that would be a
# prebuilt download); fail with go's own message if the local one is too old.
export GOTOOLCHAIN=local
# This directory's modules are standalone; ignore any go.work around them.
export GOWORK=off
# Static binaries, as upstream ships them; no C toolchain needed.
export CGO_ENABLED=0

# The versions above must be the ones go.mod pins, or we would build one
# version and label it as another.
grep -qE "^require k8s\.io/kubernetes ${K8S_VERSION//./\\.}\$|^[[:space:]]+k8s\.io/kubernetes ${K8S_VERSION//./\\.}\$" "$HERE/go.mod" \
  || die "K8S_VERSION=$K8S_VERSION does not match the k8s.io/kubernetes version in $HERE/go.mod"
STAGING_VERSION="v0.${K8S_VERSION#v1.}"
if grep -E '^[[:space:]]+k8s\.io/[a-z-]+ => k8s\.io/[a-z-]+ ' "$HERE/go.mod" | grep -vq " $STAGING_VERSION\$"; then
  die "every k8s.io staging replace in $HERE/go.mod must be $STAGING_VERSION"
fi
grep -qE "^require go\.etcd\.io/etcd/server/v3 ${ETCD_VERSION//./\\.}\$|^[[:space:]]+go\.etcd\.io/etcd/server/v3 ${ETCD_VERSION//./\\.}\$" "$HERE/etcd/go.mod" \
  || die "ETCD_VERSION=$ETCD_VERSION does not match go.etcd.io/etcd/server/v3 in $HERE/etcd/go.mod"

mkdir -p "$K8S_DIR" "$ETCD_DIR"

# Serialise concurrent callers (e.g. parallel test processes) so that only one
# of them builds; the others then find the binaries cached.
HAVE_LOCK=""
if command -v flock >/dev/null 2>&1; then
  HAVE_LOCK=1
  exec 9>"$CACHE_ROOT/.build.lock"
  if ! flock -n 9; then
    log "another build.sh is running; waiting for it to finish…"
    flock 9
  fi
fi

# Temp files of an interrupted build are removed on exit; ones left by a
# build that was killed outright are removed here (only when we hold the
# lock, so that no other build.sh can be writing them).
TMP_FILES=()
cleanup() { if ((${#TMP_FILES[@]})); then rm -f "${TMP_FILES[@]}"; fi; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
if [[ -n $HAVE_LOCK ]]; then rm -f "$K8S_DIR"/.*.tmp.* "$ETCD_DIR"/.*.tmp.*; fi

# version_ok BINARY NAME: does BINARY run and report the version we pin?
version_ok() {
  local bin=$1 name=$2 out
  [[ -x $bin ]] || return 1
  case $name in
    kube-apiserver) out=$("$bin" --version 2>&1) || return 1
                    [[ $out == "Kubernetes $K8S_VERSION" ]] ;;
    kubectl)        out=$("$bin" version --client 2>&1) || return 1
                    [[ $out == *"Client Version: $K8S_VERSION"* ]] ;;
    etcd)           out=$("$bin" --version 2>&1) || return 1
                    [[ $out == *"etcd Version: ${ETCD_VERSION#v}"* ]] ;;
    *) return 1 ;;
  esac
}

# Release time of a module version, from the module cache (fills buildDate
# deterministically instead of "now").
module_time() {
  (cd "$1" && go list -m -f '{{if .Time}}{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}{{end}}' "$2")
}

# build NAME DEST_DIR MODULE_DIR PACKAGE VERSION LDFLAGS
build() {
  local name=$1 dir=$2 moddir=$3 pkg=$4 version=$5 ldflags=$6
  local dest="$dir/$name"
  if version_ok "$dest" "$name"; then
    log "using cached $name $version ($dest)"
    return 0
  fi
  if [[ -e $dest ]]; then
    log "cached $dest does not work or reports another version; rebuilding"
  fi
  if [[ $name == kube-apiserver ]]; then
    log "building $name $version (first build takes many minutes)…"
  else
    log "building $name $version…"
  fi
  local tmp start
  tmp="$(mktemp "$dir/.$name.tmp.XXXXXX")"
  TMP_FILES+=("$tmp")
  start=$SECONDS
  (cd "$moddir" && go build -trimpath -ldflags "-s -w $ldflags" -o "$tmp" "$pkg") >&2 \
    || die "go build of $pkg failed"
  chmod 0755 "$tmp"
  version_ok "$tmp" "$name" || die "freshly built $name does not report version $version"
  mv -f "$tmp" "$dest"
  log "built $name $version in $((SECONDS - start))s -> $dest"
}

# Same -X flags as kubernetes' hack/lib/version.sh, for both version packages
# (component-base: kube-apiserver --version and /version; client-go: kubectl).
# gitCommit/gitTreeState are left unset: the module proxy does not tell us the
# commit, and a made-up one would be worse than upstream's placeholder.
k8s_ldflags() {
  local major minor date pkg flags=""
  major="${K8S_VERSION#v}"; major="${major%%.*}"
  minor="${K8S_VERSION#v*.}"; minor="${minor%%.*}"
  date="$(module_time "$HERE" k8s.io/kubernetes)"
  for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
    flags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
    [[ -n $date ]] && flags+=" -X $pkg.buildDate=$date"
  done
  printf '%s' "$flags"
}

K8S_LDFLAGS="$(k8s_ldflags)"
# etcd's version number is a constant in go.etcd.io/etcd/api/v3/version; only
# the git SHA comes from ldflags (etcd's own ./build script sets it).
ETCD_LDFLAGS="-X go.etcd.io/etcd/api/v3/version.GitSHA=module-${ETCD_VERSION}"

build etcd           "$ETCD_DIR" "$HERE/etcd" go.etcd.io/etcd/server/v3            "$ETCD_VERSION" "$ETCD_LDFLAGS"
build kubectl        "$K8S_DIR"  "$HERE"      k8s.io/kubernetes/cmd/kubectl        "$K8S_VERSION"  "$K8S_LDFLAGS"
build kube-apiserver "$K8S_DIR"  "$HERE"      k8s.io/kubernetes/cmd/kube-apiserver "$K8S_VERSION"  "$K8S_LDFLAGS"

printf 'KUBE_APISERVER=%q\n' "$K8S_DIR/kube-apiserver"
printf 'KUBECTL=%q\n' "$K8S_DIR/kubectl"
printf 'ETCD=%q\n' "$ETCD_DIR/etcd"
