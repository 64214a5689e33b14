package controllers

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
	acv1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1/applyconfiguration/api/v1alpha1"
	"github.com/assocsync/associate-operator/internal/secrets"
)

// +kubebuilder:rbac:groups=superoffice.assocsync.io,resources=webhookreceivers,verbs=get;list;watch
// +kubebuilder:rbac:groups=superoffice.assocsync.io,resources=webhookreceivers/status,verbs=get;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch

// webhookReceiverReconciler keeps a receiver's Ready, Reconciling and Stalled conditions,
// webhookPath and observedGeneration, with server-side apply under its own field manager
// (the sync controller owns Synced, Registered, lastResync and registration; the ingress
// lastDeliveryTime). The ingress decides readiness from the cache by itself; this status
// is for people and tools.
type webhookReceiverReconciler struct {
	client  client.Client
	secrets secrets.Reader
}

func setupWebhookReceiverReconciler(mgr ctrl.Manager, opts Options) error {
	r := &webhookReceiverReconciler{client: mgr.GetClient(), secrets: opts.Secrets}
	return ctrl.NewControllerManagedBy(mgr).
		Named("webhookreceiver").
		// Status-only updates (lastDeliveryTime, our own writes) do not need a reconcile,
		// but the sync controller's conditions decide Reconciling and Stalled.
		For(&superofficev1alpha1.WebhookReceiver{}, builder.WithPredicates(predicate.Or[client.Object](
			predicate.GenerationChangedPredicate{}, syncConditionsChanged{}))).
		// Only referenced Secrets are held (internal/secrets): no cluster-wide Secret informer.
		WatchesRawSource(opts.Secrets.Source(handler.EnqueueRequestsFromMapFunc(
			receiversOf(mgr.GetClient(), receiverSecretsIndex, true, nil)))).
		// The target namespace's annotation allows or refuses a receiver of another namespace.
		Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(receiversOf(mgr.GetClient(), receiverTargetIndex, false, nil)),
			builder.WithPredicates(predicate.AnnotationChangedPredicate{})).
		Complete(r)
}

func (r *webhookReceiverReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var receiver superofficev1alpha1.WebhookReceiver
	if err := r.client.Get(ctx, req.NamespacedName, &receiver); err != nil {
		forgetReceiverConditions(req.NamespacedName, err, superofficev1alpha1.ConditionReady)
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	status, reason, message, err := r.readiness(ctx, &receiver)
	if err != nil {
		return ctrl.Result{}, err
	}
	// Start from this controller's conditions as they are, so that lastTransitionTime
	// stays unless a condition flips; Reconciling and Stalled follow the sync conditions.
	owned := ownedConditions(receiver.Status.Conditions, superofficev1alpha1.ConditionReady,
		superofficev1alpha1.ConditionReconciling, superofficev1alpha1.ConditionStalled)
	before := append([]metav1.Condition(nil), owned...)
	setCondition(&owned, receiver.Generation, superofficev1alpha1.ConditionReady, status, reason, message)
	recordReceiverConditions(req.NamespacedName, owned, superofficev1alpha1.ConditionReady)
	all := append(ownedConditions(receiver.Status.Conditions, superofficev1alpha1.ConditionSynced, superofficev1alpha1.ConditionRegistered), owned...)
	stage, why, detail := receiverProgress(all)
	setProgress(&owned, receiver.Generation, stage, why, detail)
	path := receiver.WebhookPath()
	if equality.Semantic.DeepEqual(before, owned) && receiver.Status.WebhookPath == path &&
		receiver.Status.ObservedGeneration == receiver.Generation {
		return ctrl.Result{}, nil
	}
	apply := acv1alpha1.WebhookReceiver(receiver.Name, receiver.Namespace).WithStatus(acv1alpha1.WebhookReceiverStatus().
		WithConditions(conditionApplyConfigurations(owned)...).
		WithWebhookPath(path).
		WithObservedGeneration(receiver.Generation))
	return ctrl.Result{}, r.client.Status().Apply(ctx, apply,
		client.FieldOwner(superofficev1alpha1.FieldManagerReady), client.ForceOwnership)
}

// readiness: Ready when the target namespace allows the receiver, and the Secret exists
// and holds at least one of the listed keys.
func (r *webhookReceiverReconciler) readiness(ctx context.Context, receiver *superofficev1alpha1.WebhookReceiver) (metav1.ConditionStatus, string, string, error) {
	if allowed, message, err := targetAllowed(ctx, r.client, receiver); err != nil || !allowed {
		return metav1.ConditionFalse, superofficev1alpha1.ReasonTargetNamespaceNotAllowed, message, err
	}
	keys, err := secrets.SigningKeys(ctx, r.secrets, receiver)
	if keysErr, ok := errors.AsType[*secrets.KeysError](err); ok {
		return metav1.ConditionFalse, keysErr.Reason, keysErr.Message, nil
	}
	if err != nil {
		return "", "", "", err
	}
	return metav1.ConditionTrue, superofficev1alpha1.ReasonReady,
		fmt.Sprintf("Secret %s holds %d of the keys %v; deliveries are accepted", receiver.Spec.SecretRef.Name, len(keys), receiver.SigningKeys()), nil
}

// targetAllowed tells whether the receiver may write into its target namespace, read
// from the cache, and if not, why.
func targetAllowed(ctx context.Context, reader client.Reader, receiver *superofficev1alpha1.WebhookReceiver) (bool, string, error) {
	target := receiver.TargetNamespace()
	if target == receiver.Namespace {
		return true, "", nil
	}
	var ns corev1.Namespace
	err := reader.Get(ctx, types.NamespacedName{Name: target}, &ns)
	switch {
	case apierrors.IsNotFound(err):
		return false, fmt.Sprintf("target namespace %s does not exist", target), nil
	case err != nil:
		return false, "", err
	case !receiver.TargetAllowed(ns.Annotations):
		return false, fmt.Sprintf("namespace %s does not allow receivers of namespace %s: its annotation %s must list %s (or *)",
			target, receiver.Namespace, superofficev1alpha1.AnnotationAllowedReceiverNamespaces, receiver.Namespace), nil
	}
	return true, "", nil
}

// receiverProgress is kstatus's view of a receiver from its conditions: Stalled while it
// is not Ready, or while a resync or registration waits for someone to act (credentials,
// a mass deletion to allow, a webhook SuperOffice stopped); Reconciling while the first
// resync is pending or a failed resync or registration is retried.
func receiverProgress(conditions []metav1.Condition) (progress, string, string) {
	if ready := meta.FindStatusCondition(conditions, superofficev1alpha1.ConditionReady); ready != nil && ready.Status != metav1.ConditionTrue {
		return progressStalled, ready.Reason, ready.Message
	}
	for _, conditionType := range []string{superofficev1alpha1.ConditionSynced, superofficev1alpha1.ConditionRegistered} {
		c := meta.FindStatusCondition(conditions, conditionType)
		switch {
		case c == nil || c.Status == metav1.ConditionTrue:
			continue
		case c.Status == metav1.ConditionUnknown,
			c.Reason == superofficev1alpha1.ReasonResyncFailed, c.Reason == superofficev1alpha1.ReasonRegistrationFailed:
			return progressReconciling, c.Reason, c.Message
		default:
			return progressStalled, c.Reason, c.Message
		}
	}
	return progressDone, "", ""
}

// syncConditionsChanged passes updates that change a receiver's Synced or Registered.
type syncConditionsChanged struct {
	predicate.Funcs
}

func (syncConditionsChanged) Update(e event.UpdateEvent) bool {
	old, okOld := e.ObjectOld.(*superofficev1alpha1.WebhookReceiver)
	updated, okNew := e.ObjectNew.(*superofficev1alpha1.WebhookReceiver)
	if !okOld || !okNew {
		return false
	}
	for _, conditionType := range []string{superofficev1alpha1.ConditionSynced, superofficev1alpha1.ConditionRegistered} {
		a, b := meta.FindStatusCondition(old.Status.Conditions, conditionType), meta.FindStatusCondition(updated.Status.Conditions, conditionType)
		if (a == nil) != (b == nil) || (a != nil && (a.Status != b.Status || a.Reason != b.Reason || a.Message != b.Message)) {
			return true
		}
	}
	return false
}
