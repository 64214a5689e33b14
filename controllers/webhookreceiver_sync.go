package controllers

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
	"github.com/assocsync/associate-operator/internal/apiclient"
	"github.com/assocsync/associate-operator/internal/ingress"
	"github.com/assocsync/associate-operator/internal/mirror"
	"github.com/assocsync/associate-operator/internal/secrets"
	"github.com/assocsync/associate-operator/internal/superoffice"
)

// syncSecretIndex indexes receivers by every Secret they read: signing and credentials.
const syncSecretIndex = "sync.secretNames"

// resyncFailureRetry is the longest wait before a failed resync is tried again.
const resyncFailureRetry = 5 * time.Minute

// +kubebuilder:rbac:groups=superoffice.assocsync.io,resources=webhookreceivers,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=superoffice.assocsync.io,resources=webhookreceivers/status,verbs=get;patch
// +kubebuilder:rbac:groups=superoffice.assocsync.io,resources=webhookreceivers/finalizers,verbs=update
// +kubebuilder:rbac:groups=superoffice.assocsync.io,resources=associates,verbs=get;list;watch;create;update;delete
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// syncConfig adjusts the sync reconciler (tests).
type syncConfig struct {
	// clients builds the SuperOffice clients; a cache over the manager's client when nil.
	clients *apiclient.Cache
	now     func() time.Time
}

// webhookReceiverSyncReconciler resyncs receivers with spec.api and keeps the SuperOffice
// webhook of those with spec.registration. It runs on the leader only.
type webhookReceiverSyncReconciler struct {
	client   client.Client
	secrets  secrets.Reader // nil: read through client (tests)
	clients  *apiclient.Cache
	resyncer *resyncer
	recorder events.EventRecorder
	now      func() time.Time

	mu    sync.Mutex
	state map[types.UID]*syncState
	// names maps each remembered receiver's name to its UID: a receiver without the
	// registration finalizer is gone (NotFound) before a reconcile sees it terminating.
	names map[types.NamespacedName]types.UID
}

// syncState is what the reconciler remembers of a receiver between passes.
type syncState struct {
	apiFingerprint string    // spec.api, tenant and target namespace of the last resync
	annotation     string    // the last resync-requested-at value acted upon
	nextResync     time.Time // zero: no periodic resync scheduled
}

func setupWebhookReceiverSyncReconciler(mgr ctrl.Manager, opts Options) error {
	return addWebhookReceiverSyncReconciler(mgr, opts, syncConfig{})
}

func addWebhookReceiverSyncReconciler(mgr ctrl.Manager, opts Options, cfg syncConfig) error {
	err := mgr.GetFieldIndexer().IndexField(context.Background(), &superofficev1alpha1.WebhookReceiver{}, syncSecretIndex,
		func(obj client.Object) []string {
			r := obj.(*superofficev1alpha1.WebhookReceiver)
			names := []string{r.Spec.SecretRef.Name}
			if r.Spec.API != nil {
				names = append(names, r.Spec.API.CredentialsSecretRef.Name)
			}
			return names
		})
	if err != nil {
		return fmt.Errorf("indexing WebhookReceivers by the Secrets they read: %w", err)
	}
	store, err := secrets.For(mgr)
	if err != nil {
		return err
	}
	if cfg.clients == nil {
		cfg.clients = apiclient.Shared(mgr, store)
	}
	if cfg.now == nil {
		cfg.now = time.Now
	}
	m := mirror.New(mgr, opts.TombstoneTTL)
	r := &webhookReceiverSyncReconciler{
		client:   mgr.GetClient(),
		secrets:  store,
		clients:  cfg.clients,
		resyncer: &resyncer{reader: mgr.GetClient(), mirror: m, now: cfg.now},
		recorder: mgr.GetEventRecorder("associate-operator-sync"),
		now:      cfg.now,
		state:    map[types.UID]*syncState{},
		names:    map[types.NamespacedName]types.UID{},
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("webhookreceiver-sync").
		// Spec edits, the resync annotation and deletion; not the status writes.
		For(&superofficev1alpha1.WebhookReceiver{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}, deletionStarted{}))).
		// Only referenced Secrets are held (internal/secrets): no cluster-wide Secret informer.
		WatchesRawSource(store.Source(handler.EnqueueRequestsFromMapFunc(r.receiversOfSecret))).
		WithOptions(controller.Options{MaxConcurrentReconciles: 2}).
		Complete(r)
}

func (r *webhookReceiverSyncReconciler) receiversOfSecret(ctx context.Context, secret client.Object) []reconcile.Request {
	var receivers superofficev1alpha1.WebhookReceiverList
	if err := r.client.List(ctx, &receivers, client.InNamespace(secret.GetNamespace()),
		client.MatchingFields{syncSecretIndex: secret.GetName()}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "listing the receivers of a Secret", "secret", client.ObjectKeyFromObject(secret))
		return nil
	}
	var requests []reconcile.Request
	for i := range receivers.Items {
		if receivers.Items[i].Spec.API != nil {
			requests = append(requests, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&receivers.Items[i])})
		}
	}
	return requests
}

func (r *webhookReceiverSyncReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var receiver superofficev1alpha1.WebhookReceiver
	if err := r.client.Get(ctx, req.NamespacedName, &receiver); err != nil {
		forgetReceiverConditions(req.NamespacedName, err, superofficev1alpha1.ConditionSynced, superofficev1alpha1.ConditionRegistered)
		if apierrors.IsNotFound(err) {
			r.forgetName(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if receiver.DeletionTimestamp != nil {
		return ctrl.Result{}, r.reconcileDelete(ctx, &receiver)
	}
	if err := r.keepFinalizer(ctx, &receiver); err != nil {
		return ctrl.Result{}, err
	}
	if receiver.Spec.API == nil {
		r.forget(req.NamespacedName, receiver.UID)
		return ctrl.Result{}, r.applyStatus(ctx, &receiver, syncStatus{})
	}
	return r.reconcileNormal(ctx, &receiver)
}

func (r *webhookReceiverSyncReconciler) reconcileNormal(ctx context.Context, receiver *superofficev1alpha1.WebhookReceiver) (ctrl.Result, error) {
	now := r.now()
	st, requested, due := r.schedule(receiver, now)
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
		retry = r.reconcileRegistration(ctx, receiver, so, requested, &status)
	} else {
		status.dropRegistration()
	}
	var counted func()
	if due {
		counted = r.runResync(ctx, receiver, so, st, now, &status)
	} else if meta := status.condition(superofficev1alpha1.ConditionSynced); meta == nil {
		status.set(receiver, superofficev1alpha1.ConditionSynced, metav1.ConditionUnknown, superofficev1alpha1.ReasonResyncPending, "no resync has run yet")
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
	return ctrl.Result{RequeueAfter: r.requeueAfter(receiver.UID, now)}, nil
}

// schedule decides whether a resync is due now: the first sight of a receiver that never
// resynced, a changed spec.api (or tenant, target namespace), a new resync-requested-at,
// or the periodic time. requested reports the new annotation (it also reactivates a
// stopped webhook).
func (r *webhookReceiverSyncReconciler) schedule(receiver *superofficev1alpha1.WebhookReceiver, now time.Time) (*syncState, bool, bool) {
	fingerprint := apiFingerprint(receiver)
	annotation := receiver.Annotations[superofficev1alpha1.AnnotationResyncRequestedAt]
	key := client.ObjectKeyFromObject(receiver)
	r.mu.Lock()
	defer r.mu.Unlock()
	st, known := r.state[receiver.UID]
	if !known {
		if old, ok := r.names[key]; ok && old != receiver.UID {
			// Deleted and created again under the same name between two reconciles.
			delete(r.state, old)
			r.clients.Forget(old)
		}
		r.names[key] = receiver.UID
		st = &syncState{}
		r.state[receiver.UID] = st
		if last := receiver.Status.LastResync; last != nil {
			// After a restart or a leader change: keep the schedule the status shows.
			st.apiFingerprint, st.annotation = fingerprint, annotation
			if interval := resyncInterval(receiver); interval > 0 {
				st.nextResync = last.Time.Add(interval)
			}
		}
	}
	requested := annotation != "" && annotation != st.annotation
	due := st.apiFingerprint != fingerprint || requested || (!st.nextResync.IsZero() && !now.Before(st.nextResync))
	return st, requested, due
}

func apiFingerprint(receiver *superofficev1alpha1.WebhookReceiver) string {
	api := receiver.Spec.API
	return fmt.Sprintf("%s|%s|%s|%s|%s", api.EnvironmentURL, api.URL, api.CredentialsSecretRef.Name, receiver.Spec.Tenant, receiver.TargetNamespace())
}

func (r *webhookReceiverSyncReconciler) requeueAfter(uid types.UID, now time.Time) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.state[uid]
	if st == nil || st.nextResync.IsZero() {
		return 0
	}
	return max(st.nextResync.Sub(now), time.Second)
}

func (r *webhookReceiverSyncReconciler) forget(key types.NamespacedName, uid types.UID) {
	r.mu.Lock()
	delete(r.state, uid)
	if r.names[key] == uid {
		delete(r.names, key)
	}
	r.mu.Unlock()
	r.clients.Forget(uid)
}

// forgetName forgets a receiver that is gone, known only by name.
func (r *webhookReceiverSyncReconciler) forgetName(key types.NamespacedName) {
	r.mu.Lock()
	uid, ok := r.names[key]
	r.mu.Unlock()
	if ok {
		r.forget(key, uid)
	}
}

// runResync runs one resync and records it in status (lastResync, Synced) and an Event;
// it returns the metrics update, to be called once the status is written.
func (r *webhookReceiverSyncReconciler) runResync(ctx context.Context, receiver *superofficev1alpha1.WebhookReceiver, so *superoffice.Client, st *syncState, now time.Time, status *syncStatus) func() {
	log := ctrl.LoggerFrom(ctx)
	rep := r.resyncer.resync(ctx, receiver, so)
	s := rep.status
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
	log.Info("resync", "receiver", name, "result", s.Result, "listed", s.Listed, "created", s.Created,
		"updated", s.Updated, "deleted", s.Deleted, "unchanged", s.Unchanged)

	interval := resyncInterval(receiver)
	if s.Result == superofficev1alpha1.ResyncFailed && interval > 0 {
		interval = min(interval, resyncFailureRetry)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	st.apiFingerprint = apiFingerprint(receiver)
	st.annotation = receiver.Annotations[superofficev1alpha1.AnnotationResyncRequestedAt]
	st.nextResync = time.Time{}
	if interval > 0 {
		// Jitter of up to a tenth spreads receivers created together.
		st.nextResync = now.Add(interval + rand.N(interval/10+1))
	}
	return func() { countResync(name, metricResult, s.Created, s.Updated, s.Deleted) }
}

// reconcileRegistration keeps the webhook and records Registered and status.registration;
// it returns an error when a retry may fix the failure.
func (r *webhookReceiverSyncReconciler) reconcileRegistration(ctx context.Context, receiver *superofficev1alpha1.WebhookReceiver, so webhookAPI, reactivate bool, status *syncStatus) error {
	reader := r.secrets
	if reader == nil {
		reader = secrets.FromClient(r.client)
	}
	secret, err := reader.Get(ctx, receiver.Namespace, receiver.Spec.SecretRef.Name)
	if client.IgnoreNotFound(err) != nil {
		return err
	}
	if secret == nil {
		secret = &corev1.Secret{}
	}
	keys := ingress.AcceptedSecrets(receiver, secret)
	if err != nil || len(keys) == 0 {
		reason, msg := superofficev1alpha1.ReasonNoKeysFound, fmt.Sprintf("Secret %s has none of the keys %v to register as the webhook's Secret", secret.Name, ingress.SecretKeys(receiver))
		if err != nil {
			reason, msg = superofficev1alpha1.ReasonSecretNotFound, fmt.Sprintf("Secret %s not found in namespace %s", receiver.Spec.SecretRef.Name, receiver.Namespace)
		}
		status.set(receiver, superofficev1alpha1.ConditionRegistered, metav1.ConditionFalse, reason, msg)
		return nil
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

// reconcileDelete deletes the webhook, then lets the receiver go.
func (r *webhookReceiverSyncReconciler) reconcileDelete(ctx context.Context, receiver *superofficev1alpha1.WebhookReceiver) error {
	defer r.forget(client.ObjectKeyFromObject(receiver), receiver.UID)
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

// syncStatus is the part of the receiver's status this reconciler owns.
type syncStatus struct {
	conditions   []metav1.Condition
	lastResync   *superofficev1alpha1.ResyncStatus
	registration *superofficev1alpha1.RegistrationStatus
}

// currentSyncStatus reads this reconciler's fields from the cached receiver, so that
// lastTransitionTime is kept unless a condition flips.
func currentSyncStatus(receiver *superofficev1alpha1.WebhookReceiver) syncStatus {
	var s syncStatus
	for _, c := range receiver.Status.Conditions {
		if c.Type == superofficev1alpha1.ConditionSynced || c.Type == superofficev1alpha1.ConditionRegistered {
			s.conditions = append(s.conditions, c)
		}
	}
	s.lastResync = receiver.Status.LastResync.DeepCopy()
	s.registration = receiver.Status.Registration.DeepCopy()
	return s
}

// equal compares field by field: Semantic.DeepEqual cannot reach into unexported fields.
func (s syncStatus) equal(other syncStatus) bool {
	return equality.Semantic.DeepEqual(s.conditions, other.conditions) &&
		equality.Semantic.DeepEqual(s.lastResync, other.lastResync) &&
		equality.Semantic.DeepEqual(s.registration, other.registration)
}

func (s *syncStatus) set(receiver *superofficev1alpha1.WebhookReceiver, conditionType string, status metav1.ConditionStatus, reason, message string) {
	setCondition(&s.conditions, receiver.Generation, conditionType, status, reason, message)
}

func (s *syncStatus) condition(conditionType string) *metav1.Condition {
	for i := range s.conditions {
		if s.conditions[i].Type == conditionType {
			return &s.conditions[i]
		}
	}
	return nil
}

func (s *syncStatus) dropRegistration() {
	s.registration = nil
	kept := s.conditions[:0]
	for _, c := range s.conditions {
		if c.Type != superofficev1alpha1.ConditionRegistered {
			kept = append(kept, c)
		}
	}
	s.conditions = kept
}

// applyStatus writes exactly this reconciler's fields with server-side apply: conditions
// merge per type, and a field left out is released (and removed when nobody else owns it).
// Status that already reads as s is not written again: every receiver update (each
// lastDeliveryTime, each Ready patch) reconciles, and a no-op apply is still a write.
func (r *webhookReceiverSyncReconciler) applyStatus(ctx context.Context, receiver *superofficev1alpha1.WebhookReceiver, s syncStatus) error {
	recordReceiverConditions(client.ObjectKeyFromObject(receiver), s.conditions, superofficev1alpha1.ConditionSynced, superofficev1alpha1.ConditionRegistered)
	if s.equal(currentSyncStatus(receiver)) {
		return nil
	}
	status := map[string]any{}
	if len(s.conditions) > 0 {
		conditions := make([]any, 0, len(s.conditions))
		for i := range s.conditions {
			c, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&s.conditions[i])
			if err != nil {
				return err
			}
			conditions = append(conditions, c)
		}
		status["conditions"] = conditions
	}
	for key, value := range map[string]any{"lastResync": s.lastResync, "registration": s.registration} {
		if isNilPointer(value) {
			continue
		}
		u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(value)
		if err != nil {
			return err
		}
		status[key] = u
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": superofficev1alpha1.GroupVersion.String(),
		"kind":       "WebhookReceiver",
		"metadata":   map[string]any{"name": receiver.Name, "namespace": receiver.Namespace},
		"status":     status,
	}}
	return r.client.Status().Apply(ctx, client.ApplyConfigurationFromUnstructured(u),
		client.FieldOwner(superofficev1alpha1.FieldManagerSync), client.ForceOwnership)
}

func isNilPointer(v any) bool {
	switch p := v.(type) {
	case *superofficev1alpha1.ResyncStatus:
		return p == nil
	case *superofficev1alpha1.RegistrationStatus:
		return p == nil
	}
	return v == nil
}
