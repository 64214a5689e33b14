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
	"sigs.k8s.io/controller-runtime/pkg/envtest"

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
	c.kubeconfig = c.userKubeconfig(t, "e2e-admin", "system:masters")
	return c
}

// userKubeconfig writes a kubeconfig with a client certificate for the user and groups.
func (c *cluster) userKubeconfig(t *testing.T, name string, groups ...string) string {
	t.Helper()
	user, err := c.env.Env.AddUser(envtest.User{Name: name, Groups: groups}, nil)
	if err != nil {
		t.Fatalf("adding user %s: %v", name, err)
	}
	data, err := user.KubeConfig()
	if err != nil {
		t.Fatalf("kubeconfig for %s: %v", name, err)
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
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

// eventually polls check until it returns nil, and fails the test with its last error
// once the timeout has passed.
func eventually(t *testing.T, timeout time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after %s: %v", what, timeout, err)
		}
		select {
		case <-t.Context().Done():
			t.Fatalf("%s: test cancelled: %v", what, err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}
