package controllers

// Values of .Action in templates and of status.actions[].lastAction.
const (
	ActionProvision   = "provision"
	ActionUpdate      = "update"
	ActionDeprovision = "deprovision"
)

// Lists from the cache in this package use client.UnsafeDisableDeepCopy: they are read-only
// and run once per reconcile or event, and copying thousands of Associates each time costs
// more than the reconcile itself.
