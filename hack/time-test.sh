#!/usr/bin/env bash
# Runs the steps of `make test` one after the other and prints the wall
# time of each, so a slow step shows in every CI log. Usage:
#   hack/time-test.sh MAKE TARGET...
# Each TARGET is a make target; the table names it by its step. The run
# stops at the first failing step, and the table says which one it was.
set -uo pipefail
make_cmd="$1"; shift

label() {
  case "$1" in
    download) echo "download (Go toolchain, modules)" ;;
    tools) echo "tools (controller-gen, golangci-lint, govulncheck, vulndb)" ;;
    envtest) echo "control plane (kube-apiserver, etcd)" ;;
    verify) echo "verify (generated files, gofmt)" ;;
    vet) echo "vet" ;;
    lint) echo "lint (golangci-lint)" ;;
    vuln) echo "vuln (govulncheck)" ;;
    test-unit) echo "unit + envtest (go test ./...)" ;;
    test-dist) echo "distribution (test/distribution)" ;;
    test-fuzz) echo "fuzz" ;;
    test-e2e) echo "e2e (test/e2e)" ;;
    *) echo "$1" ;;
  esac
}

load() { cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?"; }

rows=()
started=$SECONDS
load_before="$(load)"
table() {
  local status="$1"
  printf '\n%-62s %8s\n' "make test: step" "seconds"
  for row in "${rows[@]}"; do printf '%s\n' "$row"; done
  printf '%-62s %8d\n' "total ($status)" $((SECONDS - started))
  printf 'load average (1, 5, 15 min): %s before, %s after; %s\n' "$load_before" "$(load)" "$(date -u +%FT%TZ)"
}

for target in "$@"; do
  step_start=$SECONDS
  printf '\n==> %s\n' "$(label "$target")"
  if ! "$make_cmd" --no-print-directory "$target"; then
    rows+=("$(printf '%-62s %8d  FAILED' "$(label "$target")" $((SECONDS - step_start)))")
    table "failed at $(label "$target")"
    exit 1
  fi
  rows+=("$(printf '%-62s %8d' "$(label "$target")" $((SECONDS - step_start)))")
done
table "passed"
