#!/usr/bin/env bash
# Builds etcd, kube-apiserver, kube-controller-manager and kubectl into $1 from the Go module proxy, at
# the versions pinned in hack/controlplane/go.mod, or links a kubectl already
# on the PATH when its version is within the supported skew. The first build
# takes 10 to 20 minutes on a 2-core machine and prints its progress with an
# estimate every 30 seconds; the binaries are then reused from bin/, and the
# compiled packages from Go's build cache (go env GOCACHE), which this
# script leaves in place. See docs/design/0025-image-and-first-run.md.
#
# Usage: hack/build-controlplane.sh DIR [first]
# With "first" (make dev), only what a first token needs is built: etcd,
# kube-apiserver and kubectl. make dev then builds kube-controller-manager
# in the background, once Signet is running, with a second run without
# "first", which keeps the binaries already in place.
set -euo pipefail
mode=${2:-all}
out=$(cd "$1" 2>/dev/null && pwd || { mkdir -p "$1" && cd "$1" && pwd; })
cd "$(dirname "$0")/controlplane"

# Built as "make build" builds the manager and the token server: static,
# without cgo, with -trimpath. With hack/controlplane/go.mod and go.mod
# selecting the same versions of the modules both builds use (checked by
# test/build), the manager's first build then finds about 800 of its 900
# dependency packages in Go's build cache instead of compiling them again.
export CGO_ENABLED=0

kube_version=$(go list -m -f '{{.Version}}' k8s.io/kubernetes)
major=$(echo "${kube_version#v}" | cut -d. -f1)
minor=$(echo "${kube_version#v}" | cut -d. -f2)
# Stamp the real version, as the Kubernetes release build does, so that
# discovery, kubectl's skew check and Helm's kubeVersion see v1.x, not v0.0.0.
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X ${pkg}.gitVersion=${kube_version} -X ${pkg}.gitMajor=${major} -X ${pkg}.gitMinor=${minor} -X ${pkg}.gitTreeState=clean"
done

# What is missing: binaries of this version already in place (a first
# build leaves .partial) are kept.
want=(etcd kube-apiserver kube-controller-manager kubectl)
[ "$mode" != first ] || want=(etcd kube-apiserver kubectl)
have_version=$(cat "$out/.version" 2>/dev/null || cat "$out/.partial" 2>/dev/null || true)
missing=()
for b in "${want[@]}"; do
  if [ "$have_version" != "$kube_version" ] || [ ! -x "$out/$b" ]; then missing+=("$b"); fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
needs() { [[ " ${missing[*]} " == *" $1 "* ]]; }

start=$(date +%s)
log() { printf '[control plane %dm%02ds] %s\n' $(( ($(date +%s) - start) / 60 )) $(( ($(date +%s) - start) % 60 )) "$*"; }

# A kubectl on the PATH is reused when Kubernetes supports it against this
# kube-apiserver: the skew policy allows kubectl one minor version older or
# newer. Debian's kubectl 1.32, say, is too old for 1.37 and is not used.
system_kubectl=""
if needs kubectl && k=$(command -v kubectl) && [ "$(cd "$(dirname "$k")" && pwd)" != "$out" ]; then
  v=$("$k" version --client -o json 2>/dev/null | sed -n 's/.*"gitVersion": *"v\([0-9]*\)\.\([0-9]*\)\..*/\1 \2/p' | head -1)
  if [ -n "$v" ] && [ "${v% *}" = "$major" ] && [ $(( ${v#* } - minor )) -ge -1 ] && [ $(( ${v#* } - minor )) -le 1 ]; then
    system_kubectl=$k
    log "Using $k (v${v/ /.}, within one minor version of ${kube_version}) as kubectl"
  elif [ -n "$v" ]; then
    log "Not using $k: v${v/ /.} is more than one minor version away from ${kube_version}; building kubectl"
  fi
fi
k8s_cmds=()
for b in kube-apiserver kube-controller-manager; do
  ! needs "$b" || k8s_cmds+=("k8s.io/kubernetes/cmd/$b")
done
[ -n "$system_kubectl" ] || ! needs kubectl || k8s_cmds+=(k8s.io/kubernetes/cmd/kubectl)
etcd_pkg=()
! needs etcd || etcd_pkg=(go.etcd.io/etcd/server/v3)

tmp=$(mktemp -d "${out}/.build.XXXXXX")
progress_pid=""
etcd_pid=""
trap 'for p in $progress_pid $etcd_pid; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"' EXIT

log "Building ${missing[*]} ${kube_version} into ${out}, once$([ "$mode" != first ] || echo ' (kube-controller-manager later)')"
log "Downloading the modules from the Go module proxy"
go mod download
# The packages to compile, for the estimate; those already in Go's build
# cache cost almost nothing and are counted as done at the end.
total=0
if [ $(( ${#etcd_pkg[@]} + ${#k8s_cmds[@]} )) -gt 0 ]; then
  total=$(go list -deps "${etcd_pkg[@]}" "${k8s_cmds[@]}" | sort -u | wc -l)
fi
log "Compiling ${total} packages (10 to 20 minutes on 2 cores, longer on a busy machine)"

# go build -v names each package it compiles (not those it takes from the
# cache); counting them gives the progress line.
progress() {
  while sleep 30; do
    done_pkgs=$(cat "$tmp"/*.pkgs 2>/dev/null | sort -u | wc -l)
    elapsed=$(( $(date +%s) - start ))
    if [ "$done_pkgs" -gt 0 ] && [ "$done_pkgs" -lt "$total" ]; then
      left=$(( elapsed * (total - done_pkgs) / done_pkgs / 60 + 1 ))
      log "compiled ${done_pkgs} of ${total} packages; about ${left} min left, then linking (1-2 min)"
    else
      log "compiled ${done_pkgs} of ${total} packages; linking"
    fi
  done
}
progress &
progress_pid=$!

# etcd and the Kubernetes commands share few packages, so on a machine with
# the memory for both (each link takes up to 3 GB) they build side by side:
# one build's downloads, single-threaded compiles and links fill the cores
# the other leaves idle. The Kubernetes commands build in one go build, so
# they share every compiled package.
avail_kb=$(awk '/^MemAvailable:/ {print $2}' /proc/meminfo 2>/dev/null || echo 0)
build_etcd() { go build -v -trimpath -ldflags="-s -w" -o "$tmp/etcd" go.etcd.io/etcd/server/v3 2>"$tmp/etcd.pkgs"; }
build_k8s() { go build -v -trimpath -ldflags="$ldflags" -o "$tmp/" "${k8s_cmds[@]}" 2>"$tmp/k8s.pkgs"; }
fail() { log "$1 failed:"; grep -v '^[a-zA-Z0-9._/-]*$' "$tmp/$2.pkgs" >&2 || cat "$tmp/$2.pkgs" >&2; exit 1; }
if [ ${#etcd_pkg[@]} -eq 0 ]; then
  [ ${#k8s_cmds[@]} -eq 0 ] || build_k8s || fail "Building ${k8s_cmds[*]##*/}" k8s
elif [ ${#k8s_cmds[@]} -eq 0 ]; then
  build_etcd || fail "Building etcd" etcd
elif [ "${avail_kb:-0}" -ge $(( 6 * 1024 * 1024 )) ]; then
  build_etcd & etcd_pid=$!
  build_k8s || fail "Building kube-apiserver" k8s
  wait "$etcd_pid" || fail "Building etcd" etcd
else
  log "Less than 6 GB of memory available: building etcd, then kube-apiserver"
  build_etcd || fail "Building etcd" etcd
  build_k8s || fail "Building kube-apiserver" k8s
fi
kill "$progress_pid" 2>/dev/null || true

[ -z "$system_kubectl" ] || ! needs kubectl || ln -sf "$system_kubectl" "$tmp/kubectl"
# Move into place only when all are built, so an interrupted build never
# leaves a half-built control plane that later runs would trust. A running
# binary is replaced by a rename, which it does not notice.
for b in "${missing[@]}"; do
  mv "$tmp/$b" "$out/"
done
if [ "$mode" = first ]; then
  echo "$kube_version" > "$out/.partial"
else
  echo "$kube_version" > "$out/.version"
  rm -f "$out/.partial"
fi
log "Done"
