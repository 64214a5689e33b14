package ingress_test

import (
	"strings"
	"testing"
	"time"
)

func TestInputTheAPIServerWouldRefuseIs400NotARetryForever(t *testing.T) {
	r := startReplica(t, restConfig, time.Hour)
	// Receiver names over 63 characters (too long for the receiver label) are refused by the
	// CRD itself, so they never reach the ingress.
	ns := receiverSetup(t, "so", "", nil, map[string]string{"secret": secret})
	url := r.url + path(ns, "so")
	waitReceiverServed(t, url, secret)

	at := time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC)
	valid := map[string]any{"person_id": 7, "group_idx": 1, "type": 0}
	with := func(key string, value any) map[string]any {
		fields := map[string]any{key: value}
		for k, v := range valid {
			if k != key {
				fields[k] = v
			}
		}
		return fields
	}
	tests := []struct {
		name string
		url  string
		ev   event
	}{
		{"a negative person_id", url, event{Fields: with("person_id", -1)}},
		{"a negative group_idx", url, event{Fields: with("group_idx", -1)}},
		{"a negative registered_associate_id", url, event{Fields: with("registered_associate_id", -5)}},
		{"an updated over 64 characters", url, event{Fields: with("updated", strings.Repeat("2", 65))}},
		{"a tenant over 253 characters", url, event{Tenant: "C" + strings.Repeat("-", 253) + "1", Fields: valid}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.ev.ID, tt.ev.Event, tt.ev.Associate, tt.ev.At = newEventID("bad", i), "associate.created", int64(100+i), at
			if tt.ev.Tenant == "" {
				tt.ev.Tenant = "Cust1234"
			}
			if code, result := deliver(t, tt.url, tt.ev.body(), secret); code != 400 {
				t.Fatalf("want 400 (SuperOffice must not resend it forever), got %d %q", code, result)
			}
		})
	}
}
