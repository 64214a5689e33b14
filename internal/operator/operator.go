// Package operator builds the manager exactly as the operator runs it: scheme, cache,
// metrics, probes, the webhook ingress and the reconcilers. cmd/main.go, the benchmarks and
// the tests that run a whole manager all start it from here, so they measure and prove the
// same thing.
package operator

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
	"github.com/assocsync/associate-operator/controllers"
	"github.com/assocsync/associate-operator/internal/actionhttp"
	"github.com/assocsync/associate-operator/internal/apiclient"
	"github.com/assocsync/associate-operator/internal/ingress"
	"github.com/assocsync/associate-operator/internal/mirror"
	"github.com/assocsync/associate-operator/internal/secrets"
)

// LeaderElectionID names the Lease that the replicas compete for.
const LeaderElectionID = "associate-operator.superoffice.assocsync.io"

// Options are the manager's settings, one per command-line flag.
type Options struct {
	MetricsBindAddress      string
	SecureMetrics           bool
	HealthProbeBindAddress  string
	LeaderElection          bool
	LeaderElectionNamespace string
	WebhookBindAddress      string
	TombstoneTTL            time.Duration
	// MaxConcurrentReconciles is how many objects each reconciler works on at once.
	MaxConcurrentReconciles int
	// SkipControllerNameValidation lets a process build more than one manager (the
	// benchmarks run the operator once per part); controller names must otherwise be
	// unique per process, for their metrics.
	SkipControllerNameValidation bool
	// NamespacedPolicyKinds and AllowedRoleRefs confine ProvisioningPolicies
	// (--namespaced-policy-kinds, --allowed-role-refs).
	NamespacedPolicyKinds string
	AllowedRoleRefs       string

	// Limits of the webhook ingress on what unauthenticated senders can make it hold.
	// MaxBodyBytes (--max-body-bytes), when positive, caps every receiver's
	// spec.maxBodyBytes; 0 turns the ceiling off. MaxInflightBodyBytes
	// (--max-inflight-body-bytes) bounds the body bytes read at once; it must not be below
	// MaxBodyBytes.
	MaxBodyBytes         int64
	MaxInflightBodyBytes int64
	// AllowActionNetworks lifts the block on loopback, link-local, metadata and the
	// manager's own addresses for HTTP actions, for these networks only.
	AllowActionNetworks actionhttp.Networks
}

// DefaultOptions are the flags' defaults.
func DefaultOptions() Options {
	return Options{
		MetricsBindAddress:      ":8080",
		HealthProbeBindAddress:  ":8081",
		WebhookBindAddress:      ":8082",
		TombstoneTTL:            72 * time.Hour,
		MaxConcurrentReconciles: 4,
		NamespacedPolicyKinds:   controllers.DefaultNamespacedPolicyKinds,
		AllowedRoleRefs:         controllers.DefaultAllowedRoleRefs,

		MaxBodyBytes:         1 << 20,
		MaxInflightBodyBytes: ingress.DefaultMaxInflightBodyBytes,
	}
}

// NewScheme knows the built-in kinds and this operator's API.
func NewScheme() *runtime.Scheme {
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(superofficev1alpha1.AddToScheme(scheme))
	return scheme
}

// New builds the manager with the ingress and every reconciler registered.
func New(restConfig *rest.Config, opts Options) (manager.Manager, error) {
	tenancy, err := opts.tenancy()
	if err != nil {
		return nil, err
	}
	if err := ingress.CheckBodyLimits(opts.MaxBodyBytes, opts.MaxInflightBodyBytes); err != nil {
		return nil, err
	}
	metricsOptions := metricsserver.Options{BindAddress: opts.MetricsBindAddress, SecureServing: opts.SecureMetrics}
	if opts.SecureMetrics {
		metricsOptions.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	mgr, err := ctrl.NewManager(restConfig, ctrl.Options{
		Scheme:                  NewScheme(),
		Metrics:                 metricsOptions,
		HealthProbeBindAddress:  opts.HealthProbeBindAddress,
		LeaderElection:          opts.LeaderElection,
		LeaderElectionID:        LeaderElectionID,
		LeaderElectionNamespace: opts.LeaderElectionNamespace,
		// Hand the Lease over at once on a clean shutdown instead of waiting for it to expire.
		LeaderElectionReleaseOnCancel: true,
		Cache:                         CacheOptions(),
		Controller: config.Controller{
			MaxConcurrentReconciles: opts.MaxConcurrentReconciles,
			SkipNameValidation:      &opts.SkipControllerNameValidation,
		},
	})
	if err != nil {
		return nil, err
	}
	// The composition root: each service the ingress and the reconcilers share is made
	// once, here, and handed to both: the one path that writes Associates, the Secrets
	// receivers and policies reference, and the SuperOffice clients (with their tickets).
	associates := mirror.New(mgr, opts.TombstoneTTL)
	store, err := secrets.NewForManager(mgr)
	if err != nil {
		return nil, err
	}
	clients := apiclient.NewCache(store)
	if err := ingress.Add(mgr, ingress.Options{
		BindAddress: opts.WebhookBindAddress, TombstoneTTL: opts.TombstoneTTL,
		MaxBodyBytes: opts.MaxBodyBytes, MaxInflightBodyBytes: opts.MaxInflightBodyBytes,
		Mirror: associates, Secrets: store, Clients: clients,
	}); err != nil {
		return nil, err
	}
	if err := controllers.Setup(mgr, controllers.Options{TombstoneTTL: opts.TombstoneTTL, Tenancy: &tenancy,
		AllowActionNetworks: opts.AllowActionNetworks,
		Mirror:              associates, Secrets: store, Clients: clients,
	}); err != nil {
		return nil, err
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return nil, err
	}
	// Not ready until the informers have synced (ingress.Add registered the ones it reads):
	// an ingress answering from an empty cache would refuse deliveries for receivers that exist.
	if err := mgr.AddReadyzCheck("informers", cacheSynced(mgr)); err != nil {
		return nil, err
	}
	return mgr, nil
}

// tenancy parses the flags that confine ProvisioningPolicies.
func (o Options) tenancy() (controllers.Tenancy, error) {
	kinds, err := controllers.ParseNamespacedKinds(o.NamespacedPolicyKinds)
	if err != nil {
		return controllers.Tenancy{}, fmt.Errorf("--namespaced-policy-kinds: %w", err)
	}
	refs, err := controllers.ParseAllowedRoleRefs(o.AllowedRoleRefs)
	if err != nil {
		return controllers.Tenancy{}, fmt.Errorf("--allowed-role-refs: %w", err)
	}
	return controllers.Tenancy{NamespacedKinds: kinds, AllowedRoleRefs: refs}, nil
}

// cacheSynced is a readiness check that passes once the manager's informers have synced.
func cacheSynced(mgr manager.Manager) healthz.Checker {
	return func(req *http.Request) error {
		ctx, cancel := context.WithTimeout(req.Context(), 100*time.Millisecond)
		defer cancel()
		if !mgr.GetCache().WaitForCacheSync(ctx) {
			return errors.New("informer caches have not synced yet")
		}
		return nil
	}
}
