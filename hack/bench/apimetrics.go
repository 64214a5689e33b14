package main

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"k8s.io/client-go/rest"

	"github.com/assocsync/associate-operator/internal/testenv"
)

// apiRequests counts the kube-apiserver's requests by "VERB resource[/subresource]", so
// that a phase's requests are the difference of two reads. Watches, lists and Leases are
// the informers' and leader election's own traffic, not per object, and are left out.
func apiRequests(ctx context.Context, cfg *rest.Config) (map[string]float64, error) {
	all, err := testenv.APIServerRequests(ctx, cfg)
	if err != nil {
		return nil, err
	}
	counts := map[string]float64{}
	for r, n := range all {
		if r.Verb == "WATCH" || r.Verb == "LIST" || r.Resource == "leases" {
			continue
		}
		key := r.Verb + " " + r.Resource
		if r.Subresource != "" {
			key += "/" + r.Subresource
		}
		counts[key] += n
	}
	return counts, nil
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
