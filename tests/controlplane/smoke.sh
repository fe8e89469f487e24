#!/usr/bin/env bash
# Manual smoke test of the control plane that build.sh produces: builds (or
# reuses) the binaries, starts etcd and kube-apiserver on free loopback ports
# with a throw-away PKI made by openssl, checks /readyz and `kubectl get ns`
# with an admin (system:masters) client certificate, then stops everything and
# removes its temp dir. It documents, in runnable form, the flag set that
# README.md describes; the Rust test harness does the same thing natively.
#
#   tests/controlplane/smoke.sh          # run the check
#   KEEP=1 tests/controlplane/smoke.sh   # leave it running until Enter is pressed
#
# Needs: bash, openssl, python3 (only to pick free ports).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
log() { printf 'smoke: %s\n' "$*" >&2; }

# (assign first: `eval "$(build.sh)"` alone would hide a failed build)
bins="$("$HERE/build.sh")"
eval "$bins"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/mirrord-usage-controlplane.XXXXXX")"
ETCD_PID="" APISERVER_PID=""
cleanup() {
  local rc=$?
  # kube-apiserver first (it takes ~1s to shut down cleanly), then etcd.
  for pid in $APISERVER_PID $ETCD_PID; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if ((rc != 0)); then
    for f in etcd.log kube-apiserver.log; do
      [[ -f $WORK/$f ]] && { log "---- last lines of $f"; tail -n 30 "$WORK/$f" >&2; }
    done
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_ports() { # N -> N distinct free loopback TCP ports, one per line
  python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
for s in socks:
    print(s.getsockname()[1])
EOF
}
read -r ETCD_CLIENT_PORT ETCD_PEER_PORT APISERVER_PORT < <(free_ports 3 | paste -sd' ')

# ---- PKI (ECDSA P-256: generated instantly) ---------------------------------
PKI="$WORK/pki"; mkdir -p "$PKI"
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$PKI/$1.key" 2>/dev/null; }
ca() { # NAME CN
  key "$1"
  openssl req -x509 -new -key "$PKI/$1.key" -subj "/CN=$2" -days 1 -out "$PKI/$1.crt" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
}
leaf() { # NAME CA SUBJECT EXT
  key "$1"
  openssl req -new -key "$PKI/$1.key" -subj "$3" -out "$PKI/$1.csr" 2>/dev/null
  openssl x509 -req -in "$PKI/$1.csr" -CA "$PKI/$2.crt" -CAkey "$PKI/$2.key" -CAcreateserial \
    -days 1 -out "$PKI/$1.crt" -extfile <(printf '%s\n' "$4") 2>/dev/null
}
ca ca "mirrord-usage-test-ca"                       # serving + client CA
ca front-proxy-ca "mirrord-usage-test-front-proxy-ca"
leaf apiserver ca "/CN=kube-apiserver" \
  "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost"
leaf admin ca "/O=system:masters/CN=admin" \
  "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth"
leaf front-proxy-client front-proxy-ca "/CN=front-proxy-client" \
  "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth"
key sa && openssl pkey -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub"

# ---- etcd -------------------------------------------------------------------
ETCD_URL="http://127.0.0.1:$ETCD_CLIENT_PORT"
log "starting etcd on $ETCD_URL"
"$ETCD" \
  --name=default \
  --data-dir="$WORK/etcd" \
  --listen-client-urls="$ETCD_URL" \
  --advertise-client-urls="$ETCD_URL" \
  --listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster="default=http://127.0.0.1:$ETCD_PEER_PORT" \
  --log-level=warn \
  --unsafe-no-fsync \
  >"$WORK/etcd.log" 2>&1 &
ETCD_PID=$!

# ---- kube-apiserver ---------------------------------------------------------
log "starting kube-apiserver on https://127.0.0.1:$APISERVER_PORT"
"$KUBE_APISERVER" \
  --etcd-servers="$ETCD_URL" \
  --bind-address=127.0.0.1 \
  --secure-port="$APISERVER_PORT" \
  --tls-cert-file="$PKI/apiserver.crt" \
  --tls-private-key-file="$PKI/apiserver.key" \
  --client-ca-file="$PKI/ca.crt" \
  --authorization-mode=RBAC \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="$PKI/sa.pub" \
  --service-account-signing-key-file="$PKI/sa.key" \
  --service-cluster-ip-range=10.96.0.0/12 \
  --requestheader-client-ca-file="$PKI/front-proxy-ca.crt" \
  --requestheader-allowed-names=front-proxy-client \
  --requestheader-username-headers=X-Remote-User \
  --requestheader-group-headers=X-Remote-Group \
  --requestheader-extra-headers-prefix=X-Remote-Extra- \
  --proxy-client-cert-file="$PKI/front-proxy-client.crt" \
  --proxy-client-key-file="$PKI/front-proxy-client.key" \
  --advertise-address=127.0.0.1 \
  --endpoint-reconciler-type=none \
  --cert-dir="$WORK/apiserver-certs" \
  >"$WORK/kube-apiserver.log" 2>&1 &
APISERVER_PID=$!

# ---- kubeconfig -------------------------------------------------------------
KUBECONFIG_FILE="$WORK/admin.kubeconfig"
cat >"$KUBECONFIG_FILE" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority: $PKI/ca.crt
users:
- name: admin
  user:
    client-certificate: $PKI/admin.crt
    client-key: $PKI/admin.key
contexts:
- name: test
  context: {cluster: test, user: admin}
current-context: test
EOF
k() { "$KUBECTL" --kubeconfig "$KUBECONFIG_FILE" "$@"; }

start=$SECONDS
until [[ "$(k get --raw /readyz 2>/dev/null)" == ok ]]; do
  kill -0 "$ETCD_PID" 2>/dev/null || { log "etcd exited"; exit 1; }
  kill -0 "$APISERVER_PID" 2>/dev/null || { log "kube-apiserver exited"; exit 1; }
  ((SECONDS - start < 120)) || { log "kube-apiserver not ready after 120s"; exit 1; }
  sleep 0.2
done
log "kube-apiserver ready after $((SECONDS - start))s"

echo "\$ kubectl get --raw /readyz"; k get --raw /readyz; echo
echo "\$ kubectl get ns"; k get ns
echo "\$ kubectl version"; k version
echo "\$ kubectl auth whoami"; k auth whoami

if [[ -n ${KEEP:-} ]]; then
  log "running; KUBECONFIG=$KUBECONFIG_FILE — press Enter to stop"
  read -r _
fi
