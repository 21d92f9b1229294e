#!/usr/bin/env bash
# Builds etcd, kube-apiserver, kube-controller-manager and kubectl into $1 from the Go module proxy, at
# the versions pinned in hack/controlplane/go.mod. The first build takes 15 to
# 20 minutes on an otherwise idle 2-core machine; the binaries are then reused
# from bin/.
set -euo pipefail
out=$(cd "$1" 2>/dev/null && pwd || { mkdir -p "$1" && cd "$1" && pwd; })
cd "$(dirname "$0")/controlplane"

kube_version=$(go list -m -f '{{.Version}}' k8s.io/kubernetes)
major=$(echo "${kube_version#v}" | cut -d. -f1)
minor=$(echo "${kube_version#v}" | cut -d. -f2)
# Stamp the real version, as the Kubernetes release build does, so that
# discovery, kubectl's skew check and Helm's kubeVersion see v1.x, not v0.0.0.
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X ${pkg}.gitVersion=${kube_version} -X ${pkg}.gitMajor=${major} -X ${pkg}.gitMinor=${minor} -X ${pkg}.gitTreeState=clean"
done

if [ "$(cat "$out/.version" 2>/dev/null)" = "$kube_version" ] \
   && [ -x "$out/etcd" ] && [ -x "$out/kube-apiserver" ] && [ -x "$out/kube-controller-manager" ] && [ -x "$out/kubectl" ]; then
  exit 0
fi

tmp=$(mktemp -d "${out}/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
echo "Building etcd, kube-apiserver, kube-controller-manager ${kube_version} and kubectl into ${out} (about 12 minutes the first time)"
go build -trimpath -ldflags="-s -w" -o "$tmp/etcd" go.etcd.io/etcd/server/v3
# One go build for the three Kubernetes commands: they share most packages,
# so kube-controller-manager (namespace deletion, garbage collection) costs
# little beyond kube-apiserver.
go build -trimpath -ldflags="$ldflags" -o "$tmp/" k8s.io/kubernetes/cmd/kube-apiserver \
  k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kubectl
# Move into place only when all are built, so an interrupted build never
# leaves a half-built control plane that later runs would trust.
mv "$tmp/etcd" "$tmp/kube-apiserver" "$tmp/kube-controller-manager" "$tmp/kubectl" "$out/"
echo "$kube_version" > "$out/.version"
