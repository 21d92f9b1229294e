#!/usr/bin/env bash
# Builds the release archives of kubectl signet that plugins/signet.yaml
# names, into $1, and writes $1/signet.yaml with their SHA-256 checksums.
# Usage: hack/krew.sh OUTDIR [os/arch ...]
set -euo pipefail
out=$(mkdir -p "$1" && cd "$1" && pwd)
shift
cd "$(dirname "$0")/.."
platforms=("$@")
[ ${#platforms[@]} -gt 0 ] || platforms=(linux/amd64 linux/arm64 darwin/amd64 darwin/arm64)
manifest=$(cat plugins/signet.yaml)
for p in "${platforms[@]}"; do
  os=${p%/*} arch=${p#*/}
  stage=$(mktemp -d)
  CGO_ENABLED=0 GOOS=$os GOARCH=$arch go build -trimpath -ldflags="-s -w" -o "$stage/kubectl-signet" ./cmd/kubectl-signet
  cp plugins/kubectl_complete-signet LICENSE "$stage/"
  archive="$out/kubectl-signet_${os}_${arch}.tar.gz"
  tar -C "$stage" --owner=0 --group=0 --numeric-owner -czf "$archive" kubectl-signet kubectl_complete-signet LICENSE
  rm -rf "$stage"
  sum=$(sha256sum "$archive" | cut -d' ' -f1)
  manifest=${manifest//@SHA256_${os}_${arch}@/$sum}
  echo "$archive $sum"
done
printf '%s\n' "$manifest" > "$out/signet.yaml"
echo "$out/signet.yaml"
