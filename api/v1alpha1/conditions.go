package v1alpha1

// Condition types of the four kinds.
const (
	// ConditionReady: an Associate's matching policies are applied; a policy's templates
	// render; a receiver can take deliveries.
	ConditionReady = "Ready"
	// ConditionSynced: a receiver's last resync succeeded (receivers with spec.api).
	ConditionSynced = "Synced"
	// ConditionRegistered: a receiver's SuperOffice webhook is as configured (spec.registration).
	ConditionRegistered = "Registered"

	// ConditionReconciling (kstatus): True while the operator is still working towards
	// Ready and retries by itself; absent otherwise.
	ConditionReconciling = "Reconciling"
	// ConditionStalled (kstatus): True when the operator cannot get further until someone
	// changes the object or what it refers to; absent otherwise.
	ConditionStalled = "Stalled"
)

// Reasons of an Associate's Ready condition, and of its Events.
const (
	ReasonProvisioned          = "Provisioned"
	ReasonNoPolicyMatched      = "NoPolicyMatched"
	ReasonProvisioningFailed   = "ProvisioningFailed"
	ReasonDeprovisioned        = "Deprovisioned"
	ReasonDeprovisioningFailed = "DeprovisioningFailed"
	ReasonHTTPActionFailed     = "HTTPActionFailed"
	ReasonHTTPActionSucceeded  = "HTTPActionSucceeded"
	// ReasonTargetNotAllowed: a ProvisioningPolicy rendered an object outside what its
	// namespace may have: another namespace, a cluster-scoped kind, a kind not in
	// --namespaced-policy-kinds, or a roleRef not in --allowed-role-refs.
	ReasonTargetNotAllowed = "TargetNotAllowed"
	// ReasonObjectConflict: a rendered object exists and was not made by this policy.
	ReasonObjectConflict = "ObjectConflict"
)

// Reasons shared by Associates and (Cluster)ProvisioningPolicies.
const (
	ReasonTemplateError     = "TemplateError"
	ReasonInvalidSelector   = "InvalidSelector"
	ReasonTemplatesRendered = "TemplatesRendered"
)

// Reasons of a WebhookReceiver's Ready condition.
const (
	ReasonReady          = "Ready"
	ReasonSecretNotFound = "SecretNotFound"
	ReasonNoKeysFound    = "NoKeysFound"
	// ReasonTargetNamespaceNotAllowed: spec.targetNamespace names a namespace that does not
	// allow receivers of this receiver's namespace (AnnotationAllowedReceiverNamespaces).
	ReasonTargetNamespaceNotAllowed = "TargetNamespaceNotAllowed"
)

// Reasons of a WebhookReceiver's Synced condition.
const (
	ReasonSynced              = "Synced"
	ReasonResyncFailed        = "ResyncFailed"
	ReasonMassDeletionRefused = "MassDeletionRefused"
	ReasonCredentialsNotFound = "CredentialsNotFound"
	ReasonInvalidCredentials  = "InvalidCredentials"
	ReasonResyncPending       = "ResyncPending"
	// ReasonEndpointNotAllowed: spec.api.environmentURL or url is not https (plain http
	// only on a loopback host), so no credential is sent there.
	ReasonEndpointNotAllowed = "EndpointNotAllowed"
)

// Reasons of a WebhookReceiver's Registered condition (with ReasonSecretNotFound,
// ReasonNoKeysFound and the credentials reasons).
const (
	ReasonRegistered           = "Registered"
	ReasonRegistrationFailed   = "RegistrationFailed"
	ReasonWebhookTooManyErrors = "WebhookTooManyErrors"
	ReasonWebhookStopped       = "WebhookStopped"
)
