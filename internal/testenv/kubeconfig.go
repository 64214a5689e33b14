package testenv

import (
	"os"
	"path/filepath"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// AdminKubeconfig writes a kubeconfig for a system:masters user called name; see
// UserKubeconfig for server.
func (e *Environment) AdminKubeconfig(t testing.TB, name, server string) string {
	t.Helper()
	return e.UserKubeconfig(t, envtest.User{Name: name, Groups: []string{"system:masters"}}, server)
}

// UserKubeconfig writes a kubeconfig with a client certificate for user; server, when
// not empty, replaces the API server's host:port (a proxy's, say).
func (e *Environment) UserKubeconfig(t testing.TB, user envtest.User, server string) string {
	t.Helper()
	added, err := e.Env.AddUser(user, nil)
	if err != nil {
		t.Fatalf("adding user %s: %v", user.Name, err)
	}
	data, err := added.KubeConfig()
	if err != nil {
		t.Fatalf("kubeconfig for %s: %v", user.Name, err)
	}
	if server != "" {
		cfg, err := clientcmd.Load(data)
		if err != nil {
			t.Fatal(err)
		}
		for _, cluster := range cfg.Clusters {
			cluster.Server = "https://" + server
		}
		if data, err = clientcmd.Write(*cfg); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// UserClient is a client authenticated as user (a client certificate), for tests that
// act as someone other than the admin.
func (e *Environment) UserClient(t testing.TB, user envtest.User) client.Client {
	t.Helper()
	added, err := e.Env.AddUser(user, nil)
	if err != nil {
		t.Fatalf("adding user %s: %v", user.Name, err)
	}
	c, err := client.New(added.Config(), client.Options{Scheme: Scheme()})
	if err != nil {
		t.Fatalf("client for %s: %v", user.Name, err)
	}
	return c
}
