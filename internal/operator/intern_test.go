package operator

import (
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
)

func TestCompactAssociateKeepsEverythingButManagedFields(t *testing.T) {
	code := int32(0)
	a := &superofficev1alpha1.Associate{
		TypeMeta: metav1.TypeMeta{APIVersion: "superoffice.assocsync.io/v1alpha1", Kind: "Associate"},
		ObjectMeta: metav1.ObjectMeta{
			Name: "cust1234-141424", Namespace: "default", UID: "u-1", ResourceVersion: "7",
			Labels:        map[string]string{superofficev1alpha1.LabelTenant: "cust1234", superofficev1alpha1.LabelPersonID: "21"},
			Annotations:   map[string]string{superofficev1alpha1.AnnotationLastEventID: "52b8311e", superofficev1alpha1.AnnotationLastEvent: "associate.created"},
			Finalizers:    []string{"superoffice.assocsync.io/deprovision"},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "associate-operator"}},
		},
		Spec: superofficev1alpha1.AssociateSpec{Tenant: "Cust1234", AssociateID: 141424, PersonID: 21, Type: "Employee", TypeCode: &code},
		Status: superofficev1alpha1.AssociateStatus{
			Conditions:  []metav1.Condition{{Type: "Ready", Status: metav1.ConditionTrue, Reason: "Provisioned", Message: "ok"}},
			Provisioned: []superofficev1alpha1.ProvisionedObject{{Policy: "p", APIVersion: "v1", Kind: "ServiceAccount", Namespace: "default", Name: "person-21"}},
			Actions:     []superofficev1alpha1.ActionStatus{{Policy: "p", Name: "notify", LastAction: "provision"}},
		},
	}
	want := a.DeepCopy()
	want.ManagedFields = nil

	got, err := compactAssociate(a)
	if err != nil {
		t.Fatal(err)
	}
	if !equality.Semantic.DeepEqual(got, want) {
		t.Errorf("compactAssociate changed the Associate:\n got %+v\nwant %+v", got, want)
	}
	if other, _ := compactAssociate(want.DeepCopy()); other.(*superofficev1alpha1.Associate).Namespace != "default" {
		t.Error("a second Associate lost its namespace")
	}
	if passthrough, _ := compactAssociate("not an Associate"); passthrough != "not an Associate" {
		t.Error("objects of other kinds must pass through untouched")
	}
}
