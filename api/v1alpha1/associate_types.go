package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AssociateType is the kind of SuperOffice user, from the associate table's `type` column.
// +kubebuilder:validation:Enum=Employee;Resource;ExternalPerson;Anonymous;System;Other
type AssociateType string

const (
	AssociateTypeEmployee       AssociateType = "Employee"
	AssociateTypeResource       AssociateType = "Resource"
	AssociateTypeExternalPerson AssociateType = "ExternalPerson"
	AssociateTypeAnonymous      AssociateType = "Anonymous"
	AssociateTypeSystem         AssociateType = "System"
	AssociateTypeOther          AssociateType = "Other"
)

// AssociateTypeFromCode maps the database value of associate.type to its name:
// 0 Employee, 1 Resource, 4 ExternalPerson, 7 Anonymous, 13 System, anything else Other.
func AssociateTypeFromCode(code int32) AssociateType {
	switch code {
	case 0:
		return AssociateTypeEmployee
	case 1:
		return AssociateTypeResource
	case 4:
		return AssociateTypeExternalPerson
	case 7:
		return AssociateTypeAnonymous
	case 13:
		return AssociateTypeSystem
	default:
		return AssociateTypeOther
	}
}

// AssociateSpec mirrors one row of SuperOffice's associate table.
type AssociateSpec struct {
	// tenant is the SuperOffice ContextIdentifier of the associate's tenant, as SuperOffice
	// sent it (for example `Cust1234`, or `Default` for an on-site installation).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Tenant string `json:"tenant"`

	// associateId is the associate's primary key (associate_id) in SuperOffice. It cannot be
	// changed: the Associate's name is derived from it.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="associateId is immutable"
	AssociateID int64 `json:"associateId"`

	// personId is the person record that owns this associate (person_id). Accounts are
	// provisioned per person, so associates that share a personId share those accounts.
	// Resources have no person; 0 means none.
	// +optional
	// +kubebuilder:validation:Minimum=0
	PersonID int64 `json:"personId,omitempty"`

	// groupIdx is the associate's primary user group (group_idx).
	// +optional
	// +kubebuilder:validation:Minimum=0
	GroupIdx int32 `json:"groupIdx,omitempty"`

	// type is the kind of user, named after the raw typeCode: Employee (0), Resource (1),
	// ExternalPerson (4), Anonymous (7), System (13) or Other (anything else).
	// Empty when SuperOffice has not told the type yet.
	// +optional
	Type AssociateType `json:"type,omitempty"`

	// typeCode is the raw value of the associate's `type` column as SuperOffice sent it.
	// +optional
	TypeCode *int32 `json:"typeCode,omitempty"`

	// retired is true when the associate is retired in SuperOffice (its `deleted` column is 1).
	// +optional
	Retired bool `json:"retired,omitempty"`

	// waitingForApproval is true while an administrator has yet to approve the user
	// (waiting_for_approval = 1); such a user cannot log in.
	// +optional
	WaitingForApproval bool `json:"waitingForApproval,omitempty"`

	// registeredAssociateId is the associate who registered this one (registered_associate_id).
	// +optional
	// +kubebuilder:validation:Minimum=0
	RegisteredAssociateID int64 `json:"registeredAssociateId,omitempty"`

	// updatedAssociateId is the associate who last updated this one (updated_associate_id).
	// +optional
	// +kubebuilder:validation:Minimum=0
	UpdatedAssociateID int64 `json:"updatedAssociateId,omitempty"`

	// updated is when SuperOffice last updated the row, RFC 3339 exactly as SuperOffice sent it.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Updated string `json:"updated,omitempty"`
}

// PolicyKind is the kind of policy that made a status entry.
// +kubebuilder:validation:Enum=ProvisioningPolicy;ClusterProvisioningPolicy
type PolicyKind string

const (
	PolicyKindNamespaced PolicyKind = "ProvisioningPolicy"
	PolicyKindCluster    PolicyKind = "ClusterProvisioningPolicy"
)

// ProvisionedObject names one object that a policy created for an Associate.
type ProvisionedObject struct {
	// policy is the name of the policy that made the object: a ProvisioningPolicy of the
	// Associate's namespace, or the ClusterProvisioningPolicy that policyKind names.
	// +required
	Policy string `json:"policy"`
	// policyKind is ClusterProvisioningPolicy for a cluster policy's object; absent (or
	// ProvisioningPolicy) for a ProvisioningPolicy's.
	// +optional
	PolicyKind PolicyKind `json:"policyKind,omitempty"`
	// apiVersion of the object, for example `v1`.
	// +required
	APIVersion string `json:"apiVersion"`
	// kind of the object, for example `ServiceAccount`.
	// +required
	Kind string `json:"kind"`
	// namespace of the object; empty for cluster-scoped objects.
	// +optional
	Namespace string `json:"namespace,omitempty"`
	// name of the object.
	// +required
	Name string `json:"name"`
}

// ActionStatus records the last outcome of one HTTP action of a policy for this Associate.
type ActionStatus struct {
	// policy is the name of the policy that owns the action.
	// +required
	Policy string `json:"policy"`
	// policyKind is ClusterProvisioningPolicy for a cluster policy's action; absent (or
	// ProvisioningPolicy) for a ProvisioningPolicy's.
	// +optional
	PolicyKind PolicyKind `json:"policyKind,omitempty"`
	// name is the action's name within the policy (spec.http[].name).
	// +required
	Name string `json:"name"`
	// lastSucceeded is when the call last succeeded.
	// +optional
	LastSucceeded *metav1.Time `json:"lastSucceeded,omitempty"`
	// lastError is the error of the last failed call; empty after a success.
	// +optional
	LastError string `json:"lastError,omitempty"`
	// lastAction is the kind of the last successful call: provision, update or deprovision.
	// +optional
	LastAction string `json:"lastAction,omitempty"`
	// bodyHash is the SHA-256 of the request (method, URL and rendered body) that last
	// succeeded; a call whose request has not changed since is not made again.
	// +optional
	BodyHash string `json:"bodyHash,omitempty"`
}

// AssociateStatus is what the operator observed and did for an Associate.
type AssociateStatus struct {
	// observedGeneration is the metadata.generation that the reconciler last finished successfully.
	// +optional
	// +kubebuilder:default=0
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: `Ready` is True when every policy that matches the Associate is applied;
	// `Reconciling` is True while a failure is retried, `Stalled` while only a change to a
	// policy (or to what is in the way) can help (both absent otherwise, as kstatus reads them).
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// provisioned lists every object that the policies created for this Associate.
	// +optional
	Provisioned []ProvisionedObject `json:"provisioned,omitempty"`

	// actions lists the outcome of each HTTP action of the policies for this Associate.
	// +optional
	Actions []ActionStatus `json:"actions,omitempty"`
}

// Associate is one SuperOffice associate (a user) of one tenant, mirrored from
// SuperOffice's webhook deliveries or created by hand.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=assoc,categories=superoffice
// +kubebuilder:printcolumn:name="Tenant",type=string,JSONPath=`.spec.tenant`
// +kubebuilder:printcolumn:name="Associate",type=integer,JSONPath=`.spec.associateId`
// +kubebuilder:printcolumn:name="Person",type=integer,JSONPath=`.spec.personId`
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.spec.type`
// +kubebuilder:printcolumn:name="Retired",type=boolean,JSONPath=`.spec.retired`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Associate struct {
	metav1.TypeMeta `json:",inline"`

	// metadata is the object's standard metadata. The ingress names an Associate
	// `<tenant>-<associateId>`.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the associate as SuperOffice last described it.
	// +required
	Spec AssociateSpec `json:"spec"`

	// status is what the operator observed and provisioned.
	// +optional
	// +kubebuilder:default={observedGeneration: 0}
	Status AssociateStatus `json:"status,omitempty"`
}

// AssociateList is a list of Associates.
// +kubebuilder:object:root=true
type AssociateList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Associate `json:"items"`
}

func init() {
	register(&Associate{}, &AssociateList{})
}
