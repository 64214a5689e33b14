package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/assocsync/associate-operator/internal/testenv"
)

// tools are the binaries every test here needs, found once.
var tools struct {
	helm    string // HELM, else bin/helm
	kubectl string // from PATH
	// setupErr is why they are missing; tests fail with it rather than skip, so that
	// `make test` never passes without the e2e suite having run.
	setupErr error
}

func TestMain(m *testing.M) {
	tools.setupErr = findTools()
	os.Exit(m.Run())
}

func findTools() error {
	helm := os.Getenv("HELM")
	if helm == "" {
		helm = filepath.Join(testenv.RepoRoot(), "bin", "helm")
	}
	if _, err := os.Stat(helm); err != nil {
		return fmt.Errorf("no helm at %s (set HELM or run `make helm`): %w", helm, err)
	}
	tools.helm = helm
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		return fmt.Errorf("kubectl is not on PATH: %w", err)
	}
	tools.kubectl = kubectl
	return nil
}

// requireTools fails the test when helm or kubectl is missing.
func requireTools(t *testing.T) {
	t.Helper()
	if tools.setupErr != nil {
		t.Fatal(tools.setupErr)
	}
}

// chartDir is the chart under test.
func chartDir() string {
	return filepath.Join(testenv.RepoRoot(), "charts", "associate-operator")
}
