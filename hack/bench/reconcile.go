package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
	"github.com/assocsync/associate-operator/internal/operator"
	"github.com/assocsync/associate-operator/internal/testenv"
)

// reconcileWorkers is the Associate reconciler's default MaxConcurrentReconciles; the raw
// client uses the same concurrency.
const reconcileWorkers = 4

const serviceAccountTemplate = `apiVersion: v1
kind: ServiceAccount
metadata:
  name: person-{{ .PersonID }}
  namespace: {{ .Namespace }}
`

// benchReconcile: the time for the operator to bring N Associates with one policy (a
// ServiceAccount each) to Ready, over the time a plain client takes for the same writes
// (finalizer patch, object apply, status patch) at the same concurrency.
func benchReconcile(ctx context.Context, _ *testenv.Environment, cfg *rest.Config, admin client.Client, s settings, res *results) error {
	const viaOperator, viaRaw = "bench-reconcile", "bench-reconcile-raw"
	for _, ns := range []string{viaOperator, viaRaw} {
		if err := createNamespace(ctx, admin, ns); err != nil {
			return err
		}
	}
	policy := &v1alpha1.ProvisioningPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "accounts", Namespace: viaOperator},
		Spec: v1alpha1.ProvisioningPolicySpec{PolicyTemplate: v1alpha1.PolicyTemplate{
			Types:     []v1alpha1.AssociateType{v1alpha1.AssociateTypeEmployee},
			Resources: []v1alpha1.ResourceTemplate{{Template: serviceAccountTemplate}},
		}},
	}
	if err := admin.Create(ctx, policy); err != nil {
		return err
	}
	if _, err := createAssociates(ctx, admin, viaOperator, s.reconcileN, s.concurrency); err != nil {
		return err
	}
	before, err := apiRequests(ctx, cfg)
	if err != nil {
		return err
	}
	opTime, err := timeOperatorToReady(ctx, cfg, viaOperator, s.reconcileN)
	if err != nil {
		return err
	}
	after, err := apiRequests(ctx, cfg)
	if err != nil {
		return err
	}
	opRequests := perObject("reconcile (operator)", before, after, s.reconcileN)
	// Created only now that the operator has stopped, so that it never reconciles them.
	raw, err := createAssociates(ctx, admin, viaRaw, s.reconcileN, s.concurrency)
	if err != nil {
		return err
	}
	if before, err = apiRequests(ctx, cfg); err != nil {
		return err
	}
	_, rawTime, err := runBounded(ctx, 0, s.reconcileN, reconcileWorkers, func(ctx context.Context, i int) error {
		return rawReconcile(ctx, admin, raw[i])
	})
	if err != nil {
		return fmt.Errorf("raw writes: %w", err)
	}
	if after, err = apiRequests(ctx, cfg); err != nil {
		return err
	}
	rawRequests := perObject("reconcile (raw)", before, after, s.reconcileN)
	res.set("reconcile_vs_raw_ratio", "%.3f", opTime.Seconds()/rawTime.Seconds())
	res.set("reconcile_operator_s", "%.2f", opTime.Seconds())
	res.set("reconcile_raw_s", "%.2f", rawTime.Seconds())
	res.set("reconcile_operator_requests_per_associate", "%.2f", opRequests)
	res.set("reconcile_raw_requests_per_associate", "%.2f", rawRequests)
	res.set("reconcile_n", "%d", s.reconcileN)
	return nil
}

// timeOperatorToReady starts the whole operator and measures from its caches' sync until
// every Associate of ns is Ready, watching through an informer rather than polling.
func timeOperatorToReady(ctx context.Context, cfg *rest.Config, ns string, n int) (time.Duration, error) {
	var ready atomic.Int64
	allReady := make(chan struct{})
	watcher, err := cache.New(cfg, cache.Options{Scheme: operator.NewScheme(),
		DefaultNamespaces: map[string]cache.Config{ns: {}}})
	if err != nil {
		return 0, err
	}
	informer, err := watcher.GetInformer(ctx, &v1alpha1.Associate{})
	if err != nil {
		return 0, err
	}
	seen := map[string]bool{}
	count := func(obj any) {
		a, ok := obj.(*v1alpha1.Associate)
		if !ok || seen[a.Name] || !meta.IsStatusConditionTrue(a.Status.Conditions, "Ready") {
			return
		}
		seen[a.Name] = true // informer handlers run one at a time
		if ready.Add(1) == int64(n) {
			close(allReady)
		}
	}
	if _, err := informer.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc: count, UpdateFunc: func(_, obj any) { count(obj) },
	}); err != nil {
		return 0, err
	}
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go func() { _ = watcher.Start(watchCtx) }()
	watcher.WaitForCacheSync(watchCtx)

	opts := operator.DefaultOptions()
	opts.MetricsBindAddress, opts.HealthProbeBindAddress, opts.WebhookBindAddress = "0", "0", "127.0.0.1:0"
	opts.SkipControllerNameValidation = true
	mgr, err := operator.New(cfg, opts)
	if err != nil {
		return 0, err
	}
	mgrCtx, stopMgr := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- mgr.Start(mgrCtx) }()
	defer func() {
		stopMgr()
		if err := <-done; err != nil {
			fmt.Fprintln(os.Stderr, "bench: the operator:", err)
		}
	}()
	if !mgr.GetCache().WaitForCacheSync(mgrCtx) {
		return 0, fmt.Errorf("the operator's caches did not sync")
	}
	started := time.Now()
	select {
	case <-allReady:
		return time.Since(started), nil
	case err := <-done:
		return 0, fmt.Errorf("the operator stopped: %w", err)
	case <-time.After(15 * time.Minute):
		return 0, fmt.Errorf("only %d of %d Associates were Ready after 15 minutes", ready.Load(), n)
	}
}

// rawReconcile makes the writes the reconciler makes for one Associate.
func rawReconcile(ctx context.Context, c client.Client, a *v1alpha1.Associate) error {
	finalizer := client.RawPatch(client.Merge.Type(), []byte(`{"metadata":{"finalizers":["superoffice.assocsync.io/deprovision"]}}`))
	if err := c.Patch(ctx, a, finalizer); err != nil {
		return err
	}
	name := "person-" + strconv.FormatInt(a.Spec.PersonID, 10)
	sa := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "ServiceAccount",
		"metadata": map[string]any{
			"name": name, "namespace": a.Namespace,
			"ownerReferences": []any{map[string]any{
				"apiVersion": v1alpha1.GroupVersion.String(), "kind": "Associate", "name": a.Name, "uid": string(a.UID),
			}},
		},
	}}
	if err := c.Patch(ctx, sa, client.Apply, client.FieldOwner("associate-operator"), client.ForceOwnership); err != nil { //nolint:staticcheck // the plain client's SSA
		return err
	}
	before := a.DeepCopy()
	a.Status.ObservedGeneration = a.Generation
	meta.SetStatusCondition(&a.Status.Conditions, metav1.Condition{
		Type: "Ready", Status: metav1.ConditionTrue, Reason: "Provisioned", ObservedGeneration: a.Generation,
		Message: "every matching policy is applied",
	})
	a.Status.Provisioned = []v1alpha1.ProvisionedObject{{Policy: "accounts", APIVersion: "v1", Kind: "ServiceAccount", Namespace: a.Namespace, Name: name}}
	return c.Status().Patch(ctx, a, client.MergeFrom(before))
}
