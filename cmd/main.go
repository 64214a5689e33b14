// Command manager runs the associate-operator: the webhook ingress on every replica and
// the leader-elected reconcilers.
package main

import (
	"flag"
	"os"

	"github.com/KimMachineGun/automemlimit/memlimit"
	_ "k8s.io/client-go/plugin/pkg/client/auth"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/assocsync/associate-operator/internal/operator"
)

func main() {
	opts := operator.DefaultOptions()
	flag.StringVar(&opts.MetricsBindAddress, "metrics-bind-address", opts.MetricsBindAddress,
		"The address the metrics endpoint binds to; 0 turns it off.")
	flag.BoolVar(&opts.SecureMetrics, "metrics-secure", false,
		"Serve metrics over HTTPS, authenticated and authorized by the API server.")
	flag.StringVar(&opts.HealthProbeBindAddress, "health-probe-bind-address", opts.HealthProbeBindAddress,
		"The address the probe endpoint binds to.")
	flag.BoolVar(&opts.LeaderElection, "leader-elect", false,
		"Elect a leader so that only one replica reconciles; every replica serves webhooks.")
	flag.StringVar(&opts.LeaderElectionNamespace, "leader-election-namespace", "",
		"The namespace of the leader-election Lease (needed when running outside a cluster).")
	flag.StringVar(&opts.WebhookBindAddress, "webhook-bind-address", opts.WebhookBindAddress,
		"The address the SuperOffice webhook ingress binds to.")
	flag.DurationVar(&opts.TombstoneTTL, "tombstone-ttl", opts.TombstoneTTL,
		"How long a deleted associate's tombstone keeps older events from bringing it back.")
	flag.IntVar(&opts.MaxConcurrentReconciles, "max-concurrent-reconciles", opts.MaxConcurrentReconciles,
		"How many Associates (and policies, and receivers) are reconciled at once.")
	flag.StringVar(&opts.NamespacedPolicyKinds, "namespaced-policy-kinds", opts.NamespacedPolicyKinds,
		"The only kinds a namespace's ProvisioningPolicy may render, comma-separated Kind.group (core kinds as Kind).")
	flag.StringVar(&opts.AllowedRoleRefs, "allowed-role-refs", opts.AllowedRoleRefs,
		"The only roles a ProvisioningPolicy's RoleBinding may reference, comma-separated ClusterRole/<name> or Role/<name>.")
	// What unauthenticated senders can make the webhook ingress hold.
	flag.Int64Var(&opts.MaxBodyBytes, "max-body-bytes", opts.MaxBodyBytes,
		"A ceiling over every receiver's spec.maxBodyBytes for webhook bodies; 0 turns it off (receivers' own limits still hold).")
	flag.Int64Var(&opts.MaxInflightBodyBytes, "max-inflight-body-bytes", opts.MaxInflightBodyBytes,
		"The webhook body bytes read at once, over all requests; a delivery that does not fit gets 503 with Retry-After. "+
			"Must not be below --max-body-bytes.")
	flag.Var(&opts.AllowActionNetworks, "allow-action-networks",
		"Comma-separated CIDRs that HTTP actions may call although they are loopback, link-local, "+
			"a metadata address or the manager's own (e.g. 127.0.0.0/8 for a sidecar); nothing else is allowed by it.")
	zapOpts := zap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))

	log := ctrl.Log.WithName("setup")
	// GC before the kernel's OOM kill: the Go memory limit follows the container's.
	if limit, err := operator.SetMemoryLimit(ctrl.Log.WithName("memlimit"), memlimit.FromCgroup); err != nil {
		log.Info("the Go memory limit could not be set from the container's memory limit", "error", err.Error())
	} else {
		log.Info("Go memory limit", "bytes", limit)
	}
	if err := run(opts); err != nil {
		log.Error(err, "manager stopped")
		os.Exit(1)
	}
}

func run(opts operator.Options) error {
	restConfig, err := ctrl.GetConfig()
	if err != nil {
		return err
	}
	mgr, err := operator.New(restConfig, opts)
	if err != nil {
		return err
	}
	ctrl.Log.WithName("setup").Info("starting manager",
		"webhookAddress", opts.WebhookBindAddress, "leaderElection", opts.LeaderElection)
	return mgr.Start(ctrl.SetupSignalHandler())
}
