# dbrest-operator Makefile. `make help` lists the targets.

# Tool versions, pinned once. Each is built with `go install` into bin/.
CONTROLLER_TOOLS_VERSION ?= v0.23.0
GOLANGCI_LINT_VERSION    ?= v2.15.0
KUSTOMIZE_VERSION        ?= v5.7.1
# v1.1.4 panics on the Go 1.27 standard library (its x/tools SSA builder).
GOVULNCHECK_VERSION      ?= v1.9.0
# The vulnerability database, built offline from this golang.org/x/vulndb
# module version (hack/vulndb.sh); bump it for newer entries.
VULNDB_VERSION           ?= v0.0.0-20261105234957-e22db6528018
K8S_VERSION              ?= 1.37.2
ETCD_VERSION             ?= 3.7.0

IMG ?= dbrest-operator:dev

# The Go toolchain, fetched through the module proxy on first use; 1.27.3
# carries the standard-library fixes that `make vuln` checks for. Tools
# that read Go code are built with it, and their names carry it, so a
# toolchain bump rebuilds them.
GO_VERSION ?= 1.27.3
export GOTOOLCHAIN := go$(GO_VERSION)
# Build flags for everything make compiles (tests, vet, the manager, the
# tools, the control plane), in GOFLAGS so every go command shares them
# and a package compiled once is reused by all: no DWARF debug data,
# which nothing here reads (stack traces and race reports use the symbol
# table), and which made a fresh build about 16% slower. Set GOFLAGS
# (even empty) to build with your own.
export GOFLAGS ?= -gcflags=all=-dwarf=false -ldflags=-w
SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c

LOCALBIN   ?= $(CURDIR)/bin
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen-$(CONTROLLER_TOOLS_VERSION)
GOLANGCI_LINT  ?= $(LOCALBIN)/golangci-lint-$(GOLANGCI_LINT_VERSION)-go$(GO_VERSION)
KUSTOMIZE      ?= $(LOCALBIN)/kustomize-$(KUSTOMIZE_VERSION)
GOVULNCHECK    ?= $(LOCALBIN)/govulncheck-$(GOVULNCHECK_VERSION)-go$(GO_VERSION)
VULNDB         ?= $(LOCALBIN)/vulndb-$(VULNDB_VERSION)
ENVTEST_DIR    ?= $(LOCALBIN)/k8s/$(K8S_VERSION)

# Generated files; `verify` fails when regenerating changes any of them.
GENERATED := api/v1alpha1/zz_generated.deepcopy.go config/crd/bases config/rbac/role.yaml

# Test tuning: FUZZTIME is how long each fuzz target runs inside `make test`.
FUZZTIME ?= 5s
# TEST_PARALLEL is how many t.Parallel tests of one package run at once.
# Go's default is GOMAXPROCS (2 here), but the envtest tests mostly wait
# on the control plane and the simulator, so more of them overlap well
# on 2 cores (controllers: 207 s at 2, 99 s at 8).
TEST_PARALLEL ?= 8
GO_TEST_FLAGS ?= -count=1 -parallel $(TEST_PARALLEL)
# The packages whose tests run under the race detector: where concurrency
# lives (the reconcilers, the REST client, the breaker, the connection
# cache, the simulator, metrics). The others (API validation, binaries'
# flag handling and process tests, manifests, the bench's smoke run, the
# kubectl plugin's one-shot commands) run without it: they start
# processes or a control plane, and -race only made them slower. The
# plugin alone pulls kustomize (about 100 packages) into the race build.
RACE_PKGS ?= ./controllers/... ./internal/...
RACE_EXCLUDE ?= ./internal/kubectlplugin
# E2E_PARALLEL is how many of the e2e tests that own their namespace and
# simulator run side by side; they mostly wait on timers and servers.
E2E_PARALLEL ?= 4

.DEFAULT_GOAL := help

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate deepcopy code from the API types.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate CRDs and RBAC from the markers.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd paths="./api/...;./controllers/..." output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac

.PHONY: fmt
fmt: ## Format the Go code (gofmt -s -w).
	gofmt -s -w $$(git ls-files '*.go')

.PHONY: vet
vet: ## Run go vet.
	go vet -tags e2e ./...
	cd $(DIST_TESTS) && go vet ./...

.PHONY: lint
lint: $(GOLANGCI_LINT) ## Run golangci-lint (configuration in .golangci.yml).
	$(GOLANGCI_LINT) run --build-tags e2e ./...
	cd $(DIST_TESTS) && $(GOLANGCI_LINT) run ./...

.PHONY: verify
verify: ## Fail when generated code or manifests are stale or Go files are not gofmt-ed.
	@hack/verify.sh "$(MAKE)" $(GENERATED)

# The steps of `make test`, in order; hack/time-test.sh prints each one's
# wall time at the end.
TEST_STEPS := download tools envtest verify vet lint vuln test-unit test-dist test-fuzz test-e2e

.PHONY: test
test: ## Everything CI checks: verify, vet, lint, known vulnerabilities, unit + envtest tests, distribution, short fuzzing, e2e; prints each step's time.
	@hack/time-test.sh "$(MAKE)" $(TEST_STEPS)

.PHONY: test-unit
test-unit: envtest ## Unit, table and envtest tests (go test ./...), with -race on RACE_PKGS.
	@# Two runs side by side, so the long controllers package overlaps the
	@# rest as it did in one run; both fail the target when either fails.
	@race="$$(go list $(RACE_PKGS) | grep -vxF "$$(go list $(RACE_EXCLUDE))")"; rest="$$(go list ./... | grep -vxF "$$race")"; \
	  export KUBEBUILDER_ASSETS="$(ENVTEST_DIR)"; \
	  go test -race $(GO_TEST_FLAGS) $$race & pid=$$!; \
	  rc=0; go test $(GO_TEST_FLAGS) $$rest || rc=1; \
	  wait $$pid || rc=1; exit $$rc

.PHONY: test-fuzz
test-fuzz: ## Run each fuzz target for FUZZTIME (5s).
	@hack/fuzz.sh "$(FUZZTIME)"

# The chart, dashboard and alert tests are a Go module of their own, so
# Helm's and Prometheus's packages stay out of the operator's go.mod.
DIST_TESTS := test/distribution

.PHONY: test-dist
test-dist: envtest ## Helm chart (lint, render, dry-run apply, in step with config/), Grafana dashboard and alert rules against the metrics the manager exports.
	cd $(DIST_TESTS) && KUBEBUILDER_ASSETS="$(ENVTEST_DIR)" go test -count=1 ./...

.PHONY: test-e2e
test-e2e: envtest ## Process-level reliability tests (test/e2e): faults, SIGKILLs, leader election, apiserver restart.
	KUBEBUILDER_ASSETS="$(ENVTEST_DIR)" go test -tags e2e -count=1 -v -parallel $(E2E_PARALLEL) -timeout 30m ./test/e2e/

.PHONY: vuln
vuln: $(GOVULNCHECK) $(VULNDB) ## Scan for known vulnerabilities with govulncheck and an offline database (docs/security.md).
	$(GOVULNCHECK) -db "file://$(VULNDB)" ./...

# BENCH_N is the number of Deployments `make bench` creates; BENCH_FLAGS
# passes more flags to dbrest-bench (see go run ./cmd/dbrest-bench --help).
BENCH_N     ?= 1000
BENCH_FLAGS ?=

.PHONY: bench
bench: envtest ## Run the Go micro-benchmarks, then the operator at scale (BENCH_N Deployments; docs/performance.md).
	go test -run '^$$' -bench . -benchmem ./...
	KUBEBUILDER_ASSETS="$(ENVTEST_DIR)" go run ./cmd/dbrest-bench --n $(BENCH_N) --json bin/bench.json $(BENCH_FLAGS)

##@ Build

.PHONY: build
build: ## Build the manager, the simulator and the kubectl plugin (kubectl-dbrest) into bin/.
	go build -o bin/manager ./cmd/manager
	go build -o bin/dbrest-sim ./cmd/dbrest-sim
	go build -o bin/kubectl-dbrest ./cmd/kubectl-dbrest

.PHONY: run
run: manifests ## Run the manager against the cluster in the current kubeconfig.
	go run ./cmd/manager

.PHONY: dev
dev: envtest ## Run everything locally: control plane, simulator, CRDs, manager.
	go run ./cmd/dbrest-dev --assets "$(ENVTEST_DIR)"

.PHONY: docker-build
docker-build: ## Build the manager image (needs a Docker engine).
	docker build -t $(IMG) .

##@ Deployment

.PHONY: install
install: manifests $(KUSTOMIZE) ## Install the CRDs into the cluster in the current kubeconfig.
	$(KUSTOMIZE) build config/crd | kubectl apply --server-side -f -

.PHONY: uninstall
uninstall: manifests $(KUSTOMIZE) ## Remove the CRDs from the cluster in the current kubeconfig.
	$(KUSTOMIZE) build config/crd | kubectl delete --ignore-not-found -f -

.PHONY: deploy
deploy: manifests $(KUSTOMIZE) ## Deploy the operator (config/default) with image $(IMG).
	cd config/manager && $(KUSTOMIZE) edit set image controller=$(IMG)
	$(KUSTOMIZE) build config/default | kubectl apply --server-side -f -

.PHONY: build-installer
build-installer: ## Write dist/install.yaml (config/default with image $(IMG)) for `kubectl apply -f`.
	go run ./hack/installer --image "$(IMG)" -o dist/install.yaml

# The chart's copies of config/ files; `make test-dist` fails when they are stale.
CHART_FILES := charts/dbrest-operator/files

.PHONY: chart
chart: ## Copy the CRDs, RBAC rules, alerts and dashboard from config/ into the Helm chart (charts/dbrest-operator).
	rm -f $(CHART_FILES)/crds/*.yaml
	mkdir -p $(CHART_FILES)/crds $(CHART_FILES)/rbac $(CHART_FILES)/prometheus $(CHART_FILES)/grafana
	cp config/crd/bases/*.yaml $(CHART_FILES)/crds/
	cp config/rbac/role.yaml config/rbac/leader_election_role.yaml config/rbac/metrics_auth_role.yaml config/rbac/metrics_reader_role.yaml $(CHART_FILES)/rbac/
	cp config/prometheus/rules.yaml $(CHART_FILES)/prometheus/
	cp config/grafana/dbrest-operator.json $(CHART_FILES)/grafana/

.PHONY: undeploy
undeploy: $(KUSTOMIZE) ## Remove the operator (config/default).
	$(KUSTOMIZE) build config/default | kubectl delete --ignore-not-found -f -

##@ Tools

.PHONY: envtest
envtest: ## Build kube-apiserver and etcd from their Go modules into bin/k8s (cached).
	@# With the project's toolchain and its dependency versions, so the
	@# packages kube-apiserver shares with the tests compile once.
	@MATCH_MODULE="$(CURDIR)" K8S_VERSION=$(K8S_VERSION) ETCD_VERSION=$(ETCD_VERSION) DEST="$(ENVTEST_DIR)" hack/build-control-plane.sh >/dev/null

.PHONY: download
download: ## Fetch the Go toolchain and the modules of the project and of test/distribution (module proxy; once).
	go mod download
	cd $(DIST_TESTS) && go mod download

.PHONY: tools
tools: ## Build the pinned tools into bin/ (once), side by side.
	@# Two at a time: one tool's link or indexing runs on one core while
	@# the other core compiles the next.
	@$(MAKE) --no-print-directory -j2 $(CONTROLLER_GEN) $(GOLANGCI_LINT) $(GOVULNCHECK) $(VULNDB)

$(CONTROLLER_GEN):
	GOBIN=$(LOCALBIN) go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_TOOLS_VERSION)
	mv $(LOCALBIN)/controller-gen $@

$(GOLANGCI_LINT):
	GOBIN=$(LOCALBIN) go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	mv $(LOCALBIN)/golangci-lint $@

$(GOVULNCHECK):
	GOBIN=$(LOCALBIN) go install golang.org/x/vuln/cmd/govulncheck@$(GOVULNCHECK_VERSION)
	mv $(LOCALBIN)/govulncheck $@

$(VULNDB):
	@hack/vulndb.sh "$(VULNDB_VERSION)" "$@"

$(KUSTOMIZE):
	GOBIN=$(LOCALBIN) go install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)
	mv $(LOCALBIN)/kustomize $@
