package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
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
	policy  string
	matched bool
	// after is what the status records for the policy once the step is done.
	after    policyEntries
	applied  []string // objects and calls newly provisioned, for the Event
	released []string // objects and calls deprovisioned, for the Event
	failure  *policyFailure
}

// policyFailure is why a policy is not applied. retry says whether the workqueue's backoff
// can help (an API or HTTP error) or only the policy's author can (a template error).
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
	policies, err := r.policiesIn(ctx, assoc.Namespace)
	if err != nil {
		return err
	}
	data, err := newTemplateData(assoc, ActionProvision)
	if err != nil {
		return err
	}
	previous := entriesByPolicy(assoc)
	steps := make([]policyStep, 0, len(policies))
	for _, name := range policyNames(policies, previous) {
		policy := policies[name]
		matches, matchErr := false, error(nil)
		if policy != nil {
			matches, matchErr = policyMatches(policy, assoc)
		}
		switch {
		case matchErr != nil:
			step := policyStep{policy: name, after: previous[name]}
			step.fail(superofficev1alpha1.ReasonInvalidSelector, matchErr, false)
			steps = append(steps, step)
		case matches:
			steps = append(steps, r.provision(ctx, assoc, policy, data, previous[name]))
		default:
			steps = append(steps, r.deprovision(ctx, assoc, name, policy, data, previous[name]))
		}
	}
	return r.recordSteps(assoc, steps)
}

// reconcileDelete deprovisions everything the Associate's policies made, then lets the
// Associate go by removing the finalizer.
func (r *AssociateReconciler) reconcileDelete(ctx context.Context, assoc *superofficev1alpha1.Associate) error {
	if !controllerutil.ContainsFinalizer(assoc, superofficev1alpha1.FinalizerDeprovision) {
		return nil
	}
	policies, err := r.policiesIn(ctx, assoc.Namespace)
	if err != nil {
		return err
	}
	data, err := newTemplateData(assoc, ActionDeprovision)
	if err != nil {
		return err
	}
	previous := entriesByPolicy(assoc)
	steps := make([]policyStep, 0, len(previous))
	for _, name := range policyNames(nil, previous) {
		steps = append(steps, r.deprovision(ctx, assoc, name, policies[name], data, previous[name]))
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
	if err := r.Patch(ctx, assoc, lockedMergeFrom(original)); err != nil {
		return client.IgnoreNotFound(err)
	}
	r.applied.forgetAssociate(assoc.UID)
	return nil
}

// provision applies what the policy renders for the Associate, releases what it rendered
// before and no longer does, and makes the policy's HTTP calls.
func (r *AssociateReconciler) provision(ctx context.Context, assoc *superofficev1alpha1.Associate,
	policy *superofficev1alpha1.ProvisioningPolicy, data templateData, before policyEntries) policyStep {
	step := policyStep{policy: policy.Name, matched: true, after: before}
	compiled := r.Templates.compile(policy)
	objects, err := compiled.renderResources(data)
	if err != nil {
		step.fail(superofficev1alpha1.ReasonTemplateError, fmt.Errorf("policy %s: %w", policy.Name, err), false)
		return step
	}
	var current []superofficev1alpha1.ProvisionedObject
	for _, obj := range objects {
		if err := r.placeObject(obj, policy.Namespace); err != nil {
			step.fail(superofficev1alpha1.ReasonProvisioningFailed, fmt.Errorf("policy %s: %w", policy.Name, err), true)
			break
		}
		entry := provisionedEntry(policy.Name, obj)
		if slices.Contains(current, entry) {
			continue
		}
		applied, err := r.applyObject(ctx, assoc, policy, obj)
		if err != nil {
			step.fail(superofficev1alpha1.ReasonProvisioningFailed, fmt.Errorf("policy %s: applying %s: %w", policy.Name, describeEntry(entry), err), true)
			break
		}
		current = append(current, entry)
		if applied && !slices.Contains(before.provisioned, entry) {
			step.applied = append(step.applied, describeEntry(entry))
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
	remaining := r.releaseObjects(ctx, assoc, policy, stale, &step)
	step.after.provisioned = slices.Concat(current, remaining)
	step.after.actions = r.provisionHTTP(ctx, policy, compiled, data, before.actions, &step)
	return step
}

// deprovision takes away what the policy made for an Associate that it no longer applies
// to (or that is being deleted). A policy whose templates are broken touches nothing; a
// deleted policy's objects are deleted, and its HTTP calls, which can no longer be
// rendered, are forgotten.
func (r *AssociateReconciler) deprovision(ctx context.Context, assoc *superofficev1alpha1.Associate, name string,
	policy *superofficev1alpha1.ProvisioningPolicy, data templateData, before policyEntries) policyStep {
	step := policyStep{policy: name, after: before}
	if len(before.provisioned) == 0 && len(before.actions) == 0 {
		return step
	}
	var compiled *compiledPolicy
	if policy != nil {
		compiled = r.Templates.compile(policy)
		if compiled.err != nil {
			step.fail(superofficev1alpha1.ReasonTemplateError, fmt.Errorf("policy %s: %w", policy.Name, compiled.err), false)
			return step
		}
	}
	step.after.provisioned = r.releaseObjects(ctx, assoc, policy, before.provisioned, &step)
	step.after.actions = r.deprovisionHTTP(ctx, policy, compiled, data, before.actions, &step)
	return step
}

// releaseObjects releases each entry and returns those that could not be released yet.
func (r *AssociateReconciler) releaseObjects(ctx context.Context, assoc *superofficev1alpha1.Associate,
	policy *superofficev1alpha1.ProvisioningPolicy, entries []superofficev1alpha1.ProvisionedObject, step *policyStep) []superofficev1alpha1.ProvisionedObject {
	var remaining []superofficev1alpha1.ProvisionedObject
	for _, entry := range entries {
		if err := r.releaseObject(ctx, assoc, policy, entry); err != nil {
			step.fail(superofficev1alpha1.ReasonDeprovisioningFailed, fmt.Errorf("policy %s: releasing %s: %w", entry.Policy, describeEntry(entry), err), true)
			remaining = append(remaining, entry)
			continue
		}
		step.released = append(step.released, describeEntry(entry))
	}
	return remaining
}

func (r *AssociateReconciler) policiesIn(ctx context.Context, namespace string) (map[string]*superofficev1alpha1.ProvisioningPolicy, error) {
	var list superofficev1alpha1.ProvisioningPolicyList
	if err := r.List(ctx, &list, client.InNamespace(namespace), client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing ProvisioningPolicies in %s: %w", namespace, err)
	}
	policies := make(map[string]*superofficev1alpha1.ProvisioningPolicy, len(list.Items))
	for i := range list.Items {
		policies[list.Items[i].Name] = &list.Items[i]
	}
	return policies, nil
}

// entriesByPolicy splits the status by policy.
func entriesByPolicy(assoc *superofficev1alpha1.Associate) map[string]policyEntries {
	byPolicy := map[string]policyEntries{}
	for _, entry := range assoc.Status.Provisioned {
		e := byPolicy[entry.Policy]
		e.provisioned = append(e.provisioned, entry)
		byPolicy[entry.Policy] = e
	}
	for _, action := range assoc.Status.Actions {
		e := byPolicy[action.Policy]
		e.actions = append(e.actions, action)
		byPolicy[action.Policy] = e
	}
	return byPolicy
}

// policyNames are the existing policies and those the status still names, sorted.
func policyNames(policies map[string]*superofficev1alpha1.ProvisioningPolicy, previous map[string]policyEntries) []string {
	names := make([]string, 0, len(policies)+len(previous))
	for name := range policies {
		names = append(names, name)
	}
	for name := range previous {
		if _, ok := policies[name]; !ok {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

func provisionedEntry(policy string, obj *unstructured.Unstructured) superofficev1alpha1.ProvisionedObject {
	return superofficev1alpha1.ProvisionedObject{
		Policy: policy, APIVersion: obj.GetAPIVersion(), Kind: obj.GetKind(),
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
		strings.Join([]string{a.Policy, a.APIVersion, a.Kind, a.Namespace, a.Name}, "\x00"),
		strings.Join([]string{b.Policy, b.APIVersion, b.Kind, b.Namespace, b.Name}, "\x00"))
}
