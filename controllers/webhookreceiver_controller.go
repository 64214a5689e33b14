package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
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
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
	"github.com/assocsync/associate-operator/internal/ingress"
	"github.com/assocsync/associate-operator/internal/secrets"
)

// receiverSecretIndex indexes WebhookReceivers by the name of the Secret they reference.
const receiverSecretIndex = "spec.secretRef.name"

// receiverTargetIndex indexes WebhookReceivers by a target namespace other than their own.
const receiverTargetIndex = "targetNamespace"

// +kubebuilder:rbac:groups=superoffice.assocsync.io,resources=webhookreceivers,verbs=get;list;watch
// +kubebuilder:rbac:groups=superoffice.assocsync.io,resources=webhookreceivers/status,verbs=get;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch

// webhookReceiverReconciler keeps a receiver's Ready condition and webhookPath. The
// ingress decides readiness from the cache by itself; this status is for people.
type webhookReceiverReconciler struct {
	client  client.Client
	secrets secrets.Reader
}

func setupWebhookReceiverReconciler(mgr ctrl.Manager, _ Options) error {
	err := mgr.GetFieldIndexer().IndexField(context.Background(), &superofficev1alpha1.WebhookReceiver{}, receiverSecretIndex,
		func(obj client.Object) []string {
			return []string{obj.(*superofficev1alpha1.WebhookReceiver).Spec.SecretRef.Name}
		})
	if err != nil {
		return fmt.Errorf("indexing WebhookReceivers by Secret: %w", err)
	}
	err = mgr.GetFieldIndexer().IndexField(context.Background(), &superofficev1alpha1.WebhookReceiver{}, receiverTargetIndex,
		func(obj client.Object) []string {
			if r := obj.(*superofficev1alpha1.WebhookReceiver); r.TargetNamespace() != r.Namespace {
				return []string{r.TargetNamespace()}
			}
			return nil
		})
	if err != nil {
		return fmt.Errorf("indexing WebhookReceivers by target namespace: %w", err)
	}
	store, err := secrets.For(mgr)
	if err != nil {
		return err
	}
	r := &webhookReceiverReconciler{client: mgr.GetClient(), secrets: store}
	return ctrl.NewControllerManagedBy(mgr).
		Named("webhookreceiver").
		// Status-only updates (lastDeliveryTime, our own writes) do not need a reconcile,
		// but the sync controller's conditions decide Reconciling and Stalled.
		For(&superofficev1alpha1.WebhookReceiver{}, builder.WithPredicates(predicate.Or[client.Object](
			predicate.GenerationChangedPredicate{}, syncConditionsChanged{}))).
		// Only referenced Secrets are held (internal/secrets): no cluster-wide Secret informer.
		WatchesRawSource(store.Source(handler.EnqueueRequestsFromMapFunc(r.receiversOfSecret))).
		// The target namespace's annotation allows or refuses a receiver of another namespace.
		Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(r.receiversTargeting),
			builder.WithPredicates(predicate.AnnotationChangedPredicate{})).
		Complete(r)
}

// receiversTargeting maps a namespace to the receivers of other namespaces that target it.
func (r *webhookReceiverReconciler) receiversTargeting(ctx context.Context, namespace client.Object) []reconcile.Request {
	var receivers superofficev1alpha1.WebhookReceiverList
	if err := r.client.List(ctx, &receivers, client.MatchingFields{receiverTargetIndex: namespace.GetName()}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "listing the receivers that target a namespace", "namespace", namespace.GetName())
		return nil
	}
	requests := make([]reconcile.Request, 0, len(receivers.Items))
	for i := range receivers.Items {
		requests = append(requests, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&receivers.Items[i])})
	}
	return requests
}

// receiversOfSecret maps a Secret to the receivers in its namespace that reference it.
func (r *webhookReceiverReconciler) receiversOfSecret(ctx context.Context, secret client.Object) []reconcile.Request {
	var receivers superofficev1alpha1.WebhookReceiverList
	if err := r.client.List(ctx, &receivers, client.InNamespace(secret.GetNamespace()),
		client.MatchingFields{receiverSecretIndex: secret.GetName()}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "listing the receivers of a Secret", "secret", client.ObjectKeyFromObject(secret))
		return nil
	}
	requests := make([]reconcile.Request, 0, len(receivers.Items))
	for _, receiver := range receivers.Items {
		requests = append(requests, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&receiver)})
	}
	return requests
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
	before := receiver.DeepCopy()
	changed := setCondition(&receiver.Status.Conditions, receiver.Generation, superofficev1alpha1.ConditionReady, status, reason, message)
	recordReceiverConditions(req.NamespacedName, receiver.Status.Conditions, superofficev1alpha1.ConditionReady)
	stage, why, detail := receiverProgress(receiver.Status.Conditions)
	changed = setProgress(&receiver.Status.Conditions, receiver.Generation, stage, why, detail) || changed
	path := receiver.WebhookPath()
	changed = changed || receiver.Status.WebhookPath != path || receiver.Status.ObservedGeneration != receiver.Generation
	if !changed {
		return ctrl.Result{}, nil
	}
	receiver.Status.WebhookPath = path
	receiver.Status.ObservedGeneration = receiver.Generation
	// A merge patch leaves lastDeliveryTime (the ingress's) alone, but it replaces the whole
	// conditions list: the resourceVersion precondition keeps a stale cache from dropping
	// the sync controller's Synced and Registered (a conflict is retried with a fresh copy).
	return ctrl.Result{}, r.client.Status().Patch(ctx, &receiver,
		client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}))
}

// readiness: Ready when the target namespace allows the receiver, and the Secret exists
// and holds at least one of the listed keys.
func (r *webhookReceiverReconciler) readiness(ctx context.Context, receiver *superofficev1alpha1.WebhookReceiver) (metav1.ConditionStatus, string, string, error) {
	if allowed, message, err := targetAllowed(ctx, r.client, receiver); err != nil || !allowed {
		return metav1.ConditionFalse, superofficev1alpha1.ReasonTargetNamespaceNotAllowed, message, err
	}
	secretName := receiver.Spec.SecretRef.Name
	reader := r.secrets
	if reader == nil {
		reader = secrets.FromClient(r.client)
	}
	secret, err := reader.Get(ctx, receiver.Namespace, secretName)
	switch {
	case apierrors.IsNotFound(err):
		return metav1.ConditionFalse, superofficev1alpha1.ReasonSecretNotFound,
			fmt.Sprintf("Secret %s not found in namespace %s", secretName, receiver.Namespace), nil
	case err != nil:
		return "", "", "", err
	}
	keys := ingress.SecretKeys(receiver)
	accepted := len(ingress.AcceptedSecrets(receiver, secret))
	if accepted == 0 {
		return metav1.ConditionFalse, superofficev1alpha1.ReasonNoKeysFound, fmt.Sprintf("Secret %s has none of the keys %v", secretName, keys), nil
	}
	return metav1.ConditionTrue, superofficev1alpha1.ReasonReady,
		fmt.Sprintf("Secret %s holds %d of the keys %v; deliveries are accepted", secretName, accepted, keys), nil
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
