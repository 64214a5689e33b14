// Package controllers holds the operator's reconcilers: Associates, ProvisioningPolicies
// and WebhookReceivers. They run on the elected leader only.
package controllers

import (
	"time"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/assocsync/associate-operator/internal/actionhttp"
	"github.com/assocsync/associate-operator/internal/apiclient"
	"github.com/assocsync/associate-operator/internal/mirror"
	"github.com/assocsync/associate-operator/internal/secrets"
)

// Options configures the reconcilers.
type Options struct {
	// TombstoneTTL is how long a deleted associate's tombstone lives.
	TombstoneTTL time.Duration
	// DriftCheckInterval is how often each Associate's provisioned objects are read back
	// and re-applied when they drifted; zero means an hour.
	DriftCheckInterval time.Duration
	// Now is the sync controller's clock; time.Now when nil (tests).
	Now func() time.Time
	// ProvisionSummaryInterval is how often the Events that sum up first provisions per
	// policy are emitted; zero means 30 s.
	ProvisionSummaryInterval time.Duration
	// AllowActionNetworks lifts the block on loopback, link-local, metadata and the
	// manager's own addresses for HTTP actions, for these networks only.
	AllowActionNetworks actionhttp.Networks
	// Tenancy confines ProvisioningPolicies; nil means DefaultTenancy.
	Tenancy *Tenancy

	// The services the manager shares, made once by the composition root
	// (internal/operator); Setup makes what is nil, for tests that run the reconcilers
	// alone.
	Mirror  *mirror.Mirror
	Secrets *secrets.Store
	Clients *apiclient.Cache

	// sharedTemplates is the one cache of parsed policy templates that the reconcilers
	// share; Setup makes it.
	sharedTemplates *templateCache
}

func (o Options) templates() *templateCache { return o.sharedTemplates }

// complete makes what the reconcilers share and the composition root did not hand in,
// and registers the receiver indexes: once per manager.
func (o Options) complete(mgr ctrl.Manager) (Options, error) {
	o.sharedTemplates = newTemplateCache()
	if o.Mirror == nil {
		o.Mirror = mirror.New(mgr, o.TombstoneTTL)
	}
	if o.Secrets == nil {
		store, err := secrets.NewForManager(mgr)
		if err != nil {
			return o, err
		}
		o.Secrets = store
	}
	if o.Clients == nil {
		o.Clients = apiclient.NewCache(o.Secrets)
	}
	return o, indexReceivers(mgr)
}

func (o Options) tenancy() Tenancy {
	if o.Tenancy != nil {
		return *o.Tenancy
	}
	return DefaultTenancy()
}

// Setup registers every reconciler with the manager.
func Setup(mgr ctrl.Manager, opts Options) error {
	opts, err := opts.complete(mgr)
	if err != nil {
		return err
	}
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
