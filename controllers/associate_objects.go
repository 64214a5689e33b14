package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
)

// maxFieldManagerLength is the API server's limit on a field manager's name.
const maxFieldManagerLength = 128

// fieldManagerFor is the server-side apply manager of one Associate. Associates that share
// an object (one per person) each own their own ownerReference in it; one shared manager
// would drop the others' references on every apply. A cluster policy's objects may be
// shared by Associates of several namespaces, so its managers name the namespace too.
func fieldManagerFor(assoc *superofficev1alpha1.Associate, id policyID) string {
	if !id.cluster() {
		return superofficev1alpha1.FieldManager + "/" + assoc.Name
	}
	if name := superofficev1alpha1.FieldManager + "/" + assoc.Namespace + "/" + assoc.Name; len(name) <= maxFieldManagerLength {
		return name
	}
	return superofficev1alpha1.FieldManager + "/" + string(assoc.UID)
}

// objectPlan is one checked object of a policy for an Associate, and whether it needs a write.
type objectPlan struct {
	obj   *unstructured.Unstructured
	entry superofficev1alpha1.ProvisionedObject
	key   string
	hash  string
	write bool
}

// planObject marks the object, and decides whether it must be applied: not when the same
// content was applied recently, nor when the live object already holds it. An existing
// object that is not the policy's is an errObjectConflict: it is never changed.
func (r *AssociateReconciler) planObject(ctx context.Context, assoc *superofficev1alpha1.Associate,
	p *policy, obj *unstructured.Unstructured) (objectPlan, error) {
	setMarkers(obj, p.id)
	if p.spec.DeletionPolicy == superofficev1alpha1.DeletionPolicyRetain {
		setAnnotation(obj, superofficev1alpha1.AnnotationDeletionPolicy, string(superofficev1alpha1.DeletionPolicyRetain))
	}
	if obj.GetNamespace() == assoc.Namespace {
		// Not a controller reference: several Associates may own a shared object.
		obj.SetOwnerReferences(append(obj.GetOwnerReferences(), metav1.OwnerReference{
			APIVersion: superofficev1alpha1.GroupVersion.String(),
			Kind:       "Associate",
			Name:       assoc.Name,
			UID:        assoc.UID,
		}))
	}
	rendered, err := json.Marshal(obj.Object)
	if err != nil {
		return objectPlan{}, err
	}
	sum := sha256.Sum256(rendered)
	entry := provisionedEntry(p.id, obj)
	plan := objectPlan{obj: obj, entry: entry, key: objectKey(entry), hash: hex.EncodeToString(sum[:])}
	if r.applied.lookup(assoc.UID, plan.key, plan.hash, r.driftInterval()) == appliedRecently {
		return plan, nil
	}
	// First sight in this process, or the periodic drift check: one live read decides.
	live, err := r.getLive(ctx, obj)
	switch {
	case err != nil:
		return objectPlan{}, err
	case live == nil:
		plan.write = true
	default:
		if err := checkOwner(live, p.id); err != nil {
			return objectPlan{}, err
		}
		if plan.write, err = r.wouldChange(ctx, assoc, p, live, obj); err != nil {
			return objectPlan{}, err
		}
	}
	if !plan.write {
		r.applied.remember(assoc.UID, plan.key, plan.hash)
	}
	return plan, nil
}

// applyPlan applies a planned object with server-side apply under the Associate's field
// manager. It reports whether it wrote.
func (r *AssociateReconciler) applyPlan(ctx context.Context, assoc *superofficev1alpha1.Associate, p *policy, plan objectPlan) (bool, error) {
	if !plan.write {
		return false, nil
	}
	// Force: Associates sharing an object, and the policy's own earlier generations,
	// may hold its fields; the ownership check above already made sure it is ours.
	err := r.Apply(ctx, client.ApplyConfigurationFromUnstructured(plan.obj),
		client.FieldOwner(fieldManagerFor(assoc, p.id)), client.ForceOwnership)
	countAction(p.id.metricLabel(), plan.obj.GetKind(), err)
	if err != nil {
		return false, err
	}
	r.applied.remember(assoc.UID, plan.key, plan.hash)
	return true, nil
}

// wouldChange asks the API server whether applying obj would change the live object: a
// server-side apply dry run under the Associate's field manager answers with the object
// the apply would leave, and a no-op apply leaves it exactly as read (resourceVersion and
// managedFields included). The server knows each list's merge semantics and its defaults,
// so an extra subject added to a RoleBinding by hand is drift, as an apply would remove it.
func (r *AssociateReconciler) wouldChange(ctx context.Context, assoc *superofficev1alpha1.Associate, p *policy,
	live, obj *unstructured.Unstructured) (bool, error) {
	result := obj.DeepCopy()
	err := r.Apply(ctx, client.ApplyConfigurationFromUnstructured(result),
		client.FieldOwner(fieldManagerFor(assoc, p.id)), client.ForceOwnership, client.DryRunAll)
	if err != nil {
		return false, fmt.Errorf("checking %s for drift: %w", describeObject(obj), err)
	}
	return !equality.Semantic.DeepEqual(live.Object, result.Object), nil
}

// getLive reads an object from the API server (unstructured reads bypass the cache);
// nil when it does not exist.
func (r *AssociateReconciler) getLive(ctx context.Context, desired *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	live := &unstructured.Unstructured{}
	live.SetGroupVersionKind(desired.GroupVersionKind())
	err := r.Get(ctx, types.NamespacedName{Namespace: desired.GetNamespace(), Name: desired.GetName()}, live)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return live, nil
}

// releaseObject takes an object back from the Associate: its ownerReference goes, and
// unless the policy retains objects (or keep is set), the object is deleted when no other
// Associate still needs it. Objects already gone count as released, and so do objects the
// policy cannot have made: they are left alone and forgotten.
func (r *AssociateReconciler) releaseObject(ctx context.Context, assoc *superofficev1alpha1.Associate, id policyID,
	p *policy, entry superofficev1alpha1.ProvisionedObject, keep bool) (err error) {
	defer func() { countAction(id.metricLabel(), entry.Kind, err) }()
	r.applied.forget(assoc.UID, objectKey(entry))
	log := ctrl.LoggerFrom(ctx)
	if !id.cluster() && entry.Namespace != assoc.Namespace {
		// A ProvisioningPolicy never made an object outside its namespace; an entry that
		// says so was not written by the operator.
		log.Info("leaving alone an object outside the policy's namespace", "policy", id.String(), "object", describeEntry(entry))
		return nil
	}
	obj := &unstructured.Unstructured{}
	obj.SetAPIVersion(entry.APIVersion)
	obj.SetKind(entry.Kind)
	if err := r.Get(ctx, types.NamespacedName{Namespace: entry.Namespace, Name: entry.Name}, obj); err != nil {
		if apierrors.IsNotFound(err) || meta.IsNoMatchError(err) {
			return nil
		}
		return err
	}
	if err := checkOwner(obj, id); err != nil {
		log.Info("leaving alone an object the policy did not make", "policy", id.String(), "reason", err.Error())
		return nil
	}
	if err := r.removeOwnerReference(ctx, assoc, obj); err != nil {
		return err
	}
	if keep || retained(p, obj) {
		return nil
	}
	needed, err := r.stillNeeded(ctx, assoc, p, entry, obj)
	if err != nil || needed {
		return err
	}
	uid, resourceVersion := obj.GetUID(), obj.GetResourceVersion()
	// The preconditions keep an Associate that took the object in the meantime from losing
	// it, and never delete an object of the same name made since.
	err = r.Delete(ctx, obj, client.Preconditions{UID: &uid, ResourceVersion: &resourceVersion})
	return client.IgnoreNotFound(err)
}

// retained tells whether a released object stays: its policy says Retain, or, with the
// policy gone, the object says it was applied under Retain.
func retained(p *policy, obj *unstructured.Unstructured) bool {
	if p != nil {
		return p.spec.DeletionPolicy == superofficev1alpha1.DeletionPolicyRetain
	}
	return obj.GetAnnotations()[superofficev1alpha1.AnnotationDeletionPolicy] == string(superofficev1alpha1.DeletionPolicyRetain)
}

func setAnnotation(obj *unstructured.Unstructured, key, value string) {
	annotations := obj.GetAnnotations()
	if annotations == nil {
		annotations = map[string]string{}
	}
	annotations[key] = value
	obj.SetAnnotations(annotations)
}

// removeOwnerReference removes the Associate's ownerReference with a JSON patch that
// first tests it is still at the index read, so concurrent edits are never lost.
func (r *AssociateReconciler) removeOwnerReference(ctx context.Context, assoc *superofficev1alpha1.Associate, obj *unstructured.Unstructured) error {
	for i, ref := range obj.GetOwnerReferences() {
		if ref.UID != assoc.UID {
			continue
		}
		patch, err := json.Marshal([]map[string]any{
			{"op": "test", "path": fmt.Sprintf("/metadata/ownerReferences/%d/uid", i), "value": string(assoc.UID)},
			{"op": "remove", "path": fmt.Sprintf("/metadata/ownerReferences/%d", i)},
		})
		if err != nil {
			return err
		}
		return r.Patch(ctx, obj, client.RawPatch(types.JSONPatchType, patch))
	}
	return nil
}

// stillNeeded tells whether another Associate still needs the object. In the Associate's
// namespace the ownerReferences record every Associate that applied it; elsewhere (only a
// cluster policy writes there) the policy's other matching Associates are rendered to see
// whether one renders it too.
func (r *AssociateReconciler) stillNeeded(ctx context.Context, assoc *superofficev1alpha1.Associate,
	p *policy, entry superofficev1alpha1.ProvisionedObject, obj *unstructured.Unstructured) (bool, error) {
	for _, ref := range obj.GetOwnerReferences() {
		if ref.Kind == "Associate" && ref.APIVersion == superofficev1alpha1.GroupVersion.String() && ref.UID != assoc.UID {
			return true, nil
		}
	}
	if entry.Namespace == assoc.Namespace || p == nil {
		return false, nil
	}
	compiled := r.templates.compile(p)
	var list superofficev1alpha1.AssociateList
	var opts []client.ListOption
	if !p.id.cluster() {
		opts = append(opts, client.InNamespace(assoc.Namespace))
	}
	if err := r.List(ctx, &list, append(opts, client.UnsafeDisableDeepCopy)...); err != nil {
		return false, err
	}
	namespaceLabels := map[string]map[string]string{}
	for i := range list.Items {
		other := &list.Items[i]
		if other.UID == assoc.UID {
			continue
		}
		labels, ok := namespaceLabels[other.Namespace]
		if !ok {
			var err error
			if labels, err = r.namespaceLabels(ctx, other.Namespace); err != nil {
				return false, err
			}
			namespaceLabels[other.Namespace] = labels
		}
		if matches, err := policyMatches(p, other, labels); err != nil || !matches {
			continue
		}
		data, err := newTemplateData(other, ActionProvision)
		if err != nil {
			continue
		}
		objects, err := compiled.renderResources(data)
		if err != nil {
			return false, fmt.Errorf("rendering for Associate %s/%s to see whether it shares the object: %w", other.Namespace, other.Name, err)
		}
		for _, rendered := range objects {
			if err := r.scope.place(p, rendered, other.Namespace); err != nil {
				continue
			}
			if rendered.GetAPIVersion() == entry.APIVersion && rendered.GetKind() == entry.Kind &&
				rendered.GetName() == entry.Name && rendered.GetNamespace() == entry.Namespace {
				return true, nil
			}
		}
	}
	return false, nil
}

func objectKey(entry superofficev1alpha1.ProvisionedObject) string {
	return string(entry.PolicyKind) + "|" + entry.Policy + "|" + entry.APIVersion + "|" + entry.Kind + "|" + entry.Namespace + "|" + entry.Name
}
