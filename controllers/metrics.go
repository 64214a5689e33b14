package controllers

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Results of associate_operator_actions_total.
const (
	resultSuccess = "success"
	resultError   = "error"
)

// actionsTotal counts what policies did: one increment per object applied, released or
// deleted (kind = the object's kind) and per HTTP call (kind = "http").
var actionsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "associate_operator_actions_total",
	Help: "Provisioning actions of ProvisioningPolicies by policy (<namespace>/<name>), kind (object kind or http) and result (success or error).",
}, []string{"policy", "kind", "result"})

func init() {
	metrics.Registry.MustRegister(actionsTotal)
}

func countAction(policy, kind string, err error) {
	result := resultSuccess
	if err != nil {
		result = resultError
	}
	actionsTotal.WithLabelValues(policy, kind, result).Inc()
}
