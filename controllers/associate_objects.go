package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
)

// fieldManagerFor is the server-side apply manager of one Associate. Associates that share
// an object (one per person) each own their own ownerReference in it; one shared manager
// would drop the others' references on every apply.
func fieldManagerFor(assoc *superofficev1alpha1.Associate) string {
	return superofficev1alpha1.FieldManager + "/" + assoc.Name
}

// placeObject puts a namespaced object without a namespace into the policy's namespace, and
// clears the namespace of a cluster-scoped one, as the RESTMapper tells.
func (r *AssociateReconciler) placeObject(obj *unstructured.Unstructured, namespace string) error {
	gvk := obj.GroupVersionKind()
	mapping, err := r.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return fmt.Errorf("the API server serves no kind %s in %s: %w", gvk.Kind, gvk.GroupVersion(), err)
	}
	if mapping.Scope.Name() != meta.RESTScopeNameNamespace {
		obj.SetNamespace("")
		return nil
	}
	if obj.GetNamespace() == "" {
		obj.SetNamespace(namespace)
	}
	return nil
}

// applyObject applies the object with server-side apply under the Associate's field
// manager; objects in the Associate's namespace get an ownerReference to it (not a
// controller one: several Associates may own a shared object). It reports false when the
// same object was already applied for this Associate and nothing was written.
func (r *AssociateReconciler) applyObject(ctx context.Context, assoc *superofficev1alpha1.Associate,
	policy *superofficev1alpha1.ProvisioningPolicy, obj *unstructured.Unstructured) (bool, error) {
	if policy.Spec.DeletionPolicy == superofficev1alpha1.DeletionPolicyRetain {
		setAnnotation(obj, superofficev1alpha1.AnnotationDeletionPolicy, string(superofficev1alpha1.DeletionPolicyRetain))
	}
	if obj.GetNamespace() == assoc.Namespace {
		obj.SetOwnerReferences(append(obj.GetOwnerReferences(), metav1.OwnerReference{
			APIVersion: superofficev1alpha1.GroupVersion.String(),
			Kind:       "Associate",
			Name:       assoc.Name,
			UID:        assoc.UID,
		}))
	}
	rendered, err := json.Marshal(obj.Object)
	if err != nil {
		return false, err
	}
	sum := sha256.Sum256(rendered)
	hash := hex.EncodeToString(sum[:])
	key := objectKey(provisionedEntry(policy.Name, obj))
	switch r.applied.lookup(assoc.UID, key, hash, r.driftInterval()) {
	case appliedRecently:
		return false, nil
	case appliedLongAgo:
		// The periodic drift check: one live read, and a write only when the object drifted.
		drifted, err := r.drifted(ctx, obj)
		if err != nil {
			return false, err
		}
		if !drifted {
			r.applied.remember(assoc.UID, key, hash)
			return false, nil
		}
	}
	err = r.Apply(ctx, client.ApplyConfigurationFromUnstructured(obj),
		client.FieldOwner(fieldManagerFor(assoc)), client.ForceOwnership)
	countAction(policy.Namespace+"/"+policy.Name, obj.GetKind(), err)
	if err != nil {
		return false, err
	}
	r.applied.remember(assoc.UID, key, hash)
	return true, nil
}

// releaseObject takes an object back from the Associate: its ownerReference goes, and
// unless the policy retains objects, the object is deleted when no other Associate still
// needs it. Objects already gone count as released.
func (r *AssociateReconciler) releaseObject(ctx context.Context, assoc *superofficev1alpha1.Associate,
	policy *superofficev1alpha1.ProvisioningPolicy, entry superofficev1alpha1.ProvisionedObject) (err error) {
	policyKey := assoc.Namespace + "/" + entry.Policy
	defer func() { countAction(policyKey, entry.Kind, err) }()
	r.applied.forget(assoc.UID, objectKey(entry))

	obj := &unstructured.Unstructured{}
	obj.SetAPIVersion(entry.APIVersion)
	obj.SetKind(entry.Kind)
	if err := r.Get(ctx, types.NamespacedName{Namespace: entry.Namespace, Name: entry.Name}, obj); err != nil {
		if apierrors.IsNotFound(err) || meta.IsNoMatchError(err) {
			return nil
		}
		return err
	}
	if err := r.removeOwnerReference(ctx, assoc, obj); err != nil {
		return err
	}
	if retained(policy, obj) {
		return nil
	}
	needed, err := r.stillNeeded(ctx, assoc, policy, entry, obj)
	if err != nil || needed {
		return err
	}
	uid, resourceVersion := obj.GetUID(), obj.GetResourceVersion()
	// The preconditions keep an Associate that took the object in the meantime from losing it.
	err = r.Delete(ctx, obj, client.Preconditions{UID: &uid, ResourceVersion: &resourceVersion})
	return client.IgnoreNotFound(err)
}

// retained tells whether a released object stays: its policy says Retain, or, with the
// policy gone, the object says it was applied under Retain.
func retained(policy *superofficev1alpha1.ProvisioningPolicy, obj *unstructured.Unstructured) bool {
	if policy != nil {
		return policy.Spec.DeletionPolicy == superofficev1alpha1.DeletionPolicyRetain
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
// namespace the ownerReferences record every Associate that applied it; elsewhere the
// policy's other matching Associates are rendered to see whether one renders it too.
func (r *AssociateReconciler) stillNeeded(ctx context.Context, assoc *superofficev1alpha1.Associate,
	policy *superofficev1alpha1.ProvisioningPolicy, entry superofficev1alpha1.ProvisionedObject, obj *unstructured.Unstructured) (bool, error) {
	for _, ref := range obj.GetOwnerReferences() {
		if ref.Kind == "Associate" && ref.APIVersion == superofficev1alpha1.GroupVersion.String() && ref.UID != assoc.UID {
			return true, nil
		}
	}
	if entry.Namespace == assoc.Namespace || policy == nil {
		return false, nil
	}
	compiled := r.Templates.compile(policy)
	var list superofficev1alpha1.AssociateList
	if err := r.List(ctx, &list, client.InNamespace(assoc.Namespace), client.UnsafeDisableDeepCopy); err != nil {
		return false, err
	}
	for i := range list.Items {
		other := &list.Items[i]
		if other.UID == assoc.UID {
			continue
		}
		if matches, err := policyMatches(policy, other); err != nil || !matches {
			continue
		}
		data, err := newTemplateData(other, ActionProvision)
		if err != nil {
			continue
		}
		objects, err := compiled.renderResources(data)
		if err != nil {
			return false, fmt.Errorf("rendering for Associate %s to see whether it shares the object: %w", other.Name, err)
		}
		for _, rendered := range objects {
			if rendered.GetAPIVersion() == entry.APIVersion && rendered.GetKind() == entry.Kind &&
				rendered.GetName() == entry.Name && rendered.GetNamespace() == entry.Namespace {
				return true, nil
			}
		}
	}
	return false, nil
}

func objectKey(entry superofficev1alpha1.ProvisionedObject) string {
	return entry.Policy + "|" + entry.APIVersion + "|" + entry.Kind + "|" + entry.Namespace + "|" + entry.Name
}
