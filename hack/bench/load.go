package main

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// runBounded calls work(i) for i in [from, to) on `workers` goroutines and returns each
// call's latency and the wall time; it stops at the first error.
func runBounded(ctx context.Context, from, to, workers int, work func(ctx context.Context, i int) error) ([]time.Duration, time.Duration, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	latencies := make([]time.Duration, to-from)
	var next atomic.Int64
	next.Store(int64(from))
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	started := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= to || ctx.Err() != nil {
					return
				}
				t := time.Now()
				if err := work(ctx, i); err != nil {
					once.Do(func() { firstErr = err; cancel() })
					return
				}
				latencies[i-from] = time.Since(t)
			}
		}()
	}
	wg.Wait()
	return latencies, time.Since(started), firstErr
}
