package ingress

import (
	"testing"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
)

func TestBodyLimitIsTheReceiversCappedByTheManagerCeiling(t *testing.T) {
	receiverWith := func(limit *int64) *readyReceiver {
		return &readyReceiver{receiver: &superofficev1alpha1.WebhookReceiver{
			Spec: superofficev1alpha1.WebhookReceiverSpec{MaxBodyBytes: limit},
		}}
	}
	size := func(n int64) *int64 { return &n }
	cases := []struct {
		name     string
		receiver *int64
		ceiling  int64
		want     int64
	}{
		{"receiver unset, no ceiling: 1 MiB", nil, 0, 1 << 20},
		{"receiver's own limit", size(4096), 0, 4096},
		{"ceiling below the receiver's limit wins", size(8 << 20), 2 << 20, 2 << 20},
		{"receiver below the ceiling keeps its limit", size(4096), 2 << 20, 4096},
	}
	for _, tc := range cases {
		h := &handler{maxBodyCeiling: tc.ceiling}
		if got := h.bodyLimit(receiverWith(tc.receiver)); got != tc.want {
			t.Errorf("%s: limit %d, want %d", tc.name, got, tc.want)
		}
	}
}
