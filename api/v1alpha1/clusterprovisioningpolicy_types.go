package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// NamespacedSecretKeyReference names one key of a Secret in a given namespace.
type NamespacedSecretKeyReference struct {
	// name of the Secret.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// key in the Secret whose value is used.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Key string `json:"key"`
	// namespace of the Secret.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace"`
}

// ClusterHeaderFromSecret sets one request header to the value of a Secret's key.
type ClusterHeaderFromSecret struct {
	// name of the header, for example `Authorization`.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:Pattern=`^[!#$%&'*+.^_|~0-9A-Za-z-]+$`
	Name string `json:"name"`
	// secretKeyRef names the Secret, its namespace and the key holding the value.
	// +required
	SecretKeyRef NamespacedSecretKeyReference `json:"secretKeyRef"`
}

// ClusterHTTPAction is an HTTP action of a ClusterProvisioningPolicy: its Secrets name
// their namespace.
type ClusterHTTPAction struct {
	HTTPCall `json:",inline"`

	// signingSecretRef, when set, signs the body the way SuperOffice does: the header
	// `X-Signature` carries base64(HMAC-SHA256(secret, body)).
	// +optional
	SigningSecretRef *NamespacedSecretKeyReference `json:"signingSecretRef,omitempty"`

	// headersFrom sets headers from Secrets, so that tokens need not sit in the policy's spec.
	// +optional
	// +kubebuilder:validation:MaxItems=16
	// +listType=map
	// +listMapKey=name
	HeadersFrom []ClusterHeaderFromSecret `json:"headersFrom,omitempty"`
}

// ClusterProvisioningPolicySpec says which Associates of which namespaces the policy
// applies to, and what it provisions for each: objects in any namespace and of any scope
// that the operator's own RBAC lets it write, and bindings to any role it may bind.
// +kubebuilder:validation:XValidation:rule="(has(self.resources) && size(self.resources) > 0) || (has(self.http) && size(self.http) > 0)",message="a policy needs at least one of spec.resources and spec.http"
type ClusterProvisioningPolicySpec struct {
	// namespaceSelector selects the namespaces (by their labels) whose Associates the
	// policy applies to; absent or empty selects every namespace. The policy treats every
	// Associate of a selected namespace alike, hand-made ones included, so keep namespaces
	// whose tenants may create Associates out of its reach here or with associateSelector.
	// +optional
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`

	PolicyTemplate `json:",inline"`

	// http are the calls to make on provision, update and deprovision.
	// +optional
	// +kubebuilder:validation:MaxItems=16
	// +listType=map
	// +listMapKey=name
	HTTP []ClusterHTTPAction `json:"http,omitempty"`
}

// ClusterProvisioningPolicy is for cluster admins: it provisions objects anywhere in the
// cluster and calls HTTP endpoints for every matching Associate of the namespaces it
// selects, and takes them away again.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=cprovpol,categories=superoffice
// +kubebuilder:printcolumn:name="Matched",type=integer,JSONPath=`.status.matchedAssociates`
// +kubebuilder:printcolumn:name="Deletion",type=string,JSONPath=`.spec.deletionPolicy`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ClusterProvisioningPolicy struct {
	metav1.TypeMeta `json:",inline"`

	// metadata is the object's standard metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec says what to provision for which Associates.
	// +required
	Spec ClusterProvisioningPolicySpec `json:"spec"`

	// status is what the operator observed.
	// +optional
	// +kubebuilder:default={observedGeneration: 0}
	Status ProvisioningPolicyStatus `json:"status,omitempty"`
}

// ClusterProvisioningPolicyList is a list of ClusterProvisioningPolicies.
// +kubebuilder:object:root=true
type ClusterProvisioningPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ClusterProvisioningPolicy `json:"items"`
}

func init() {
	register(&ClusterProvisioningPolicy{}, &ClusterProvisioningPolicyList{})
}
