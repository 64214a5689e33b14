// Package v1alpha1 holds the superoffice.assocsync.io/v1alpha1 API: Associate,
// WebhookReceiver and ProvisioningPolicy.
// +kubebuilder:object:generate=true
// +groupName=superoffice.assocsync.io
package v1alpha1
