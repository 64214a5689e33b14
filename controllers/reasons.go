package controllers

// Names the Associate and ProvisioningPolicy reconcilers write into the API server.
const (
	// FinalizerDeprovision keeps an Associate until what its policies provisioned is gone.
	FinalizerDeprovision = "superoffice.assocsync.io/deprovision"

	// FieldManager is the server-side apply field manager of the operator. Provisioned
	// objects are applied by one manager per Associate, named FieldManager + "/" + the
	// Associate's name, so that Associates sharing an object each own their ownerReference.
	FieldManager = "associate-operator"
)

// Reasons of the Ready condition and of Events.
const (
	ReasonProvisioned          = "Provisioned"
	ReasonNoPolicyMatched      = "NoPolicyMatched"
	ReasonProvisioningFailed   = "ProvisioningFailed"
	ReasonDeprovisioned        = "Deprovisioned"
	ReasonDeprovisioningFailed = "DeprovisioningFailed"
	ReasonTemplateError        = "TemplateError"
	ReasonInvalidSelector      = "InvalidSelector"
	ReasonHTTPActionFailed     = "HTTPActionFailed"
	ReasonHTTPActionSucceeded  = "HTTPActionSucceeded"
	ReasonTemplatesRendered    = "TemplatesRendered"
)

// Values of .Action in templates and of status.actions[].lastAction.
const (
	ActionProvision   = "provision"
	ActionUpdate      = "update"
	ActionDeprovision = "deprovision"
)

// Lists from the cache in this package use client.UnsafeDisableDeepCopy: they are read-only
// and run once per reconcile or event, and copying thousands of Associates each time costs
// more than the reconcile itself.
