package operator

import (
	"unique"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
)

// A cluster holds tens of thousands of Associates whose strings mostly repeat: label and
// annotation keys, the namespace, tenant, receiver, type, finalizer, condition reasons,
// and the kinds and policies of what was provisioned. The JSON decoder allocates each of
// them again per object; interning keeps one copy of each.
func intern(s string) string {
	if s == "" {
		return s
	}
	return unique.Make(s).Value()
}

// compactAssociate is the cache transform for Associates: managed fields go, repeated
// strings are interned. Values unique per object (name, uid, event id) are left alone.
func compactAssociate(obj any) (any, error) {
	a, ok := obj.(*superofficev1alpha1.Associate)
	if !ok {
		return obj, nil
	}
	a.ManagedFields = nil
	a.APIVersion, a.Kind = intern(a.APIVersion), intern(a.Kind)
	a.Namespace = intern(a.Namespace)
	a.Labels = internMap(a.Labels, true)
	a.Annotations = internMap(a.Annotations, false)
	for i := range a.Finalizers {
		a.Finalizers[i] = intern(a.Finalizers[i])
	}
	a.Spec.Tenant = intern(a.Spec.Tenant)
	a.Spec.Type = superofficev1alpha1.AssociateType(intern(string(a.Spec.Type)))
	internConditions(a.Status.Conditions)
	for i := range a.Status.Provisioned {
		p := &a.Status.Provisioned[i]
		p.Policy, p.APIVersion, p.Kind, p.Namespace = intern(p.Policy), intern(p.APIVersion), intern(p.Kind), intern(p.Namespace)
	}
	for i := range a.Status.Actions {
		act := &a.Status.Actions[i]
		act.Policy, act.Name, act.LastAction = intern(act.Policy), intern(act.Name), intern(act.LastAction)
	}
	return a, nil
}

// internMap interns the keys, and the values too when they repeat across objects: labels
// (tenant, receiver) and, of the annotations, the event name and the changing associate.
// Event ids and timestamps are unique per object and stay as they are.
func internMap(m map[string]string, values bool) map[string]string {
	if len(m) == 0 {
		return m
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		if values || k == superofficev1alpha1.AnnotationLastEvent || k == superofficev1alpha1.AnnotationChangedByAssociateID {
			v = intern(v)
		}
		out[intern(k)] = v
	}
	return out
}

func internConditions(conditions []metav1.Condition) {
	for i := range conditions {
		c := &conditions[i]
		c.Type, c.Reason, c.Message = intern(c.Type), intern(c.Reason), intern(c.Message)
		c.Status = metav1.ConditionStatus(intern(string(c.Status)))
	}
}
