package controllers

import (
	"github.com/prometheus/client_golang/prometheus"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
)

// Results of associate_operator_actions_total.
const (
	resultSuccess = "success"
	resultError   = "error"
)

var (
	// actionsTotal counts what policies did: one increment per object applied, released or
	// deleted (kind = the object's kind) and per HTTP call (kind = "http").
	actionsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "associate_operator_actions_total",
		Help: "Provisioning actions of ProvisioningPolicies by policy (<namespace>/<name>), kind (object kind or http) and result (success or error).",
	}, []string{"policy", "kind", "result"})
	// receiverCondition mirrors the conditions of each WebhookReceiver, so that alerts can
	// read them: a condition the receiver does not have (Synced without spec.api,
	// Registered without spec.registration) has no series.
	receiverCondition = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "associate_operator_receiver_condition",
		Help: "1 while the WebhookReceiver's condition is True, else 0, by receiver (<namespace>/<name>) and type (Ready, Synced, Registered).",
	}, []string{"receiver", "type"})
	// deprovisionFailures counts failed attempts to take away what a policy provisioned;
	// each is retried, so a count that keeps growing is a deprovision that is stuck.
	deprovisionFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "associate_operator_deprovision_failures_total",
		Help: "Failed deprovisions (an object not deleted or released, a deprovision HTTP call failed) by policy (<namespace>/<name>).",
	}, []string{"policy"})
)

func init() {
	metrics.Registry.MustRegister(actionsTotal, receiverCondition, deprovisionFailures)
}

func countAction(policy, kind string, err error) {
	result := resultSuccess
	if err != nil {
		result = resultError
	}
	actionsTotal.WithLabelValues(policy, kind, result).Inc()
}

// recordReceiverConditions sets the receiver's series of the condition types that the
// calling reconciler owns from the conditions it writes; an owned type missing from
// conditions loses its series. A receiver that resyncs (it has Synced) gets its resync
// counters at 0, so that its next failed or refused resync is an increase that
// increase() sees (a counter born at 1 is not).
func recordReceiverConditions(receiver types.NamespacedName, conditions []metav1.Condition, owned ...string) {
	for _, conditionType := range owned {
		condition := meta.FindStatusCondition(conditions, conditionType)
		if condition == nil {
			receiverCondition.DeleteLabelValues(receiver.String(), conditionType)
			continue
		}
		if conditionType == superofficev1alpha1.ConditionSynced {
			initResyncCounters(receiver.String())
		}
		value := 0.0
		if condition.Status == metav1.ConditionTrue {
			value = 1
		}
		receiverCondition.WithLabelValues(receiver.String(), conditionType).Set(value)
	}
}

// forgetReceiverConditions drops the series of the owned condition types (and, with
// Synced, the resync counters) of a receiver that getErr says is gone (NotFound), and does
// nothing on any other error.
func forgetReceiverConditions(receiver types.NamespacedName, getErr error, owned ...string) {
	if !apierrors.IsNotFound(getErr) {
		return
	}
	for _, conditionType := range owned {
		receiverCondition.DeleteLabelValues(receiver.String(), conditionType)
		if conditionType == superofficev1alpha1.ConditionSynced {
			forgetResyncCounters(receiver.String())
		}
	}
}

// countDeprovisionFailure counts one failed deprovision of the policy (<namespace>/<name>).
func countDeprovisionFailure(policy string) {
	deprovisionFailures.WithLabelValues(policy).Inc()
}
