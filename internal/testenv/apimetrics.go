package testenv

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// APIRequest is one series of the kube-apiserver's apiserver_request_total.
type APIRequest struct {
	Verb        string // GET, LIST, WATCH, POST, PUT, PATCH, APPLY, DELETE, ...
	Resource    string
	Subresource string
}

// IsWrite: the verbs that change what the API server holds (APPLY is server-side apply).
func (r APIRequest) IsWrite() bool {
	switch r.Verb {
	case "POST", "PUT", "PATCH", "APPLY", "DELETE", "DELETECOLLECTION":
		return true
	}
	return false
}

// APIServerRequests reads apiserver_request_total from the API server's /metrics (cfg must
// be allowed to: the admin is), summed over codes, scopes and the other labels.
func APIServerRequests(ctx context.Context, cfg *rest.Config) (map[APIRequest]float64, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	raw, err := cs.Discovery().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the API server's /metrics: %w", err)
	}
	counts := map[APIRequest]float64{}
	for line := range strings.SplitSeq(string(raw), "\n") {
		series, ok := strings.CutPrefix(line, "apiserver_request_total{")
		if !ok {
			continue
		}
		labels, value, _ := strings.Cut(series, "} ")
		n, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			return nil, fmt.Errorf("apiserver_request_total line %q: %w", line, err)
		}
		counts[APIRequest{
			Verb:        metricLabel(labels, "verb"),
			Resource:    metricLabel(labels, "resource"),
			Subresource: metricLabel(labels, "subresource"),
		}] += n
	}
	if len(counts) == 0 {
		return nil, fmt.Errorf("the API server's /metrics has no apiserver_request_total")
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
