package controllers

import (
	"testing"

	"k8s.io/utils/ptr"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
	"github.com/assocsync/associate-operator/internal/mirror"
	"github.com/assocsync/associate-operator/internal/superoffice"
)

func TestDriftedComparesOnlyTheCarriedFields(t *testing.T) {
	spec := superofficev1alpha1.AssociateSpec{PersonID: 7, GroupIdx: 2, TypeCode: ptr.To[int32](0), Retired: false, WaitingForApproval: true}
	for _, tc := range []struct {
		name   string
		fields mirror.Fields
		want   bool
	}{
		{"nothing carried", mirror.Fields{}, false},
		{"same values", mirror.Fields{PersonID: ptr.To[int64](7), GroupIdx: ptr.To[int32](2), TypeCode: ptr.To[int32](0), Retired: ptr.To(false)}, false},
		{"another person", mirror.Fields{PersonID: ptr.To[int64](8)}, true},
		{"another group", mirror.Fields{GroupIdx: ptr.To[int32](3)}, true},
		{"another type", mirror.Fields{TypeCode: ptr.To[int32](1)}, true},
		{"retired", mirror.Fields{Retired: ptr.To(true)}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := drifted(&spec, tc.fields); got != tc.want {
				t.Errorf("drifted(%+v): want %v, got %v", tc.fields, tc.want, got)
			}
		})
	}
	if !drifted(&superofficev1alpha1.AssociateSpec{}, mirror.Fields{TypeCode: ptr.To[int32](0)}) {
		t.Error("an Associate without a type code has drifted from a listing that carries one")
	}
}

func TestNeedsRecordOnlyWhenTheListingLacksWhatTheAssociateLacks(t *testing.T) {
	typed := &superofficev1alpha1.Associate{Spec: superofficev1alpha1.AssociateSpec{TypeCode: ptr.To[int32](0)}}
	untyped := &superofficev1alpha1.Associate{}
	full := superoffice.AssociateRow{HasType: true, HasActive: true}
	noType := superoffice.AssociateRow{HasActive: true}
	for _, tc := range []struct {
		name     string
		row      superoffice.AssociateRow
		existing *superofficev1alpha1.Associate
		want     bool
	}{
		{"a full row needs nothing", full, nil, false},
		{"a new associate without type", noType, nil, true},
		{"an untyped Associate without type", noType, untyped, true},
		{"a typed Associate keeps its type", noType, typed, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := needsRecord(tc.row, tc.existing); got != tc.want {
				t.Errorf("want %v, got %v", tc.want, got)
			}
		})
	}
}

func TestWebhookDriftedComparesURLEventsSecretAndState(t *testing.T) {
	base := superoffice.Webhook{TargetURL: "https://a/x", Events: []string{"associate.created", "associate.changed"}, Secret: "s", State: "Active"}
	for _, tc := range []struct {
		name string
		edit func(*superoffice.Webhook)
		want bool
	}{
		{"identical", func(*superoffice.Webhook) {}, false},
		{"events in another order", func(w *superoffice.Webhook) { w.Events = []string{"associate.changed", "associate.created"} }, false},
		{"another URL", func(w *superoffice.Webhook) { w.TargetURL = "https://b/x" }, true},
		{"another event set", func(w *superoffice.Webhook) { w.Events = []string{"associate.created"} }, true},
		{"another secret", func(w *superoffice.Webhook) { w.Secret = "t" }, true},
		{"stopped", func(w *superoffice.Webhook) { w.State = "Stopped" }, true},
		{"other fields", func(w *superoffice.Webhook) { w.Name = "other"; w.ErrorsEmail = "x@y" }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			current := base
			current.Events = append([]string(nil), base.Events...)
			tc.edit(&current)
			if got := webhookDrifted(&current, &base); got != tc.want {
				t.Errorf("want %v, got %v", tc.want, got)
			}
		})
	}
}
