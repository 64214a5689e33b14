package testenv

import (
	"context"
	"fmt"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
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
	families, err := ParseMetrics(string(raw))
	if err != nil {
		return nil, fmt.Errorf("the API server's /metrics: %w", err)
	}
	family := families["apiserver_request_total"]
	if family == nil {
		return nil, fmt.Errorf("the API server's /metrics has no apiserver_request_total")
	}
	counts := map[APIRequest]float64{}
	for _, m := range family.GetMetric() {
		counts[APIRequest{
			Verb:        metricLabel(m, "verb"),
			Resource:    metricLabel(m, "resource"),
			Subresource: metricLabel(m, "subresource"),
		}] += m.GetCounter().GetValue()
	}
	return counts, nil
}

// ParseMetrics reads the Prometheus text exposition format, by metric family name.
func ParseMetrics(text string) (map[string]*dto.MetricFamily, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	return parser.TextToMetricFamilies(strings.NewReader(text))
}

// SumMetric sums the values (counter, gauge or untyped) of a family's samples whose labels
// include every pair of match (nil: all samples).
func SumMetric(families map[string]*dto.MetricFamily, name string, match map[string]string) float64 {
	var total float64
	for _, m := range families[name].GetMetric() {
		matches := true
		for label, value := range match {
			matches = matches && metricLabel(m, label) == value
		}
		if matches {
			total += m.GetCounter().GetValue() + m.GetGauge().GetValue() + m.GetUntyped().GetValue()
		}
	}
	return total
}

func metricLabel(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
