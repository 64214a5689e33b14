package ingress

import (
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
)

type forgotten []types.UID

func (f *forgotten) Forget(uid types.UID) { *f = append(*f, uid) }

// receiverSeries counts the request metrics' series labelled with receiver.
func receiverSeries(t testing.TB, receiver string) int {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(requestsTotal, requestDuration)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, family := range families {
		for _, m := range family.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "receiver" && l.GetValue() == receiver {
					n++
				}
			}
		}
	}
	return n
}

func TestADeletedReceiverIsForgottenInEveryPerReceiverMapAndMetricSeries(t *testing.T) {
	for _, tt := range []struct {
		name string
		wrap func(*superofficev1alpha1.WebhookReceiver) any
	}{
		{"seen deleted", func(r *superofficev1alpha1.WebhookReceiver) any { return r }},
		{"deletion missed by the watch", func(r *superofficev1alpha1.WebhookReceiver) any {
			return toolscache.DeletedFinalStateUnknown{Key: r.Namespace + "/" + r.Name, Obj: r}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			gone := &superofficev1alpha1.WebhookReceiver{ObjectMeta: metav1.ObjectMeta{Namespace: "prune", Name: "gone", UID: "uid-gone"}}
			kept := &superofficev1alpha1.WebhookReceiver{ObjectMeta: metav1.ObjectMeta{Namespace: "prune", Name: "kept", UID: "uid-kept"}}
			warnings := newWarningRecorder(events.NewFakeRecorder(10))
			deliveries := newDeliveryRecorder(nil, logr.Discard())
			for _, r := range []*superofficev1alpha1.WebhookReceiver{gone, kept} {
				key := types.NamespacedName{Namespace: r.Namespace, Name: r.Name}
				warnings.warn(r, "BadSignature", "refused")
				warnings.warn(r, "WrongTenant", "refused")
				deliveries.lastWrite[key] = time.Now()
				requestsTotal.WithLabelValues(key.String(), resultBadSignature).Inc()
				requestDuration.WithLabelValues(key.String()).Observe(0.01)
			}
			clients := &forgotten{}
			p := &pruner{warnings: warnings, deliveries: deliveries, clients: clients}

			p.OnDelete(tt.wrap(gone))

			if n := warnings.tracked(); n != 2 {
				t.Errorf("want only the kept receiver's 2 Event rate limiters left, got %d", n)
			}
			if n := deliveries.tracked(); n != 1 {
				t.Errorf("want only the kept receiver's lastDeliveryTime throttle left, got %d", n)
			}
			if n := receiverSeries(t, "prune/gone"); n != 0 {
				t.Errorf("want no request metric series of the deleted receiver, got %d", n)
			}
			if n := receiverSeries(t, "prune/kept"); n != 2 {
				t.Errorf("want the kept receiver's 2 series (requests, duration) left, got %d", n)
			}
			if len(*clients) != 1 || (*clients)[0] != "uid-gone" {
				t.Errorf("want the deleted receiver's SuperOffice client forgotten, got %v", *clients)
			}
			p.forget(types.NamespacedName{Namespace: "prune", Name: "kept"}, "uid-kept")
		})
	}
}
