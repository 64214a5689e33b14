package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DeletionPolicy says what happens to provisioned objects when an Associate stops matching.
// +kubebuilder:validation:Enum=Delete;Retain
type DeletionPolicy string

const (
	// DeletionPolicyDelete deletes what was provisioned.
	DeletionPolicyDelete DeletionPolicy = "Delete"
	// DeletionPolicyRetain keeps what was provisioned and only removes the ownerReferences.
	DeletionPolicyRetain DeletionPolicy = "Retain"
)

// ResourceTemplate renders one Kubernetes object.
type ResourceTemplate struct {
	// template is a Go text/template (with the Sprig functions) that renders one Kubernetes
	// object as YAML or JSON. It sees `.Associate` (the whole object), `.PersonID`,
	// `.AssociateID`, `.Tenant`, `.Namespace` and `.Action` (provision, update or deprovision).
	// An object without a namespace is put in the policy's namespace, unless its kind is
	// cluster-scoped.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=65536
	Template string `json:"template"`
}

// SecretKeyReference names one key of a Secret in the same namespace.
type SecretKeyReference struct {
	// name of the Secret.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// key in the Secret whose value is the signing secret.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Key string `json:"key"`
}

// HTTPAction is a call made when an Associate starts matching (provision), changes while it
// matches (update) and stops matching or is deleted (deprovision).
type HTTPAction struct {
	// name identifies the action within the policy and in the Associate's status.actions.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`

	// url to call; a Go template with the same data as the body.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	URL string `json:"url"`

	// method of the call.
	// +optional
	// +kubebuilder:default=POST
	// +kubebuilder:validation:Enum=POST;PUT;PATCH;DELETE
	Method string `json:"method,omitempty"`

	// headers added to the call.
	// +optional
	Headers map[string]string `json:"headers,omitempty"`

	// bodyTemplate is a Go text/template (with the Sprig functions) for the request body; it
	// sees the same data as the resource templates, `.Action` included. Empty sends no body.
	// +optional
	// +kubebuilder:validation:MaxLength=65536
	BodyTemplate string `json:"bodyTemplate,omitempty"`

	// signingSecretRef, when set, signs the body the way SuperOffice does: the header
	// `X-Signature` carries base64(HMAC-SHA256(secret, body)).
	// +optional
	SigningSecretRef *SecretKeyReference `json:"signingSecretRef,omitempty"`

	// timeoutSeconds bounds one call.
	// +optional
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=30
	TimeoutSeconds int32 `json:"timeoutSeconds,omitempty"`
}

// ProvisioningPolicySpec says which Associates of the policy's namespace it applies to,
// and what it provisions for each.
// +kubebuilder:validation:XValidation:rule="(has(self.resources) && size(self.resources) > 0) || (has(self.http) && size(self.http) > 0)",message="a policy needs at least one of spec.resources and spec.http"
type ProvisioningPolicySpec struct {
	// associateSelector limits the policy to Associates with matching labels; empty or
	// absent selects all (the `tenant`, `associate-id`, `person-id` and `receiver` labels
	// are kept on every Associate).
	// +optional
	AssociateSelector *metav1.LabelSelector `json:"associateSelector,omitempty"`

	// types of associate the policy applies to.
	// +optional
	// +kubebuilder:default={"Employee"}
	// +listType=set
	Types []AssociateType `json:"types,omitempty"`

	// includeRetired applies the policy to retired associates too.
	// +optional
	IncludeRetired bool `json:"includeRetired,omitempty"`

	// includeWaitingForApproval applies the policy to associates waiting for approval too.
	// +optional
	IncludeWaitingForApproval bool `json:"includeWaitingForApproval,omitempty"`

	// resources are the objects to provision per matching Associate, applied with
	// server-side apply. Objects that render to the same name are shared, and are removed
	// only when the last Associate that needs them stops matching.
	// +optional
	// +kubebuilder:validation:MaxItems=32
	// +listType=atomic
	Resources []ResourceTemplate `json:"resources,omitempty"`

	// http are the calls to make on provision, update and deprovision.
	// +optional
	// +kubebuilder:validation:MaxItems=16
	// +listType=map
	// +listMapKey=name
	HTTP []HTTPAction `json:"http,omitempty"`

	// deletionPolicy says what happens to provisioned objects when an Associate stops
	// matching or is deleted: Delete removes them, Retain keeps them without ownerReferences.
	// +optional
	// +kubebuilder:default=Delete
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`
}

// ProvisioningPolicyStatus is what the operator observed of a policy.
type ProvisioningPolicyStatus struct {
	// observedGeneration is the metadata.generation that the status reflects.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: `Ready` is True when every template parses and renders.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// matchedAssociates is how many Associates the policy currently applies to.
	// +optional
	MatchedAssociates int32 `json:"matchedAssociates"`
}

// ProvisioningPolicy provisions objects and calls HTTP endpoints for every matching
// Associate of its namespace, and takes them away again.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=provpol,categories=superoffice
// +kubebuilder:printcolumn:name="Matched",type=integer,JSONPath=`.status.matchedAssociates`
// +kubebuilder:printcolumn:name="Deletion",type=string,JSONPath=`.spec.deletionPolicy`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ProvisioningPolicy struct {
	metav1.TypeMeta `json:",inline"`

	// metadata is the object's standard metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec says what to provision for which Associates.
	// +required
	Spec ProvisioningPolicySpec `json:"spec"`

	// status is what the operator observed.
	// +optional
	Status ProvisioningPolicyStatus `json:"status,omitempty"`
}

// ProvisioningPolicyList is a list of ProvisioningPolicies.
// +kubebuilder:object:root=true
type ProvisioningPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ProvisioningPolicy `json:"items"`
}

func init() {
	register(&ProvisioningPolicy{}, &ProvisioningPolicyList{})
}
