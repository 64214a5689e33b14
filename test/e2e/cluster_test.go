package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/assocsync/associate-operator/internal/testenv"
)

// commandTimeout bounds every helm and kubectl call.
const commandTimeout = 2 * time.Minute

// cluster is a control plane without CRDs (the chart installs them) and an admin
// kubeconfig for helm and kubectl.
type cluster struct {
	env        *testenv.Environment
	config     *rest.Config
	client     client.Client
	kubeconfig string
	helmEnv    []string
}

func startCluster(t *testing.T) *cluster {
	t.Helper()
	env, err := testenv.New()
	if err != nil {
		t.Fatal(err)
	}
	env.Env.CRDDirectoryPaths = nil
	env.Env.ErrorIfCRDPathMissing = false
	cfg, err := env.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stopping the control plane: %v", err)
		}
	})
	c := &cluster{env: env, config: cfg, helmEnv: helmHomeEnv(t)}
	if c.client, err = client.New(cfg, client.Options{Scheme: testenv.Scheme()}); err != nil {
		t.Fatal(err)
	}
	c.kubeconfig = env.AdminKubeconfig(t, "e2e-admin", "")
	return c
}

// kubectl runs kubectl as the admin and returns its output.
func (c *cluster) kubectl(t *testing.T, args ...string) (string, error) {
	t.Helper()
	return run(t, tools.kubectl, nil, append([]string{"--kubeconfig", c.kubeconfig}, args...)...)
}

// helm runs helm as the admin, its state kept out of the user's home.
func (c *cluster) helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	return run(t, tools.helm, c.helmEnv, append([]string{"--kubeconfig", c.kubeconfig}, args...)...)
}

// run runs a command bounded by commandTimeout; the error carries its output.
func run(t *testing.T, name string, env []string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %w: %s", filepath.Base(name), strings.Join(args, " "),
			err, strings.TrimSpace(stderr.String()+"\n"+stdout.String()))
	}
	return stdout.String(), nil
}
