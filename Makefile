# associate-operator: run `make help` for the targets.

IMG ?= ghcr.io/assocsync/associate-operator:dev
# The image's labels: its version, commit and (for reproducible builds) the commit's time.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null)
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null)

# Every build of this module (make build, the tests, the image) uses go.mod's toolchain line,
# a Go with no known standard-library vulnerability, also where the Go distribution sets
# GOTOOLCHAIN=local (as here). Tools modules without such a line keep the local Go.
export GOTOOLCHAIN ?= auto
GO_TOOLCHAIN = $(shell awk '$$1 == "toolchain" { print $$2 }' go.mod)

# Tool versions, all built from Go modules into bin/.
CONTROLLER_TOOLS_VERSION ?= v0.23.0
KUSTOMIZE_VERSION ?= v5.8.1
HELM_VERSION ?= v3.22.0
GOLANGCI_LINT_VERSION ?= v2.15.0
GOVULNCHECK_VERSION ?= v1.1.4
GOTESTSUM_VERSION ?= v1.13.0

# The Kubernetes version of the local control plane (hack/envtest) and of helm's checks.
KUBE_VERSION ?= 1.37.2

LOCALBIN ?= $(CURDIR)/bin
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen
KUSTOMIZE ?= $(LOCALBIN)/kustomize
HELM ?= $(LOCALBIN)/helm
GOLANGCI_LINT ?= $(LOCALBIN)/golangci-lint
KUBECTL ?= kubectl

# The node suite (test/node) runs where it can, as root with containerd installed, and
# wherever NODE_E2E_REQUIRED=1 says it must (CI). There the Kubernetes binaries include the
# node's, built in the same `go build` as kube-apiserver.
K8S_ASSETS_FLAGS ?= $(if $(or $(filter 1,$(NODE_E2E_REQUIRED)),$(and $(filter 0,$(shell id -u)),$(shell command -v containerd))),--node)
CLUSTER_DIR ?= $(LOCALBIN)/cluster

# The manager binary is built here exactly as the Dockerfile builds it.
GO_BUILD_FLAGS = -trimpath -ldflags="-s -w"
TEST_TIMEOUT ?= 20m

SHELL = /usr/bin/env bash -o pipefail
.SHELLFLAGS = -ec

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: controller-gen ## Generate the CRDs and the manager's ClusterRole from the markers.
	"$(CONTROLLER_GEN)" rbac:roleName=manager-role crd paths="./api/..." paths="./controllers/..." paths="./internal/..." output:crd:artifacts:config=config/crd/bases
	@# The chart carries copies of both, and of the alerts; a test checks they are current.
	@mkdir -p charts/associate-operator/files/crds
	@cp config/crd/bases/*.yaml charts/associate-operator/files/crds/
	@cp config/rbac/role.yaml charts/associate-operator/files/manager-role.yaml
	@cp config/prometheus/rules.yaml charts/associate-operator/files/prometheus-rules.yaml

.PHONY: generate
generate: controller-gen ## Generate the DeepCopy methods and the apply configurations.
	"$(CONTROLLER_GEN)" object:headerFile="hack/boilerplate.go.txt" applyconfiguration:headerFile="hack/boilerplate.go.txt" paths="./api/..."

# The files that `make manifests generate` writes; CI fails when a commit leaves them stale.
GENERATED = config/crd config/rbac/role.yaml api/v1alpha1/zz_generated.deepcopy.go api/v1alpha1/applyconfiguration charts/associate-operator/files

.PHONY: verify
verify: manifests generate ## Regenerate, then fail when the generated files differ from the commit.
	@git diff --exit-code --stat -- $(GENERATED) || { \
		echo "generated files are stale: run \`make manifests generate\` and commit the result" >&2; exit 1; }
	@untracked=$$(git ls-files --others --exclude-standard -- $(GENERATED)); [ -z "$$untracked" ] || { \
		echo "generated files are not committed: $$untracked" >&2; exit 1; }

.PHONY: fmt
fmt: ## Run go fmt.
	go fmt ./...

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

# The tests compile with the manager's own settings (CGO off, -trimpath), so that the
# build cache serves both, and the e2e and fault suites run bin/manager itself.
.PHONY: test
test: manifests generate envtest-assets helm manager-binary ## Run every test: unit, envtest, fuzz seed corpora, e2e and (as root) the node suite.
	KUBEBUILDER_ASSETS="$$(hack/envtest-assets.sh $(K8S_ASSETS_FLAGS))" HELM="$(HELM)" MANAGER_BINARY="$(CURDIR)/bin/manager" CONTROLLER_GEN="$(CONTROLLER_GEN)" \
		CGO_ENABLED=0 go test -trimpath -timeout $(TEST_TIMEOUT) ./...

.PHONY: fuzz
fuzz: ## Fuzz the webhook handler for 60 s (not in CI).
	go test ./internal/ingress -run '^$$' -fuzz FuzzHandler -fuzztime 60s

.PHONY: bench
bench: envtest-assets ## Run the benchmarks; results in bench/results.txt.
	KUBEBUILDER_ASSETS="$$(hack/envtest-assets.sh)" hack/bench.sh

.PHONY: lint
lint: golangci-lint govulncheck ## Run golangci-lint and govulncheck (offline database).
	"$(GOLANGCI_LINT)" run ./...
	hack/govulncheck.sh

##@ Local control plane

.PHONY: envtest-assets
envtest-assets: ## Make sure etcd and kube-apiserver exist (KUBEBUILDER_ASSETS, or built into bin/k8s); also the node's binaries where the node suite runs.
	@hack/envtest-assets.sh $(K8S_ASSETS_FLAGS) >/dev/null

.PHONY: node-assets
node-assets: ## Make sure all the Kubernetes binaries of a single-node cluster exist in bin/k8s.
	@hack/envtest-assets.sh --node >/dev/null

.PHONY: cluster-up
cluster-up: node-assets image ## Start a single-node cluster from host processes (root; containerd, runc, CNI plugins) with the image imported.
	go build -o bin/cluster-tool ./hack/cluster
	CGO_ENABLED=0 go build -trimpath -o bin/pause ./hack/cluster/pause
	bin/cluster-tool up -dir "$(CLUSTER_DIR)" -bin "$$(hack/envtest-assets.sh --node)" -pause bin/pause -image bin/image/associate-operator.tar

.PHONY: cluster-down
cluster-down: ## Stop the single-node cluster and remove all it made (its logs stay in bin/cluster/logs).
	go build -o bin/cluster-tool ./hack/cluster
	bin/cluster-tool down -dir "$(CLUSTER_DIR)" -bin "$(LOCALBIN)/k8s"

.PHONY: envtest-path
envtest-path: ## Print the directory holding etcd and kube-apiserver.
	@hack/envtest-assets.sh

.PHONY: run
run: manifests envtest-assets ## Run the operator: against your cluster, or a local control plane when there is none.
	go build -o bin/localrun ./hack/localrun
	KUBEBUILDER_ASSETS="$$(hack/envtest-assets.sh)" bin/localrun

##@ Build

.PHONY: build
build: manifests generate fmt vet manager-binary ## Build the manager binary, as the Dockerfile does.

.PHONY: manager-binary
manager-binary: ## Only compile bin/manager, as the Dockerfile does (no fmt or vet).
	CGO_ENABLED=0 go build $(GO_BUILD_FLAGS) -o bin/manager ./cmd

.PHONY: image
image: ## Build the image (linux/amd64, linux/arm64) with no Docker: bin/image/oci and bin/image/associate-operator.tar.
	go build -o bin/image-tool ./hack/image
	bin/image-tool build -name "$(IMG)" -out bin/image -version "$(VERSION)" -revision "$(REVISION)" \
		-created "$(SOURCE_DATE_EPOCH)" -go "$(GO_TOOLCHAIN)"

.PHONY: image-push
image-push: ## Push bin/image/oci to IMG (make image-push IMG=registry/name:tag), with your docker login.
	go build -o bin/image-tool ./hack/image
	bin/image-tool push -layout bin/image/oci -name "$(IMG)"

.PHONY: docker-build
docker-build: ## Build the container image with a Docker engine (the same image as `make image`).
	docker build --build-arg VERSION="$(VERSION)" --build-arg REVISION="$(REVISION)" -t $(IMG) .

.PHONY: docker-push
docker-push: ## Push the container image.
	docker push $(IMG)

##@ Deployment

.PHONY: install
install: manifests ## Install the CRDs into the cluster of the current kubeconfig.
	$(KUBECTL) apply --server-side -f config/crd/bases

.PHONY: uninstall
uninstall: manifests ## Remove the CRDs (and every Associate) from the cluster.
	$(KUBECTL) delete --ignore-not-found -f config/crd/bases

.PHONY: deploy
deploy: manifests ## Deploy the operator with kustomize to the current cluster.
	$(KUBECTL) kustomize config/default | $(KUBECTL) apply --server-side -f -

.PHONY: undeploy
undeploy: ## Remove the kustomize deployment.
	$(KUBECTL) kustomize config/default | $(KUBECTL) delete --ignore-not-found -f -

.PHONY: helm-lint
helm-lint: helm ## Lint the Helm chart.
	"$(HELM)" lint --strict --kube-version $(KUBE_VERSION) charts/associate-operator

.PHONY: helm-template
helm-template: helm ## Render the Helm chart with its default values.
	"$(HELM)" template associate-operator charts/associate-operator --namespace associate-operator-system --kube-version $(KUBE_VERSION)

##@ Tools

$(LOCALBIN):
	mkdir -p "$(LOCALBIN)"

.PHONY: controller-gen
controller-gen: $(LOCALBIN) ## Build controller-gen into bin/.
	$(call go-install-tool,$(CONTROLLER_GEN),sigs.k8s.io/controller-tools/cmd/controller-gen,$(CONTROLLER_TOOLS_VERSION),$(GO_TOOLCHAIN))

.PHONY: kustomize
kustomize: $(LOCALBIN) ## Build kustomize into bin/.
	$(call go-install-tool,$(KUSTOMIZE),sigs.k8s.io/kustomize/kustomize/v5,$(KUSTOMIZE_VERSION))

.PHONY: helm
helm: $(LOCALBIN) ## Build helm into bin/.
	$(call go-install-tool,$(HELM),helm.sh/helm/v3/cmd/helm,$(HELM_VERSION))

.PHONY: golangci-lint
golangci-lint: $(LOCALBIN) ## Build golangci-lint into bin/.
	$(call go-install-tool,$(GOLANGCI_LINT),github.com/golangci/golangci-lint/v2/cmd/golangci-lint,$(GOLANGCI_LINT_VERSION),$(GO_TOOLCHAIN))

.PHONY: govulncheck
govulncheck: $(LOCALBIN) ## Build govulncheck into bin/.
	$(call go-install-tool,$(LOCALBIN)/govulncheck,golang.org/x/vuln/cmd/govulncheck,$(GOVULNCHECK_VERSION),$(GO_TOOLCHAIN))

# go-install-tool builds $(2)@$(3) into $(1)-$(3) once and links $(1) to it. With a Go
# toolchain as $(4) it builds with that Go, into $(1)-$(3)-$(4): the tools that type-check
# this module's code (controller-gen, golangci-lint, govulncheck) must know the language of
# the standard library they read, go.mod's toolchain's (go1.27's has generic methods).
define go-install-tool
@[ -f "$(1)-$(3)$(if $(4),-$(4))" ] && [ "$$(readlink -- "$(1)" 2>/dev/null)" = "$(1)-$(3)$(if $(4),-$(4))" ] || { \
set -e; \
echo "building $(2)@$(3) into $(LOCALBIN)"; \
rm -f "$(1)"; \
$(if $(4),GOTOOLCHAIN=$(4)) GOBIN="$(LOCALBIN)" go install $(2)@$(3); \
mv "$(LOCALBIN)/$$(basename "$(1)")" "$(1)-$(3)$(if $(4),-$(4))"; \
} ; \
ln -sf "$(1)-$(3)$(if $(4),-$(4))" "$(1)"
endef
