package main

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	v1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
	"github.com/assocsync/associate-operator/internal/mirror"
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
	for r := range cacheReceivers {
		if err := createReceiver(ctx, admin, ns, receiverName(r)); err != nil {
			return err
		}
	}
	tombstones := s.cacheN * cacheTombstonePct / 100
	_, took, err := runBounded(ctx, 0, s.cacheN+tombstones, 4*s.concurrency, func(ctx context.Context, i int) error {
		if i >= s.cacheN {
			return admin.Create(ctx, fixtureTombstone(ns, i))
		}
		a := fixtureAssociate(ns, i)
		a.Labels[v1alpha1.LabelReceiver] = receiverName(i % cacheReceivers)
		a.Labels[v1alpha1.LabelReceiverNamespace] = ns
		a.Finalizers = []string{v1alpha1.FinalizerDeprovision} // as the reconciler left it
		if err := admin.Create(ctx, a); err != nil {
			return err
		}
		a.Status = provisionedStatus(a)
		return admin.Status().Update(ctx, a)
	})
	if err != nil {
		return fmt.Errorf("creating %d Associates and %d tombstones: %w", s.cacheN, tombstones, err)
	}
	fmt.Fprintf(os.Stderr, "bench: created %d Associates, %d tombstones and %d receivers in %s\n",
		s.cacheN, tombstones, cacheReceivers, took.Round(time.Second))

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

	rss, ready, err := managerRSS(ctx, env.Env, s.managerMemLimit)
	if err != nil {
		return err
	}
	res.set("manager_rss_mb_50k", "%.1f", rss.settled)
	res.set("manager_peak_rss_mb_50k", "%.1f", rss.peak)
	res.set("manager_ready_s_50k", "%.2f", ready.Seconds())
	if s.heapProfile != "" {
		return writeOperatorHeapProfile(ctx, cfg, s.heapProfile)
	}
	return nil
}

// writeOperatorHeapProfile runs the operator in this process, waits for its heap to settle
// (after a GC, less than 2 % apart over five seconds, within two minutes), and writes a heap
// profile: what the manager's memory is made of.
func writeOperatorHeapProfile(ctx context.Context, cfg *rest.Config, path string) error {
	stop, err := startOperator(ctx, cfg)
	if err != nil {
		return err
	}
	defer stop()
	deadline := time.Now().Add(2 * time.Minute)
	last := heapAfterGC()
	for time.Now().Before(deadline) {
		time.Sleep(5 * time.Second)
		now := heapAfterGC()
		if math.Abs(float64(now)-float64(last)) < 0.02*float64(last) {
			break
		}
		last = now
	}
	fmt.Fprintf(os.Stderr, "bench: the in-process operator's heap settled at %.1f MB\n", float64(last)/1e6)
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	runtime.GC()
	return pprof.Lookup("heap").WriteTo(f, 0)
}

// The manager's memory is measured with these beside the Associates: tombstones for a
// share of them (deletions of the last TTL) and receivers that split them.
const (
	cacheTombstonePct = 5
	cacheReceivers    = 10
)

func receiverName(i int) string { return fmt.Sprintf("bench-%d", i) }

// createReceiver makes a receiver without spec.api and its signing Secret.
func createReceiver(ctx context.Context, c client.Client, ns, name string) error {
	objs := []client.Object{
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, StringData: map[string]string{"secret": benchSecret}},
		&v1alpha1.WebhookReceiver{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec:       v1alpha1.WebhookReceiverSpec{SecretRef: v1alpha1.SecretKeysReference{Name: name}, Tenant: benchTenant},
		},
	}
	for _, obj := range objs {
		if err := c.Create(ctx, obj); err != nil {
			return err
		}
	}
	return nil
}

// fixtureTombstone is a tombstone as the mirror writes it, for the associate of index i.
func fixtureTombstone(ns string, i int) *corev1.ConfigMap {
	id := associateID(i)
	name, _ := v1alpha1.AssociateName(benchTenant, id)
	now := time.Now().UTC()
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: mirror.TombstoneName(name), Namespace: ns, Labels: map[string]string{
			mirror.LabelTombstone: "true", v1alpha1.LabelManagedBy: v1alpha1.LabelManagedByValue,
			v1alpha1.LabelTenant: v1alpha1.TenantSlug(benchTenant), v1alpha1.LabelAssociateID: strconv.FormatInt(id, 10),
		}},
		Data: map[string]string{
			"eventId":   fmt.Sprintf("%08d-0000-4000-a000-000000000000", i),
			"timestamp": now.Add(-time.Hour).Format(time.RFC3339Nano),
			"expires":   now.Add(72 * time.Hour).Format(time.RFC3339Nano),
		},
	}
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
func managerRSS(ctx context.Context, env *envtest.Environment, memLimit string) (rssFigures, time.Duration, error) {
	dir, err := os.MkdirTemp("", "bench-manager-")
	if err != nil {
		return rssFigures{}, 0, err
	}
	defer os.RemoveAll(dir)
	binary := filepath.Join(dir, "manager")
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", binary, "./cmd")
	build.Dir, build.Stderr, build.Env = testenv.RepoRoot(), os.Stderr, append(os.Environ(), "CGO_ENABLED=0")
	if err := build.Run(); err != nil {
		return rssFigures{}, 0, fmt.Errorf("building the manager: %w", err)
	}
	user, err := env.AddUser(envtest.User{Name: "bench-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return rssFigures{}, 0, err
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		return rssFigures{}, 0, err
	}
	if err := os.WriteFile(filepath.Join(dir, "kubeconfig"), kubeconfig, 0o600); err != nil {
		return rssFigures{}, 0, err
	}
	probe, err := freeAddress()
	if err != nil {
		return rssFigures{}, 0, err
	}
	cmd := exec.CommandContext(ctx, binary, "--kubeconfig", filepath.Join(dir, "kubeconfig"),
		"--metrics-bind-address", "0", "--health-probe-bind-address", probe,
		"--webhook-bind-address", "127.0.0.1:0", "--zap-log-level", "error")
	if memLimit != "" {
		cmd.Env = append(os.Environ(), "GOMEMLIMIT="+memLimit)
	}
	started := time.Now()
	if err := cmd.Start(); err != nil {
		return rssFigures{}, 0, err
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
			return rssFigures{}, 0, fmt.Errorf("the manager was not ready within 5 minutes")
		}
		time.Sleep(200 * time.Millisecond)
	}
	ready := time.Since(started)
	rss, err := settledRSS(cmd.Process.Pid)
	return rss, ready, err
}

type rssFigures struct{ settled, peak float64 }

// settledRSS polls the process's resident memory once a second until it has moved less
// than 1 MB over five seconds (the collector has run after the initial lists and the
// scavenger has returned what it frees), at most a minute, and returns it with the peak.
func settledRSS(pid int) (rssFigures, error) {
	var readings []float64
	deadline := time.Now().Add(time.Minute)
	for {
		rss, err := procStatusMB(pid, "VmRSS:")
		if err != nil {
			return rssFigures{}, err
		}
		readings = append(readings, rss)
		if n := len(readings); n > 5 && math.Abs(readings[n-1]-readings[n-6]) < 1 || time.Now().After(deadline) {
			peak, err := procStatusMB(pid, "VmHWM:")
			return rssFigures{settled: rss, peak: peak}, err
		}
		time.Sleep(time.Second)
	}
}

// procStatusMB is one memory figure of /proc/<pid>/status (VmRSS:, VmHWM:) in MiB.
func procStatusMB(pid int, field string) (float64, error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		if fields := strings.Fields(line); len(fields) >= 2 && fields[0] == field {
			kb, err := strconv.ParseFloat(fields[1], 64)
			return kb / 1024, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

func freeAddress() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
