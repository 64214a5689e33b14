package controllers

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Values of the result label of associate_operator_resync_total.
const (
	resyncResultSucceeded           = "succeeded"
	resyncResultFailed              = "failed"
	resyncResultMassDeletionRefused = "mass_deletion_refused"
)

// Values of the change label of associate_operator_resync_changes_total.
const (
	changeCreated = "created"
	changeUpdated = "updated"
	changeDeleted = "deleted"
)

var (
	resyncTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "associate_operator_resync_total",
		Help: "Resync attempts by receiver (<namespace>/<name>) and result (succeeded, failed, mass_deletion_refused).",
	}, []string{"receiver", "result"})
	resyncChangesTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "associate_operator_resync_changes_total",
		Help: "Associates that resyncs created, updated or deleted, by receiver (<namespace>/<name>) and change.",
	}, []string{"receiver", "change"})
)

func init() {
	metrics.Registry.MustRegister(resyncTotal, resyncChangesTotal)
}

// countResync records one attempt and what it changed.
func countResync(receiver, result string, created, updated, deleted int32) {
	resyncTotal.WithLabelValues(receiver, result).Inc()
	for change, n := range map[string]int32{changeCreated: created, changeUpdated: updated, changeDeleted: deleted} {
		if n > 0 {
			resyncChangesTotal.WithLabelValues(receiver, change).Add(float64(n))
		}
	}
}

// initResyncCounters creates the receiver's resync_total series of every result at 0 (a
// series that exists already keeps its count).
func initResyncCounters(receiver string) {
	for _, result := range []string{resyncResultSucceeded, resyncResultFailed, resyncResultMassDeletionRefused} {
		resyncTotal.WithLabelValues(receiver, result)
	}
}

// forgetResyncCounters drops the resync series of a receiver that is gone.
func forgetResyncCounters(receiver string) {
	resyncTotal.DeletePartialMatch(prometheus.Labels{"receiver": receiver})
	resyncChangesTotal.DeletePartialMatch(prometheus.Labels{"receiver": receiver})
}
