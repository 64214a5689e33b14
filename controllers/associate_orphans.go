package controllers

import (
	"context"
	"errors"
	"sync"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
)

// What ClusterProvisioningPolicies made is always deprovisioned, also when a tenant who
// may update its Associates removes the operator's finalizer and deletes one: the chart's
// ValidatingAdmissionPolicy refuses that removal, and where it is not installed, the
// reconciler puts a removed finalizer back and deprovisions, from the last state it saw,
// the cluster policies' objects of an Associate that went without its finalizer. What the
// namespace's own policies made in its namespace goes with it (ownerReferences).

// finalizerRemoved passes an update that removes the deprovision finalizer from an
// Associate that is not being deleted, so that ensureMetadata puts it back.
type finalizerRemoved struct {
	predicate.Funcs
}

func (finalizerRemoved) Update(e event.UpdateEvent) bool {
	return e.ObjectOld != nil && e.ObjectNew != nil && e.ObjectNew.GetDeletionTimestamp().IsZero() &&
		controllerutil.ContainsFinalizer(e.ObjectOld, superofficev1alpha1.FinalizerDeprovision) &&
		!controllerutil.ContainsFinalizer(e.ObjectNew, superofficev1alpha1.FinalizerDeprovision)
}

// orphans are Associates deleted without their finalizer having run whose cluster
// policies' objects are still to be deprovisioned, by name, as last seen. An Associate can
// go that way even with the finalizer: the API server deletes an object that had none when
// the deletion began, although a finalizer was added meanwhile. So what counts is whether
// reconcileDelete finished, not the finalizers of the last state seen.
type orphans struct {
	mu       sync.Mutex
	byName   map[types.NamespacedName]*superofficev1alpha1.Associate
	finished map[types.UID]bool
}

func newOrphans() *orphans {
	return &orphans{byName: map[types.NamespacedName]*superofficev1alpha1.Associate{}, finished: map[types.UID]bool{}}
}

// finish records that reconcileDelete deprovisioned the Associate and lets it go.
func (o *orphans) finish(uid types.UID) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.finished[uid] = true
}

// unfinish forgets finish after the finalizer could not be removed.
func (o *orphans) unfinish(uid types.UID) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.finished, uid)
}

// gone reports whether the deleted Associate was deprovisioned by reconcileDelete, and
// forgets it.
func (o *orphans) gone(uid types.UID) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	finished := o.finished[uid]
	delete(o.finished, uid)
	return finished
}

func (o *orphans) put(a *superofficev1alpha1.Associate) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.byName[types.NamespacedName{Namespace: a.Namespace, Name: a.Name}] = a
}

func (o *orphans) take(key types.NamespacedName) *superofficev1alpha1.Associate {
	o.mu.Lock()
	defer o.mu.Unlock()
	a := o.byName[key]
	delete(o.byName, key)
	return a
}

// orphanedOnDelete remembers an Associate that went without reconcileDelete having
// deprovisioned it while cluster policies had provisioned for it, and enqueues it.
func (r *AssociateReconciler) orphanedOnDelete() handler.EventHandler {
	return handler.Funcs{DeleteFunc: func(_ context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
		a, ok := e.Object.(*superofficev1alpha1.Associate)
		if !ok || r.orphans.gone(a.UID) || !hasClusterEntries(a) {
			return
		}
		r.orphans.put(a.DeepCopy())
		q.Add(reconcile.Request{NamespacedName: types.NamespacedName{Namespace: a.Namespace, Name: a.Name}})
	}}
}

func hasClusterEntries(a *superofficev1alpha1.Associate) bool {
	for _, e := range a.Status.Provisioned {
		if e.PolicyKind == superofficev1alpha1.PolicyKindCluster {
			return true
		}
	}
	for _, e := range a.Status.Actions {
		if e.PolicyKind == superofficev1alpha1.PolicyKindCluster {
			return true
		}
	}
	return false
}

// deprovisionOrphan deprovisions what cluster policies made for a deleted Associate; a
// failure a retry can fix keeps it for the next attempt.
func (r *AssociateReconciler) deprovisionOrphan(ctx context.Context, a *superofficev1alpha1.Associate) error {
	policies, _, err := r.policiesFor(ctx, a.Namespace)
	if err != nil {
		r.orphans.put(a)
		return err
	}
	data, err := newTemplateData(a, ActionDeprovision)
	if err != nil {
		return err
	}
	var retry []error
	for id, entries := range entriesByPolicy(a) {
		if !id.cluster() {
			continue
		}
		step := r.deprovision(ctx, a, id, policies[id], data, entries, false)
		if f := step.failure; f != nil && f.retry {
			retry = append(retry, f.err)
		}
	}
	if err := errors.Join(retry...); err != nil {
		r.orphans.put(a)
		return err
	}
	ctrl.LoggerFrom(ctx).Info("deprovisioned what cluster policies made for an Associate deleted without its finalizer", "associate", a.Namespace+"/"+a.Name)
	r.applied.forgetAssociate(a.UID)
	return nil
}
