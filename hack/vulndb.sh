#!/usr/bin/env bash
# Builds an offline Go vulnerability database for `govulncheck -db file://…`.
#
# vuln.go.dev is not reachable from these machines, but the Go module proxy
# is, and it serves golang.org/x/vulndb: the database's source, with every
# entry as OSV JSON under data/osv. Its own cmd/indexdb writes the layout
# govulncheck reads (index/db.json, index/modules.json, ID/GO-….json).
# Pinning the vulndb version makes a run reproducible; bump it to pick up
# new entries.
set -euo pipefail
version="$1"
out="$2"
work="$(mktemp -d)"
trap 'rm -rf "$work" "$out.tmp"' EXIT
cd "$work" # outside the project module, so nothing touches go.mod

if ! json="$(go mod download -json "golang.org/x/vulndb@${version}" 2>&1)"; then
  echo "vuln: cannot download golang.org/x/vulndb@${version} from the Go module proxy ($(go env GOPROXY))." >&2
  echo "vuln: govulncheck needs a vulnerability database, and vuln.go.dev is not reachable either; see docs/security.md." >&2
  echo "$json" >&2
  exit 1
fi
dir="$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' <<<"$json")"
if [[ ! -d "$dir/data/osv" ]]; then
  echo "vuln: golang.org/x/vulndb@${version} has no data/osv directory: its layout changed, so no offline database can be built from it." >&2
  exit 1
fi
echo "vuln: indexing $(ls "$dir/data/osv" | wc -l) entries of golang.org/x/vulndb@${version} (first time only, a few minutes)" >&2
go run "golang.org/x/vulndb/cmd/indexdb@${version}" -vulns "$dir/data/osv" -out "$out.tmp"
mv "$out.tmp" "$out"
