package secrets

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
)

// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups=superoffice.assocsync.io,resources=webhookreceivers;provisioningpolicies;clusterprovisioningpolicies,verbs=get;list;watch

// ReceiverSecrets are the Secrets a receiver reads: its signing keys and its API
// credentials, both in its own namespace.
func ReceiverSecrets(r *superofficev1alpha1.WebhookReceiver) []types.NamespacedName {
	keys := []types.NamespacedName{{Namespace: r.Namespace, Name: r.Spec.SecretRef.Name}}
	if r.Spec.API != nil {
		keys = append(keys, types.NamespacedName{Namespace: r.Namespace, Name: r.Spec.API.CredentialsSecretRef.Name})
	}
	return keys
}

// PolicySecrets are the Secrets a ProvisioningPolicy's HTTP actions read, in its namespace.
func PolicySecrets(p *superofficev1alpha1.ProvisioningPolicy) []types.NamespacedName {
	var keys []types.NamespacedName
	for _, action := range p.Spec.HTTP {
		if action.SigningSecretRef != nil {
			keys = append(keys, types.NamespacedName{Namespace: p.Namespace, Name: action.SigningSecretRef.Name})
		}
		for _, h := range action.HeadersFrom {
			keys = append(keys, types.NamespacedName{Namespace: p.Namespace, Name: h.SecretKeyRef.Name})
		}
	}
	return keys
}

// ClusterPolicySecrets are the Secrets a ClusterProvisioningPolicy's HTTP actions read;
// each reference names its namespace.
func ClusterPolicySecrets(p *superofficev1alpha1.ClusterProvisioningPolicy) []types.NamespacedName {
	var keys []types.NamespacedName
	for _, action := range p.Spec.HTTP {
		if ref := action.SigningSecretRef; ref != nil {
			keys = append(keys, types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name})
		}
		for _, h := range action.HeadersFrom {
			keys = append(keys, types.NamespacedName{Namespace: h.SecretKeyRef.Namespace, Name: h.SecretKeyRef.Name})
		}
	}
	return keys
}

// referencer turns one kind's informer notifications into Store references.
type referencer[T client.Object] struct {
	store *Store
	kind  string
	refs  func(T) []types.NamespacedName
}

func (r referencer[T]) owner(obj client.Object) string {
	return r.kind + "/" + obj.GetNamespace() + "/" + obj.GetName()
}

func (r referencer[T]) set(obj any) {
	if o, ok := obj.(T); ok {
		r.store.SetReferences(r.owner(o), r.refs(o))
	}
}

func (r referencer[T]) OnAdd(obj any, _ bool) { r.set(obj) }
func (r referencer[T]) OnUpdate(_, obj any)   { r.set(obj) }
func (r referencer[T]) OnDelete(obj any) {
	if tomb, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	if o, ok := obj.(T); ok {
		r.store.SetReferences(r.owner(o), nil)
	}
}

// Watch drives the Store's references from the informers of informers (the manager's
// cache): receivers and both policy kinds.
func (s *Store) Watch(ctx context.Context, informers cache.Informers) error {
	handlers := []struct {
		obj     client.Object
		handler toolscache.ResourceEventHandler
	}{
		{&superofficev1alpha1.WebhookReceiver{}, referencer[*superofficev1alpha1.WebhookReceiver]{s, "WebhookReceiver", ReceiverSecrets}},
		{&superofficev1alpha1.ProvisioningPolicy{}, referencer[*superofficev1alpha1.ProvisioningPolicy]{s, "ProvisioningPolicy", PolicySecrets}},
		{&superofficev1alpha1.ClusterProvisioningPolicy{}, referencer[*superofficev1alpha1.ClusterProvisioningPolicy]{s, "ClusterProvisioningPolicy", ClusterPolicySecrets}},
	}
	for _, h := range handlers {
		informer, err := informers.GetInformer(ctx, h.obj, cache.BlockUntilSynced(false))
		if err != nil {
			return fmt.Errorf("secrets: the informer of %T: %w", h.obj, err)
		}
		if _, err := informer.AddEventHandler(h.handler); err != nil {
			return fmt.Errorf("secrets: watching %T: %w", h.obj, err)
		}
	}
	return nil
}

// NewForManager makes a Store added to the manager as a runnable (every replica), its
// references driven by the manager's informers. The composition root (internal/operator)
// makes one and hands it to the ingress, the controllers and the SuperOffice client
// cache, so that each Secret is watched once.
func NewForManager(mgr manager.Manager) (*Store, error) {
	clients, err := kubernetes.NewForConfig(mgr.GetConfig())
	if err != nil {
		return nil, fmt.Errorf("secrets: a client for the API server: %w", err)
	}
	s := New(clients, mgr.GetAPIReader(), mgr.GetLogger().WithName("secrets"))
	if err := s.Watch(context.Background(), mgr.GetCache()); err != nil {
		return nil, err
	}
	if err := mgr.Add(s); err != nil {
		return nil, err
	}
	return s, nil
}
