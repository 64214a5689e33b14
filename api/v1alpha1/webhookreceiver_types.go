package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SecretKeysReference names a Secret in the receiver's namespace and the keys in it
// that hold accepted signing secrets.
type SecretKeysReference struct {
	// name of the Secret, in the WebhookReceiver's namespace.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// keys of the Secret whose values are accepted signing secrets. Every listed key present
	// in the Secret is accepted, so a secret is rotated by adding the new key, switching
	// SuperOffice over, then removing the old key. The first present key is the one the
	// operator registers in SuperOffice.
	// +optional
	// +kubebuilder:default={"secret"}
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=8
	// +listType=atomic
	Keys []string `json:"keys,omitempty"`
}

// LocalSecretReference names a Secret in the same namespace.
type LocalSecretReference struct {
	// name of the Secret.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// SuperOfficeAPI tells the operator how to reach the tenant's REST API.
type SuperOfficeAPI struct {
	// environmentURL is the SuperOffice environment used for the tenant-state lookup,
	// system-user authentication and its JWKS: `https://online.superoffice.com`,
	// `https://sod.superoffice.com` or `https://stage.superoffice.com`. It must be https
	// (plain http only on a loopback host). Without `url`, the tenant's looked-up `Api`
	// must be https on this environment's parent domain (`*.superoffice.com`).
	// +optional
	// +kubebuilder:default="https://online.superoffice.com"
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="self.matches('^(https://[^/?#@\\\\s]+|http://(localhost|127[.][0-9]{1,3}[.][0-9]{1,3}[.][0-9]{1,3}|\\\\[::1\\\\])(:[0-9]{1,5})?)([/?#].*)?$')",message="environmentURL must be an https URL (plain http only on a loopback host: localhost, 127.0.0.0/8, ::1)"
	EnvironmentURL string `json:"environmentURL,omitempty"`

	// url is the tenant's REST API base (for example
	// `https://online3.superoffice.com/Cust12345/api`); when set, the tenant-state lookup is
	// skipped. It must be https (plain http only on a loopback host).
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="self.matches('^(https://[^/?#@\\\\s]+|http://(localhost|127[.][0-9]{1,3}[.][0-9]{1,3}[.][0-9]{1,3}|\\\\[::1\\\\])(:[0-9]{1,5})?)([/?#].*)?$')",message="url must be an https URL (plain http only on a loopback host: localhost, 127.0.0.0/8, ::1)"
	URL string `json:"url,omitempty"`

	// credentialsSecretRef names a Secret with either `applicationToken`, `systemUserToken`
	// and `privateKey` (PEM) for the system-user flow, or `ticket` (and `applicationToken`)
	// for a ready ticket.
	// +required
	CredentialsSecretRef LocalSecretReference `json:"credentialsSecretRef"`

	// resyncInterval is how often the operator lists every associate to repair lost
	// deliveries, as a duration (`1h`, `30m`); `0s` turns the periodic resync off.
	// +optional
	// +kubebuilder:default="1h"
	ResyncInterval *metav1.Duration `json:"resyncInterval,omitempty"`

	// maxDeletePercent is the largest share of the receiver's Associates that one resync may
	// delete; above it the resync deletes nothing and reports MassDeletionRefused.
	// +optional
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	MaxDeletePercent *int32 `json:"maxDeletePercent,omitempty"`
}

// WebhookRegistration asks the operator to keep the SuperOffice webhook itself.
type WebhookRegistration struct {
	// enabled turns the registration on.
	// +optional
	Enabled bool `json:"enabled,omitempty"`

	// targetURL is the public HTTPS address of this receiver, as SuperOffice should call it
	// (for example `https://hooks.example.com/webhooks/<namespace>/<name>`). It must be
	// https (plain http only on a loopback host).
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="self.matches('^(https://[^/?#@\\\\s]+|http://(localhost|127[.][0-9]{1,3}[.][0-9]{1,3}[.][0-9]{1,3}|\\\\[::1\\\\])(:[0-9]{1,5})?)([/?#].*)?$')",message="targetURL must be an https URL (plain http only on a loopback host: localhost, 127.0.0.0/8, ::1)"
	TargetURL string `json:"targetURL,omitempty"`

	// events the webhook subscribes to.
	// +optional
	// +kubebuilder:default={"associate.created","associate.changed","associate.deleted"}
	// +kubebuilder:validation:MinItems=1
	// +listType=set
	Events []string `json:"events,omitempty"`

	// name of the webhook in SuperOffice; defaults to `<namespace>-<name>` of the receiver.
	// +optional
	// +kubebuilder:validation:MaxLength=200
	Name string `json:"name,omitempty"`
}

// WebhookReceiverSpec configures one webhook endpoint.
// +kubebuilder:validation:XValidation:rule="!has(self.api) || (has(self.tenant) && size(self.tenant) > 0)",message="spec.tenant is required when spec.api is set"
// +kubebuilder:validation:XValidation:rule="!has(self.registration) || !self.registration.enabled || (has(self.registration.targetURL) && size(self.registration.targetURL) > 0)",message="spec.registration.targetURL is required when registration is enabled"
// +kubebuilder:validation:XValidation:rule="!has(self.registration) || !self.registration.enabled || has(self.api)",message="spec.api is required when registration is enabled"
type WebhookReceiverSpec struct {
	// secretRef names the Secret that holds the signing secret(s) shared with SuperOffice.
	// +required
	SecretRef SecretKeysReference `json:"secretRef"`

	// tenant is the only ContextIdentifier accepted (compared case-insensitively); deliveries
	// for another tenant are refused with 403. Events without a ContextIdentifier belong to
	// this tenant, or to `Default` when unset.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Tenant string `json:"tenant,omitempty"`

	// targetNamespace is where the receiver's Associates live; defaults to the receiver's
	// namespace. Another namespace is honoured only when that Namespace allows receivers of
	// this one's namespace in its annotation
	// `superoffice.assocsync.io/allowed-receiver-namespaces` (comma-separated, `*` for any);
	// otherwise the receiver is not Ready (TargetNamespaceNotAllowed) and writes nothing.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	TargetNamespace string `json:"targetNamespace,omitempty"`

	// maxBodyBytes is the largest delivery body accepted; larger ones get 413.
	// +optional
	// +kubebuilder:default=1048576
	// +kubebuilder:validation:Minimum=1024
	// +kubebuilder:validation:Maximum=16777216
	MaxBodyBytes *int64 `json:"maxBodyBytes,omitempty"`

	// api lets the operator reach the tenant's REST API, for periodic resync and registration.
	// +optional
	API *SuperOfficeAPI `json:"api,omitempty"`

	// registration makes the operator create and keep the SuperOffice webhook for this receiver.
	// +optional
	Registration *WebhookRegistration `json:"registration,omitempty"`
}

// ResyncResult is the outcome of one resync attempt.
// +kubebuilder:validation:Enum=Succeeded;Failed;MassDeletionRefused
type ResyncResult string

const (
	ResyncSucceeded           ResyncResult = "Succeeded"
	ResyncFailed              ResyncResult = "Failed"
	ResyncMassDeletionRefused ResyncResult = "MassDeletionRefused"
)

// ResyncStatus summarises the last resync attempt.
type ResyncStatus struct {
	// time is when the attempt's listing began.
	// +required
	Time metav1.Time `json:"time"`
	// result of the attempt.
	// +required
	Result ResyncResult `json:"result"`
	// listed is how many associates SuperOffice listed.
	// +optional
	Listed int32 `json:"listed,omitempty"`
	// created is how many Associates the attempt created.
	// +optional
	Created int32 `json:"created,omitempty"`
	// updated is how many Associates the attempt corrected.
	// +optional
	Updated int32 `json:"updated,omitempty"`
	// deleted is how many Associates the attempt deleted.
	// +optional
	Deleted int32 `json:"deleted,omitempty"`
	// unchanged is how many Associates already matched SuperOffice.
	// +optional
	Unchanged int32 `json:"unchanged,omitempty"`
	// requestedAt is the value of the annotation superoffice.assocsync.io/resync-requested-at
	// when the attempt began: a new value asks for another resync.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	RequestedAt string `json:"requestedAt,omitempty"`
}

// RegistrationStatus is what the operator knows of the webhook it keeps in SuperOffice.
type RegistrationStatus struct {
	// webhookId is SuperOffice's id of the webhook.
	// +optional
	WebhookID int32 `json:"webhookId,omitempty"`
	// state of the webhook in SuperOffice: Active, Stopped or TooManyErrors.
	// +optional
	State string `json:"state,omitempty"`
	// lastError is SuperOffice's last delivery error for the webhook, when it is not Active.
	// +optional
	LastError string `json:"lastError,omitempty"`
}

// WebhookReceiverStatus is what the operator observed of a receiver.
type WebhookReceiverStatus struct {
	// observedGeneration is the metadata.generation that the status reflects.
	// +optional
	// +kubebuilder:default=0
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: `Ready` (the Secret and at least one key exist, and the target namespace
	// allows the receiver), `Reconciling` and `Stalled` (kstatus: a resync or registration
	// being retried, or waiting for a fix), and with spec.api and
	// spec.registration, `Synced` and `Registered`.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// webhookPath is the path to give SuperOffice, after the ingress's host:
	// `/webhooks/<namespace>/<name>`.
	// +optional
	WebhookPath string `json:"webhookPath,omitempty"`

	// lastDeliveryTime is when a delivery was last accepted (written at most every 30 s).
	// +optional
	LastDeliveryTime *metav1.Time `json:"lastDeliveryTime,omitempty"`

	// lastResync is the outcome of the last resync attempt.
	// +optional
	LastResync *ResyncStatus `json:"lastResync,omitempty"`

	// registration is the state of the webhook the operator keeps in SuperOffice.
	// +optional
	Registration *RegistrationStatus `json:"registration,omitempty"`
}

// WebhookReceiver is one SuperOffice webhook endpoint, served by the operator at
// `/webhooks/<namespace>/<name>`: its signing secret(s), tenant and target namespace.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=whr,categories=superoffice
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 63",message="a WebhookReceiver's name labels its Associates, so it must be at most 63 characters"
// +kubebuilder:printcolumn:name="Tenant",type=string,JSONPath=`.spec.tenant`
// +kubebuilder:printcolumn:name="Path",type=string,JSONPath=`.status.webhookPath`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Last Delivery",type=date,JSONPath=`.status.lastDeliveryTime`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type WebhookReceiver struct {
	metav1.TypeMeta `json:",inline"`

	// metadata is the object's standard metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec configures the endpoint.
	// +required
	Spec WebhookReceiverSpec `json:"spec"`

	// status is what the operator observed.
	// +optional
	// +kubebuilder:default={observedGeneration: 0}
	Status WebhookReceiverStatus `json:"status,omitempty"`
}

// WebhookReceiverList is a list of WebhookReceivers.
// +kubebuilder:object:root=true
type WebhookReceiverList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []WebhookReceiver `json:"items"`
}

func init() {
	register(&WebhookReceiver{}, &WebhookReceiverList{})
}
