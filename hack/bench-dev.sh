#!/usr/bin/env bash
# Times "make dev" from its start to the first access token, as a user gets
# it from the Flexera sample's workload Secret; then stops it with Ctrl-C's
# signal. Run it twice: the first run after a fresh clone (and with an empty
# Go cache) is the cold figure, the next the warm one.
# Usage: hack/bench-dev.sh   (make bench-dev)
set -euo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
start=$(date +%s.%N)
# Its own session and process group, without the calling make's job server,
# so that the interrupt reaches make dev as Ctrl-C would.
env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL setsid make dev >"$log" 2>&1 &
dev=$!
trap 'kill -INT -- -$dev 2>/dev/null || true; wait $dev 2>/dev/null || true; rm -f "$log"' EXIT
until grep -q '^Signet is running' "$log"; do
  kill -0 $dev 2>/dev/null || { cat "$log"; echo "make dev exited before it was running" >&2; exit 1; }
  sleep 0.2
done
export KUBECONFIG=$PWD/bin/dev/kubeconfig
secret() { bin/k8s/kubectl -n default get secret cost-reporter -o go-template="{{.data.$1 | base64decode}}"; }
curl -sS --fail-with-body -u "$(secret client_id):$(secret client_secret)" -d grant_type=client_credentials "$(secret token_url)" \
  | grep -q '"access_token"'
end=$(date +%s.%N)
grep '^Signet is running' "$log"
awk -v s="$start" -v e="$end" 'BEGIN { printf "make dev: first token %.1f s after the start\n", e - s }'
