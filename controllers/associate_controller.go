package controllers

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
	"github.com/assocsync/associate-operator/internal/actionhttp"
	"github.com/assocsync/associate-operator/internal/secrets"
)

// defaultMaxConcurrentReconciles is used unless the manager's controller options set one.
const defaultMaxConcurrentReconciles = 4

// What policies provision is not in these markers: the chart's ClusterRole adds the kinds
// of the sample policy (ServiceAccounts, ConfigMaps, RoleBindings and bind on the roles of
// provisioning.allowedRoleRefs), and rbac.extraRules the kinds of cluster policies.
// +kubebuilder:rbac:groups=superoffice.assocsync.io,resources=associates,verbs=get;list;watch;patch;update
// +kubebuilder:rbac:groups=superoffice.assocsync.io,resources=associates/status,verbs=get;patch;update
// +kubebuilder:rbac:groups=superoffice.assocsync.io,resources=associates/finalizers,verbs=update
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch

// AssociateReconciler keeps each Associate's labels, provisions what the matching
// ProvisioningPolicies and ClusterProvisioningPolicies render for it, and takes it away again.
type AssociateReconciler struct {
	client.Client
	Recorder recorder.EventRecorder
	// templates compiles each policy's templates once per generation.
	templates *templateCache
	// httpClient makes the HTTP actions' calls, through the guarded transport.
	httpClient *http.Client
	// scope places rendered objects, confining what ProvisioningPolicies may render.
	scope objectScope
	// applied remembers what was last applied per Associate and object, so that an
	// unchanged object is not applied again on every reconcile.
	applied *appliedMemory
	// driftCheckInterval is how often provisioned objects are checked live and repaired
	// (defaultDriftCheckInterval when zero).
	driftCheckInterval time.Duration
	// summaries sums up first provisions per policy in one Event; nil emits none.
	summaries *provisionSummaries
	// orphans are Associates deleted without their finalizer (associate_orphans.go).
	orphans *orphans
	// actions bounds the HTTP actions in flight, per namespace and in all.
	actions *actionhttp.Limiter
	// secretReader reads the Secrets HTTP actions reference; nil reads them through Client.
	secretReader secrets.Reader
}

func setupAssociateReconciler(mgr ctrl.Manager, opts Options) error {
	r := &AssociateReconciler{
		secretReader: opts.Secrets,
		Client:       mgr.GetClient(),
		Recorder:     mgr.GetEventRecorder("associate-controller"),
		templates:    opts.templates(),
		httpClient:   actionhttp.NewClient(opts.AllowActionNetworks),
		actions:      actionhttp.NewLimiter(actionhttp.DefaultPerNamespace, actionhttp.DefaultGlobal),
		applied:      newAppliedMemory(),
		orphans:      newOrphans(),
		scope:        objectScope{Mapper: mgr.GetRESTMapper(), Tenancy: opts.tenancy()},

		driftCheckInterval: opts.DriftCheckInterval,
		summaries:          newProvisionSummaries(mgr.GetEventRecorder("associate-controller"), opts.ProvisionSummaryInterval),
	}
	if err := mgr.Add(r.summaries); err != nil {
		return err
	}
	return r.SetupWithManager(mgr)
}

// SetupWithManager watches Associates (spec, label and deletion changes, not status),
// ProvisioningPolicies (a change re-evaluates every Associate of the policy's namespace),
// ClusterProvisioningPolicies (every Associate) and Namespaces (a label change may change
// what cluster policies select).
func (r *AssociateReconciler) SetupWithManager(mgr ctrl.Manager) error {
	workers := mgr.GetControllerOptions().MaxConcurrentReconciles
	if workers <= 0 {
		workers = defaultMaxConcurrentReconciles
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("associate").
		For(&superofficev1alpha1.Associate{}, builder.WithPredicates(predicate.Or[client.Object](
			predicate.GenerationChangedPredicate{}, predicate.LabelChangedPredicate{}, deletionStarted{}, finalizerRemoved{}))).
		Watches(&superofficev1alpha1.Associate{}, r.orphanedOnDelete()).
		Watches(&superofficev1alpha1.ProvisioningPolicy{}, handler.EnqueueRequestsFromMapFunc(r.associatesOfPolicyNamespace),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&superofficev1alpha1.ClusterProvisioningPolicy{}, handler.EnqueueRequestsFromMapFunc(r.allAssociates),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(r.associatesOfNamespace),
			builder.WithPredicates(predicate.LabelChangedPredicate{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: workers}).
		Complete(r)
}

// Reconcile follows Cluster API's shape: get, ensure labels and finalizer, defer one status
// patch, then reconcileDelete or reconcileNormal.
func (r *AssociateReconciler) Reconcile(ctx context.Context, req ctrl.Request) (_ ctrl.Result, retErr error) {
	assoc := &superofficev1alpha1.Associate{}
	if err := r.Get(ctx, req.NamespacedName, assoc); err != nil {
		if orphan := r.orphans.take(req.NamespacedName); orphan != nil && apierrors.IsNotFound(err) {
			return ctrl.Result{}, r.deprovisionOrphan(ctx, orphan)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if err := r.ensureMetadata(ctx, assoc); err != nil {
		return ctrl.Result{}, err
	}

	before := assoc.DeepCopy()
	defer func() {
		if err := r.patchStatus(ctx, before, assoc, retErr == nil); err != nil {
			retErr = errors.Join(retErr, err)
		}
	}()

	if !assoc.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, r.reconcileDelete(ctx, assoc)
	}
	if err := r.reconcileNormal(ctx, assoc); err != nil {
		return ctrl.Result{}, err
	}
	return r.driftCheckAfter(assoc), nil
}

// desiredLabels are the labels the operator keeps in line with spec on every Associate.
func desiredLabels(assoc *superofficev1alpha1.Associate) map[string]string {
	return map[string]string{
		superofficev1alpha1.LabelTenant:      superofficev1alpha1.TenantSlug(assoc.Spec.Tenant),
		superofficev1alpha1.LabelAssociateID: strconv.FormatInt(assoc.Spec.AssociateID, 10),
		superofficev1alpha1.LabelPersonID:    strconv.FormatInt(assoc.Spec.PersonID, 10),
	}
}

// ensureMetadata adds the finalizer (unless the Associate is being deleted) and corrects
// the labels, in one merge patch, and only when something is missing.
func (r *AssociateReconciler) ensureMetadata(ctx context.Context, assoc *superofficev1alpha1.Associate) error {
	original := assoc.DeepCopy()
	changed := false
	if assoc.DeletionTimestamp.IsZero() {
		changed = controllerutil.AddFinalizer(assoc, superofficev1alpha1.FinalizerDeprovision)
	}
	for key, value := range desiredLabels(assoc) {
		if assoc.Labels[key] != value {
			if assoc.Labels == nil {
				assoc.Labels = map[string]string{}
			}
			assoc.Labels[key] = value
			changed = true
		}
	}
	if !changed {
		return nil
	}
	return r.Patch(ctx, assoc, lockedMergeFrom(original))
}

// lockedMergeFrom is a merge patch that carries the resourceVersion it was computed from:
// a merge patch replaces the whole finalizers list, so one built on a stale cached copy
// would drop a finalizer another controller added meanwhile. A Conflict retries instead.
func lockedMergeFrom(original client.Object) client.Patch {
	return client.MergeFromWithOptions(original, client.MergeFromWithOptimisticLock{})
}

// associatesOfPolicyNamespace enqueues every Associate in the policy's namespace: those it
// matched before and those it matches now alike.
func (r *AssociateReconciler) associatesOfPolicyNamespace(ctx context.Context, policy client.Object) []reconcile.Request {
	return r.associatesIn(ctx, client.InNamespace(policy.GetNamespace()))
}

// allAssociates enqueues every Associate: a cluster policy may have matched any.
func (r *AssociateReconciler) allAssociates(ctx context.Context, _ client.Object) []reconcile.Request {
	return r.associatesIn(ctx)
}

// associatesOfNamespace enqueues a namespace's Associates when a cluster policy exists
// whose namespaceSelector its labels may concern.
func (r *AssociateReconciler) associatesOfNamespace(ctx context.Context, namespace client.Object) []reconcile.Request {
	var policies superofficev1alpha1.ClusterProvisioningPolicyList
	if err := r.List(ctx, &policies, client.UnsafeDisableDeepCopy); err != nil || len(policies.Items) == 0 {
		return nil
	}
	return r.associatesIn(ctx, client.InNamespace(namespace.GetName()))
}

func (r *AssociateReconciler) associatesIn(ctx context.Context, opts ...client.ListOption) []reconcile.Request {
	var list superofficev1alpha1.AssociateList
	if err := r.List(ctx, &list, append(opts, client.UnsafeDisableDeepCopy)...); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "listing Associates to reconcile")
		return nil
	}
	requests := make([]reconcile.Request, 0, len(list.Items))
	for i := range list.Items {
		requests = append(requests, reconcile.Request{NamespacedName: types.NamespacedName{
			Namespace: list.Items[i].Namespace, Name: list.Items[i].Name}})
	}
	return requests
}

// deletionStarted passes the update that sets deletionTimestamp, whatever the generation did.
type deletionStarted struct {
	predicate.Funcs
}

func (deletionStarted) Update(e event.UpdateEvent) bool {
	return e.ObjectOld != nil && e.ObjectNew != nil &&
		e.ObjectOld.GetDeletionTimestamp().IsZero() && !e.ObjectNew.GetDeletionTimestamp().IsZero()
}

// httpTimeoutDefault bounds an HTTP action without timeoutSeconds.
const httpTimeoutDefault = 10 * time.Second
