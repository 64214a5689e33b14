package main

import (
	"context"
	"fmt"
	"os"
	"runtime/pprof"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// startCPUProfile profiles this process until the returned stop is called.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("creating the CPU profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("starting the CPU profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}, nil
}

// profileAPIServer takes a CPU profile of the kube-apiserver from its /debug/pprof for
// most of a phase expected to last about estimate; the returned func waits for it.
func profileAPIServer(ctx context.Context, cfg *rest.Config, path string, estimate time.Duration) func() {
	done := make(chan struct{})
	go func() {
		defer close(done)
		seconds := max(int(estimate.Seconds()*0.8), 1)
		cs, err := kubernetes.NewForConfig(cfg)
		if err == nil {
			var raw []byte
			raw, err = cs.Discovery().RESTClient().Get().AbsPath("/debug/pprof/profile").
				Param("seconds", fmt.Sprint(seconds)).Timeout(time.Duration(seconds+30) * time.Second).DoRaw(ctx)
			if err == nil {
				err = os.WriteFile(path, raw, 0o644)
			}
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench: profiling the kube-apiserver:", err)
		}
	}()
	return func() { <-done }
}
