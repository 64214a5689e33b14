package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
	"github.com/assocsync/associate-operator/internal/operator"
)

var (
	group = superofficev1alpha1.GroupVersion.Group
	// finalizerPrefix marks the operator's finalizers (FinalizerDeprovision on Associates,
	// FinalizerWebhookRegistration on WebhookReceivers); finalizers of anyone else stay.
	finalizerPrefix = group + "/"
	// crdSuffix ends the name of every CRD of the operator's API group.
	crdSuffix = "." + group
)

// liveLeaseWindow: a leader-election Lease renewed within it means a manager still runs.
const liveLeaseWindow = 2 * time.Minute

var crdGVK = schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"}

type options struct {
	// deleteObjects deletes every object of the operator's kinds (after their finalizers go).
	deleteObjects bool
	// deleteCRDs deletes the operator's CRDs too (implies deleteObjects).
	deleteCRDs bool
	// dryRun reports what would change and changes nothing.
	dryRun bool
	// force goes ahead although a manager seems to run.
	force bool
	// timeout bounds the wait for deleted objects and CRDs to be gone.
	timeout time.Duration
	now     func() time.Time
}

// resource is one kind of the operator's API, as its CRD serves it.
type resource struct {
	crd string
	gvk schema.GroupVersionKind
}

// cleanup removes the operator's finalizers from every object of its kinds, so that
// namespaces and objects the uninstalled operator can no longer finalize are not stuck,
// and on request deletes those objects and the CRDs.
func cleanup(ctx context.Context, c client.Client, opts options, out io.Writer) error {
	if opts.now == nil {
		opts.now = time.Now
	}
	if opts.deleteCRDs {
		opts.deleteObjects = true
	}
	if err := refuseWhileRunning(ctx, c, opts); err != nil {
		return err
	}
	resources, err := operatorResources(ctx, c)
	if err != nil {
		return err
	}
	if len(resources) == 0 {
		fmt.Fprintf(out, "no CRDs of %s found: nothing to clean up\n", group)
		return nil
	}
	prefix := ""
	if opts.dryRun {
		prefix = "(dry run) "
	}
	var failures []error
	var deleted []client.Object
	for _, res := range resources {
		list := &metav1.PartialObjectMetadataList{}
		list.SetGroupVersionKind(res.gvk.GroupVersion().WithKind(res.gvk.Kind + "List"))
		if err := c.List(ctx, list); err != nil {
			return fmt.Errorf("listing %s: %w", res.crd, err)
		}
		for i := range list.Items {
			obj := &list.Items[i]
			obj.SetGroupVersionKind(res.gvk)
			name := describe(obj)
			ours := operatorFinalizers(obj.GetFinalizers())
			if len(ours) > 0 {
				fmt.Fprintf(out, "%sremoving finalizer %s from %s\n", prefix, strings.Join(ours, ", "), name)
				if !opts.dryRun {
					if err := removeFinalizers(ctx, c, obj); err != nil {
						failures = append(failures, fmt.Errorf("removing the finalizers of %s: %w", name, err))
						continue
					}
				}
			}
			if opts.deleteObjects && obj.GetDeletionTimestamp() == nil {
				fmt.Fprintf(out, "%sdeleting %s\n", prefix, name)
				if !opts.dryRun {
					if err := c.Delete(ctx, obj); err != nil && !apierrors.IsNotFound(err) {
						failures = append(failures, fmt.Errorf("deleting %s: %w", name, err))
						continue
					}
				}
			}
			if opts.deleteObjects {
				deleted = append(deleted, obj)
			}
		}
	}
	if opts.deleteCRDs {
		for _, res := range resources {
			fmt.Fprintf(out, "%sdeleting CustomResourceDefinition %s\n", prefix, res.crd)
			if opts.dryRun {
				continue
			}
			crd := &unstructured.Unstructured{}
			crd.SetGroupVersionKind(crdGVK)
			crd.SetName(res.crd)
			if err := c.Delete(ctx, crd); err != nil && !apierrors.IsNotFound(err) {
				failures = append(failures, fmt.Errorf("deleting CustomResourceDefinition %s: %w", res.crd, err))
				continue
			}
			deleted = append(deleted, crd)
		}
	}
	if err := errors.Join(failures...); err != nil {
		return err
	}
	if opts.dryRun {
		return nil
	}
	return waitGone(ctx, c, deleted, opts.timeout, out)
}

// refuseWhileRunning: with a manager running, removing its finalizers would skip the
// deprovisioning it is about to do. A recently renewed leader-election Lease says one runs.
func refuseWhileRunning(ctx context.Context, c client.Client, opts options) error {
	if opts.force {
		return nil
	}
	var leases coordinationv1.LeaseList
	if err := c.List(ctx, &leases); err != nil {
		return fmt.Errorf("checking that no manager runs (listing Leases; pass --force to skip): %w", err)
	}
	for _, lease := range leases.Items {
		if lease.Name != operator.LeaderElectionID || lease.Spec.RenewTime == nil {
			continue
		}
		if age := opts.now().Sub(lease.Spec.RenewTime.Time); age < liveLeaseWindow {
			holder := ""
			if lease.Spec.HolderIdentity != nil {
				holder = " by " + *lease.Spec.HolderIdentity
			}
			return fmt.Errorf("a manager still runs: Lease %s/%s was renewed %s ago%s; uninstall the operator first "+
				"(its finalizers deprovision what it made), or pass --force", lease.Namespace, lease.Name, age.Round(time.Second), holder)
		}
	}
	return nil
}

// operatorResources are the kinds of the CRDs named *.superoffice.assocsync.io, at the
// version each stores.
func operatorResources(ctx context.Context, c client.Client) ([]resource, error) {
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(crdGVK.GroupVersion().WithKind("CustomResourceDefinitionList"))
	if err := c.List(ctx, list); err != nil {
		return nil, fmt.Errorf("listing CustomResourceDefinitions: %w", err)
	}
	var out []resource
	for _, crd := range list.Items {
		if !strings.HasSuffix(crd.GetName(), crdSuffix) {
			continue
		}
		crdGroup, _, _ := unstructured.NestedString(crd.Object, "spec", "group")
		kind, _, _ := unstructured.NestedString(crd.Object, "spec", "names", "kind")
		versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
		version := ""
		for _, v := range versions {
			v, _ := v.(map[string]any)
			if served, _ := v["served"].(bool); served {
				version, _ = v["name"].(string)
				if storage, _ := v["storage"].(bool); storage {
					break
				}
			}
		}
		if crdGroup == "" || kind == "" || version == "" {
			return nil, fmt.Errorf("CustomResourceDefinition %s: expected a group, a kind and a served version, got %q, %q, %q", crd.GetName(), crdGroup, kind, version)
		}
		out = append(out, resource{crd: crd.GetName(), gvk: schema.GroupVersionKind{Group: crdGroup, Version: version, Kind: kind}})
	}
	slices.SortFunc(out, func(a, b resource) int { return strings.Compare(a.crd, b.crd) })
	return out, nil
}

func operatorFinalizers(finalizers []string) []string {
	var ours []string
	for _, f := range finalizers {
		if strings.HasPrefix(f, finalizerPrefix) {
			ours = append(ours, f)
		}
	}
	return ours
}

// removeFinalizers drops the operator's finalizers with a merge patch under an optimistic
// lock, so a finalizer someone else adds meanwhile is not lost; a conflict reads again.
func removeFinalizers(ctx context.Context, c client.Client, obj *metav1.PartialObjectMetadata) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		current := &metav1.PartialObjectMetadata{}
		current.SetGroupVersionKind(obj.GroupVersionKind())
		if err := c.Get(ctx, client.ObjectKeyFromObject(obj), current); err != nil {
			return client.IgnoreNotFound(err)
		}
		before := current.DeepCopy()
		kept := slices.DeleteFunc(slices.Clone(current.GetFinalizers()), func(f string) bool { return strings.HasPrefix(f, finalizerPrefix) })
		if len(kept) == len(current.GetFinalizers()) {
			return nil
		}
		current.SetFinalizers(kept)
		return client.IgnoreNotFound(c.Patch(ctx, current, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})))
	})
}

// waitGone polls until every deleted object is gone, or the timeout passes.
func waitGone(ctx context.Context, c client.Client, objects []client.Object, timeout time.Duration, out io.Writer) error {
	if len(objects) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		var left []string
		for _, obj := range objects {
			probe := &unstructured.Unstructured{}
			probe.SetGroupVersionKind(obj.GetObjectKind().GroupVersionKind())
			err := c.Get(ctx, client.ObjectKeyFromObject(obj), probe)
			switch {
			case apierrors.IsNotFound(err) || meta.IsNoMatchError(err): // gone, or its CRD is
			case err == nil || ctx.Err() != nil:
				left = append(left, describe(obj))
			default:
				return fmt.Errorf("checking that %s is gone: %w", describe(obj), err)
			}
		}
		if len(left) == 0 {
			fmt.Fprintf(out, "%d objects deleted\n", len(objects))
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("after %s, %d objects still exist, e.g. %s (another finalizer holds them?)", timeout, len(left), left[0])
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func describe(obj client.Object) string {
	kind := obj.GetObjectKind().GroupVersionKind().Kind
	if obj.GetNamespace() == "" {
		return kind + " " + obj.GetName()
	}
	return kind + " " + obj.GetNamespace() + "/" + obj.GetName()
}
