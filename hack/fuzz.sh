#!/usr/bin/env bash
# Runs every fuzz target in the module for FUZZTIME each (default 30s).
# go test -fuzz takes one target of one package at a time, so the targets
# are found with go test -list and run one after another. A crasher is
# written by go test into the package's testdata/fuzz/<Target>/, where it
# becomes a seed that every later "go test" replays: commit it with the fix.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-30s}
failed=0
count=0
for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  grep -lq '^func Fuzz' "$dir"/*_test.go 2>/dev/null || continue
  for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
    count=$((count + 1))
    echo "== $pkg $target ($fuzztime)"
    if ! go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg"; then
      failed=$((failed + 1))
    fi
  done
done
echo "fuzz: $count targets, $failed failed"
[ "$failed" -eq 0 ]
