package ingress

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
	"github.com/assocsync/associate-operator/internal/ingress/samples"
	"github.com/assocsync/associate-operator/internal/mirror"
	"github.com/assocsync/associate-operator/internal/signature"
	"github.com/assocsync/associate-operator/internal/testenv"
)

const testSecret = "s3cret"

// fakeApplier answers what its result says and records what it was given.
type fakeApplier struct {
	mu     sync.Mutex
	result mirror.Result
	err    error
	got    []mirror.Observation
}

func (f *fakeApplier) Apply(_ context.Context, obs mirror.Observation) (mirror.Outcome, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = append(f.got, obs)
	if f.err != nil {
		return mirror.Outcome{}, f.err
	}
	return mirror.Outcome{Result: f.result, Associate: "ignored-by-handler"}, nil
}

// receiverObjects: receivers "acc/so" (tenant Cust1234, Secret so-secret with key
// "secret"), "acc/nosecret" (Secret missing), "acc/nokeys" (Secret without the key),
// "acc/small" (maxBodyBytes 1024), "acc/anytenant" (no tenant, target namespace people,
// which allows acc), "acc/intruder" (target namespace closed, which does not allow acc)
// and "acc/nowhere" (a target namespace that does not exist).
func receiverObjects() []client.Object {
	receiver := func(name, secret string, mutate func(*superofficev1alpha1.WebhookReceiver)) *superofficev1alpha1.WebhookReceiver {
		r := &superofficev1alpha1.WebhookReceiver{
			ObjectMeta: metav1.ObjectMeta{Namespace: "acc", Name: name},
			Spec: superofficev1alpha1.WebhookReceiverSpec{
				SecretRef: superofficev1alpha1.SecretKeysReference{Name: secret, Keys: []string{"secret"}},
				Tenant:    "Cust1234",
			},
		}
		if mutate != nil {
			mutate(r)
		}
		return r
	}
	limit := int64(1024)
	return []client.Object{
		receiver("so", "so-secret", nil),
		receiver("nosecret", "missing", nil),
		receiver("nokeys", "other-secret", nil),
		receiver("small", "so-secret", func(r *superofficev1alpha1.WebhookReceiver) { r.Spec.MaxBodyBytes = &limit }),
		receiver("anytenant", "so-secret", func(r *superofficev1alpha1.WebhookReceiver) {
			r.Spec.Tenant = ""
			r.Spec.TargetNamespace = "people"
		}),
		receiver("intruder", "so-secret", func(r *superofficev1alpha1.WebhookReceiver) { r.Spec.TargetNamespace = "closed" }),
		receiver("nowhere", "so-secret", func(r *superofficev1alpha1.WebhookReceiver) { r.Spec.TargetNamespace = "missing" }),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "people",
			Annotations: map[string]string{superofficev1alpha1.AnnotationAllowedReceiverNamespaces: "crm, acc"}}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "closed",
			Annotations: map[string]string{superofficev1alpha1.AnnotationAllowedReceiverNamespaces: "crm"}}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "acc", Name: "so-secret"}, Data: map[string][]byte{"secret": []byte(testSecret)}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "acc", Name: "other-secret"}, Data: map[string][]byte{"other": []byte("x")}},
	}
}

func newTestHandler(app applier) http.Handler {
	reader := fake.NewClientBuilder().WithScheme(testenv.Scheme()).WithObjects(receiverObjects()...).Build()
	return newMux(&handler{reader: reader, mirror: app, log: logr.Discard()})
}

// signedRequest makes a POST to path with body signed by secret (no signature when empty).
func signedRequest(path string, body []byte, secret string) *http.Request {
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	if secret != "" {
		req.Header.Set(HeaderSignature, signature.Sign([]byte(secret), body))
	}
	return req
}

// withField returns the created payload with one top-level field replaced (nil deletes it).
func withField(t testing.TB, key string, value any) []byte {
	var payload map[string]any
	if err := json.Unmarshal(samples.MustPayload("created"), &payload); err != nil {
		t.Fatal(err)
	}
	if value == nil {
		delete(payload, key)
	} else {
		payload[key] = value
	}
	body, _ := json.Marshal(payload)
	return body
}

func TestHandlerAnswersEveryRowOfTheContract(t *testing.T) {
	created := samples.MustPayload("created")
	tests := []struct {
		name       string
		request    func() *http.Request
		applier    *fakeApplier
		wantCode   int
		wantResult string
		wantApply  bool
	}{
		{name: "a created event the mirror applied is 200 applied",
			request: func() *http.Request { return signedRequest("/webhooks/acc/so", created, testSecret) },
			applier: &fakeApplier{result: mirror.Applied}, wantCode: 200, wantResult: "applied", wantApply: true},
		{name: "an already applied EventId is 200 duplicate",
			request: func() *http.Request { return signedRequest("/webhooks/acc/so", created, testSecret) },
			applier: &fakeApplier{result: mirror.Duplicate}, wantCode: 200, wantResult: "duplicate", wantApply: true},
		{name: "an older event is 200 stale",
			request: func() *http.Request { return signedRequest("/webhooks/acc/so", created, testSecret) },
			applier: &fakeApplier{result: mirror.Stale}, wantCode: 200, wantResult: "stale", wantApply: true},
		{name: "the changed event without FieldValues is applied",
			request: func() *http.Request {
				return signedRequest("/webhooks/acc/so", samples.MustPayload("changed"), testSecret)
			},
			applier: &fakeApplier{result: mirror.Applied}, wantCode: 200, wantResult: "applied", wantApply: true},
		{name: "the deleted event of tenant Default is applied on a receiver without a tenant",
			request: func() *http.Request {
				return signedRequest("/webhooks/acc/anytenant", samples.MustPayload("deleted"), testSecret)
			},
			applier: &fakeApplier{result: mirror.Applied}, wantCode: 200, wantResult: "applied", wantApply: true},
		{name: "an event of another entity is 200 ignored",
			request: func() *http.Request {
				body := withField(t, "Event", "contact.created")
				return signedRequest("/webhooks/acc/so", body, testSecret)
			},
			applier: &fakeApplier{}, wantCode: 200, wantResult: "ignored"},
		{name: "an associate event that is not created, changed or deleted is 200 ignored",
			request: func() *http.Request {
				return signedRequest("/webhooks/acc/so", withField(t, "Event", "associate.merged"), testSecret)
			},
			applier: &fakeApplier{}, wantCode: 200, wantResult: "ignored"},
		{name: "the test event is 200 test",
			request: func() *http.Request {
				req := signedRequest("/webhooks/acc/so", samples.MustPayload("test"), testSecret)
				req.Header.Set("X-Hook-Test", "true")
				return req
			},
			applier: &fakeApplier{}, wantCode: 200, wantResult: "test"},
		{name: "a signature header spelled X-Superoffice-Signature is accepted",
			request: func() *http.Request {
				req := signedRequest("/webhooks/acc/so", created, "")
				req.Header["X-Superoffice-Signature"] = []string{signature.Sign([]byte(testSecret), created)}
				return req
			},
			applier: &fakeApplier{result: mirror.Applied}, wantCode: 200, wantResult: "applied", wantApply: true},
		{name: "a missing signature is 401",
			request: func() *http.Request { return signedRequest("/webhooks/acc/so", created, "") },
			applier: &fakeApplier{}, wantCode: 401},
		{name: "a signature under another secret is 401",
			request: func() *http.Request { return signedRequest("/webhooks/acc/so", created, "not-the-secret") },
			applier: &fakeApplier{}, wantCode: 401},
		{name: "a signature over other bytes is 401",
			request: func() *http.Request {
				req := signedRequest("/webhooks/acc/so", created, "")
				req.Header.Set(HeaderSignature, signature.Sign([]byte(testSecret), samples.MustPayload("changed")))
				return req
			},
			applier: &fakeApplier{}, wantCode: 401},
		{name: "another tenant is 403",
			request: func() *http.Request {
				return signedRequest("/webhooks/acc/so", withField(t, "ContextIdentifier", "Cust9999"), testSecret)
			},
			applier: &fakeApplier{}, wantCode: 403},
		{name: "the tenant compared case-insensitively is accepted",
			request: func() *http.Request {
				return signedRequest("/webhooks/acc/so", withField(t, "ContextIdentifier", "CUST1234"), testSecret)
			},
			applier: &fakeApplier{result: mirror.Applied}, wantCode: 200, wantResult: "applied", wantApply: true},
		{name: "a receiver that does not exist is 404",
			request: func() *http.Request { return signedRequest("/webhooks/acc/nope", created, testSecret) },
			applier: &fakeApplier{}, wantCode: 404},
		{name: "a receiver whose Secret is missing is 404",
			request: func() *http.Request { return signedRequest("/webhooks/acc/nosecret", created, testSecret) },
			applier: &fakeApplier{}, wantCode: 404},
		{name: "a receiver whose Secret has none of the keys is 404",
			request: func() *http.Request { return signedRequest("/webhooks/acc/nokeys", created, testSecret) },
			applier: &fakeApplier{}, wantCode: 404},
		{name: "a 2 MiB body is 413",
			request: func() *http.Request {
				body := bytes.Repeat([]byte(" "), 2<<20)
				return signedRequest("/webhooks/acc/so", body, testSecret)
			},
			applier: &fakeApplier{}, wantCode: 413},
		{name: "a body over the receiver's own maxBodyBytes is 413",
			request: func() *http.Request {
				return signedRequest("/webhooks/acc/small", withField(t, "Pad", strings.Repeat("x", 2048)), testSecret)
			},
			applier: &fakeApplier{}, wantCode: 413},
		{name: "an empty body, signed, is 400",
			request: func() *http.Request { return signedRequest("/webhooks/acc/so", nil, testSecret) },
			applier: &fakeApplier{}, wantCode: 400},
		{name: "a body that is not JSON is 400",
			request: func() *http.Request { return signedRequest("/webhooks/acc/so", []byte("EventId=1"), testSecret) },
			applier: &fakeApplier{}, wantCode: 400},
		{name: "an event without EventId is 400",
			request: func() *http.Request {
				return signedRequest("/webhooks/acc/so", withField(t, "EventId", nil), testSecret)
			},
			applier: &fakeApplier{}, wantCode: 400},
		{name: "an event without Event is 400",
			request: func() *http.Request { return signedRequest("/webhooks/acc/so", withField(t, "Event", nil), testSecret) },
			applier: &fakeApplier{}, wantCode: 400},
		{name: "an event without Timestamp is 400",
			request: func() *http.Request {
				return signedRequest("/webhooks/acc/so", withField(t, "Timestamp", nil), testSecret)
			},
			applier: &fakeApplier{}, wantCode: 400},
		{name: "an event with a Timestamp that is no time is 400",
			request: func() *http.Request {
				return signedRequest("/webhooks/acc/so", withField(t, "Timestamp", "yesterday"), testSecret)
			},
			applier: &fakeApplier{}, wantCode: 400},
		{name: "an associate event dated more than 5 minutes after the manager's clock is 400",
			request: func() *http.Request {
				at := time.Now().Add(maxClockSkew + time.Minute).UTC().Format(time.RFC3339Nano)
				return signedRequest("/webhooks/acc/so", withField(t, "Timestamp", at), testSecret)
			},
			applier: &fakeApplier{}, wantCode: 400},
		{name: "an associate event dated a minute ahead (clock skew) is applied",
			request: func() *http.Request {
				at := time.Now().Add(time.Minute).UTC().Format(time.RFC3339Nano)
				return signedRequest("/webhooks/acc/so", withField(t, "Timestamp", at), testSecret)
			},
			applier: &fakeApplier{result: mirror.Applied}, wantCode: 200, wantResult: "applied", wantApply: true},
		{name: "an associate event without PrimaryKey is 400",
			request: func() *http.Request {
				return signedRequest("/webhooks/acc/so", withField(t, "PrimaryKey", nil), testSecret)
			},
			applier: &fakeApplier{}, wantCode: 400},
		{name: "an associate event with PrimaryKey 0 is 400",
			request: func() *http.Request {
				return signedRequest("/webhooks/acc/so", withField(t, "PrimaryKey", 0), testSecret)
			},
			applier: &fakeApplier{}, wantCode: 400},
		{name: "an Associate name over 63 characters is 400",
			request: func() *http.Request {
				return signedRequest("/webhooks/acc/anytenant", withField(t, "ContextIdentifier", strings.Repeat("t", 60)), testSecret)
			},
			applier: &fakeApplier{}, wantCode: 400},
		{name: "a receiver whose target namespace does not allow it is 404",
			request: func() *http.Request { return signedRequest("/webhooks/acc/intruder", created, testSecret) },
			applier: &fakeApplier{}, wantCode: 404},
		{name: "a receiver whose target namespace does not exist is 404",
			request: func() *http.Request { return signedRequest("/webhooks/acc/nowhere", created, testSecret) },
			applier: &fakeApplier{}, wantCode: 404},
		{name: "an Associate another receiver owns is 409",
			request:  func() *http.Request { return signedRequest("/webhooks/acc/so", created, testSecret) },
			applier:  &fakeApplier{err: fmt.Errorf("%w: Associate acc/cust1234-141424 is written by receiver other/so", mirror.ErrConflict)},
			wantCode: 409, wantApply: true},
		{name: "GET is 405",
			request: func() *http.Request { return httptest.NewRequest(http.MethodGet, "/webhooks/acc/so", nil) },
			applier: &fakeApplier{}, wantCode: 405},
		{name: "PUT is 405",
			request: func() *http.Request {
				return httptest.NewRequest(http.MethodPut, "/webhooks/acc/so", bytes.NewReader(created))
			},
			applier: &fakeApplier{}, wantCode: 405},
		{name: "a path that is no receiver's is 404",
			request: func() *http.Request { return signedRequest("/hooks/acc/so", created, testSecret) },
			applier: &fakeApplier{}, wantCode: 404},
		{name: "an API server failure is 503",
			request: func() *http.Request { return signedRequest("/webhooks/acc/so", created, testSecret) },
			applier: &fakeApplier{err: errors.New("etcd is down")}, wantCode: 503, wantApply: true},
		{name: "an API server timeout is 503",
			request: func() *http.Request { return signedRequest("/webhooks/acc/so", created, testSecret) },
			applier: &fakeApplier{err: context.DeadlineExceeded}, wantCode: 503, wantApply: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			newTestHandler(tt.applier).ServeHTTP(rec, tt.request())
			if rec.Code != tt.wantCode {
				t.Fatalf("want HTTP %d, got %d: %s", tt.wantCode, rec.Code, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("want a JSON reply, got Content-Type %q", ct)
			}
			var got reply
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatalf("reply is not JSON: %q", rec.Body)
			}
			if got.Result != tt.wantResult {
				t.Errorf("want result %q, got %q", tt.wantResult, got.Result)
			}
			if tt.wantCode != 200 && got.Error == "" {
				t.Errorf("want an error message with HTTP %d, got %q", tt.wantCode, rec.Body)
			}
			if tt.wantCode == 503 && rec.Header().Get("Retry-After") == "" {
				t.Errorf("want Retry-After with 503")
			}
			if tt.wantCode == 405 && rec.Header().Get("Allow") != http.MethodPost {
				t.Errorf("want Allow: POST with 405, got %q", rec.Header().Get("Allow"))
			}
			if strings.Contains(rec.Body.String(), testSecret) {
				t.Errorf("the reply echoes the secret: %s", rec.Body)
			}
			if applied := len(tt.applier.got) > 0; applied != tt.wantApply {
				t.Errorf("want the mirror called: %v, got %v", tt.wantApply, applied)
			}
		})
	}
}

func TestHandlerTurnsTheCreatedPayloadIntoAnObservation(t *testing.T) {
	app := &fakeApplier{result: mirror.Applied}
	rec := httptest.NewRecorder()
	newTestHandler(app).ServeHTTP(rec, signedRequest("/webhooks/acc/so", samples.MustPayload("created"), testSecret))
	if rec.Code != 200 || len(app.got) != 1 {
		t.Fatalf("want one apply and 200, got %d applies and %d: %s", len(app.got), rec.Code, rec.Body)
	}
	var want struct{ Associate string }
	_ = json.Unmarshal(rec.Body.Bytes(), &want)
	if want.Associate != "acc/cust1234-141424" {
		t.Errorf("want the reply to name acc/cust1234-141424, got %q", want.Associate)
	}
	obs := app.got[0]
	f := obs.Fields
	if f == nil {
		t.Fatal("want the FieldValues carried, got none")
	}
	checks := []struct {
		field     string
		got, want any
	}{
		{"Receiver", obs.Receiver.String(), "acc/so"},
		{"Namespace", obs.Namespace, "acc"},
		{"Tenant", obs.Tenant, "Cust1234"},
		{"AssociateID", obs.AssociateID, int64(141424)},
		{"EventID", obs.EventID, "52b8311e-745b-49a0-83eb-a9159635a307"},
		{"Event", obs.Event, "associate.created"},
		{"Timestamp", obs.Timestamp.Format(time.RFC3339Nano), "2018-04-24T08:53:40.0597952Z"},
		{"ChangedBy", obs.ChangedBy, int64(316)},
		{"PersonID", *f.PersonID, int64(21)},
		{"GroupIdx", *f.GroupIdx, int32(4)},
		{"TypeCode", *f.TypeCode, int32(0)},
		{"Retired", *f.Retired, false},
		{"WaitingForApproval", *f.WaitingForApproval, false},
		{"RegisteredAssociateID", *f.RegisteredAssociateID, int64(5)},
		{"UpdatedAssociateID", *f.UpdatedAssociateID, int64(5)},
		{"Updated", *f.Updated, "2025-05-14T16:19:57.1436004+02:00"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: want %v, got %v", c.field, c.want, c.got)
		}
	}
}

func TestHandlerGivesEventsWithoutContextIdentifierToTheReceiversTenantOrDefault(t *testing.T) {
	for _, tt := range []struct{ path, wantTenant, wantNamespace string }{
		{"/webhooks/acc/so", "Cust1234", "acc"},
		{"/webhooks/acc/anytenant", "Default", "people"},
	} {
		app := &fakeApplier{result: mirror.Applied}
		rec := httptest.NewRecorder()
		newTestHandler(app).ServeHTTP(rec, signedRequest(tt.path, withField(t, "ContextIdentifier", nil), testSecret))
		if rec.Code != 200 || len(app.got) != 1 {
			t.Fatalf("%s: want 200 and one apply, got %d: %s", tt.path, rec.Code, rec.Body)
		}
		if obs := app.got[0]; obs.Tenant != tt.wantTenant || obs.Namespace != tt.wantNamespace {
			t.Errorf("%s: want tenant %s in %s, got %s in %s", tt.path, tt.wantTenant, tt.wantNamespace, obs.Tenant, obs.Namespace)
		}
	}
}

func TestDecodeEventIsLenientWithNumbersAndBooleans(t *testing.T) {
	body := []byte(`{"EventId":"e","Timestamp":"2018-04-24T08:53:40.0597952","Event":"associate.changed",
		"PrimaryKey":"7","FieldValues":{"deleted":true,"waiting_for_approval":"1","type":"4","person_id":21.0}}`)
	ev, err := decodeEvent(body)
	if err != nil {
		t.Fatalf("want a lenient decode, got %v", err)
	}
	f := ev.fields()
	if int64(*ev.PrimaryKey) != 7 || !*f.Retired || !*f.WaitingForApproval || *f.TypeCode != 4 || *f.PersonID != 21 || f.GroupIdx != nil {
		t.Errorf("decoded %+v / %+v", ev, f)
	}
	if ev.at.Location() != time.UTC || ev.at.Nanosecond() != 59795200 {
		t.Errorf("want a zone-less Timestamp read as UTC with 7 digits kept, got %v", ev.at)
	}
}
