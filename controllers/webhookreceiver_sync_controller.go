package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
	"github.com/assocsync/associate-operator/internal/apiclient"
	"github.com/assocsync/associate-operator/internal/secrets"
	"github.com/assocsync/associate-operator/internal/superoffice"
)

// +kubebuilder:rbac:groups=superoffice.assocsync.io,resources=webhookreceivers,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=superoffice.assocsync.io,resources=webhookreceivers/status,verbs=get;patch
// +kubebuilder:rbac:groups=superoffice.assocsync.io,resources=webhookreceivers/finalizers,verbs=update
// +kubebuilder:rbac:groups=superoffice.assocsync.io,resources=associates,verbs=get;list;watch;create;update;delete
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// webhookReceiverSyncReconciler resyncs receivers with spec.api and keeps the SuperOffice
// webhook of those with spec.registration. It runs on the leader only and keeps no state
// of its own: what it does next follows from the receiver (webhookreceiver_sync_schedule.go).
type webhookReceiverSyncReconciler struct {
	client client.Client
	// live reads the receiver at the start of a pass: a cached copy a moment behind this
	// controller's own last status write would resync again and drop lastResync.
	live     client.Reader
	secrets  secrets.Reader
	clients  *apiclient.Cache
	resyncer *resyncer
	recorder events.EventRecorder
	now      func() time.Time
}

func setupWebhookReceiverSyncReconciler(mgr ctrl.Manager, opts Options) error {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	r := &webhookReceiverSyncReconciler{
		client:   mgr.GetClient(),
		live:     mgr.GetAPIReader(),
		secrets:  opts.Secrets,
		clients:  opts.Clients,
		resyncer: &resyncer{reader: mgr.GetClient(), mirror: opts.Mirror, now: now},
		recorder: mgr.GetEventRecorder("associate-operator-sync"),
		now:      now,
	}
	withAPI := func(receiver *superofficev1alpha1.WebhookReceiver) bool { return receiver.Spec.API != nil }
	return ctrl.NewControllerManagedBy(mgr).
		Named("webhookreceiver-sync").
		// Spec edits, the resync annotation and deletion; not the status writes.
		For(&superofficev1alpha1.WebhookReceiver{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}, deletionStarted{}))).
		// Only referenced Secrets are held (internal/secrets): no cluster-wide Secret informer.
		WatchesRawSource(opts.Secrets.Source(handler.EnqueueRequestsFromMapFunc(
			receiversOf(mgr.GetClient(), receiverSecretsIndex, true, withAPI)))).
		WithOptions(controller.Options{MaxConcurrentReconciles: 2}).
		Complete(r)
}

// Reconcile: get (live), deletion or finalizer, then a receiver without spec.api releases
// this controller's status, and one with it is resynced and registered as due.
func (r *webhookReceiverSyncReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var receiver superofficev1alpha1.WebhookReceiver
	if err := r.live.Get(ctx, req.NamespacedName, &receiver); err != nil {
		forgetReceiverConditions(req.NamespacedName, err, superofficev1alpha1.ConditionSynced, superofficev1alpha1.ConditionRegistered)
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if receiver.DeletionTimestamp != nil {
		return ctrl.Result{}, r.reconcileDelete(ctx, &receiver)
	}
	if err := r.keepFinalizer(ctx, &receiver); err != nil {
		return ctrl.Result{}, err
	}
	if receiver.Spec.API == nil {
		return ctrl.Result{}, r.applyStatus(ctx, &receiver, syncStatus{})
	}
	return r.reconcileNormal(ctx, &receiver)
}

func (r *webhookReceiverSyncReconciler) reconcileNormal(ctx context.Context, receiver *superofficev1alpha1.WebhookReceiver) (ctrl.Result, error) {
	now := r.now()
	plan := planResync(receiver, now)
	status := currentSyncStatus(receiver)

	so, err := r.clients.For(ctx, receiver)
	if err != nil {
		reason, retry := superofficev1alpha1.ReasonCredentialsNotFound, error(nil)
		switch {
		case errors.Is(err, apiclient.ErrInvalidCredentials):
			reason = superofficev1alpha1.ReasonInvalidCredentials
		case superoffice.IsEndpointNotAllowed(err):
			reason = superofficev1alpha1.ReasonEndpointNotAllowed
		case !errors.Is(err, apiclient.ErrCredentialsNotFound):
			reason, retry = superofficev1alpha1.ReasonResyncFailed, err
		}
		// The Secret watch brings the receiver back once the user fixed it.
		status.set(receiver, superofficev1alpha1.ConditionSynced, metav1.ConditionFalse, reason, err.Error())
		if registrationEnabled(receiver) {
			status.set(receiver, superofficev1alpha1.ConditionRegistered, metav1.ConditionFalse, reason, err.Error())
		}
		return ctrl.Result{}, errors.Join(r.applyStatus(ctx, receiver, status), retry)
	}

	var retry error
	if registrationEnabled(receiver) {
		retry = r.reconcileRegistration(ctx, receiver, so, plan.requested, &status)
	} else {
		status.dropRegistration()
	}
	var counted func()
	if plan.due {
		counted = r.runResync(ctx, receiver, so, &status)
	}
	err = r.applyStatus(ctx, receiver, status)
	if counted != nil {
		counted() // after the status, so that a counted resync is one whose status is stored
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	if retry != nil {
		return ctrl.Result{}, retry
	}
	if status.lastResync != nil {
		if next, ok := nextResync(receiver, status.lastResync); ok {
			return ctrl.Result{RequeueAfter: max(next.Sub(now), time.Second)}, nil
		}
	}
	return ctrl.Result{}, nil
}

// runResync runs one resync and records it in status (lastResync, Synced) and an Event;
// it returns the metrics update, to be called once the status is written.
func (r *webhookReceiverSyncReconciler) runResync(ctx context.Context, receiver *superofficev1alpha1.WebhookReceiver, so *superoffice.Client, status *syncStatus) func() {
	rep := r.resyncer.resync(ctx, receiver, so)
	s := rep.status
	s.RequestedAt = receiver.Annotations[superofficev1alpha1.AnnotationResyncRequestedAt]
	status.lastResync = &s

	name := client.ObjectKeyFromObject(receiver).String()
	metricResult := resyncResultSucceeded
	switch s.Result {
	case superofficev1alpha1.ResyncSucceeded:
		status.set(receiver, superofficev1alpha1.ConditionSynced, metav1.ConditionTrue, superofficev1alpha1.ReasonSynced, rep.message)
		if rep.changed() {
			r.recorder.Eventf(receiver, nil, corev1.EventTypeNormal, "Resynced", "Resync", "%s", rep.message)
		}
	case superofficev1alpha1.ResyncMassDeletionRefused:
		metricResult = resyncResultMassDeletionRefused
		status.set(receiver, superofficev1alpha1.ConditionSynced, metav1.ConditionFalse, rep.reason, rep.message)
		r.recorder.Eventf(receiver, nil, corev1.EventTypeWarning, rep.reason, "Resync", "%s", rep.message)
	default:
		metricResult = resyncResultFailed
		status.set(receiver, superofficev1alpha1.ConditionSynced, metav1.ConditionFalse, rep.reason, rep.message)
		r.recorder.Eventf(receiver, nil, corev1.EventTypeWarning, rep.reason, "Resync", "%s", rep.message)
	}
	ctrl.LoggerFrom(ctx).Info("resync", "receiver", name, "result", s.Result, "listed", s.Listed, "created", s.Created,
		"updated", s.Updated, "deleted", s.Deleted, "unchanged", s.Unchanged)
	return func() { countResync(name, metricResult, s.Created, s.Updated, s.Deleted) }
}

// reconcileRegistration keeps the webhook and records Registered and status.registration;
// it returns an error when a retry may fix the failure.
func (r *webhookReceiverSyncReconciler) reconcileRegistration(ctx context.Context, receiver *superofficev1alpha1.WebhookReceiver, so webhookAPI, reactivate bool, status *syncStatus) error {
	keys, err := secrets.SigningKeys(ctx, r.secrets, receiver)
	if keysErr, ok := errors.AsType[*secrets.KeysError](err); ok {
		status.set(receiver, superofficev1alpha1.ConditionRegistered, metav1.ConditionFalse, keysErr.Reason,
			keysErr.Message+": nothing to register as the webhook's Secret")
		return nil
	}
	if err != nil {
		return err
	}
	rep := register(ctx, so, receiver, string(keys[0]), reactivate)
	if rep.status != nil {
		status.registration = rep.status
	}
	if was := status.condition(superofficev1alpha1.ConditionRegistered); rep.reason != superofficev1alpha1.ReasonRegistered && (was == nil || was.Reason != rep.reason) {
		r.recorder.Eventf(receiver, nil, corev1.EventTypeWarning, rep.reason, "Register", "%s", rep.message)
	}
	if rep.saved != "" {
		r.recorder.Eventf(receiver, nil, corev1.EventTypeNormal, "WebhookSaved", "Register", "%s (%s)", rep.message, rep.saved)
	}
	status.set(receiver, superofficev1alpha1.ConditionRegistered, rep.condition, rep.reason, rep.message)
	return rep.err
}

// keepFinalizer holds the receiver while registration is enabled, and lets go of it when
// registration is turned off (the webhook then stays in SuperOffice, the user's again).
func (r *webhookReceiverSyncReconciler) keepFinalizer(ctx context.Context, receiver *superofficev1alpha1.WebhookReceiver) error {
	want := registrationEnabled(receiver)
	if want == controllerutil.ContainsFinalizer(receiver, superofficev1alpha1.FinalizerWebhookRegistration) {
		return nil
	}
	before := receiver.DeepCopy()
	if want {
		controllerutil.AddFinalizer(receiver, superofficev1alpha1.FinalizerWebhookRegistration)
	} else {
		controllerutil.RemoveFinalizer(receiver, superofficev1alpha1.FinalizerWebhookRegistration)
	}
	return r.client.Patch(ctx, receiver, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}))
}

// reconcileDelete deletes the webhook, then lets the receiver go. Its SuperOffice client
// goes with it on every replica (the ingress's receiver pruner).
func (r *webhookReceiverSyncReconciler) reconcileDelete(ctx context.Context, receiver *superofficev1alpha1.WebhookReceiver) error {
	if !controllerutil.ContainsFinalizer(receiver, superofficev1alpha1.FinalizerWebhookRegistration) {
		return nil
	}
	so, err := r.clients.For(ctx, receiver)
	switch {
	case errors.Is(err, apiclient.ErrCredentialsNotFound) || errors.Is(err, apiclient.ErrInvalidCredentials) || errors.Is(err, apiclient.ErrNoAPI) ||
		superoffice.IsEndpointNotAllowed(err):
		// Without credentials the webhook cannot be deleted; holding the receiver (and its
		// namespace) forever would not help. Say so and let go.
		r.recorder.Eventf(receiver, nil, corev1.EventTypeWarning, superofficev1alpha1.ReasonRegistrationFailed, "Unregister",
			"webhook %q left in SuperOffice: %v", webhookName(receiver), err)
	case err != nil:
		return err
	default:
		if err := unregister(ctx, so, receiver); err != nil {
			return fmt.Errorf("deleting webhook %q of receiver %s: %w", webhookName(receiver), client.ObjectKeyFromObject(receiver), err)
		}
	}
	before := receiver.DeepCopy()
	controllerutil.RemoveFinalizer(receiver, superofficev1alpha1.FinalizerWebhookRegistration)
	return client.IgnoreNotFound(r.client.Patch(ctx, receiver, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})))
}
