#!/usr/bin/env bash
# Builds the Helm CLI from its Go module (helm.sh/helm/v3/cmd/helm) into a
# per-user cache OUTSIDE the repository, beside the control plane's binaries:
#
#   ${MIRRORD_USAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mirrord-usage}/helm/
#       helm-<HELM_VERSION>/helm
#
# A cached binary that answers `version` with the expected version is not
# rebuilt. Progress goes to stderr; stdout gets exactly
#
#   HELM=<path>
#
# so callers can eval it (assign first, so that a failed build is not hidden):
#
#   bins="$(tests/helm/build.sh)" && eval "$bins" && "$HELM" version
set -euo pipefail

# ---- version: defined once here; must match go.mod ---------------------------
HELM_VERSION=v3.19.5    # helm.sh/helm/v3 in go.mod
# -----------------------------------------------------------------------------

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE_ROOT="${MIRRORD_USAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mirrord-usage}/helm"
DIR="$CACHE_ROOT/helm-$HELM_VERSION"
DEST="$DIR/helm"

log() { printf 'helm: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Never let the go command fetch a different toolchain (that would be a
# prebuilt download); fail with go's own message if the local one is too old.
export GOTOOLCHAIN=local
# This directory's module is standalone; ignore any go.work around it.
export GOWORK=off
# A static binary, as upstream ships it; no C toolchain needed.
export CGO_ENABLED=0

grep -qE "^require helm\.sh/helm/v3 ${HELM_VERSION//./\\.}\$|^[[:space:]]+helm\.sh/helm/v3 ${HELM_VERSION//./\\.}\$" "$HERE/go.mod" \
  || die "HELM_VERSION=$HELM_VERSION does not match the helm.sh/helm/v3 version in $HERE/go.mod"

# `helm version --short` prints e.g. "v3.19.5+g<commit>" upstream; ours has no commit.
version_ok() {
  local out
  [[ -x $1 ]] || return 1
  out=$(HELM_CONFIG_HOME=/nonexistent "$1" version --short 2>&1) || return 1
  [[ $out == "$HELM_VERSION" || $out == "$HELM_VERSION+"* ]]
}

if version_ok "$DEST"; then
  log "using cached helm $HELM_VERSION ($DEST)"
  printf 'HELM=%q\n' "$DEST"
  exit 0
fi

command -v go >/dev/null 2>&1 || die "go is not on PATH (Go >= 1.24 is needed to build helm $HELM_VERSION)"
mkdir -p "$DIR"

# Serialise concurrent callers (parallel test processes): one builds, the
# others then find the binary cached.
HAVE_LOCK=""
if command -v flock >/dev/null 2>&1; then
  HAVE_LOCK=1
  exec 9>"$CACHE_ROOT/.build.lock"
  if ! flock -n 9; then
    log "another build.sh is running; waiting for it to finish…"
    flock 9
  fi
fi

TMP=""
cleanup() { if [[ -n $TMP ]]; then rm -f "$TMP"; fi; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
if [[ -n $HAVE_LOCK ]]; then rm -f "$DIR"/.*.tmp.*; fi

# Whoever held the lock before us may have built it.
if version_ok "$DEST"; then
  log "using cached helm $HELM_VERSION ($DEST)"
  printf 'HELM=%q\n' "$DEST"
  exit 0
fi
if [[ -e $DEST ]]; then
  log "cached $DEST does not work or reports another version; rebuilding"
fi

# The ldflags of Helm's own Makefile: its version, and the Kubernetes version
# of its client-go (which `helm template` reports as .Capabilities.KubeVersion
# and `helm lint` checks deprecations against). The commit is left unset: the
# module proxy does not tell us it, and a made-up one would be worse.
K8S_VERSION="$(cd "$HERE" && go list -m -f '{{.Version}}' k8s.io/client-go)"   # v0.34.2
K8S_VERSION="${K8S_VERSION#v}"
K8S_MAJOR=$(( ${K8S_VERSION%%.*} + 1 ))
K8S_MINOR="${K8S_VERSION#*.}"; K8S_MINOR="${K8S_MINOR%%.*}"
LDFLAGS="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
  LDFLAGS+=" -X $pkg.k8sVersionMajor=$K8S_MAJOR -X $pkg.k8sVersionMinor=$K8S_MINOR"
done

log "building helm $HELM_VERSION from its Go module (a first build takes a few minutes)…"
start=$SECONDS
TMP="$(mktemp "$DIR/.helm.tmp.XXXXXX")"
(cd "$HERE" && go build -trimpath -ldflags "$LDFLAGS" -o "$TMP" helm.sh/helm/v3/cmd/helm) >&2 \
  || die "go build of helm.sh/helm/v3/cmd/helm failed"
chmod 0755 "$TMP"
version_ok "$TMP" || die "freshly built helm does not report version $HELM_VERSION"
mv -f "$TMP" "$DEST"
TMP=""
log "built helm $HELM_VERSION in $((SECONDS - start))s -> $DEST"

printf 'HELM=%q\n' "$DEST"
