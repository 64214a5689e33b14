package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	v1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
	"github.com/assocsync/associate-operator/internal/operator"
	"github.com/assocsync/associate-operator/internal/testenv"
)

// benchCache measures what N cached Associates cost: the heap growth of a cache built with
// the operator's own cache options, and the RSS of the real manager binary once its
// caches have synced. Each Associate carries a Ready status with two provisioned objects,
// as a provisioned Associate does.
func benchCache(ctx context.Context, env *testenv.Environment, cfg *rest.Config, admin client.Client, s settings, res *results) error {
	const ns = "bench-cache"
	if err := createNamespace(ctx, admin, ns); err != nil {
		return err
	}
	_, took, err := runBounded(ctx, 0, s.cacheN, 4*s.concurrency, func(ctx context.Context, i int) error {
		a := fixtureAssociate(ns, i)
		if err := admin.Create(ctx, a); err != nil {
			return err
		}
		a.Status = provisionedStatus(a)
		return admin.Status().Update(ctx, a)
	})
	if err != nil {
		return fmt.Errorf("creating %d Associates: %w", s.cacheN, err)
	}
	fmt.Fprintf(os.Stderr, "bench: created %d Associates in %s\n", s.cacheN, took.Round(time.Second))

	heapBefore := heapAfterGC()
	options := operator.CacheOptions()
	options.Scheme = operator.NewScheme()
	c, err := cache.New(cfg, options)
	if err != nil {
		return err
	}
	if _, err := c.GetInformer(ctx, &v1alpha1.Associate{}); err != nil {
		return err
	}
	cacheCtx, stop := context.WithCancel(ctx)
	defer stop()
	started := time.Now()
	go func() { _ = c.Start(cacheCtx) }()
	if !c.WaitForCacheSync(cacheCtx) {
		return fmt.Errorf("the cache did not sync")
	}
	syncTime := time.Since(started)
	heapAfter := heapAfterGC()
	list := &v1alpha1.AssociateList{}
	if err := c.List(ctx, list, client.InNamespace(ns)); err != nil || len(list.Items) != s.cacheN {
		return fmt.Errorf("the cache holds %d Associates, want %d (%w)", len(list.Items), s.cacheN, err)
	}
	runtime.KeepAlive(c)
	res.set("bytes_per_cached_associate", "%.0f", float64(int64(heapAfter)-int64(heapBefore))/float64(s.cacheN))
	res.set("cache_sync_s_50k", "%.2f", syncTime.Seconds())
	res.set("cache_n", "%d", s.cacheN)
	stop()

	rss, ready, err := managerRSS(ctx, env.Env)
	if err != nil {
		return err
	}
	res.set("manager_rss_mb_50k", "%.1f", rss)
	res.set("manager_ready_s_50k", "%.2f", ready.Seconds())
	return nil
}

func provisionedStatus(a *v1alpha1.Associate) v1alpha1.AssociateStatus {
	person := "person-" + strconv.FormatInt(a.Spec.PersonID, 10)
	return v1alpha1.AssociateStatus{
		ObservedGeneration: a.Generation,
		Conditions: []metav1.Condition{{
			Type: "Ready", Status: metav1.ConditionTrue, Reason: "Provisioned", ObservedGeneration: a.Generation,
			LastTransitionTime: metav1.Now(), Message: "every matching policy is applied",
		}},
		Provisioned: []v1alpha1.ProvisionedObject{
			{Policy: "person-accounts", APIVersion: "v1", Kind: "ServiceAccount", Namespace: a.Namespace, Name: person},
			{Policy: "person-accounts", APIVersion: "rbac.authorization.k8s.io/v1", Kind: "RoleBinding", Namespace: a.Namespace, Name: person + "-view"},
		},
	}
}

func heapAfterGC() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// managerRSS runs the manager binary against the control plane, waits until it is ready
// (its caches synced) and reads its resident memory.
func managerRSS(ctx context.Context, env *envtest.Environment) (float64, time.Duration, error) {
	dir, err := os.MkdirTemp("", "bench-manager-")
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(dir)
	binary := filepath.Join(dir, "manager")
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", binary, "./cmd")
	build.Dir, build.Stderr, build.Env = testenv.RepoRoot(), os.Stderr, append(os.Environ(), "CGO_ENABLED=0")
	if err := build.Run(); err != nil {
		return 0, 0, fmt.Errorf("building the manager: %w", err)
	}
	user, err := env.AddUser(envtest.User{Name: "bench-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return 0, 0, err
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		return 0, 0, err
	}
	if err := os.WriteFile(filepath.Join(dir, "kubeconfig"), kubeconfig, 0o600); err != nil {
		return 0, 0, err
	}
	probe, err := freeAddress()
	if err != nil {
		return 0, 0, err
	}
	cmd := exec.CommandContext(ctx, binary, "--kubeconfig", filepath.Join(dir, "kubeconfig"),
		"--metrics-bind-address", "0", "--health-probe-bind-address", probe,
		"--webhook-bind-address", "127.0.0.1:0", "--zap-log-level", "error")
	started := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	deadline := started.Add(5 * time.Minute)
	for {
		resp, err := http.Get("http://" + probe + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			return 0, 0, fmt.Errorf("the manager was not ready within 5 minutes")
		}
		time.Sleep(200 * time.Millisecond)
	}
	ready := time.Since(started)
	rss, err := residentMB(cmd.Process.Pid)
	return rss, ready, err
}

func residentMB(pid int) (float64, error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		if fields := strings.Fields(line); len(fields) >= 2 && fields[0] == "VmRSS:" {
			kb, err := strconv.ParseFloat(fields[1], 64)
			return kb / 1024, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

func freeAddress() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
