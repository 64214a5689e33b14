package superoffice_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/assocsync/associate-operator/internal/signature"
	"github.com/assocsync/associate-operator/internal/superoffice"
	"github.com/assocsync/associate-operator/internal/superoffice/fake"
)

// target is a receiver stand-in that checks the signature and records what it got.
type target struct {
	srv    *httptest.Server
	secret atomic.Value // string
	status atomic.Int32
	mu     sync.Mutex
	got    []fake.Payload
	tests  int
}

func newTarget(t *testing.T, secret string) *target {
	t.Helper()
	tg := &target{}
	tg.secret.Store(secret)
	tg.status.Store(http.StatusOK)
	tg.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if !signature.Verify(body, r.Header.Get("X-SuperOffice-Signature"), [][]byte{[]byte(tg.secret.Load().(string))}) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var p fake.Payload
		if err := json.Unmarshal(body, &p); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		tg.mu.Lock()
		if r.Header.Get("X-Hook-Test") == "true" && p.Event == "test" {
			tg.tests++
		} else {
			tg.got = append(tg.got, p)
		}
		tg.mu.Unlock()
		w.WriteHeader(int(tg.status.Load()))
	}))
	t.Cleanup(tg.srv.Close)
	return tg
}

func (tg *target) testEvents() int {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return tg.tests
}

func TestWebhookCreateGetFindUpdateLastErrorAndDelete(t *testing.T) {
	e := newEnv(t, nil)
	tg := newTarget(t, "first-key")
	events := []string{"associate.created", "associate.changed", "associate.deleted"}

	created, err := e.client.CreateWebhook(ctx(t), superoffice.Webhook{
		Name: "acc-so", Events: events, TargetURL: tg.srv.URL + "/webhooks/acc/so", Secret: "first-key", State: superoffice.WebhookStateActive,
	})
	if err != nil {
		t.Fatalf("CreateWebhook: %v", err)
	}
	if created.WebhookID < 1 || created.State != superoffice.WebhookStateActive || created.Type != "webhook" {
		t.Fatalf("expected a saved Active webhook with an id, got %v", created)
	}
	if tg.testEvents() != 1 {
		t.Fatalf("expected the save to send one signed test event, the target got %d", tg.testEvents())
	}

	got, err := e.client.GetWebhook(ctx(t), created.WebhookID)
	if err != nil || got.Name != "acc-so" || got.Secret != "first-key" {
		t.Fatalf("GetWebhook: expected acc-so with its secret, got %v (%v)", got, err)
	}
	if _, err := e.client.CreateWebhook(ctx(t), superoffice.Webhook{Name: "acc-so-other", Events: events, TargetURL: tg.srv.URL, Secret: "first-key"}); err != nil {
		t.Fatal(err)
	}
	found, err := e.client.FindWebhookByName(ctx(t), "acc-so")
	if err != nil || found == nil || found.WebhookID != created.WebhookID {
		t.Fatalf("FindWebhookByName: expected webhook %d among similar names, got %v (%v)", created.WebhookID, found, err)
	}
	if none, err := e.client.FindWebhookByName(ctx(t), "nobody"); err != nil || none != nil {
		t.Fatalf("FindWebhookByName: expected nil for an unknown name, got %v (%v)", none, err)
	}

	// Rotating the secret: the target accepts the new key before the save tests it.
	tg.secret.Store("second-key")
	got.Secret, got.TargetURL = "second-key", tg.srv.URL+"/moved"
	updated, err := e.client.UpdateWebhook(ctx(t), got)
	if err != nil || updated.TargetURL != tg.srv.URL+"/moved" {
		t.Fatalf("UpdateWebhook: expected the new URL saved, got %v (%v)", updated, err)
	}
	if stored, _ := e.so.Webhook(created.WebhookID); stored.Secret != "second-key" {
		t.Fatal("expected the fake to hold the rotated secret")
	}

	if msg, err := e.client.WebhookLastError(ctx(t), created.WebhookID); err != nil || msg != "" {
		t.Fatalf("expected no last error yet, got %q (%v)", msg, err)
	}
	if err := e.so.SetWebhookState(created.WebhookID, superoffice.WebhookStateTooManyErrors, "HTTP 503 from target"); err != nil {
		t.Fatal(err)
	}
	stopped, _ := e.client.GetWebhook(ctx(t), created.WebhookID)
	msg, err := e.client.WebhookLastError(ctx(t), created.WebhookID)
	if stopped.State != superoffice.WebhookStateTooManyErrors || msg != "HTTP 503 from target" || err != nil {
		t.Fatalf("expected TooManyErrors with its last error, got %s and %q (%v)", stopped.State, msg, err)
	}

	if err := e.client.DeleteWebhook(ctx(t), created.WebhookID); err != nil {
		t.Fatalf("DeleteWebhook: %v", err)
	}
	if err := e.client.DeleteWebhook(ctx(t), created.WebhookID); err != nil {
		t.Fatalf("expected deleting a gone webhook to count as deleted, got %v", err)
	}
	if _, err := e.client.GetWebhook(ctx(t), created.WebhookID); !superoffice.IsNotFound(err) {
		t.Fatalf("expected GetWebhook of a deleted webhook to be IsNotFound, got %v", err)
	}
}

func TestAWebhookSaveIsRefusedUnlessTheTargetAnswers200(t *testing.T) {
	tests := []struct {
		name      string
		status    int32
		secret    string
		targetKey string
	}{
		{"the target answers 500", http.StatusInternalServerError, "secret-a", "secret-a"},
		{"the target refuses the signature", http.StatusOK, "secret-new", "secret-old"},
		{"the target answers 202", http.StatusAccepted, "secret-b", "secret-b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil)
			tg := newTarget(t, tt.targetKey)
			tg.status.Store(tt.status)
			_, err := e.client.CreateWebhook(ctx(t), superoffice.Webhook{Name: "n", Events: []string{"associate.created"}, TargetURL: tg.srv.URL, Secret: tt.secret})
			if superoffice.StatusCode(err) != http.StatusBadRequest || !strings.Contains(err.Error(), "test event") || !strings.Contains(err.Error(), "create webhook") {
				t.Fatalf("expected the save refused with SuperOffice's test-event message, got %v", err)
			}
			if strings.Contains(err.Error(), tt.secret) {
				t.Fatalf("the error shows the secret: %v", err)
			}
			if hooks := e.so.Webhooks(); len(hooks) != 0 {
				t.Fatalf("expected nothing saved, got %v", hooks)
			}
		})
	}
}

func TestUpdatingAMissingWebhookIsNotFound(t *testing.T) {
	e := newEnv(t, nil)
	_, err := e.client.UpdateWebhook(ctx(t), superoffice.Webhook{WebhookID: 42, Name: "n", Events: []string{"associate.created"}, TargetURL: "http://127.0.0.1:1"})
	if !superoffice.IsNotFound(err) {
		t.Fatalf("expected 404 for an unknown webhook, got %v", err)
	}
}
