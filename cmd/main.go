// Command manager runs the associate-operator: the webhook ingress on every replica and
// the leader-elected reconcilers.
package main

import (
	"flag"
	"os"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	_ "k8s.io/client-go/plugin/pkg/client/auth"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
	"github.com/assocsync/associate-operator/controllers"
	"github.com/assocsync/associate-operator/internal/ingress"
)

func main() {
	var (
		metricsAddr             string
		secureMetrics           bool
		probeAddr               string
		leaderElect             bool
		leaderElectionNamespace string
		webhookAddr             string
		tombstoneTTL            time.Duration
	)
	flag.StringVar(&metricsAddr, "metrics-bind-address", ":8080",
		"The address the metrics endpoint binds to; 0 turns it off.")
	flag.BoolVar(&secureMetrics, "metrics-secure", false,
		"Serve metrics over HTTPS, authenticated and authorized by the API server.")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "The address the probe endpoint binds to.")
	flag.BoolVar(&leaderElect, "leader-elect", false,
		"Elect a leader so that only one replica reconciles; every replica serves webhooks.")
	flag.StringVar(&leaderElectionNamespace, "leader-election-namespace", "",
		"The namespace of the leader-election Lease (needed when running outside a cluster).")
	flag.StringVar(&webhookAddr, "webhook-bind-address", ":8082",
		"The address the SuperOffice webhook ingress binds to.")
	flag.DurationVar(&tombstoneTTL, "tombstone-ttl", 72*time.Hour,
		"How long a deleted associate's tombstone keeps older events from bringing it back.")
	zapOpts := zap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()

	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	setupLog := ctrl.Log.WithName("setup")
	if err := run(managerConfig{
		metricsAddr: metricsAddr, secureMetrics: secureMetrics, probeAddr: probeAddr,
		leaderElect: leaderElect, leaderElectionNamespace: leaderElectionNamespace,
		webhookAddr: webhookAddr, tombstoneTTL: tombstoneTTL,
	}); err != nil {
		setupLog.Error(err, "manager stopped")
		os.Exit(1)
	}
}

type managerConfig struct {
	metricsAddr             string
	secureMetrics           bool
	probeAddr               string
	leaderElect             bool
	leaderElectionNamespace string
	webhookAddr             string
	tombstoneTTL            time.Duration
}

func run(cfg managerConfig) error {
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(superofficev1alpha1.AddToScheme(scheme))

	metricsOptions := metricsserver.Options{BindAddress: cfg.metricsAddr, SecureServing: cfg.secureMetrics}
	if cfg.secureMetrics {
		metricsOptions.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	restConfig, err := ctrl.GetConfig()
	if err != nil {
		return err
	}
	mgr, err := ctrl.NewManager(restConfig, ctrl.Options{
		Scheme:                  scheme,
		Metrics:                 metricsOptions,
		HealthProbeBindAddress:  cfg.probeAddr,
		LeaderElection:          cfg.leaderElect,
		LeaderElectionID:        "associate-operator.superoffice.assocsync.io",
		LeaderElectionNamespace: cfg.leaderElectionNamespace,
		// Managed fields are a third of a cached object and nothing here reads them.
		Cache: cache.Options{DefaultTransform: cache.TransformStripManagedFields()},
	})
	if err != nil {
		return err
	}
	if err := ingress.Add(mgr, ingress.Options{BindAddress: cfg.webhookAddr, TombstoneTTL: cfg.tombstoneTTL}); err != nil {
		return err
	}
	if err := controllers.Setup(mgr, controllers.Options{TombstoneTTL: cfg.tombstoneTTL}); err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return err
	}
	ctrl.Log.WithName("setup").Info("starting manager", "webhookAddress", cfg.webhookAddr, "leaderElection", cfg.leaderElect)
	return mgr.Start(ctrl.SetupSignalHandler())
}
