#!/usr/bin/env bash
# Builds kube-apiserver and etcd from their Go modules into
# bin/k8s/<version>/, the directory envtest reads through KUBEBUILDER_ASSETS.
# setup-envtest cannot download binaries on our machines and there is no
# Docker engine, so the Go module proxy is the only source we can rely on.
# The result is cached: nothing is rebuilt when both binaries are present.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-1.37.2}"
ETCD_VERSION="${ETCD_VERSION:-3.7.0}"
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
# -mod=mod on top of the caller's flags (make passes its build flags in
# GOFLAGS, so the shared packages compile with the same ones).
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-mod=mod"

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

# One throwaway module requires both kube-apiserver and etcd, and one
# `go build` links both: the packages they share (grpc, protobuf, the etcd
# client, otel, prometheus, ...) resolve to one version each and compile
# once, and the two links run side by side.
build_control_plane() {
  log "building kube-apiserver v$K8S_VERSION and etcd v$ETCD_VERSION from their Go modules (first time only, about 4 min on 2 cores with an empty build cache)"
  local dir="$WORK/control-plane" minor="0.${K8S_VERSION#1.}"
  mkdir -p "$dir"
  {
    echo "module dbrest.io/throwaway/controlplane"
    echo
    echo "go 1.26"
    echo
    echo "require k8s.io/kubernetes v$K8S_VERSION"
    echo "require go.etcd.io/etcd/server/v3 v$ETCD_VERSION"
    echo
    for m in "${STAGING[@]}"; do echo "replace k8s.io/$m => k8s.io/$m v$minor"; done
    if [[ -n "$MATCH_MODULE" ]]; then
      # Requirements only raise versions (minimal version selection), and
      # tidy drops the modules neither binary imports. The kubernetes
      # module and its staging modules stay as pinned above.
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

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
)
GO
  (cd "$dir" && go mod tidy -e >/dev/null 2>"$WORK/tidy.log") ||
    { cat "$WORK/tidy.log" >&2; die "go mod tidy failed for k8s.io/kubernetes v$K8S_VERSION and etcd v$ETCD_VERSION (is the Go module proxy reachable?)"; }
  # kube-apiserver requires etcd's client libraries; when they are newer
  # than ETCD_VERSION, minimal version selection raises the server too.
  local etcd
  etcd="$(cd "$dir" && go list -m -f '{{.Version}}' go.etcd.io/etcd/server/v3)"
  [[ "$etcd" == "v$ETCD_VERSION" ]] ||
    die "kube-apiserver v$K8S_VERSION needs etcd $etcd, not v$ETCD_VERSION; set ETCD_VERSION (Makefile) to ${etcd#v}"
  local trim=(-trimpath)
  [[ -n "$MATCH_MODULE" ]] && trim=()
  mkdir -p "$WORK/out"
  (cd "$dir" && go build -tags tools "${trim[@]}" -ldflags=-s -o "$WORK/out/" k8s.io/kubernetes/cmd/kube-apiserver go.etcd.io/etcd/server/v3) ||
    die "building kube-apiserver and etcd failed; see the output above"
  # The go command names etcd's binary after its module path (server).
  mv "$WORK/out/kube-apiserver" "$DEST/kube-apiserver.tmp"
  mv "$WORK/out/server" "$DEST/etcd.tmp"
  mv "$DEST/kube-apiserver.tmp" "$DEST/kube-apiserver"
  mv "$DEST/etcd.tmp" "$DEST/etcd"
}

build_control_plane
log "control plane ready in $DEST"
echo "$DEST"
