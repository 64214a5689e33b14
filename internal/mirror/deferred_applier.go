package mirror

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
)

// DefaultDeferredRecheck is how often a deferred event whose Associate still exists is
// looked at again, besides the Associate's delete notification.
const DefaultDeferredRecheck = time.Minute

// DeferredApplier applies each deferred event once the terminating Associate it waits for
// is gone, then deletes the event's ConfigMap. It runs on the leader. It reconciles a
// deferred ConfigMap when it is written (so an Associate that was gone before the event
// was stored is seen), when an Associate is deleted, at every start (the initial list,
// so a restart or a new leader loses nothing), and every Recheck while it waits.
type DeferredApplier struct {
	Mirror *Mirror
	// Client reads the deferred ConfigMaps (the manager's cache) and deletes them.
	Client client.Client
	// APIReader tells live whether the Associate is gone.
	APIReader client.Reader
	Log       logr.Logger
	// Recheck is DefaultDeferredRecheck when zero.
	Recheck time.Duration
}

// SetupWithManager registers the applier as a controller of the deferred ConfigMaps.
func (d *DeferredApplier) SetupWithManager(mgr ctrl.Manager) error {
	deletedOnly := predicate.Funcs{
		CreateFunc:  func(event.CreateEvent) bool { return false },
		UpdateFunc:  func(event.UpdateEvent) bool { return false },
		DeleteFunc:  func(event.DeleteEvent) bool { return true },
		GenericFunc: func(event.GenericEvent) bool { return false },
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("deferred-events").
		For(&corev1.ConfigMap{}, builder.WithPredicates(predicate.NewPredicateFuncs(isDeferred))).
		Watches(&superofficev1alpha1.Associate{}, handler.EnqueueRequestsFromMapFunc(deferredOfAssociate),
			builder.WithPredicates(deletedOnly)).
		// One per manager; tests and benchmarks build several managers in one process.
		WithOptions(controller.Options{MaxConcurrentReconciles: 2, SkipNameValidation: ptr.To(true)}).
		Complete(d)
}

// isDeferred: a deferred event's ConfigMap as the mirror writes it; a ConfigMap that
// merely carries the label is left alone.
func isDeferred(obj client.Object) bool {
	labels := obj.GetLabels()
	return labels[LabelTombstone] == LabelValueDeferred && strings.HasSuffix(obj.GetName(), ".deferred") &&
		labels[superofficev1alpha1.LabelManagedBy] == superofficev1alpha1.LabelManagedByValue
}

func deferredOfAssociate(_ context.Context, a client.Object) []reconcile.Request {
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: a.GetNamespace(), Name: DeferredName(a.GetName())}}}
}

// Reconcile applies the deferred event named by req once its Associate is gone.
func (d *DeferredApplier) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	recheck := d.Recheck
	if recheck <= 0 {
		recheck = DefaultDeferredRecheck
	}
	var cm corev1.ConfigMap
	if err := d.Client.Get(ctx, req.NamespacedName, &cm); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !isDeferred(&cm) {
		return ctrl.Result{}, nil
	}
	key := types.NamespacedName{Namespace: req.Namespace, Name: strings.TrimSuffix(req.Name, ".deferred")}
	log := d.Log.WithValues("associate", key.String())
	ev, ok := parseDeferred(&cm)
	if !ok {
		log.Info("deleting a deferred event that does not parse", "configMap", req.Name)
		return ctrl.Result{}, d.deleteIfUnchanged(ctx, &cm)
	}
	var current superofficev1alpha1.Associate
	err := d.APIReader.Get(ctx, key, &current)
	switch {
	case err == nil && current.UID == ev.AssociateUID:
		return ctrl.Result{RequeueAfter: recheck}, nil // still terminating
	case err != nil && !apierrors.IsNotFound(err):
		return ctrl.Result{}, err
	}
	// Anyone who may write ConfigMaps here could have written this one: apply it only for
	// a receiver that exists and writes into this namespace, as the ingress would have.
	obs := ev.observation(req.Namespace)
	if obs.Receiver.Name != "" {
		if ok, why, err := d.receiverWrites(ctx, obs.Receiver, req.Namespace); err != nil {
			return ctrl.Result{}, err
		} else if !ok {
			log.Info("dropping a deferred event", "eventId", ev.EventID, "reason", why)
			return ctrl.Result{}, d.deleteIfUnchanged(ctx, &cm)
		}
	}
	// Gone (or replaced by another Associate of that name, which Apply decides against
	// like any other event).
	outcome, err := d.Mirror.Apply(ctx, obs)
	switch {
	case errors.Is(err, ErrInvalid) || errors.Is(err, ErrConflict):
		// No retry can apply it (say, another receiver has taken the Associate meanwhile).
		log.Info("dropping a deferred event that cannot be applied", "eventId", ev.EventID, "error", err.Error())
		return ctrl.Result{}, d.deleteIfUnchanged(ctx, &cm)
	case err != nil:
		return ctrl.Result{}, err
	case outcome.Result == Deferred:
		return ctrl.Result{RequeueAfter: recheck}, nil // a new Associate of that name is terminating too
	}
	log.Info("applied a deferred event", "eventId", ev.EventID, "event", ev.Event, "result", string(outcome.Result))
	if err := d.deleteIfUnchanged(ctx, &cm); apierrors.IsConflict(err) {
		// A newer event was merged in meanwhile: apply that one too.
		return ctrl.Result{RequeueAfter: time.Second}, nil
	} else if err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{}, nil
}

// receiverWrites tells whether the receiver exists and writes Associates into namespace
// (the namespace's own, or one whose annotation allows the receiver's), read from the cache.
func (d *DeferredApplier) receiverWrites(ctx context.Context, key types.NamespacedName, namespace string) (bool, string, error) {
	var receiver superofficev1alpha1.WebhookReceiver
	err := d.Client.Get(ctx, key, &receiver)
	switch {
	case apierrors.IsNotFound(err):
		return false, "receiver " + key.String() + " no longer exists", nil
	case err != nil:
		return false, "", err
	case receiver.TargetNamespace() != namespace:
		return false, "receiver " + key.String() + " does not write into namespace " + namespace, nil
	case receiver.TargetNamespace() == receiver.Namespace:
		return true, "", nil
	}
	var ns corev1.Namespace
	if err := d.Client.Get(ctx, types.NamespacedName{Name: namespace}, &ns); err != nil {
		return false, "", client.IgnoreNotFound(err)
	}
	if !receiver.TargetAllowed(ns.Annotations) {
		return false, "namespace " + namespace + " does not allow receivers of namespace " + receiver.Namespace, nil
	}
	return true, "", nil
}

// deleteIfUnchanged deletes the ConfigMap as read: an event merged in since is kept.
func (d *DeferredApplier) deleteIfUnchanged(ctx context.Context, cm *corev1.ConfigMap) error {
	rv := cm.ResourceVersion
	err := d.Mirror.call(ctx, func(ctx context.Context) error {
		return d.Client.Delete(ctx, cm, client.Preconditions{ResourceVersion: &rv})
	})
	return client.IgnoreNotFound(err)
}
