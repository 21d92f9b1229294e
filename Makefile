# Signet: machine identities and OAuth2 tokens for Kubernetes.
#
# Every tool is pinned below and installed into ./bin on first use, so that
# "make dev" and "make test" work on a fresh machine with only Go installed.

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

# Tool versions.
CONTROLLER_TOOLS_VERSION ?= v0.23.0
GOLANGCI_LINT_VERSION    ?= v2.15.0
HELM_VERSION             ?= v3.22.0

LOCALBIN ?= $(CURDIR)/bin
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen
GOLANGCI_LINT  ?= $(LOCALBIN)/golangci-lint
HELM           ?= $(LOCALBIN)/helm
# The local control plane (etcd, kube-apiserver, kube-controller-manager,
# kubectl), pinned in
# hack/controlplane/go.mod.
CONTROLPLANE_DIR ?= $(LOCALBIN)/k8s
KUBECTL ?= $(CONTROLPLANE_DIR)/kubectl

export KUBEBUILDER_ASSETS ?= $(CONTROLPLANE_DIR)
# Two cores: keep the test binaries from starving the API servers they start.
GO_TEST_FLAGS ?= -p 2 -timeout 30m

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: controller-gen ## Generate the CRDs and RBAC from the kubebuilder markers.
	$(CONTROLLER_GEN) crd paths="./api/..." output:crd:artifacts:config=config/crd/bases
	$(CONTROLLER_GEN) rbac:roleName=manager-role paths="./controllers/...;./cmd/manager/..." output:rbac:artifacts:config=config/rbac
	hack/sync-chart.sh

.PHONY: generate
generate: controller-gen ## Generate the deepcopy code.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: fmt
fmt: ## Run gofmt on the code.
	gofmt -s -w $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './bin/*')

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

.PHONY: lint
lint: golangci-lint ## Run golangci-lint.
	$(GOLANGCI_LINT) run ./...

.PHONY: verify
verify: manifests generate fmt ## Regenerate everything, then fail if the tree changed.
	go mod tidy
	@if [ -n "$$(git status --porcelain)" ]; then \
		echo "The tree is dirty after regeneration; commit these changes:"; \
		git status --porcelain; git --no-pager diff --stat; exit 1; \
	fi

##@ Run

.PHONY: dev
dev: controlplane-first build ## Run Signet locally: control plane, manager, token server on 127.0.0.1:8080, samples.
	@# Built as the binaries are, so that a first run compiles their shared dependencies once, not twice.
	CGO_ENABLED=0 go build $(BUILD_FLAGS) -o $(LOCALBIN)/signet-dev ./hack/dev
	exec $(LOCALBIN)/signet-dev

##@ Test

.PHONY: test
test: manifests generate fmt vet controlplane helm image ## Run every test: unit, integration (real API server), fuzz seeds, chart, end to end (the image too), short fault campaign.
	go test $(GO_TEST_FLAGS) ./...
	go test -tags e2e -count=1 -timeout 15m ./test/e2e/...
	go test -tags chaos -count=1 -timeout 15m ./test/chaos/ $(CHAOS_SHORT)

# The integration suites (a real API server) and the unit tests beside
# them, with the race detector, three times each in a random order: what
# "make test" runs once. RACE_RUNS such runs in a row must all pass.
RACE_RUNS ?= 3
RACE_PKGS ?= ./api/... ./cmd/... ./controllers/... ./internal/...
.PHONY: test-race
test-race: controlplane ## Run the integration and unit suites with -race -count=3 -shuffle=on, RACE_RUNS (3) times in a row.
	for i in $$(seq $(RACE_RUNS)); do echo "== run $$i of $(RACE_RUNS)"; go test -race -count=3 -shuffle=on -timeout 60m $(RACE_PKGS) || exit 1; done

MODEL_SEEDS ?= 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20
MODEL_STEPS ?= 100000
.PHONY: test-model
test-model: ## Run the model test of the credential planner longer, e.g. make test-model MODEL_SEEDS=1,2,3 MODEL_STEPS=1000000 ("make test" runs 3 seeds of 10,000 steps).
	SIGNET_TESTENV=off go test -count=1 -timeout 0 -run '^TestModel' ./controllers/ -model.seeds=$(MODEL_SEEDS) -model.steps=$(MODEL_STEPS)

# The fault campaign of docs/reliability.md. "make chaos" runs the full sizes
# with the manager's default Lease timings; "make test" the short version
# (10 s outages, 10 kills) with a shorter Lease, so that it takes about three
# minutes.
CHAOS_OUTAGE      ?= 60s
CHAOS_KILLS       ?= 100
CHAOS_CREDENTIALS ?= 200
CHAOS_LOAD        ?= 60s
CHAOS_SHORT = -chaos.outage=10s -chaos.kills=10 -chaos.credentials=20 -chaos.load=12s -chaos.rotations=2 \
	-chaos.lease-duration=4s -chaos.renew-deadline=3s -chaos.retry-period=1s -chaos.signing-period=15s \
	-chaos.takeover-target=10s
.PHONY: chaos
chaos: controlplane build ## Run the fault campaign at full size (about an hour): API server outages, manager and token-server kills, key rotation and write failures under load.
	go test -tags chaos -count=1 -timeout 0 -v ./test/chaos/ -chaos.outage=$(CHAOS_OUTAGE) -chaos.kills=$(CHAOS_KILLS) \
		-chaos.credentials=$(CHAOS_CREDENTIALS) -chaos.load=$(CHAOS_LOAD) -chaos.rotations=3 -chaos.revocations=200 2>&1 | tee $(LOCALBIN)/chaos.log
	@grep RESULT $(LOCALBIN)/chaos.log

# The soak of docs/reliability.md: half the measured maximum load for
# DURATION, samples and plot into docs/reliability/.
DURATION ?= 30m
.PHONY: soak
soak: controlplane build ## Soak the token servers and managers at half the measured maximum load for DURATION (default 30m): 0 errors, flat memory and goroutines; CSV and plot to docs/reliability/.
	go test -tags chaos -count=1 -timeout 0 -v -run '^TestSoak$$' ./test/chaos/ -soak.duration=$(DURATION) \
		-soak.out=$(CURDIR)/docs/reliability -chaos.signing-period=720h 2>&1 | tee $(LOCALBIN)/soak.log

FUZZTIME ?= 30s
.PHONY: fuzz
fuzz: ## Run every fuzz target for FUZZTIME each (default 30s), e.g. make fuzz FUZZTIME=10m.
	FUZZTIME=$(FUZZTIME) hack/fuzz.sh

.PHONY: chart-lint
chart-lint: helm ## Lint the Helm chart (helm lint --strict); test/chart, run by "make test", checks much more.
	$(HELM) lint --strict charts/signet

# Sizes of the scale benchmarks: the figures of docs/benchmarks.md by
# default; smaller ones try the harness quickly, for example
# make bench-scale SCALE_RECORDS=10000 SCALE_CHURN=10s.
SCALE_RECORDS     ?= 100000
SCALE_CHURN       ?= 30s
STATE_CLIENTS     ?= 1000
STATE_GRANTS      ?= 100000
INDEX_SIZES       ?= 1000,10000,100000,1000000
GC_OBJECTS        ?= 50000
BENCH_CREDENTIALS ?= 10000

.PHONY: bench
bench: bench-dev bench-index bench-token-server bench-federation bench-scale bench-state bench-gc bench-controllers bench-controllers-10k bench-propagation ## Run every benchmark (about an hour on 2 cores); results go to docs/benchmarks.md by hand.

.PHONY: bench-dev
bench-dev: ## Time "make dev" from its start to the first token (cold on a fresh clone with an empty Go cache, warm after).
	hack/bench-dev.sh

.PHONY: bench-index
bench-index: ## Benchmark the token server's index from 1,000 to 1,000,000 records: memory per record, lookup and authentication cost.
	SIGNET_INDEX_SIZES=$(INDEX_SIZES) go test -run '^$$' -bench '^BenchmarkIndexScale$$' -benchtime 1000000x -timeout 30m ./internal/tokenserver/index/

.PHONY: bench-token-server
bench-token-server: ## Benchmark the token server (load generator, micro-benchmarks).
	go build -o $(LOCALBIN)/bench-token-server ./test/bench/tokenserver
	$(LOCALBIN)/bench-token-server -duration 5s -concurrency 1,16,64 -server-cpu 0 -client-cpu 1
	$(LOCALBIN)/bench-token-server -duration 5s -concurrency 64 -server-cpu 0 -client-cpu 1 -endpoint introspect
	go test -run '^$$' -bench . -benchmem ./internal/tokenserver/...

.PHONY: bench-federation
bench-federation: ## Federated token exchanges per second on one core, with the issuer's keys cached (docs/benchmarks.md).
	go test -run '^$$' -bench '^Benchmark(FederatedExchange|TokenEndpoint)$$' -cpu 1 -benchtime 5s -benchmem ./internal/tokenserver/

.PHONY: bench-scale
bench-scale: controlplane build ## The real token server with SCALE_RECORDS records through the real API server: cold start to Ready, RSS, p99 time-to-live under 100 changes/s.
	go run ./test/bench/scale -run records -token-server $(LOCALBIN)/token-server -records $(SCALE_RECORDS) -churn-duration $(SCALE_CHURN) -json $(LOCALBIN)/bench-scale.json

.PHONY: bench-state
bench-state: controlplane build ## private_key_jwt tokens/s through the real API server; objects and etcd size after STATE_GRANTS grants and as many revocations from STATE_CLIENTS clients.
	go run ./test/bench/scale -run pkjwt -token-server $(LOCALBIN)/token-server -clients $(STATE_CLIENTS) -grants $(STATE_GRANTS) -revocations $(STATE_GRANTS) -apiserver-cpuprofile $(LOCALBIN)/bench-state-apiserver.pprof -json $(LOCALBIN)/bench-state.json

.PHONY: bench-gc
bench-gc: controlplane ## Garbage collection pages through GC_OBJECTS expired ledgers with flat memory.
	SIGNET_GC_OBJECTS=$(GC_OBJECTS) go test -count=1 -timeout 30m -run '^TestGarbageCollectionPages$$' -v ./cmd/token-server/

.PHONY: bench-controllers
bench-controllers: controlplane build ## Benchmark the controllers: 1,000 ClientCredentials to Ready, manager RSS.
	go run ./test/bench/controllers -manager $(LOCALBIN)/manager -json $(LOCALBIN)/bench-controllers.json

PROPAGATION_CREDENTIALS ?= 1000
.PHONY: bench-propagation
bench-propagation: controlplane build ## Revoke PROPAGATION_CREDENTIALS (1,000) ClientCredentials at once with three token-server replicas: p50 and p99 of the time until each is Propagated.
	go run ./test/bench/propagation -credentials $(PROPAGATION_CREDENTIALS) -replicas 3 -json $(LOCALBIN)/bench-propagation.json

.PHONY: bench-controllers-10k
bench-controllers-10k: controlplane build ## The controllers at BENCH_CREDENTIALS (10,000) ClientCredentials: time to Ready, manager RSS.
	go run ./test/bench/controllers -credentials $(BENCH_CREDENTIALS) -accounts 1000 -manager $(LOCALBIN)/manager -json $(LOCALBIN)/bench-controllers-10k.json

.PHONY: e2e
e2e: controlplane image ## Run the end-to-end tests: real binaries, real kubectl, stock OAuth2 clients, the image with podman.
	go test -tags e2e -count=1 -timeout 15m ./test/e2e/...

# SIGNET_E2E_HOLD is how long the deletion and revocation tests watch a dead
# secret and its tokens for coming back (3s in "make test").
.PHONY: e2e-hold
e2e-hold: controlplane build ## Run the deletion and revocation end-to-end tests, watching for revival for a minute each.
	SIGNET_E2E_HOLD=1m go test -tags e2e -count=1 -timeout 30m -run 'Revocation|Revoked|Namespace|Deleting|Recreated' ./test/e2e/...

.PHONY: controlplane
controlplane: ## Build etcd, kube-apiserver, kube-controller-manager and kubectl (or link a kubectl within the version skew) into bin/k8s (10 to 20 minutes on 2 cores, once, with progress).
	hack/build-controlplane.sh $(CONTROLPLANE_DIR)

.PHONY: controlplane-first
controlplane-first: ## Build only what a first token needs (etcd, kube-apiserver, kubectl); make dev then builds kube-controller-manager in the background.
	hack/build-controlplane.sh $(CONTROLPLANE_DIR) first

##@ Build

# The binaries are built as the image and the Dockerfile hold them: static
# (no libc in the image), without local paths, without debug tables. "make
# dev" and the end-to-end tests run these same files.
BUILD_FLAGS ?= -trimpath -ldflags="-s -w"

.PHONY: build
build: ## Build the manager and token-server binaries into bin/ (static, as the image holds them).
	CGO_ENABLED=0 go build $(BUILD_FLAGS) -o $(LOCALBIN)/ ./cmd/manager ./cmd/token-server

.PHONY: plugin
plugin: ## Build kubectl signet into bin/ with its completion script; put bin/ on the PATH to use "kubectl signet".
	go build -o $(LOCALBIN)/kubectl-signet ./cmd/kubectl-signet
	cp plugins/kubectl_complete-signet $(LOCALBIN)/

.PHONY: krew
krew: ## Build the release archives of kubectl signet and their krew manifest (plugins/signet.yaml with checksums) into bin/krew.
	hack/krew.sh $(LOCALBIN)/krew

# The image is tagged with the chart's appVersion, which the chart's default
# image.tag falls back to.
IMAGE_DIR     ?= $(LOCALBIN)/image
IMAGE_VERSION ?= $(shell sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$$/\1/p' charts/signet/Chart.yaml)

.PHONY: image
image: build ## Build the container image (no Docker daemon, no base pulled) into bin/image: OCI layout, OCI archive signet.tar, SBOM signet.cdx.json.
	go run ./hack/image -manager $(LOCALBIN)/manager -token-server $(LOCALBIN)/token-server -version $(IMAGE_VERSION) -out $(IMAGE_DIR)

##@ Tools

.PHONY: controller-gen
controller-gen: $(CONTROLLER_GEN)
$(CONTROLLER_GEN): $(LOCALBIN)
	$(call go-install-tool,$(CONTROLLER_GEN),sigs.k8s.io/controller-tools/cmd/controller-gen,$(CONTROLLER_TOOLS_VERSION))

.PHONY: golangci-lint
golangci-lint: $(GOLANGCI_LINT)
$(GOLANGCI_LINT): $(LOCALBIN)
	$(call go-install-tool,$(GOLANGCI_LINT),github.com/golangci/golangci-lint/v2/cmd/golangci-lint,$(GOLANGCI_LINT_VERSION))

# helm is stamped as its release build is, with its version and the
# Kubernetes minor of its client-go (v0.37 in v3.22.0), so that "helm
# template" and "helm lint" check a chart's kubeVersion against v1.37 rather
# than Helm's fallback of v1.20.
HELM_K8S_MINOR ?= 37
HELM_LDFLAGS = -s -w -X helm.sh/helm/v3/internal/version.version=$(HELM_VERSION) \
	$(foreach pkg,pkg/chartutil pkg/lint/rules,-X helm.sh/helm/v3/$(pkg).k8sVersionMajor=1 -X helm.sh/helm/v3/$(pkg).k8sVersionMinor=$(HELM_K8S_MINOR))

.PHONY: helm
helm: $(HELM) ## Build helm from the Go module proxy into bin/ (about two minutes, once).
$(HELM): $(LOCALBIN)
	$(call go-install-tool,$(HELM),helm.sh/helm/v3/cmd/helm,$(HELM_VERSION),-ldflags '$(HELM_LDFLAGS)')

$(LOCALBIN):
	mkdir -p $(LOCALBIN)

# go-install-tool installs a Go tool at a version as bin/<name>-<version>,
# with bin/<name> as a link, so that changing a pin reinstalls it.
# An optional fourth argument holds extra flags for go install.
define go-install-tool
@[ -f "$(1)-$(3)" ] || { \
set -e; \
echo "Installing $(2)@$(3)"; \
rm -f "$(1)"; \
GOBIN="$(LOCALBIN)" go install $(4) "$(2)@$(3)"; \
mv "$(1)" "$(1)-$(3)"; \
}; \
ln -sf "$$(basename "$(1)")-$(3)" "$(1)"
endef
