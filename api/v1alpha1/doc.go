// Package v1alpha1 holds the superoffice.assocsync.io/v1alpha1 API: Associate,
// WebhookReceiver, ProvisioningPolicy and ClusterProvisioningPolicy.
// +kubebuilder:object:generate=true
// +kubebuilder:ac:generate=true
// +groupName=superoffice.assocsync.io
package v1alpha1
