package controllers

import (
	"testing"
	"time"
)

func TestContainsDecidesDrift(t *testing.T) {
	ownerRef := map[string]any{"apiVersion": "superoffice.assocsync.io/v1alpha1", "kind": "Associate", "name": "a-1", "uid": "u-1"}
	otherRef := map[string]any{"apiVersion": "superoffice.assocsync.io/v1alpha1", "kind": "Associate", "name": "a-2", "uid": "u-2"}
	desired := map[string]any{
		"apiVersion": "v1", "kind": "ServiceAccount",
		"metadata": map[string]any{
			"name": "person-7", "namespace": "crm",
			"labels":          map[string]any{"team": "sales"},
			"ownerReferences": []any{ownerRef},
		},
		"automountServiceAccountToken": false,
		"replicas":                     float64(2), // a template decodes numbers to float64
	}
	live := func(edit func(map[string]any)) map[string]any {
		obj := map[string]any{
			"apiVersion": "v1", "kind": "ServiceAccount",
			"metadata": map[string]any{
				"name": "person-7", "namespace": "crm", "uid": "sa-uid", "resourceVersion": "42",
				"labels":          map[string]any{"team": "sales", "added-by": "someone"},
				"ownerReferences": []any{otherRef, ownerRef},
			},
			"replicas": int64(2), // the API server decodes integers to int64
		}
		if edit != nil {
			edit(obj)
		}
		return obj
	}
	metadata := func(obj map[string]any) map[string]any { return obj["metadata"].(map[string]any) }

	tests := []struct {
		name string
		live map[string]any
		want bool
	}{
		{"extra fields, others' references, omitted zero values and int64 numbers are no drift", live(nil), true},
		{"a changed label is drift", live(func(o map[string]any) { metadata(o)["labels"] = map[string]any{"team": "ops"} }), false},
		{"a removed label is drift", live(func(o map[string]any) { metadata(o)["labels"] = map[string]any{} }), false},
		{"our ownerReference removed is drift", live(func(o map[string]any) { metadata(o)["ownerReferences"] = []any{otherRef} }), false},
		{"a changed number is drift", live(func(o map[string]any) { o["replicas"] = int64(3) }), false},
		{"a zero value set to non-zero is drift", live(func(o map[string]any) { o["automountServiceAccountToken"] = true }), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := contains(tt.live, desired); got != tt.want {
				t.Fatalf("expected contains = %v, got %v", tt.want, got)
			}
		})
	}
}

func TestAppliedMemoryLookup(t *testing.T) {
	m := newAppliedMemory()
	m.remember("u-1", "policy|v1|ServiceAccount|crm|person-7", "hash-1")
	tests := []struct {
		name     string
		key      string
		hash     string
		interval time.Duration
		want     appliedState
	}{
		{"the same content within the interval needs nothing", "policy|v1|ServiceAccount|crm|person-7", "hash-1", time.Hour, appliedRecently},
		{"the same content past the interval needs a drift check", "policy|v1|ServiceAccount|crm|person-7", "hash-1", 0, appliedLongAgo},
		{"other content is applied", "policy|v1|ServiceAccount|crm|person-7", "hash-2", time.Hour, notApplied},
		{"an object never applied is applied", "policy|v1|ServiceAccount|crm|person-8", "hash-1", time.Hour, notApplied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := m.lookup("u-1", tt.key, tt.hash, tt.interval); got != tt.want {
				t.Fatalf("expected %v, got %v", tt.want, got)
			}
		})
	}
}
