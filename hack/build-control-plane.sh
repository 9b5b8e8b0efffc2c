#!/usr/bin/env bash
# Builds kube-apiserver and etcd from their Go modules into
# bin/k8s/<version>/, the directory envtest reads through KUBEBUILDER_ASSETS.
# setup-envtest cannot download binaries on our machines and there is no
# Docker engine, so the Go module proxy is the only source we can rely on.
# The result is cached: nothing is rebuilt when both binaries are present.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-1.37.2}"
ETCD_VERSION="${ETCD_VERSION:-3.6.16}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="${DEST:-$ROOT/bin/k8s/$K8S_VERSION}"
# MATCH_MODULE, when set, is a module directory (the project's): the
# kube-apiserver build takes that module's dependency versions where they
# are newer, and the same build flags as its tests (no -trimpath, cgo as
# the go command defaults), so the packages both use (k8s.io/*,
# golang.org/x/*, grpc, protobuf, ...) are compiled once into the shared
# build cache instead of twice. With the project's toolchain (make
# exports GOTOOLCHAIN) nothing of the standard library is compiled twice
# either.
MATCH_MODULE="${MATCH_MODULE:-}"
export GOTOOLCHAIN="${GOTOOLCHAIN:-auto}"
export GOFLAGS="-mod=mod"

log() { printf '[control-plane] %s\n' "$*" >&2; }
die() { printf '[control-plane] ERROR: %s\n' "$*" >&2; exit 1; }

if [[ -x "$DEST/kube-apiserver" && -x "$DEST/etcd" ]]; then
  echo "$DEST"
  exit 0
fi

command -v go >/dev/null || die "go is not on PATH; install Go 1.21 or later first (make runs Go 1.27.3)."
mkdir -p "$DEST"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# Staging modules that k8s.io/kubernetes' own go.mod replaces with ./staging.
# A module that depends on k8s.io/kubernetes must pin each of them itself.
STAGING=(api apiextensions-apiserver apimachinery apiserver cli-runtime
  client-go cloud-provider cluster-bootstrap code-generator component-base
  component-helpers controller-manager cri-api cri-client cri-streaming
  csi-translation-lib dynamic-resource-allocation endpointslice externaljwt
  kms kube-aggregator kube-controller-manager kube-proxy kube-scheduler
  kubectl kubelet metrics mount-utils pod-security-admission
  sample-apiserver sample-cli-plugin sample-controller streaming)

build_apiserver() {
  [[ -x "$DEST/kube-apiserver" ]] && return 0
  log "building kube-apiserver v$K8S_VERSION from k8s.io/kubernetes (first time only, about 10 min on 2 cores with an empty build cache)"
  local dir="$WORK/apiserver" minor="0.${K8S_VERSION#1.}"
  mkdir -p "$dir"
  {
    echo "module dbrest.io/throwaway/apiserver"
    echo
    echo "go 1.26"
    echo
    echo "require k8s.io/kubernetes v$K8S_VERSION"
    echo
    for m in "${STAGING[@]}"; do echo "replace k8s.io/$m => k8s.io/$m v$minor"; done
    if [[ -n "$MATCH_MODULE" ]]; then
      # Requirements only raise versions (minimal version selection), and
      # tidy drops the modules kube-apiserver does not import. The
      # kubernetes module and its staging modules stay as pinned above.
      local skip=" k8s.io/kubernetes " path version
      for m in "${STAGING[@]}"; do skip+=" k8s.io/$m "; done
      (cd "$MATCH_MODULE" && GOFLAGS= go list -m -f '{{if and (not .Main) .Version}}{{.Path}} {{.Version}}{{end}}' all) |
        while read -r path version; do
          [[ -z "$path" || "$skip" == *" $path "* ]] || echo "require $path $version"
        done
    fi
  } >"$dir/go.mod"
  cat >"$dir/tools.go" <<'GO'
//go:build tools

package tools

import _ "k8s.io/kubernetes/cmd/kube-apiserver"
GO
  (cd "$dir" && go mod tidy -e >/dev/null 2>"$WORK/tidy.log") ||
    { cat "$WORK/tidy.log" >&2; die "go mod tidy failed for k8s.io/kubernetes v$K8S_VERSION (is the Go module proxy reachable?)"; }
  local trim=(-trimpath)
  [[ -n "$MATCH_MODULE" ]] && trim=()
  (cd "$dir" && go build -tags tools "${trim[@]}" -ldflags=-s -o "$DEST/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver) ||
    die "building kube-apiserver failed; see the output above"
  mv "$DEST/kube-apiserver.tmp" "$DEST/kube-apiserver"
}

build_etcd() {
  [[ -x "$DEST/etcd" ]] && return 0
  log "building etcd v$ETCD_VERSION (first time only, about 1 min)"
  local dir="$WORK/etcd"
  mkdir -p "$dir"
  printf 'module dbrest.io/throwaway/etcd\n\ngo 1.26\n' >"$dir/go.mod"
  (cd "$dir" && go get "go.etcd.io/etcd/server/v3@v$ETCD_VERSION" >/dev/null 2>"$WORK/etcd.log") ||
    { cat "$WORK/etcd.log" >&2; die "fetching go.etcd.io/etcd/server/v3@v$ETCD_VERSION failed (is the Go module proxy reachable?)"; }
  (cd "$dir" && CGO_ENABLED=0 go build -trimpath -ldflags=-s -o "$DEST/etcd.tmp" go.etcd.io/etcd/server/v3) ||
    die "building etcd failed; see the output above"
  mv "$DEST/etcd.tmp" "$DEST/etcd"
}

build_etcd
build_apiserver
log "control plane ready in $DEST"
echo "$DEST"
