package controllers

import (
	"context"
	"fmt"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
)

// The two receiver controllers find receivers by the Secrets they read and by a target
// namespace other than their own, through these indexes.
const (
	receiverSecretsIndex = "secretNames"
	receiverTargetIndex  = "targetNamespace"
)

// indexReceivers registers the receiver indexes once, for both controllers.
func indexReceivers(mgr ctrl.Manager) error {
	indexer := mgr.GetFieldIndexer()
	err := indexer.IndexField(context.Background(), &superofficev1alpha1.WebhookReceiver{}, receiverSecretsIndex,
		func(obj client.Object) []string {
			r := obj.(*superofficev1alpha1.WebhookReceiver)
			names := []string{r.Spec.SecretRef.Name}
			if r.Spec.API != nil {
				names = append(names, r.Spec.API.CredentialsSecretRef.Name)
			}
			return names
		})
	if err != nil {
		return fmt.Errorf("indexing WebhookReceivers by the Secrets they read: %w", err)
	}
	err = indexer.IndexField(context.Background(), &superofficev1alpha1.WebhookReceiver{}, receiverTargetIndex,
		func(obj client.Object) []string {
			if r := obj.(*superofficev1alpha1.WebhookReceiver); r.TargetNamespace() != r.Namespace {
				return []string{r.TargetNamespace()}
			}
			return nil
		})
	if err != nil {
		return fmt.Errorf("indexing WebhookReceivers by target namespace: %w", err)
	}
	return nil
}

// receiversOf maps an object to the receivers the index finds for it (in the object's
// namespace, or anywhere), those keep passes.
func receiversOf(c client.Reader, index string, namespaced bool, keep func(*superofficev1alpha1.WebhookReceiver) bool) func(context.Context, client.Object) []reconcile.Request {
	return func(ctx context.Context, obj client.Object) []reconcile.Request {
		opts := []client.ListOption{client.MatchingFields{index: obj.GetName()}}
		if namespaced {
			opts = append(opts, client.InNamespace(obj.GetNamespace()))
		}
		var receivers superofficev1alpha1.WebhookReceiverList
		if err := c.List(ctx, &receivers, opts...); err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "listing the receivers of an object", "index", index, "object", client.ObjectKeyFromObject(obj))
			return nil
		}
		requests := make([]reconcile.Request, 0, len(receivers.Items))
		for i := range receivers.Items {
			if keep == nil || keep(&receivers.Items[i]) {
				requests = append(requests, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&receivers.Items[i])})
			}
		}
		return requests
	}
}
