package ingress

import (
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
)

// forgetter drops what is kept for a receiver's UID (apiclient.Cache).
type forgetter interface {
	Forget(uid types.UID)
}

// pruner forgets a deleted receiver everywhere the ingress keeps something per receiver:
// the Warning Events' rate limiters, the lastDeliveryTime throttle, the request metrics'
// series and the SuperOffice client. It runs on every replica, from the receiver
// informer's delete notification, so that receivers created and deleted over time (or
// by a tenant in a loop) do not grow any of them without bound.
type pruner struct {
	warnings   *warningRecorder
	deliveries *deliveryRecorder
	clients    forgetter // nil: none
}

var _ toolscache.ResourceEventHandler = (*pruner)(nil)

func (p *pruner) OnAdd(any, bool)   {}
func (p *pruner) OnUpdate(any, any) {}

// OnDelete receives the receiver, or the informer's tombstone of it when the watch missed
// the deletion.
func (p *pruner) OnDelete(obj any) {
	if tomb, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	receiver, ok := obj.(*superofficev1alpha1.WebhookReceiver)
	if !ok {
		return
	}
	p.forget(types.NamespacedName{Namespace: receiver.Namespace, Name: receiver.Name}, receiver.UID)
}

func (p *pruner) forget(key types.NamespacedName, uid types.UID) {
	p.warnings.forget(key)
	p.deliveries.forget(key)
	labels := prometheus.Labels{"receiver": key.String()}
	requestsTotal.DeletePartialMatch(labels)
	requestDuration.DeletePartialMatch(labels)
	if p.clients != nil {
		p.clients.Forget(uid)
	}
}
