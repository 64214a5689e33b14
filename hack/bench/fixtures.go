package main

import (
	"context"
	"fmt"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
)

// fixtureAssociate is an Employee as the ingress would have created it, labels included,
// so the reconciler has no label fix-up to make.
func fixtureAssociate(ns string, i int) *v1alpha1.Associate {
	id := associateID(i)
	name, _ := v1alpha1.AssociateName(benchTenant, id)
	code := int32(0)
	return &v1alpha1.Associate{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: ns,
			Labels: map[string]string{
				v1alpha1.LabelTenant: v1alpha1.TenantSlug(benchTenant), v1alpha1.LabelAssociateID: strconv.FormatInt(id, 10),
				v1alpha1.LabelPersonID: strconv.Itoa(1000 + i), v1alpha1.LabelReceiver: "bench",
			},
			Annotations: map[string]string{
				v1alpha1.AnnotationLastEventID:          fmt.Sprintf("%08d-745b-49a0-83eb-a9159635a307", i),
				v1alpha1.AnnotationLastEvent:            "associate.created",
				v1alpha1.AnnotationLastEventTimestamp:   "2026-11-27T08:53:40.0597952Z",
				v1alpha1.AnnotationChangedByAssociateID: "316",
			},
		},
		Spec: v1alpha1.AssociateSpec{
			Tenant: benchTenant, AssociateID: id, PersonID: int64(1000 + i), GroupIdx: 4,
			Type: v1alpha1.AssociateTypeEmployee, TypeCode: &code, RegisteredAssociateID: 5,
			UpdatedAssociateID: 5, Updated: "2025-05-14T16:19:57.1436004+02:00",
		},
	}
}

func createNamespace(ctx context.Context, c client.Client, name string) error {
	return c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
}

// createAssociates creates n fixture Associates and returns them with their UIDs.
func createAssociates(ctx context.Context, c client.Client, ns string, n, workers int) ([]*v1alpha1.Associate, error) {
	created := make([]*v1alpha1.Associate, n)
	_, _, err := runBounded(ctx, 0, n, workers, func(ctx context.Context, i int) error {
		a := fixtureAssociate(ns, i)
		if err := c.Create(ctx, a); err != nil {
			return err
		}
		created[i] = a
		return nil
	})
	return created, err
}
