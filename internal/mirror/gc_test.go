package mirror

import (
	"context"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
)

func TestATombstoneCarriesTheOperatorsMarker(t *testing.T) {
	f := newFixture(t)
	m := mirrorWith(nil)
	f.apply(m, f.obs(EventCreated, "c1", 0))
	f.apply(m, f.obs(EventDeleted, "d1", 1))
	cm := f.tombstoneCM()
	if cm == nil {
		t.Fatal("want a tombstone after the deletion, found none")
	}
	if got := cm.Labels[superofficev1alpha1.LabelManagedBy]; got != superofficev1alpha1.LabelManagedByValue {
		t.Fatalf("want label %s=%s on the tombstone, got labels %v",
			superofficev1alpha1.LabelManagedBy, superofficev1alpha1.LabelManagedByValue, cm.Labels)
	}
}

func TestTheCollectorDeletesOnlyExpiredTombstonesItWrote(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	past, future := time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	tombstoneData := func(expires time.Time) map[string]string {
		return map[string]string{
			tombstoneEventID:   "d1",
			tombstoneTimestamp: t0.Format(time.RFC3339Nano),
			tombstoneExpires:   expires.UTC().Format(time.RFC3339Nano),
		}
	}
	marked := map[string]string{LabelTombstone: "true", superofficev1alpha1.LabelManagedBy: superofficev1alpha1.LabelManagedByValue,
		superofficev1alpha1.LabelTenant: "cust1234", superofficev1alpha1.LabelAssociateID: "1"}
	legacy := map[string]string{LabelTombstone: "true", superofficev1alpha1.LabelTenant: "cust1234", superofficev1alpha1.LabelAssociateID: "2"}
	onlyTheLabel := map[string]string{LabelTombstone: "true"}
	tests := []struct {
		name   string
		labels map[string]string
		data   map[string]string
		want   bool // kept
	}{
		{"cust1234-1.tombstone", marked, tombstoneData(past), false},
		{"cust1234-3.tombstone", marked, tombstoneData(future), true},
		{"cust1234-4.tombstone", marked, map[string]string{"expires": "garbled"}, false},
		{"cust1234-2.tombstone", legacy, tombstoneData(past), false},
		{"cust1234-5.tombstone", legacy, tombstoneData(future), true},
		{"app-settings", onlyTheLabel, map[string]string{"config.yaml": "replicas: 3"}, true},
		{"cust1234-6.tombstone", legacy, map[string]string{"config.yaml": "replicas: 3"}, true},
		{"notes", onlyTheLabel, tombstoneData(past), true},
		{"unlabelled.tombstone", nil, tombstoneData(past), true},
	}
	why := map[string]string{
		"cust1234-1.tombstone": "an expired tombstone it wrote",
		"cust1234-3.tombstone": "a live tombstone",
		"cust1234-4.tombstone": "a marked tombstone that no longer parses",
		"cust1234-2.tombstone": "an expired tombstone written before the marker existed",
		"cust1234-5.tombstone": "a live tombstone written before the marker existed",
		"app-settings":         "someone else's ConfigMap that only carries the tombstone label",
		"cust1234-6.tombstone": "an unmarked ConfigMap that does not parse as a tombstone",
		"notes":                "an unmarked ConfigMap not named or labelled like a tombstone",
		"unlabelled.tombstone": "a ConfigMap without the tombstone label",
	}
	for _, tt := range tests {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: tt.name, Labels: tt.labels}, Data: tt.data}
		if err := k8s.Create(ctx, cm); err != nil {
			t.Fatal(err)
		}
	}

	(&TombstoneCollector{Client: k8s, Log: logr.Discard()}).collect(ctx)

	for _, tt := range tests {
		err := k8s.Get(ctx, types.NamespacedName{Namespace: f.ns, Name: tt.name}, &corev1.ConfigMap{})
		kept := err == nil
		if err != nil && !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
		switch {
		case tt.want && !kept:
			t.Errorf("%s (%s): want it kept, the collector deleted it", tt.name, why[tt.name])
		case !tt.want && kept:
			t.Errorf("%s (%s): want it collected, it is still there", tt.name, why[tt.name])
		}
	}
}
