// Package testenv starts envtest control planes for the project's tests, with the CRDs
// installed, from the binaries that `make envtest-assets` provides.
package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
)

// modulePath names the repository's go.mod (hack/envtest has a go.mod of its own).
const modulePath = "github.com/assocsync/associate-operator"

// RepoRoot is the repository's top folder: the nearest folder above the working directory
// (a test's package, or where `go run` was started) whose go.mod is this module's. The
// source file's own path is the fallback; `go test -trimpath` makes it module-relative.
var RepoRoot = sync.OnceValue(func() string {
	if dir, err := os.Getwd(); err == nil {
		for {
			if data, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && goModModule(data) == modulePath {
				return dir
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
})

// goModModule is the module path a go.mod declares.
func goModModule(goMod []byte) string {
	for line := range strings.SplitSeq(string(goMod), "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "module "); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`)
		}
	}
	return ""
}

// AssetsDir is the folder holding etcd and kube-apiserver: KUBEBUILDER_ASSETS when set,
// else bin/k8s. It fails with what to run when neither has them.
func AssetsDir() (string, error) {
	dirs := []string{os.Getenv("KUBEBUILDER_ASSETS"), filepath.Join(RepoRoot(), "bin", "k8s")}
	for _, dir := range dirs {
		if dir == "" {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, "kube-apiserver")); err == nil {
			return dir, nil
		}
	}
	return "", fmt.Errorf("no etcd and kube-apiserver in KUBEBUILDER_ASSETS or bin/k8s: run `make envtest-assets` (or `make test`)")
}

// Scheme knows the built-in kinds and this project's API.
func Scheme() *k8sruntime.Scheme {
	s := k8sruntime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := superofficev1alpha1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}

// Environment is an envtest control plane with the operator's CRDs. Set the fields of
// Env (for example an etcd DataDir) before Start.
type Environment struct {
	Env    *envtest.Environment
	Config *rest.Config
}

// New prepares an environment with the CRDs from config/crd/bases.
func New() (*Environment, error) {
	assets, err := AssetsDir()
	if err != nil {
		return nil, err
	}
	return &Environment{Env: &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{filepath.Join(RepoRoot(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		Scheme:                Scheme(),
	}}, nil
}

// Start starts the control plane and installs the CRDs.
func (e *Environment) Start() (*rest.Config, error) {
	cfg, err := e.Env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting envtest with assets in %s: %w", e.Env.BinaryAssetsDirectory, err)
	}
	e.Config = cfg
	return cfg, nil
}

// Stop stops the control plane; it is safe to call twice.
func (e *Environment) Stop() error {
	if e == nil || e.Env == nil {
		return nil
	}
	return e.Env.Stop()
}
