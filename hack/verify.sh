#!/usr/bin/env bash
# Fails when generated code or manifests are stale, or Go files are not
# gofmt-ed. It hashes the generated paths, regenerates them, and compares,
# so it works on a dirty tree as well as on a clean CI clone.
set -euo pipefail
make_cmd="$1"; shift
hash_paths() { find "$@" -type f 2>/dev/null | LC_ALL=C sort | xargs -r sha256sum; }

before="$(hash_paths "$@")"
"$make_cmd" --no-print-directory generate manifests >/dev/null
after="$(hash_paths "$@")"
if [[ "$before" != "$after" ]]; then
  echo "verify: generated files were stale and have been regenerated:" >&2
  diff <(echo "$before") <(echo "$after") >&2 || true
  echo "verify: run 'make generate manifests' and commit the result." >&2
  exit 1
fi

unformatted="$(gofmt -s -l $(git ls-files '*.go') 2>&1 || true)"
if [[ -n "$unformatted" ]]; then
  echo "verify: these files are not gofmt -s formatted (run 'make fmt'):" >&2
  echo "$unformatted" >&2
  exit 1
fi
echo "verify: generated files up to date, Go files formatted"
