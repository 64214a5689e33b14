package controllers

import (
	"testing"
	"time"
)

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
