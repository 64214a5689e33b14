// Command bench is `make bench`: it measures the operator against the API server's own
// ceiling on one local control plane. Every figure that compares is a ratio of two
// measurements taken in the same run, interleaved, because the machine is small and noisy.
// It prints `BENCH key=value` lines and a table, and exits non-zero only when the benchmark
// itself broke.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"go.uber.org/zap/zapcore"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/assocsync/associate-operator/internal/operator"
	"github.com/assocsync/associate-operator/internal/testenv"
)

type settings struct {
	ingressN    int
	reconcileN  int
	cacheN      int
	resyncN     int
	concurrency int
	only        string
	// apiserverProfile, when set, is the path prefix of CPU profiles of the kube-apiserver
	// taken during the second half of each ingress-benchmark phase.
	apiserverProfile string
	// managerMemLimit, when set, is the manager's GOMEMLIMIT in the memory figures, as
	// the chart's memory limit sets it (90 % of the limit).
	managerMemLimit string
	// heapProfile, when set, is where the memory part writes a heap profile of the
	// operator run in this process over the same objects, once its heap has settled.
	heapProfile string
}

func main() { os.Exit(bench()) }

// bench runs the benchmarks and returns the exit code (so that deferred work runs first).
func bench() int {
	var s settings
	scale := 1.0
	if v := os.Getenv("BENCH_N"); v != "" {
		if _, err := fmt.Sscanf(v, "%g", &scale); err != nil || scale <= 0 {
			fmt.Fprintf(os.Stderr, "BENCH_N=%q is not a positive number (a scale: 1 = the full run)\n", v)
			return 2
		}
	}
	flag.IntVar(&s.ingressN, "ingress-n", int(5000*scale), "Associates written through the ingress, and raw")
	flag.IntVar(&s.reconcileN, "reconcile-n", int(2000*scale), "Associates brought to Ready, and raw")
	flag.IntVar(&s.resyncN, "resync-n", int(resyncDefaultN*scale), "associates in the fake SuperOffice tenant that the resync mirrors")
	flag.IntVar(&s.cacheN, "cache-n", int(50000*scale), "Associates cached for the memory figures")
	flag.IntVar(&s.concurrency, "concurrency", 16, "concurrent deliveries and raw writes")
	flag.StringVar(&s.managerMemLimit, "manager-memlimit", "", "GOMEMLIMIT of the manager whose RSS is measured (e.g. 230MiB, 90 % of a 256Mi limit); empty: none")
	flag.StringVar(&s.heapProfile, "heapprofile", "", "write a heap profile (in use) of the operator run in-process over the memory part's objects to this file")
	flag.StringVar(&s.only, "only", "", "run one part: ingress, mix, reconcile, resync or cache")
	out := flag.String("out", "bench/results.txt", "where the BENCH lines are written too")
	flag.StringVar(&s.apiserverProfile, "apiserver-profile", "", "path prefix for kube-apiserver CPU profiles of the ingress part's raw and ingress phases (<prefix>-raw.pprof, <prefix>-ingress.pprof)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of this process (load generator and in-process ingress or manager) to this file")
	flag.Parse()
	if *cpuProfile != "" {
		stop, err := startCPUProfile(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 2
		}
		defer stop()
	}
	ctrl.SetLogger(zap.New(zap.UseDevMode(false), zap.Level(zapcore.DPanicLevel)))

	results, err := run(s)
	results.print(os.Stdout)
	if werr := results.write(*out); werr != nil && err == nil {
		err = werr
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	return 0
}

func run(s settings) (*results, error) {
	res := newResults()
	parts := []struct {
		name string
		run  func(context.Context, *testenv.Environment, *rest.Config, client.Client, settings, *results) error
	}{
		{"ingress", benchIngress},
		{"mix", benchIngressMix},
		{"reconcile", benchReconcile},
		{"resync", benchResync},
		{"cache", benchCache},
	}
	for _, part := range parts {
		if s.only != "" && s.only != part.name {
			continue
		}
		fmt.Fprintf(os.Stderr, "bench: %s...\n", part.name)
		started := time.Now()
		if err := onFreshControlPlane(s, res, part.run); err != nil {
			return res, fmt.Errorf("%s: %w", part.name, err)
		}
		fmt.Fprintf(os.Stderr, "bench: %s took %s\n", part.name, time.Since(started).Round(time.Second))
	}
	return res, nil
}

// onFreshControlPlane runs one part on a control plane of its own, so that no part's
// Associates are cached, reconciled or counted by another.
func onFreshControlPlane(s settings, res *results,
	part func(context.Context, *testenv.Environment, *rest.Config, client.Client, settings, *results) error) error {
	env, err := testenv.New()
	if err != nil {
		return err
	}
	cfg, err := env.Start()
	if err != nil {
		return err
	}
	defer func() { _ = env.Stop() }()
	cfg = unthrottled(cfg)
	admin, err := client.New(cfg, client.Options{Scheme: operator.NewScheme()})
	if err != nil {
		return err
	}
	return part(context.Background(), env, cfg, admin, s, res)
}

// unthrottled turns off client-side rate limiting, as the manager's own config does.
func unthrottled(cfg *rest.Config) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = -1, 0
	return cfg
}

// results keeps the BENCH keys in the order they were measured.
type results struct {
	keys   []string
	values map[string]string
}

func newResults() *results { return &results{values: map[string]string{}} }

func (r *results) set(key string, format string, value any) {
	if _, ok := r.values[key]; !ok {
		r.keys = append(r.keys, key)
	}
	r.values[key] = fmt.Sprintf(format, value)
}

func (r *results) print(f *os.File) {
	for _, k := range r.keys {
		fmt.Fprintf(f, "BENCH %s=%s\n", k, r.values[k])
	}
}

func (r *results) write(path string) error {
	if len(r.keys) == 0 {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	var b strings.Builder
	for _, k := range r.keys {
		fmt.Fprintf(&b, "BENCH %s=%s\n", k, r.values[k])
	}
	// Append: hack/bench.sh writes the Go benchmark's lines first.
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(b.String()); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// percentile of latencies (sorted in place), in milliseconds.
func percentile(latencies []time.Duration, p float64) float64 {
	if len(latencies) == 0 {
		return 0
	}
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	i := int(float64(len(latencies)-1) * p)
	return float64(latencies[i]) / float64(time.Millisecond)
}
