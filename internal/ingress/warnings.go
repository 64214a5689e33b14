package ingress

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
)

// warningInterval: at most one Warning Event per receiver and reason in this time, so a
// flood of bad deliveries cannot flood the API server.
const warningInterval = time.Minute

// warningRecorder emits rate-limited Warning Events on receivers for refused deliveries.
type warningRecorder struct {
	recorder events.EventRecorder
	mu       sync.Mutex
	limiters map[warningKey]*rate.Limiter // bounded: one per existing receiver and reason (see pruner)
}

type warningKey struct {
	receiver types.NamespacedName
	reason   string
}

func newWarningRecorder(recorder events.EventRecorder) *warningRecorder {
	return &warningRecorder{recorder: recorder, limiters: map[warningKey]*rate.Limiter{}}
}

func (w *warningRecorder) warn(receiver *superofficev1alpha1.WebhookReceiver, reason, note string, args ...any) {
	if w == nil || w.recorder == nil {
		return
	}
	key := warningKey{types.NamespacedName{Namespace: receiver.Namespace, Name: receiver.Name}, reason}
	w.mu.Lock()
	limiter := w.limiters[key]
	if limiter == nil {
		limiter = rate.NewLimiter(rate.Every(warningInterval), 1)
		w.limiters[key] = limiter
	}
	allowed := limiter.Allow()
	w.mu.Unlock()
	if allowed {
		w.recorder.Eventf(receiver, nil, corev1.EventTypeWarning, reason, "RefuseDelivery", note, args...)
	}
}

// forget drops the rate limiters of a deleted receiver.
func (w *warningRecorder) forget(receiver types.NamespacedName) {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for key := range w.limiters {
		if key.receiver == receiver {
			delete(w.limiters, key)
		}
	}
}

// tracked is how many receivers and reasons have a rate limiter (tests).
func (w *warningRecorder) tracked() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.limiters)
}
