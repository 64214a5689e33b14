package ingress

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Results of a delivery, the values of the `result` label.
const (
	resultApplied      = "applied"
	resultDuplicate    = "duplicate"
	resultStale        = "stale"
	resultIgnored      = "ignored"
	resultTest         = "test"
	resultBadSignature = "bad_signature"
	resultForbidden    = "forbidden"
	resultNotFound     = "not_found"
	resultTooLarge     = "too_large"
	resultMalformed    = "malformed"
	resultConflict     = "conflict"
	resultBusy         = "busy"
	resultError        = "error"
)

// unknownReceiver labels deliveries to receivers that do not exist, so that random paths
// cannot grow the metrics without bound.
const unknownReceiver = "unknown"

var (
	requestsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "associate_operator_webhook_requests_total",
		Help: "Webhook deliveries by receiver (namespace/name) and result.",
	}, []string{"receiver", "result"})
	requestDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "associate_operator_webhook_request_duration_seconds",
		Help:    "Time to answer a webhook delivery, by receiver (namespace/name).",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"receiver"})
)

func init() {
	metrics.Registry.MustRegister(requestsTotal, requestDuration)
}
