#!/usr/bin/env bash
# Runs every Go fuzz target in the module briefly, one at a time (go test
# accepts one -fuzz target per package run). The seed corpora already run
# as plain tests inside `go test ./...`; this adds a short coverage-guided
# search per target.
set -euo pipefail
fuzztime="${1:-5s}"
mapfile -t files < <(git grep -l -E '^func Fuzz[A-Za-z0-9_]+\(f \*testing\.F\)' -- '*_test.go' || true)
for file in "${files[@]}"; do
  pkg="./$(dirname "$file")"
  for target in $(grep -oE '^func Fuzz[A-Za-z0-9_]+' "$file" | cut -d' ' -f2); do
    echo "fuzz: $pkg $target ($fuzztime)"
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg" >/dev/null
  done
done
