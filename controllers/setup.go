// Package controllers holds the operator's reconcilers: Associates, ProvisioningPolicies
// and WebhookReceivers. They run on the elected leader only.
package controllers

import (
	"time"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/assocsync/associate-operator/internal/actionhttp"
)

// Options configures the reconcilers.
type Options struct {
	// TombstoneTTL is how long a deleted associate's tombstone lives.
	TombstoneTTL time.Duration
	// DriftCheckInterval is how often each Associate's provisioned objects are read back
	// and re-applied when they drifted; zero means an hour.
	DriftCheckInterval time.Duration
	// ProvisionSummaryInterval is how often the Events that sum up first provisions per
	// policy are emitted; zero means 30 s.
	ProvisionSummaryInterval time.Duration
	// AllowActionNetworks lifts the block on loopback, link-local, metadata and the
	// manager's own addresses for HTTP actions, for these networks only.
	AllowActionNetworks actionhttp.Networks
	// Tenancy confines ProvisioningPolicies; nil means DefaultTenancy.
	Tenancy *Tenancy

	// sharedTemplates is the one cache of parsed policy templates that the reconcilers
	// share; Setup makes it.
	sharedTemplates *templateCache
}

func (o Options) templates() *templateCache { return o.sharedTemplates }

func (o Options) tenancy() Tenancy {
	if o.Tenancy != nil {
		return *o.Tenancy
	}
	return DefaultTenancy()
}

// Setup registers every reconciler with the manager.
func Setup(mgr ctrl.Manager, opts Options) error {
	opts.sharedTemplates = newTemplateCache()
	for _, setup := range []func(ctrl.Manager, Options) error{
		setupAssociateReconciler,
		setupProvisioningPolicyReconciler,
		setupClusterProvisioningPolicyReconciler,
		setupWebhookReceiverReconciler,
		setupWebhookReceiverSyncReconciler,
	} {
		if err := setup(mgr, opts); err != nil {
			return err
		}
	}
	return nil
}
