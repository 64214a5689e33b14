package v1alpha1

// Labels the operator keeps on every Associate.
const (
	LabelTenant      = "superoffice.assocsync.io/tenant"
	LabelAssociateID = "superoffice.assocsync.io/associate-id"
	LabelPersonID    = "superoffice.assocsync.io/person-id"
	// LabelReceiver and LabelReceiverNamespace name the WebhookReceiver that writes the
	// Associate; no other receiver changes or deletes it while that one exists.
	LabelReceiver          = "superoffice.assocsync.io/receiver"
	LabelReceiverNamespace = "superoffice.assocsync.io/receiver-namespace"
)

// Annotations the ingress writes on an Associate: the provenance of the last applied event.
const (
	AnnotationLastEventID          = "superoffice.assocsync.io/last-event-id"
	AnnotationLastEvent            = "superoffice.assocsync.io/last-event"
	AnnotationLastEventTimestamp   = "superoffice.assocsync.io/last-event-timestamp"
	AnnotationChangedByAssociateID = "superoffice.assocsync.io/changed-by-associate-id"
)

// Annotations users set.
const (
	// AnnotationResyncRequestedAt on a WebhookReceiver asks for one resync now (any new value).
	AnnotationResyncRequestedAt = "superoffice.assocsync.io/resync-requested-at"
	// AnnotationAllowedReceiverNamespaces on a Namespace lists (comma-separated, `*` for
	// any) the namespaces whose WebhookReceivers may write Associates into it.
	AnnotationAllowedReceiverNamespaces = "superoffice.assocsync.io/allowed-receiver-namespaces"
	// AnnotationSkipDeprovision ("true") on an Associate lets its finalizer go without
	// deprovisioning what its namespace's ProvisioningPolicies made: their objects are
	// released (ownerReferences removed), not deleted, and their HTTP calls are not made.
	// What ClusterProvisioningPolicies made is always deprovisioned.
	AnnotationSkipDeprovision = "superoffice.assocsync.io/skip-deprovision"
)

// Markers on every object a policy applies: the operator never changes or deletes an
// object without them, and a policy never one whose AnnotationPolicy names another policy.
const (
	LabelManagedBy      = "app.kubernetes.io/managed-by"
	LabelManagedByValue = "associate-operator"
	// AnnotationPolicy is `ProvisioningPolicy/<namespace>/<name>` or
	// `ClusterProvisioningPolicy/<name>`.
	AnnotationPolicy = "superoffice.assocsync.io/policy"
	// AnnotationDeletionPolicy records that the object's policy retains it, so that it is
	// still retained once the policy itself is deleted.
	AnnotationDeletionPolicy = "superoffice.assocsync.io/deletion-policy"
)

// Finalizers.
const (
	// FinalizerDeprovision keeps an Associate until what its policies provisioned is gone.
	FinalizerDeprovision = "superoffice.assocsync.io/deprovision"
	// FinalizerWebhookRegistration keeps a receiver with registration until its
	// SuperOffice webhook is deleted.
	FinalizerWebhookRegistration = "superoffice.assocsync.io/webhook-registration"
)

// Field managers of the operator's server-side applies.
const (
	// FieldManager applies provisioned objects, one manager per Associate named
	// FieldManager + "/" + the Associate's name, so that Associates sharing an object each
	// own their ownerReference.
	FieldManager = "associate-operator"
	// FieldManagerSync owns Synced, Registered, lastResync and registration in a
	// receiver's status.
	FieldManagerSync = "associate-operator-sync"
	// FieldManagerReady owns Ready, Reconciling, Stalled, webhookPath and
	// observedGeneration in a receiver's status.
	FieldManagerReady = "associate-operator-ready"
	// FieldManagerIngress owns lastDeliveryTime in a receiver's status.
	FieldManagerIngress = "associate-operator-ingress"
)

// DefaultTenant owns events without a ContextIdentifier when the receiver names no tenant.
const DefaultTenant = "Default"
