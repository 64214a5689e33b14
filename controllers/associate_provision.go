package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
)

// policyEntries are what the status records for one policy.
type policyEntries struct {
	provisioned []superofficev1alpha1.ProvisionedObject
	actions     []superofficev1alpha1.ActionStatus
}

// policyStep is what one policy did for one Associate in one reconcile.
type policyStep struct {
	policy policyID
	// object is the policy, for the Event that sums up first provisions; nil once deleted.
	object  *policy
	matched bool
	// first: the policy had provisioned nothing for the Associate before this step.
	first bool
	// after is what the status records for the policy once the step is done.
	after    policyEntries
	applied  []string // objects and calls newly provisioned, for the Event
	released []string // objects and calls deprovisioned, for the Event
	failure  *policyFailure
}

// policyFailure is why a policy is not applied. retry says whether the workqueue's backoff
// can help (an API or HTTP error) or only the policy's author can (a template error, a
// refused or conflicting object).
type policyFailure struct {
	reason string
	err    error
	retry  bool
}

func (s *policyStep) fail(reason string, err error, retry bool) {
	if s.failure == nil {
		s.failure = &policyFailure{reason: reason, err: err, retry: retry}
	}
}

// reconcileNormal provisions what every matching policy renders and deprovisions what a
// policy made before but no longer applies to.
func (r *AssociateReconciler) reconcileNormal(ctx context.Context, assoc *superofficev1alpha1.Associate) error {
	policies, namespaceLabels, err := r.policiesFor(ctx, assoc.Namespace)
	if err != nil {
		return err
	}
	data, err := newTemplateData(assoc, ActionProvision)
	if err != nil {
		return err
	}
	previous := entriesByPolicy(assoc)
	steps := make([]policyStep, 0, len(policies))
	for _, id := range policyIDs(policies, previous) {
		p := policies[id]
		matches, matchErr := false, error(nil)
		if p != nil {
			matches, matchErr = policyMatches(p, assoc, namespaceLabels)
		}
		switch {
		case matchErr != nil:
			step := policyStep{policy: id, after: previous[id]}
			step.fail(superofficev1alpha1.ReasonInvalidSelector, matchErr, false)
			steps = append(steps, step)
		case matches:
			steps = append(steps, r.provision(ctx, assoc, p, data, previous[id]))
		default:
			steps = append(steps, r.deprovision(ctx, assoc, id, p, data, previous[id], false))
		}
	}
	return r.recordSteps(assoc, steps)
}

// reconcileDelete deprovisions everything the Associate's policies made, then lets the
// Associate go by removing the finalizer. With AnnotationSkipDeprovision, what its
// namespace's ProvisioningPolicies made is released, not deleted, and their HTTP calls are
// not made; what cluster policies made is always deprovisioned.
func (r *AssociateReconciler) reconcileDelete(ctx context.Context, assoc *superofficev1alpha1.Associate) error {
	if !controllerutil.ContainsFinalizer(assoc, superofficev1alpha1.FinalizerDeprovision) {
		return nil
	}
	policies, _, err := r.policiesFor(ctx, assoc.Namespace)
	if err != nil {
		return err
	}
	data, err := newTemplateData(assoc, ActionDeprovision)
	if err != nil {
		return err
	}
	skip := assoc.Annotations[superofficev1alpha1.AnnotationSkipDeprovision] == "true"
	previous := entriesByPolicy(assoc)
	steps := make([]policyStep, 0, len(previous))
	for _, id := range policyIDs(nil, previous) {
		steps = append(steps, r.deprovision(ctx, assoc, id, policies[id], data, previous[id], skip && !id.cluster()))
	}
	if err := r.recordSteps(assoc, steps); err != nil {
		return err
	}
	if len(assoc.Status.Provisioned) > 0 || len(assoc.Status.Actions) > 0 {
		// A policy whose templates are broken keeps its objects until it is fixed or deleted;
		// its change enqueues this Associate again.
		return nil
	}
	original := assoc.DeepCopy()
	controllerutil.RemoveFinalizer(assoc, superofficev1alpha1.FinalizerDeprovision)
	r.orphans.finish(assoc.UID)
	if err := r.Patch(ctx, assoc, lockedMergeFrom(original)); err != nil {
		r.orphans.unfinish(assoc.UID)
		return client.IgnoreNotFound(err)
	}
	r.applied.forgetAssociate(assoc.UID)
	return nil
}

// provision applies what the policy renders for the Associate, releases what it rendered
// before and no longer does, and makes the policy's HTTP calls. Every object is checked
// (scope, then ownership) before any is applied: one refused object stops the policy for
// this Associate, and what it applied before stays as it was.
func (r *AssociateReconciler) provision(ctx context.Context, assoc *superofficev1alpha1.Associate,
	p *policy, data templateData, before policyEntries) policyStep {
	step := policyStep{policy: p.id, object: p, matched: true, after: before,
		first: len(before.provisioned) == 0 && len(before.actions) == 0}
	compiled := r.templates.compile(p)
	objects, err := compiled.renderResources(data)
	if err != nil {
		step.fail(superofficev1alpha1.ReasonTemplateError, fmt.Errorf("%s: %w", p.id.describe(), err), false)
		return step
	}
	plans, err := r.planObjects(ctx, assoc, p, objects)
	if err != nil {
		step.fail(failureReason(err), fmt.Errorf("%s: %w", p.id.describe(), err), retryable(err))
		return step
	}
	var current []superofficev1alpha1.ProvisionedObject
	for _, plan := range plans {
		applied, err := r.applyPlan(ctx, assoc, p, plan)
		if err != nil {
			step.fail(superofficev1alpha1.ReasonProvisioningFailed, fmt.Errorf("%s: applying %s: %w", p.id.describe(), describeEntry(plan.entry), err), true)
			break
		}
		current = append(current, plan.entry)
		if applied && !slices.Contains(before.provisioned, plan.entry) {
			step.applied = append(step.applied, describeEntry(plan.entry))
		}
	}
	if step.failure != nil {
		// Keep what was there and what was applied so far: nothing is forgotten on a failure.
		step.after.provisioned = unionEntries(before.provisioned, current)
		return step
	}
	var stale []superofficev1alpha1.ProvisionedObject
	for _, entry := range before.provisioned {
		if !slices.Contains(current, entry) {
			stale = append(stale, entry)
		}
	}
	remaining := r.releaseObjects(ctx, assoc, p.id, p, stale, false, &step)
	step.after.provisioned = slices.Concat(current, remaining)
	step.after.actions = r.provisionHTTP(ctx, p, compiled, data, before.actions, &step)
	return step
}

// planObjects places and checks every rendered object, and skips duplicates.
func (r *AssociateReconciler) planObjects(ctx context.Context, assoc *superofficev1alpha1.Associate,
	p *policy, objects []*unstructured.Unstructured) ([]objectPlan, error) {
	for _, obj := range objects {
		if err := r.scope.place(p, obj, assoc.Namespace); err != nil {
			return nil, err
		}
	}
	plans := make([]objectPlan, 0, len(objects))
	seen := map[string]bool{}
	for _, obj := range objects {
		entry := provisionedEntry(p.id, obj)
		if seen[objectKey(entry)] {
			continue
		}
		seen[objectKey(entry)] = true
		plan, err := r.planObject(ctx, assoc, p, obj)
		if err != nil {
			if errors.Is(err, errObjectConflict) {
				return nil, err
			}
			return nil, fmt.Errorf("reading %s: %w", describeEntry(entry), err)
		}
		plans = append(plans, plan)
	}
	return plans, nil
}

// failureReason and retryable classify what stops a policy.
func failureReason(err error) string {
	switch {
	case errors.Is(err, errTargetNotAllowed):
		return superofficev1alpha1.ReasonTargetNotAllowed
	case errors.Is(err, errObjectConflict):
		return superofficev1alpha1.ReasonObjectConflict
	default:
		return superofficev1alpha1.ReasonProvisioningFailed
	}
}

func retryable(err error) bool {
	return !errors.Is(err, errTargetNotAllowed) && !errors.Is(err, errObjectConflict)
}

// deprovision takes away what the policy made for an Associate that it no longer applies
// to (or that is being deleted). A policy whose templates are broken touches nothing; a
// deleted policy's objects are deleted, and its HTTP calls, which can no longer be
// rendered, are forgotten. keep releases the objects without deleting them and makes no
// HTTP calls.
func (r *AssociateReconciler) deprovision(ctx context.Context, assoc *superofficev1alpha1.Associate, id policyID,
	p *policy, data templateData, before policyEntries, keep bool) policyStep {
	step := policyStep{policy: id, after: before}
	if len(before.provisioned) == 0 && len(before.actions) == 0 {
		return step
	}
	var compiled *compiledPolicy
	if p != nil && !keep {
		compiled = r.templates.compile(p)
		if compiled.err != nil {
			step.fail(superofficev1alpha1.ReasonTemplateError, fmt.Errorf("%s: %w", id.describe(), compiled.err), false)
			return step
		}
	}
	step.after.provisioned = r.releaseObjects(ctx, assoc, id, p, before.provisioned, keep, &step)
	if keep {
		step.after.actions = nil
		return step
	}
	step.after.actions = r.deprovisionHTTP(ctx, p, compiled, data, before.actions, &step)
	return step
}

// releaseObjects releases each entry and returns those that could not be released yet.
func (r *AssociateReconciler) releaseObjects(ctx context.Context, assoc *superofficev1alpha1.Associate, id policyID,
	p *policy, entries []superofficev1alpha1.ProvisionedObject, keep bool, step *policyStep) []superofficev1alpha1.ProvisionedObject {
	var remaining []superofficev1alpha1.ProvisionedObject
	for _, entry := range entries {
		if err := r.releaseObject(ctx, assoc, id, p, entry, keep); err != nil {
			countDeprovisionFailure(id.metricLabel())
			step.fail(superofficev1alpha1.ReasonDeprovisioningFailed, fmt.Errorf("%s: releasing %s: %w", id.describe(), describeEntry(entry), err), true)
			remaining = append(remaining, entry)
			continue
		}
		step.released = append(step.released, describeEntry(entry))
	}
	return remaining
}

// policiesFor returns every policy that may apply to the Associates of a namespace (its
// ProvisioningPolicies and the cluster's ClusterProvisioningPolicies), and the
// namespace's labels when a cluster policy needs them.
func (r *AssociateReconciler) policiesFor(ctx context.Context, namespace string) (map[policyID]*policy, map[string]string, error) {
	var namespaced superofficev1alpha1.ProvisioningPolicyList
	if err := r.List(ctx, &namespaced, client.InNamespace(namespace), client.UnsafeDisableDeepCopy); err != nil {
		return nil, nil, fmt.Errorf("listing ProvisioningPolicies in %s: %w", namespace, err)
	}
	var cluster superofficev1alpha1.ClusterProvisioningPolicyList
	if err := r.List(ctx, &cluster, client.UnsafeDisableDeepCopy); err != nil {
		return nil, nil, fmt.Errorf("listing ClusterProvisioningPolicies: %w", err)
	}
	policies := make(map[policyID]*policy, len(namespaced.Items)+len(cluster.Items))
	for i := range namespaced.Items {
		p := namespacedPolicy(&namespaced.Items[i])
		policies[p.id] = p
	}
	var namespaceLabels map[string]string
	for i := range cluster.Items {
		p := clusterPolicy(&cluster.Items[i])
		policies[p.id] = p
		if p.namespaceSelector != nil && namespaceLabels == nil {
			labels, err := r.namespaceLabels(ctx, namespace)
			if err != nil {
				return nil, nil, err
			}
			namespaceLabels = labels
		}
	}
	return policies, namespaceLabels, nil
}

// namespaceLabels reads a namespace's labels from the cache. A namespace that cannot be
// read is an error, never "no labels": a cluster policy would deprovision on it.
func (r *AssociateReconciler) namespaceLabels(ctx context.Context, namespace string) (map[string]string, error) {
	var ns corev1.Namespace
	if err := r.Get(ctx, types.NamespacedName{Name: namespace}, &ns); err != nil {
		return nil, fmt.Errorf("reading namespace %s for the namespaceSelector of ClusterProvisioningPolicies: %w", namespace, err)
	}
	if ns.Labels == nil {
		return map[string]string{}, nil
	}
	return ns.Labels, nil
}

// entriesByPolicy splits the status by policy.
func entriesByPolicy(assoc *superofficev1alpha1.Associate) map[policyID]policyEntries {
	byPolicy := map[policyID]policyEntries{}
	for _, entry := range assoc.Status.Provisioned {
		id := entryPolicy(entry.PolicyKind, entry.Policy, assoc.Namespace)
		e := byPolicy[id]
		e.provisioned = append(e.provisioned, entry)
		byPolicy[id] = e
	}
	for _, action := range assoc.Status.Actions {
		id := entryPolicy(action.PolicyKind, action.Policy, assoc.Namespace)
		e := byPolicy[id]
		e.actions = append(e.actions, action)
		byPolicy[id] = e
	}
	return byPolicy
}

// policyIDs are the existing policies and those the status still names, sorted: the
// Associate's namespace's first, then the cluster's.
func policyIDs(policies map[policyID]*policy, previous map[policyID]policyEntries) []policyID {
	ids := make([]policyID, 0, len(policies)+len(previous))
	for id := range policies {
		ids = append(ids, id)
	}
	for id := range previous {
		if _, ok := policies[id]; !ok {
			ids = append(ids, id)
		}
	}
	slices.SortFunc(ids, func(a, b policyID) int {
		return strings.Compare(a.String(), b.String())
	})
	return ids
}

func provisionedEntry(id policyID, obj *unstructured.Unstructured) superofficev1alpha1.ProvisionedObject {
	return superofficev1alpha1.ProvisionedObject{
		Policy: id.name, PolicyKind: id.statusKind(), APIVersion: obj.GetAPIVersion(), Kind: obj.GetKind(),
		Namespace: obj.GetNamespace(), Name: obj.GetName(),
	}
}

func describeEntry(entry superofficev1alpha1.ProvisionedObject) string {
	if entry.Namespace == "" {
		return entry.Kind + " " + entry.Name
	}
	return entry.Kind + " " + entry.Namespace + "/" + entry.Name
}

func unionEntries(a, b []superofficev1alpha1.ProvisionedObject) []superofficev1alpha1.ProvisionedObject {
	out := slices.Clone(a)
	for _, entry := range b {
		if !slices.Contains(out, entry) {
			out = append(out, entry)
		}
	}
	return out
}

func compareEntries(a, b superofficev1alpha1.ProvisionedObject) int {
	return strings.Compare(
		strings.Join([]string{string(a.PolicyKind), a.Policy, a.APIVersion, a.Kind, a.Namespace, a.Name}, "\x00"),
		strings.Join([]string{string(b.PolicyKind), b.Policy, b.APIVersion, b.Kind, b.Namespace, b.Name}, "\x00"))
}
