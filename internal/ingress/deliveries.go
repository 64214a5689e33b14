package ingress

import (
	"context"
	"sync"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
	acv1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1/applyconfiguration/api/v1alpha1"
)

// deliveryInterval: status.lastDeliveryTime is written at most this often per receiver.
const deliveryInterval = 30 * time.Second

// deliveryRecorder writes status.lastDeliveryTime off the request path, at most every
// deliveryInterval per receiver (on this replica; the cached value guards across replicas).
type deliveryRecorder struct {
	client client.Client
	log    logr.Logger
	ctx    context.Context // the server's; writes stop with it
	wg     sync.WaitGroup

	mu        sync.Mutex
	lastWrite map[types.NamespacedName]time.Time
}

func newDeliveryRecorder(c client.Client, log logr.Logger) *deliveryRecorder {
	return &deliveryRecorder{client: c, log: log, ctx: context.Background(), lastWrite: map[types.NamespacedName]time.Time{}}
}

// delivered notes an accepted delivery for receiver (as read from the cache).
func (d *deliveryRecorder) delivered(receiver *superofficev1alpha1.WebhookReceiver) {
	if d == nil {
		return
	}
	now := time.Now()
	key := types.NamespacedName{Namespace: receiver.Namespace, Name: receiver.Name}
	if last := receiver.Status.LastDeliveryTime; last != nil && now.Sub(last.Time) < deliveryInterval {
		return
	}
	d.mu.Lock()
	if now.Sub(d.lastWrite[key]) < deliveryInterval {
		d.mu.Unlock()
		return
	}
	d.lastWrite[key] = now
	d.mu.Unlock()

	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		ctx, cancel := context.WithTimeout(d.ctx, 10*time.Second)
		defer cancel()
		// Server-side apply of this one field, under the ingress's own field manager: the
		// receiver controllers own the rest of the status.
		apply := acv1alpha1.WebhookReceiver(key.Name, key.Namespace).
			WithStatus(acv1alpha1.WebhookReceiverStatus().WithLastDeliveryTime(metav1.NewTime(now)))
		if err := d.client.Status().Apply(ctx, apply, client.FieldOwner(superofficev1alpha1.FieldManagerIngress), client.ForceOwnership); err != nil {
			d.log.Error(err, "recording lastDeliveryTime", "receiver", key.String())
			d.mu.Lock()
			delete(d.lastWrite, key) // let the next delivery try again
			d.mu.Unlock()
		}
	}()
}

// wait returns when pending status writes are done.
func (d *deliveryRecorder) wait() {
	if d != nil {
		d.wg.Wait()
	}
}

// forget drops the throttle of a deleted receiver.
func (d *deliveryRecorder) forget(receiver types.NamespacedName) {
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.lastWrite, receiver)
}

// tracked is how many receivers have a throttle entry (tests).
func (d *deliveryRecorder) tracked() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.lastWrite)
}
