// Package node runs the chart's Pods on a real kubelet: a single-node cluster from host
// processes (internal/nodecluster), the image of `make image` imported into its
// containerd, and `helm install` of the chart. It needs root and Debian's containerd,
// runc, CNI plugins and iptables; without them it skips with the reason, unless
// NODE_E2E_REQUIRED=1 (as in CI) turns that into a failure.
package node

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/assocsync/associate-operator/internal/nodecluster"
	"github.com/assocsync/associate-operator/internal/testenv"
)

// requiredEnv makes a machine that cannot run the suite a failure instead of a skip.
const requiredEnv = "NODE_E2E_REQUIRED"

// image is the operator's image as the suite imports it; the chart is pointed at it.
const (
	imageRepository = "ghcr.io/assocsync/associate-operator"
	imageTag        = "node-suite"
)

// suite is what TestMain found: the binaries, or why the suite cannot run.
var suite struct {
	binDir, helm, kubectl string
	unableErr             error
}

func TestMain(m *testing.M) {
	suite.unableErr = findTools()
	os.Exit(m.Run())
}

func findTools() error {
	binDir := os.Getenv("KUBEBUILDER_ASSETS")
	if binDir == "" {
		binDir = filepath.Join(testenv.RepoRoot(), "bin", "k8s")
	}
	if err := nodecluster.Preflight(binDir); err != nil {
		return err
	}
	suite.binDir = binDir
	suite.helm = os.Getenv("HELM")
	if suite.helm == "" {
		suite.helm = filepath.Join(testenv.RepoRoot(), "bin", "helm")
	}
	if _, err := os.Stat(suite.helm); err != nil {
		return fmt.Errorf("no helm at %s (set HELM or run `make helm`)", suite.helm)
	}
	var err error
	if suite.kubectl, err = exec.LookPath("kubectl"); err != nil {
		return fmt.Errorf("kubectl is not on PATH")
	}
	return nil
}

// requireNode skips (or, with NODE_E2E_REQUIRED=1, fails) when the machine cannot run
// the suite, and in -short.
func requireNode(t *testing.T) {
	t.Helper()
	if suite.unableErr != nil {
		if os.Getenv(requiredEnv) == "1" {
			t.Fatalf("%s=1 but: %v", requiredEnv, suite.unableErr)
		}
		t.Skipf("the node suite cannot run here (%v); set %s=1 to make this a failure", suite.unableErr, requiredEnv)
	}
	if testing.Short() {
		t.Skip("runs a single-node cluster: not in -short")
	}
}

// startCluster builds the pause binary and the operator's image for this machine's
// platform (from the manager binary make test built, when it names one) and starts the
// cluster; it is taken down when the test ends, its logs shown if the test failed.
func startCluster(t *testing.T) *nodecluster.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute) // the builds
	defer cancel()
	work := t.TempDir()
	pause := filepath.Join(work, "pause")
	if err := testenv.BuildBinary(ctx, "./hack/cluster/pause", pause); err != nil {
		t.Fatal(err)
	}
	imageTar := buildImage(ctx, t, work)

	dir := filepath.Join(work, "cluster")
	log := &testenv.LogBuffer{}
	upCtx, cancelUp := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancelUp()
	c, err := nodecluster.Up(upCtx, nodecluster.Options{
		Dir: dir, BinDir: suite.binDir, PauseBinary: pause, Images: []string{imageTar}, Log: log,
	})
	if err != nil {
		t.Fatalf("starting the cluster: %v\n%s", err, log.String())
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, name := range []string{"kubelet", "containerd", "kube-controller-manager", "kube-proxy"} {
				data, _ := os.ReadFile(filepath.Join(dir, "logs", name+".log"))
				t.Logf("the end of %s's log:\n%s", name, testenv.LastLines(string(data), 40))
			}
		}
		if err := nodecluster.Down(dir, suite.binDir); err != nil {
			t.Errorf("taking the cluster down: %v", err)
		}
	})
	return c
}

// buildImage writes the image tarball of `make image` for this platform only, around
// the manager binary of make test (or one built here).
func buildImage(ctx context.Context, t *testing.T, work string) string {
	t.Helper()
	manager, err := testenv.ManagerBinary(ctx, work)
	if err != nil {
		t.Fatal(err)
	}
	platform := "linux/" + runtime.GOARCH
	binDir := filepath.Join(work, "image-bin")
	if err := os.MkdirAll(filepath.Join(binDir, "linux_"+runtime.GOARCH), 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(manager)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(binDir, "linux_"+runtime.GOARCH, "manager"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	tool := filepath.Join(work, "image-tool")
	if err := testenv.BuildBinary(ctx, "./hack/image", tool); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(work, "image")
	cmd := exec.CommandContext(ctx, tool, "build", "-name", imageRepository+":"+imageTag, "-out", out,
		"-compile=false", "-bin-dir", binDir, "-platforms", platform, "-revision", "node-suite", "-created", "0")
	if output, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the image: %v\n%s", err, output)
	}
	return filepath.Join(out, "associate-operator.tar")
}
