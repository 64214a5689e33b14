// Package fault runs the manager as a separate process against a local control plane and
// breaks things around it: the API server's connection, the process itself, the leader,
// and abusive clients. Every loop is bounded and every wait polls with a deadline.
package fault

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/assocsync/associate-operator/internal/testenv"
)

// Shared by the tests: one control plane, an admin client, and the manager binary.
var (
	env        *testenv.Environment
	restConfig *rest.Config
	k8s        client.Client
	managerBin string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "fault-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = os.RemoveAll(dir) }()
	if managerBin, err = buildManager(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if env, err = testenv.New(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if restConfig, err = env.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	if k8s, err = client.New(restConfig, client.Options{Scheme: testenv.Scheme()}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// buildManager builds ./cmd once for every test, as the Makefile does (or takes the
// Makefile's own, see testenv.ManagerBinary).
func buildManager(dir string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	return testenv.ManagerBinary(ctx, dir)
}
