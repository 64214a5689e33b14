// Command cluster starts and stops the single-node cluster of internal/nodecluster, as
// `make cluster-up` and `make cluster-down` do:
//
//	cluster up -dir bin/cluster -bin bin/k8s -pause bin/pause [-image bin/image/associate-operator.tar]
//	cluster down -dir bin/cluster -bin bin/k8s
//
// up returns once the Node is Ready and leaves the cluster running; its admin kubeconfig
// is <dir>/pki/admin.kubeconfig. down removes everything up made (the logs stay in
// <dir>/logs). Both need root.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/assocsync/associate-operator/internal/nodecluster"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		os.Exit(1)
	}
}

func run() error {
	if len(os.Args) < 2 || (os.Args[1] != "up" && os.Args[1] != "down") {
		return fmt.Errorf("usage: cluster up|down [flags]")
	}
	fl := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	dir := fl.String("dir", "bin/cluster", "the cluster's state directory")
	bin := fl.String("bin", "bin/k8s", "the Kubernetes binaries (hack/envtest-assets.sh --node)")
	pause := fl.String("pause", "bin/pause", "the pause binary (go build ./hack/cluster/pause)")
	images := fl.String("image", "", "comma-separated image tarballs to import, e.g. bin/image/associate-operator.tar")
	_ = fl.Parse(os.Args[2:])

	if os.Args[1] == "down" {
		return nodecluster.Down(*dir, *bin)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	o := nodecluster.Options{Dir: *dir, BinDir: *bin, PauseBinary: *pause, Log: os.Stderr}
	if *images != "" {
		o.Images = strings.Split(*images, ",")
	}
	c, err := nodecluster.Up(ctx, o)
	if err != nil {
		return err
	}
	fmt.Printf("export KUBECONFIG=%s\n", c.Kubeconfig)
	return nil
}
