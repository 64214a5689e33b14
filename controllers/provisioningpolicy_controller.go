package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
)

// matchedCountDelay batches Associate changes into one recount per policy: a burst of
// thousands of Associates updates matchedAssociates a few times, not thousands.
const matchedCountDelay = time.Second

// +kubebuilder:rbac:groups=superoffice.assocsync.io,resources=provisioningpolicies,verbs=get;list;watch
// +kubebuilder:rbac:groups=superoffice.assocsync.io,resources=provisioningpolicies/status,verbs=get;patch;update
// +kubebuilder:rbac:groups=superoffice.assocsync.io,resources=clusterprovisioningpolicies,verbs=get;list;watch
// +kubebuilder:rbac:groups=superoffice.assocsync.io,resources=clusterprovisioningpolicies/status,verbs=get;patch;update

// policyKindOps are what the policy reconciler needs to know of one policy kind.
type policyKindOps[T client.Object] struct {
	kind     superofficev1alpha1.PolicyKind
	newEmpty func() T
	toPolicy func(T) *policy
	status   func(T) *superofficev1alpha1.ProvisioningPolicyStatus
}

var namespacedPolicyOps = policyKindOps[*superofficev1alpha1.ProvisioningPolicy]{
	kind:     superofficev1alpha1.PolicyKindNamespaced,
	newEmpty: func() *superofficev1alpha1.ProvisioningPolicy { return &superofficev1alpha1.ProvisioningPolicy{} },
	toPolicy: namespacedPolicy,
	status: func(p *superofficev1alpha1.ProvisioningPolicy) *superofficev1alpha1.ProvisioningPolicyStatus {
		return &p.Status
	},
}

var clusterPolicyOps = policyKindOps[*superofficev1alpha1.ClusterProvisioningPolicy]{
	kind: superofficev1alpha1.PolicyKindCluster,
	newEmpty: func() *superofficev1alpha1.ClusterProvisioningPolicy {
		return &superofficev1alpha1.ClusterProvisioningPolicy{}
	},
	toPolicy: clusterPolicy,
	status: func(p *superofficev1alpha1.ClusterProvisioningPolicy) *superofficev1alpha1.ProvisioningPolicyStatus {
		return &p.Status
	},
}

// policyReconciler keeps a policy's status: Ready (every template parses and renders
// against a sample Associate, and a ProvisioningPolicy's objects stay in its scope) and
// matchedAssociates. It provisions nothing. One reconciler serves both kinds.
type policyReconciler[T client.Object] struct {
	client.Client
	Recorder  recorder.EventRecorder
	templates *templateCache
	scope     objectScope
	ops       policyKindOps[T]
}

func setupProvisioningPolicyReconciler(mgr ctrl.Manager, opts Options) error {
	r := newPolicyReconciler(mgr, opts, namespacedPolicyOps, "provisioningpolicy-controller")
	return ctrl.NewControllerManagedBy(mgr).
		Named("provisioningpolicy").
		For(&superofficev1alpha1.ProvisioningPolicy{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&superofficev1alpha1.Associate{}, policiesOfAssociate{client: mgr.GetClient()},
			builder.WithPredicates(associateMatchChanged())).
		Complete(r)
}

func setupClusterProvisioningPolicyReconciler(mgr ctrl.Manager, opts Options) error {
	r := newPolicyReconciler(mgr, opts, clusterPolicyOps, "clusterprovisioningpolicy-controller")
	return ctrl.NewControllerManagedBy(mgr).
		Named("clusterprovisioningpolicy").
		For(&superofficev1alpha1.ClusterProvisioningPolicy{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&superofficev1alpha1.Associate{}, policiesOfAssociate{client: mgr.GetClient(), cluster: true},
			builder.WithPredicates(associateMatchChanged())).
		Watches(&corev1.Namespace{}, policiesOfAssociate{client: mgr.GetClient(), cluster: true},
			builder.WithPredicates(predicate.LabelChangedPredicate{})).
		Complete(r)
}

func newPolicyReconciler[T client.Object](mgr ctrl.Manager, opts Options, ops policyKindOps[T], name string) *policyReconciler[T] {
	return &policyReconciler[T]{
		Client:    mgr.GetClient(),
		Recorder:  mgr.GetEventRecorder(name),
		templates: opts.templates(),
		scope:     objectScope{Mapper: mgr.GetRESTMapper(), Tenancy: opts.tenancy()},
		ops:       ops,
	}
}

// associateMatchChanged passes the Associate changes that can change what a policy matches.
func associateMatchChanged() predicate.Predicate {
	return predicate.Or[client.Object](predicate.GenerationChangedPredicate{}, predicate.LabelChangedPredicate{}, deletionStarted{})
}

// Reconcile checks the policy's templates and counts the Associates it applies to.
func (r *policyReconciler[T]) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	obj := r.ops.newEmpty()
	if err := r.Get(ctx, req.NamespacedName, obj); err != nil {
		r.templates.forget(policyID{kind: r.ops.kind, namespace: req.Namespace, name: req.Name})
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	p := r.ops.toPolicy(obj)
	status := r.ops.status(obj)
	before := status.DeepCopy()

	if reason, err := r.check(p); err != nil {
		if setCondition(&status.Conditions, p.generation, superofficev1alpha1.ConditionReady, metav1.ConditionFalse, reason, err.Error()) {
			r.Recorder.Eventf(obj, nil, corev1.EventTypeWarning, reason, "Validate", "%s", truncateMessage(err.Error()))
		}
		// Only an edit of the policy can fix what check finds.
		setProgress(&status.Conditions, p.generation, progressStalled, reason, err.Error())
	} else {
		setCondition(&status.Conditions, p.generation, superofficev1alpha1.ConditionReady, metav1.ConditionTrue, superofficev1alpha1.ReasonTemplatesRendered,
			"every template parses and renders against a sample Associate")
		setProgress(&status.Conditions, p.generation, progressDone, "", "")
	}

	matched, err := r.countMatched(ctx, p)
	if err != nil {
		return ctrl.Result{}, err
	}
	status.MatchedAssociates = matched
	status.ObservedGeneration = p.generation
	if equality.Semantic.DeepEqual(before, status) {
		return ctrl.Result{}, nil
	}
	patchBase := obj.DeepCopyObject().(T)
	*r.ops.status(patchBase) = *before
	return ctrl.Result{}, client.IgnoreNotFound(r.Status().Patch(ctx, obj, client.MergeFrom(patchBase)))
}

// check reports why a policy is not Ready, with its reason: a template that does not parse
// or render, an invalid selector, or an object a ProvisioningPolicy may not render (as far
// as the sample Associate's render shows: a namespace may depend on the Associate's data).
func (r *policyReconciler[T]) check(p *policy) (string, error) {
	compiled := r.templates.compile(p)
	if err := compiled.check(p); err != nil {
		return superofficev1alpha1.ReasonTemplateError, err
	}
	if err := checkSelectors(p); err != nil {
		return superofficev1alpha1.ReasonInvalidSelector, err
	}
	sample := sampleAssociate(p.id.namespace)
	data, err := newTemplateData(sample, ActionProvision)
	if err != nil {
		return superofficev1alpha1.ReasonTemplateError, err
	}
	objects, err := compiled.renderResources(data)
	if err != nil {
		return superofficev1alpha1.ReasonTemplateError, fmt.Errorf("%s: %w", p.id.describe(), err)
	}
	for _, obj := range objects {
		if err := r.scope.place(p, obj, sample.Namespace); errors.Is(err, errTargetNotAllowed) {
			return superofficev1alpha1.ReasonTargetNotAllowed, fmt.Errorf("%s: %w", p.id.describe(), err)
		}
	}
	return "", nil
}

func (r *policyReconciler[T]) countMatched(ctx context.Context, p *policy) (int32, error) {
	var list superofficev1alpha1.AssociateList
	var opts []client.ListOption
	if !p.id.cluster() {
		opts = append(opts, client.InNamespace(p.id.namespace))
	}
	if err := r.List(ctx, &list, append(opts, client.UnsafeDisableDeepCopy)...); err != nil {
		return 0, fmt.Errorf("listing Associates for %s: %w", p.id.describe(), err)
	}
	namespaceLabels := map[string]map[string]string{}
	if p.namespaceSelector != nil {
		var namespaces corev1.NamespaceList
		if err := r.List(ctx, &namespaces, client.UnsafeDisableDeepCopy); err != nil {
			return 0, fmt.Errorf("listing namespaces for %s: %w", p.id.describe(), err)
		}
		for i := range namespaces.Items {
			namespaceLabels[namespaces.Items[i].Name] = namespaces.Items[i].Labels
		}
	}
	var matched int32
	for i := range list.Items {
		a := &list.Items[i]
		if ok, err := policyMatches(p, a, namespaceLabels[a.Namespace]); err == nil && ok {
			matched++
		}
	}
	return matched, nil
}

// sampleAssociate is what a policy's templates are tried against; a cluster policy's is
// in namespace "default".
func sampleAssociate(namespace string) *superofficev1alpha1.Associate {
	if namespace == "" {
		namespace = metav1.NamespaceDefault
	}
	typeCode := int32(0)
	assoc := &superofficev1alpha1.Associate{
		ObjectMeta: metav1.ObjectMeta{Name: "sample-1", Namespace: namespace, UID: "00000000-0000-0000-0000-000000000001"},
		Spec: superofficev1alpha1.AssociateSpec{
			Tenant: "Sample", AssociateID: 1, PersonID: 1, GroupIdx: 1,
			Type: superofficev1alpha1.AssociateTypeEmployee, TypeCode: &typeCode,
			Updated: "2024-01-01T00:00:00Z",
		},
	}
	assoc.Labels = desiredLabels(assoc)
	return assoc
}

// check parses (done by compile) and renders every template for each action against a
// sample Associate.
func (c *compiledPolicy) check(p *policy) error {
	if c.err != nil {
		return fmt.Errorf("%s: %w", p.id.describe(), c.err)
	}
	data, err := newTemplateData(sampleAssociate(p.id.namespace), ActionProvision)
	if err != nil {
		return err
	}
	var errs []error
	for _, action := range []string{ActionProvision, ActionUpdate, ActionDeprovision} {
		if _, err := c.renderResources(data.withAction(action)); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p.id.describe(), err))
			break
		}
	}
	for i := range p.http {
		for _, action := range []string{ActionProvision, ActionUpdate, ActionDeprovision} {
			if _, _, err := c.renderHTTP(i, data.withAction(action)); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", p.id.describe(), err))
				break
			}
		}
	}
	return errors.Join(errs...)
}

// policiesOfAssociate enqueues, after a short delay that folds a burst of changes into one
// recount, the ProvisioningPolicies of an Associate's namespace, or (cluster) every
// ClusterProvisioningPolicy.
type policiesOfAssociate struct {
	client  client.Client
	cluster bool
}

func (h policiesOfAssociate) enqueue(ctx context.Context, obj client.Object, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	var keys []types.NamespacedName
	if h.cluster {
		var list superofficev1alpha1.ClusterProvisioningPolicyList
		if err := h.client.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "listing ClusterProvisioningPolicies for a change", "object", client.ObjectKeyFromObject(obj))
			return
		}
		for i := range list.Items {
			keys = append(keys, types.NamespacedName{Name: list.Items[i].Name})
		}
	} else {
		var list superofficev1alpha1.ProvisioningPolicyList
		if err := h.client.List(ctx, &list, client.InNamespace(obj.GetNamespace()), client.UnsafeDisableDeepCopy); err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "listing ProvisioningPolicies for an Associate change", "namespace", obj.GetNamespace())
			return
		}
		for i := range list.Items {
			keys = append(keys, types.NamespacedName{Namespace: list.Items[i].Namespace, Name: list.Items[i].Name})
		}
	}
	for _, key := range keys {
		q.AddAfter(reconcile.Request{NamespacedName: key}, matchedCountDelay)
	}
}

func (h policiesOfAssociate) Create(ctx context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	h.enqueue(ctx, e.Object, q)
}

func (h policiesOfAssociate) Update(ctx context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	h.enqueue(ctx, e.ObjectNew, q)
}

func (h policiesOfAssociate) Delete(ctx context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	h.enqueue(ctx, e.Object, q)
}

func (h policiesOfAssociate) Generic(ctx context.Context, e event.GenericEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	h.enqueue(ctx, e.Object, q)
}

var _ handler.EventHandler = policiesOfAssociate{}

// objectScope places rendered objects as their policy's scope allows (policy_scope.go).
type objectScope struct {
	Mapper  meta.RESTMapper
	Tenancy Tenancy
}
