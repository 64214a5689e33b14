package monitoring

import (
	"regexp"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	// The operator's packages register their metrics with controller-runtime's registry,
	// which the manager serves on /metrics.
	_ "github.com/assocsync/associate-operator/internal/operator"
)

// histogramSeries are the series names a histogram exports beside its own name.
var histogramSeries = regexp.MustCompile(`_(bucket|sum|count)$`)

// exported tells whether the manager's /metrics serves the metric: the operator's own,
// controller-runtime's and client-go's, registered whether or not they have a series yet.
// The registry refuses a second collector of a name it holds, which is how it is asked.
func exported(name string) bool {
	for _, candidate := range []string{name, histogramSeries.ReplaceAllString(name, "")} {
		probe := prometheus.NewGauge(prometheus.GaugeOpts{Name: candidate, Help: "probe"})
		if err := metrics.Registry.Register(probe); err != nil {
			return true
		}
		metrics.Registry.Unregister(probe)
	}
	return false
}

func TestExportedKnowsTheContractsMetricsAndNoOthers(t *testing.T) {
	for _, name := range []string{
		"associate_operator_webhook_requests_total",
		"associate_operator_webhook_request_duration_seconds_bucket",
		"associate_operator_actions_total",
		"associate_operator_resync_total",
		"associate_operator_resync_changes_total",
		"associate_operator_receiver_condition",
		"associate_operator_deprovision_failures_total",
		"leader_election_master_status",
		"controller_runtime_reconcile_errors_total",
	} {
		if !exported(name) {
			t.Errorf("%s is not registered with the manager's metrics registry", name)
		}
	}
	for _, name := range []string{"associate_operator_webhook_requests", "associate_operator_receiver_ready"} {
		if exported(name) {
			t.Errorf("%s is taken for exported, and no metric has that name", name)
		}
	}
}
