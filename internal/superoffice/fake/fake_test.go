package fake

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/assocsync/associate-operator/internal/ingress/samples"
	"github.com/assocsync/associate-operator/internal/signature"
	"github.com/assocsync/associate-operator/internal/superoffice"
)

// testKeys are generated once: RSA generation is the slow part of New.
var testKeys = sync.OnceValue(func() struct{ client, signing *rsa.PrivateKey } {
	client, err1 := rsa.GenerateKey(rand.Reader, 2048)
	signing, err2 := rsa.GenerateKey(rand.Reader, 2048)
	if err1 != nil || err2 != nil {
		panic("generating test keys failed")
	}
	return struct{ client, signing *rsa.PrivateKey }{client, signing}
})

type received struct {
	header http.Header
	body   []byte
}

// receiver records deliveries and answers with status.
type receiver struct {
	mu     sync.Mutex
	got    []received
	status int
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, received{header: req.Header.Clone(), body: body})
	w.WriteHeader(r.status)
}

func (r *receiver) last() received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.got[len(r.got)-1]
}

func newFake(t *testing.T) (*SuperOffice, *receiver, superoffice.Webhook) {
	t.Helper()
	so, err := New(Options{Tenant: "Cust1234", ClientKey: testKeys().client, SigningKey: testKeys().signing})
	if err != nil {
		t.Fatal(err)
	}
	rcv := &receiver{status: http.StatusOK}
	target := httptest.NewServer(rcv)
	t.Cleanup(target.Close)
	hook := superoffice.Webhook{WebhookID: 1, Name: "acc-so", TargetURL: target.URL, Secret: "s3cret",
		State: superoffice.WebhookStateActive, Events: []string{EventCreated, EventChanged, EventDeleted}}
	so.webhooks[1] = &webhookState{hook: hook}
	return so, rcv, hook
}

func keysOf(t *testing.T, body []byte, field string) []string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	if field != "" {
		var inner map[string]json.RawMessage
		if err := json.Unmarshal(m[field], &inner); err != nil {
			t.Fatalf("expected %s to be an object: %v", field, err)
		}
		m = inner
	}
	return slices.Sorted(maps.Keys(m))
}

func TestDeliveriesAreSignedAndShapedLikeTheDocumentedPayloads(t *testing.T) {
	so, rcv, hook := newFake(t)
	so.PutAssociate(Associate{ID: 141424, PersonID: 21, GroupID: 4})
	tests := []struct {
		event string
		file  string
		field string
		prep  func()
	}{
		{EventCreated, "created", "", nil},
		{EventChanged, "created", "FieldValues", nil}, // the documented changed sample has none
		{EventDeleted, "deleted", "", func() { so.RemoveAssociate(141424) }},
	}
	for _, tt := range tests {
		t.Run(tt.event, func(t *testing.T) {
			if tt.prep != nil {
				tt.prep()
			}
			ds, err := so.SendEvent(context.Background(), Event{Name: tt.event, AssociateID: 141424})
			if err != nil || len(ds) != 1 || ds[0].StatusCode != http.StatusOK {
				t.Fatalf("expected one delivery answered 200, got %+v (%v)", ds, err)
			}
			got := rcv.last()
			if !signature.Verify(got.body, got.header.Get("X-SuperOffice-Signature"), [][]byte{[]byte(hook.Secret)}) {
				t.Fatal("expected the body signed with the webhook's Secret")
			}
			if got.header.Get("X-SuperOffice-Event") != tt.event || got.header.Get("X-SuperOffice-EventId") != ds[0].EventID {
				t.Fatalf("expected event headers for %s/%s, got %v", tt.event, ds[0].EventID, got.header)
			}
			want := keysOf(t, samples.MustPayload(tt.file), tt.field)
			if have := keysOf(t, got.body, tt.field); !slices.Equal(have, want) {
				t.Fatalf("expected the documented keys %v, got %v", want, have)
			}
		})
	}
}

func TestDroppedDeliveriesNeverReachTheTarget(t *testing.T) {
	so, rcv, _ := newFake(t)
	so.PutAssociate(Associate{ID: 7})
	so.DropNextDeliveries(1)
	ds, err := so.SendEvent(context.Background(), Event{Name: EventChanged, AssociateID: 7})
	if err != nil || len(ds) != 1 || !ds[0].Dropped {
		t.Fatalf("expected one dropped delivery, got %+v (%v)", ds, err)
	}
	if len(rcv.got) != 0 {
		t.Fatalf("expected nothing delivered, the target got %d", len(rcv.got))
	}
	if ds, _ := so.SendEvent(context.Background(), Event{Name: EventChanged, AssociateID: 7}); ds[0].Dropped || len(rcv.got) != 1 {
		t.Fatal("expected the next delivery to arrive")
	}
}

func TestNineFailedDeliveriesStopTheWebhookWithTooManyErrors(t *testing.T) {
	so, rcv, _ := newFake(t)
	so.PutAssociate(Associate{ID: 7})
	rcv.status = http.StatusServiceUnavailable
	for i := range tooManyErrorsAfter {
		if h, _ := so.Webhook(1); h.State != superoffice.WebhookStateActive {
			t.Fatalf("expected Active before failure %d, got %s", i+1, h.State)
		}
		if _, err := so.SendEvent(context.Background(), Event{Name: EventChanged, AssociateID: 7}); err != nil {
			t.Fatal(err)
		}
	}
	h, _ := so.Webhook(1)
	if h.State != superoffice.WebhookStateTooManyErrors || so.webhooks[1].lastError == "" {
		t.Fatalf("expected TooManyErrors with a last error after 9 failures, got %s %q", h.State, so.webhooks[1].lastError)
	}
	if ds, _ := so.SendEvent(context.Background(), Event{Name: EventChanged, AssociateID: 7}); len(ds) != 0 {
		t.Fatalf("expected no delivery to a stopped webhook, got %+v", ds)
	}
}

func TestFaultsApplyAfterSkipForTimesThenStop(t *testing.T) {
	so, _, _ := newFake(t)
	srv := httptest.NewServer(so)
	defer srv.Close()
	so.Fail(RouteState, Fault{Skip: 1, Times: 2, Status: http.StatusTooManyRequests, RetryAfter: "3"})
	var got []int
	for range 4 {
		resp, err := http.Get(srv.URL + "/api/state/Cust1234")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		got = append(got, resp.StatusCode)
		if resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") != "3" {
			t.Fatalf("expected Retry-After 3, got %q", resp.Header.Get("Retry-After"))
		}
	}
	if want := []int{200, 429, 429, 200}; !slices.Equal(got, want) {
		t.Fatalf("expected statuses %v, got %v", want, got)
	}
	if so.Calls(RouteState) != 4 {
		t.Fatalf("expected 4 counted calls, got %d", so.Calls(RouteState))
	}
}

func TestASignedTokenFromAnotherKeyOrTooOldIsRefused(t *testing.T) {
	so, _, _ := newFake(t)
	now := so.opts.Now()
	good, _ := superoffice.SignSystemUserToken(so.opts.ClientKey, so.opts.SystemUserToken, now)
	old, _ := superoffice.SignSystemUserToken(so.opts.ClientKey, so.opts.SystemUserToken, now.Add(-time.Hour))
	other, _ := New(Options{})
	foreign, _ := superoffice.SignSystemUserToken(other.opts.ClientKey, so.opts.SystemUserToken, now)
	tests := []struct {
		name, signed string
		ok           bool
	}{
		{"valid", good, true},
		{"an hour old", old, false},
		{"signed with another key", foreign, false},
		{"malformed", "nodots", false},
	}
	for _, tt := range tests {
		if msg := so.verifySignedSystemToken(tt.signed); (msg == "") != tt.ok {
			t.Errorf("%s: expected ok=%v, got %q", tt.name, tt.ok, msg)
		}
	}
}
