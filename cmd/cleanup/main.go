// Command cleanup removes the associate-operator's finalizers after the operator is gone
// (`helm uninstall` keeps the CRDs, and with them every Associate and its finalizer, which
// nothing removes any more, so deleting their namespace hangs):
//
//	go run ./cmd/cleanup [--kubeconfig FILE] [--delete-objects] [--delete-crds] [--dry-run]
//
// It removes the finalizers superoffice.assocsync.io/deprovision (Associates) and
// superoffice.assocsync.io/webhook-registration (WebhookReceivers), every finalizer of
// that prefix on every kind of the API group, and no other. --delete-objects also deletes
// every object of those kinds; --delete-crds also deletes the CRDs. Nothing is
// deprovisioned: HTTP deprovision calls are not made and webhooks stay in SuperOffice.
// It refuses to run while a manager renews its leader-election Lease (--force overrides).
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	_ "k8s.io/client-go/plugin/pkg/client/auth"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/assocsync/associate-operator/internal/operator"
)

func main() {
	var opts options
	flag.BoolVar(&opts.deleteObjects, "delete-objects", false,
		"Also delete every Associate, WebhookReceiver, ProvisioningPolicy and ClusterProvisioningPolicy.")
	flag.BoolVar(&opts.deleteCRDs, "delete-crds", false,
		"Also delete the operator's CustomResourceDefinitions (implies --delete-objects).")
	flag.BoolVar(&opts.dryRun, "dry-run", false, "Print what would change, change nothing.")
	flag.BoolVar(&opts.force, "force", false,
		"Run even though a manager seems to run (its leader-election Lease "+operator.LeaderElectionID+" was renewed lately).")
	flag.DurationVar(&opts.timeout, "timeout", 2*time.Minute, "How long to wait for deleted objects and CRDs to be gone.")
	flag.Parse() // --kubeconfig is controller-runtime's

	cfg, err := ctrl.GetConfig()
	if err != nil {
		fail(err)
	}
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		fail(err)
	}
	ctx := ctrl.SetupSignalHandler()
	if err := cleanup(ctx, c, opts, os.Stdout); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "cleanup:", err)
	os.Exit(1)
}
