package main

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// apiRequests counts the kube-apiserver's requests by "VERB resource" from its
// apiserver_request_total, so that a phase's requests are the difference of two reads.
func apiRequests(ctx context.Context, cfg *rest.Config) (map[string]float64, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	raw, err := cs.Discovery().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the kube-apiserver's /metrics: %w", err)
	}
	counts := map[string]float64{}
	for line := range strings.SplitSeq(string(raw), "\n") {
		rest, ok := strings.CutPrefix(line, "apiserver_request_total{")
		if !ok {
			continue
		}
		labels, value, _ := strings.Cut(rest, "} ")
		verb, resource, subresource := metricLabel(labels, "verb"), metricLabel(labels, "resource"), metricLabel(labels, "subresource")
		if verb == "WATCH" || verb == "LIST" || resource == "leases" {
			continue // the informers' and leader election's own traffic, not per object
		}
		if subresource != "" {
			resource += "/" + subresource
		}
		n, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			return nil, fmt.Errorf("apiserver_request_total line %q: %w", line, err)
		}
		counts[verb+" "+resource] += n
	}
	return counts, nil
}

func metricLabel(labels, name string) string {
	for kv := range strings.SplitSeq(labels, ",") {
		if k, v, ok := strings.Cut(kv, "="); ok && k == name {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}

// perObject prints what a phase asked of the API server per object (to stderr, the
// human's view) and returns the total per object.
func perObject(phase string, before, after map[string]float64, objects int) float64 {
	var total float64
	var parts []string
	for _, key := range slices.Sorted(maps.Keys(after)) {
		delta := after[key] - before[key]
		if delta <= 0 {
			continue
		}
		total += delta
		parts = append(parts, fmt.Sprintf("%s %.2f", key, delta/float64(objects)))
	}
	fmt.Fprintf(os.Stderr, "bench: %s, API requests per object: %s\n", phase, strings.Join(parts, ", "))
	return total / float64(objects)
}

// addDelta adds after-before into sum.
func addDelta(sum, before, after map[string]float64) {
	for key, n := range after {
		sum[key] += n - before[key]
	}
}
