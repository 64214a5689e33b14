// Command localrun is `make run`: it runs the manager against the cluster of the current
// kubeconfig, or, when there is none, against a local control plane (etcd and
// kube-apiserver, as envtest runs them) with the CRDs and a sample WebhookReceiver.
// Ctrl-C stops the manager and the control plane.
package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/assocsync/associate-operator/internal/testenv"
)

const (
	localDir      = "bin/local"
	webhookPort   = "8082"
	sampleFile    = "config/samples/superoffice_v1alpha1_webhookreceiver.yaml"
	samplePolicy  = "config/samples/superoffice_v1alpha1_provisioningpolicy.yaml"
	receiverPath  = "/webhooks/default/superoffice"
	managerBinary = "bin/manager"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "make run:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if err := buildManager(); err != nil {
		return err
	}
	if kubeconfig, ok := reachableCluster(); ok {
		fmt.Printf("Running the manager against the cluster of %s (install the CRDs first with `make install`).\n", kubeconfig)
		return runManager(ctx, nil)
	}

	fmt.Println("No reachable cluster: starting a local control plane (etcd and kube-apiserver).")
	env, err := testenv.New()
	if err != nil {
		return err
	}
	if _, err := env.Start(); err != nil {
		return err
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping the control plane:", err)
		}
	}()
	kubeconfig, err := writeKubeconfig(env.Env)
	if err != nil {
		return err
	}
	if err := installSample(ctx, env); err != nil {
		return err
	}
	printHowTo(kubeconfig)
	return runManager(ctx, []string{"--kubeconfig", kubeconfig})
}

func buildManager() error {
	cmd := exec.Command("go", "build", "-o", managerBinary, "./cmd")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("building the manager: %w", err)
	}
	return nil
}

// reachableCluster reports whether KUBECONFIG or ~/.kube/config names a cluster that answers.
func reachableCluster() (string, bool) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if os.Getenv(clientcmd.RecommendedConfigPathEnvVar) == "" {
		if _, err := os.Stat(clientcmd.RecommendedHomeFile); err != nil {
			return "", false
		}
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, nil).ClientConfig()
	if err != nil {
		return "", false
	}
	cfg.Timeout = 5 * time.Second
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return "", false
	}
	if _, err := dc.ServerVersion(); err != nil {
		fmt.Printf("The cluster of your kubeconfig does not answer (%v).\n", err)
		return "", false
	}
	name := os.Getenv(clientcmd.RecommendedConfigPathEnvVar)
	if name == "" {
		name = clientcmd.RecommendedHomeFile
	}
	return name, true
}

func writeKubeconfig(env *envtest.Environment) (string, error) {
	user, err := env.AddUser(envtest.User{Name: "local-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return "", fmt.Errorf("creating the local admin user: %w", err)
	}
	data, err := user.KubeConfig()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(localDir, 0o700); err != nil {
		return "", err
	}
	path, err := filepath.Abs(filepath.Join(localDir, "kubeconfig"))
	if err != nil {
		return "", err
	}
	return path, os.WriteFile(path, data, 0o600)
}

// installSample creates the sample Secret and WebhookReceiver, and writes the signing
// secret where sendevent can read it.
func installSample(ctx context.Context, env *testenv.Environment) error {
	c, err := client.New(env.Config, client.Options{Scheme: testenv.Scheme()})
	if err != nil {
		return err
	}
	objects, err := testenv.DecodeFile(filepath.Join(testenv.RepoRoot(), sampleFile))
	if err != nil {
		return err
	}
	for _, obj := range objects {
		// Read before Create: the API server's answer has data, no longer stringData.
		if secret, found, _ := unstructured.NestedString(obj.Object, "stringData", "secret"); found {
			if err := os.WriteFile(filepath.Join(localDir, "webhook-secret"), []byte(secret), 0o600); err != nil {
				return err
			}
		}
		if err := c.Create(ctx, obj); err != nil {
			return fmt.Errorf("creating sample %s %s: %w", obj.GetKind(), obj.GetName(), err)
		}
	}
	return nil
}

func printHowTo(kubeconfig string) {
	fmt.Printf(`
The local control plane is up, with the CRDs and the sample WebhookReceiver default/superoffice.

  export KUBECONFIG=%[1]s
  kubectl get superoffice
  kubectl apply -f %[2]s        # provision a ServiceAccount per person

Send a signed, documented delivery to the ingress:

  go run ./cmd/sendevent --url http://127.0.0.1:%[3]s%[4]s --secret-file %[5]s/webhook-secret --event created
  kubectl get associates

and delete that associate again (the documented deletion is tenant Default's, and older):

  go run ./cmd/sendevent --url http://127.0.0.1:%[3]s%[4]s --secret-file %[5]s/webhook-secret --event deleted \
    --tenant Cust1234 --primary-key 141424 --timestamp now

Ctrl-C stops the manager and the control plane.

`, kubeconfig, samplePolicy, webhookPort, receiverPath, localDir)
}

// runManager runs the manager binary until it exits or ctx ends, then stops it gracefully.
func runManager(ctx context.Context, args []string) error {
	args = append(args, "--webhook-bind-address", ":"+webhookPort)
	cmd := exec.Command(managerBinary, args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	// Its own process group: Ctrl-C reaches us, and we stop the manager before the control plane.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting the manager: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return fmt.Errorf("the manager stopped: %w", err)
	case <-ctx.Done():
	}
	fmt.Println("\nStopping the manager and the control plane...")
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		if err != nil {
			fmt.Println("the manager exited:", err)
		}
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		if err := <-done; err != nil {
			fmt.Println("the manager was killed:", err)
		}
	}
	return nil
}
