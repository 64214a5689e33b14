package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
)

// recordSteps writes what the policies did into the status (provisioned, actions, Ready),
// emits the Events, and returns the failures that a retry can fix.
func (r *AssociateReconciler) recordSteps(assoc *superofficev1alpha1.Associate, steps []policyStep) error {
	var (
		provisioned      []superofficev1alpha1.ProvisionedObject
		actions          []superofficev1alpha1.ActionStatus
		applied, release []string
		matched          []string
		failures         []string
		reason           string
		retryable        []error
	)
	for _, step := range steps {
		provisioned = append(provisioned, step.after.provisioned...)
		actions = append(actions, step.after.actions...)
		if firstProvision(step) && r.summaries != nil {
			r.summaries.add(step.object, assoc)
		} else {
			applied = append(applied, step.applied...)
		}
		release = append(release, step.released...)
		if step.matched {
			matched = append(matched, step.policy.describe())
		}
		if f := step.failure; f != nil {
			if reason == "" {
				reason = f.reason
			}
			failures = append(failures, f.err.Error())
			if f.retry {
				retryable = append(retryable, f.err)
			}
		}
	}
	slices.SortFunc(provisioned, compareEntries)
	slices.SortFunc(actions, func(a, b superofficev1alpha1.ActionStatus) int {
		return strings.Compare(string(a.PolicyKind)+"\x00"+a.Policy+"\x00"+a.Name, string(b.PolicyKind)+"\x00"+b.Policy+"\x00"+b.Name)
	})
	assoc.Status.Provisioned, assoc.Status.Actions = provisioned, actions

	if len(applied) > 0 {
		r.Recorder.Eventf(assoc, nil, corev1.EventTypeNormal, superofficev1alpha1.ReasonProvisioned, "Provision",
			"Provisioned %s", strings.Join(applied, ", "))
	}
	if len(release) > 0 {
		r.Recorder.Eventf(assoc, nil, corev1.EventTypeNormal, superofficev1alpha1.ReasonDeprovisioned, "Deprovision",
			"Deprovisioned %s", strings.Join(release, ", "))
	}
	switch {
	case len(failures) > 0:
		message := strings.Join(failures, "; ")
		if setCondition(&assoc.Status.Conditions, assoc.Generation, superofficev1alpha1.ConditionReady, metav1.ConditionFalse, reason, message) {
			r.Recorder.Eventf(assoc, nil, corev1.EventTypeWarning, reason, "Provision", "%s", truncateMessage(message))
		}
		// The workqueue retries what a retry can fix; the rest waits for the policy's author.
		if len(retryable) == len(failures) {
			setProgress(&assoc.Status.Conditions, assoc.Generation, progressReconciling, reason, message)
		} else {
			setProgress(&assoc.Status.Conditions, assoc.Generation, progressStalled, reason, message)
		}
	case len(matched) == 0:
		setCondition(&assoc.Status.Conditions, assoc.Generation, superofficev1alpha1.ConditionReady, metav1.ConditionTrue, superofficev1alpha1.ReasonNoPolicyMatched,
			fmt.Sprintf("no ProvisioningPolicy in namespace %s and no ClusterProvisioningPolicy applies to this Associate", assoc.Namespace))
	default:
		setCondition(&assoc.Status.Conditions, assoc.Generation, superofficev1alpha1.ConditionReady, metav1.ConditionTrue, superofficev1alpha1.ReasonProvisioned,
			fmt.Sprintf("applied %s", strings.Join(matched, ", ")))
	}
	if len(failures) == 0 {
		setProgress(&assoc.Status.Conditions, assoc.Generation, progressDone, "", "")
	}
	return errors.Join(retryable...)
}

// firstProvision: a policy provisioned the Associate for the first time, completely. That
// is routine and summed up on the policy (provision_events.go); what changes an
// Associate's existing objects keeps its own Event.
func firstProvision(step policyStep) bool {
	return step.object != nil && step.failure == nil && len(step.applied) > 0 &&
		len(step.released) == 0 && step.first
}

// patchStatus writes the status once per reconcile, only when it changed, and records
// observedGeneration only when the reconcile succeeded. An Associate whose finalizer was
// just removed is gone (or going), so there is nothing to write.
func (r *AssociateReconciler) patchStatus(ctx context.Context, before, assoc *superofficev1alpha1.Associate, success bool) error {
	if !assoc.DeletionTimestamp.IsZero() && !controllerutil.ContainsFinalizer(assoc, superofficev1alpha1.FinalizerDeprovision) {
		return nil
	}
	if success {
		assoc.Status.ObservedGeneration = assoc.Generation
	}
	if equality.Semantic.DeepEqual(before.Status, assoc.Status) {
		return nil
	}
	if err := r.Status().Patch(ctx, assoc, client.MergeFrom(before)); err != nil {
		return client.IgnoreNotFound(err)
	}
	return nil
}
