package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
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

// ProvisioningPolicyReconciler keeps a policy's status: Ready (every template parses and
// renders against a sample Associate) and matchedAssociates. It provisions nothing.
type ProvisioningPolicyReconciler struct {
	client.Client
	Recorder  recorder.EventRecorder
	Templates *templateCache
}

func setupProvisioningPolicyReconciler(mgr ctrl.Manager, opts Options) error {
	r := &ProvisioningPolicyReconciler{
		Client:    mgr.GetClient(),
		Recorder:  mgr.GetEventRecorder("provisioningpolicy-controller"),
		Templates: sharedTemplates,
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("provisioningpolicy").
		For(&superofficev1alpha1.ProvisioningPolicy{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&superofficev1alpha1.Associate{}, policiesOfAssociateNamespace{client: mgr.GetClient()},
			builder.WithPredicates(predicate.Or[client.Object](predicate.GenerationChangedPredicate{}, predicate.LabelChangedPredicate{}, deletionStarted{}))).
		Complete(r)
}

// Reconcile checks the policy's templates and counts the Associates it applies to.
func (r *ProvisioningPolicyReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	policy := &superofficev1alpha1.ProvisioningPolicy{}
	if err := r.Get(ctx, req.NamespacedName, policy); err != nil {
		r.Templates.forget(req.NamespacedName)
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	before := policy.DeepCopy()

	checkErr := r.Templates.compile(policy).check(policy)
	if checkErr == nil {
		_, checkErr = policySelector(policy)
	}
	if checkErr != nil {
		if setCondition(&policy.Status.Conditions, policy.Generation, superofficev1alpha1.ConditionReady, metav1.ConditionFalse, superofficev1alpha1.ReasonTemplateError, checkErr.Error()) {
			r.Recorder.Eventf(policy, nil, corev1.EventTypeWarning, superofficev1alpha1.ReasonTemplateError, "Validate", "%s", truncateMessage(checkErr.Error()))
		}
	} else {
		setCondition(&policy.Status.Conditions, policy.Generation, superofficev1alpha1.ConditionReady, metav1.ConditionTrue, superofficev1alpha1.ReasonTemplatesRendered,
			"every template parses and renders against a sample Associate")
	}

	matched, err := r.countMatched(ctx, policy)
	if err != nil {
		return ctrl.Result{}, err
	}
	policy.Status.MatchedAssociates = matched
	policy.Status.ObservedGeneration = policy.Generation
	if equality.Semantic.DeepEqual(before.Status, policy.Status) {
		return ctrl.Result{}, nil
	}
	return ctrl.Result{}, client.IgnoreNotFound(r.Status().Patch(ctx, policy, client.MergeFrom(before)))
}

func (r *ProvisioningPolicyReconciler) countMatched(ctx context.Context, policy *superofficev1alpha1.ProvisioningPolicy) (int32, error) {
	var list superofficev1alpha1.AssociateList
	if err := r.List(ctx, &list, client.InNamespace(policy.Namespace), client.UnsafeDisableDeepCopy); err != nil {
		return 0, fmt.Errorf("listing Associates in %s: %w", policy.Namespace, err)
	}
	var matched int32
	for i := range list.Items {
		if ok, err := policyMatches(policy, &list.Items[i]); err == nil && ok {
			matched++
		}
	}
	return matched, nil
}

// sampleAssociate is what a policy's templates are tried against.
func sampleAssociate(namespace string) *superofficev1alpha1.Associate {
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
func (p *compiledPolicy) check(policy *superofficev1alpha1.ProvisioningPolicy) error {
	if p.err != nil {
		return fmt.Errorf("policy %s: %w", policy.Name, p.err)
	}
	data, err := newTemplateData(sampleAssociate(policy.Namespace), ActionProvision)
	if err != nil {
		return err
	}
	var errs []error
	for _, action := range []string{ActionProvision, ActionUpdate, ActionDeprovision} {
		if _, err := p.renderResources(data.withAction(action)); err != nil {
			errs = append(errs, fmt.Errorf("policy %s: %w", policy.Name, err))
			break
		}
	}
	for i := range policy.Spec.HTTP {
		for _, action := range []string{ActionProvision, ActionUpdate, ActionDeprovision} {
			if _, _, err := p.renderHTTP(i, data.withAction(action)); err != nil {
				errs = append(errs, fmt.Errorf("policy %s: %w", policy.Name, err))
				break
			}
		}
	}
	return errors.Join(errs...)
}

// policiesOfAssociateNamespace enqueues every policy of an Associate's namespace, after a
// short delay that folds a burst of Associate changes into one recount.
type policiesOfAssociateNamespace struct {
	client client.Client
}

func (h policiesOfAssociateNamespace) enqueue(ctx context.Context, obj client.Object, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	var list superofficev1alpha1.ProvisioningPolicyList
	if err := h.client.List(ctx, &list, client.InNamespace(obj.GetNamespace()), client.UnsafeDisableDeepCopy); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "listing ProvisioningPolicies for an Associate change", "namespace", obj.GetNamespace())
		return
	}
	for i := range list.Items {
		q.AddAfter(reconcile.Request{NamespacedName: types.NamespacedName{
			Namespace: list.Items[i].Namespace, Name: list.Items[i].Name}}, matchedCountDelay)
	}
}

func (h policiesOfAssociateNamespace) Create(ctx context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	h.enqueue(ctx, e.Object, q)
}

func (h policiesOfAssociateNamespace) Update(ctx context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	h.enqueue(ctx, e.ObjectNew, q)
}

func (h policiesOfAssociateNamespace) Delete(ctx context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	h.enqueue(ctx, e.Object, q)
}

func (h policiesOfAssociateNamespace) Generic(ctx context.Context, e event.GenericEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	h.enqueue(ctx, e.Object, q)
}

var _ handler.EventHandler = policiesOfAssociateNamespace{}
