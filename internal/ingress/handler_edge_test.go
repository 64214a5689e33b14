package ingress

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/assocsync/associate-operator/internal/ingress/samples"
	"github.com/assocsync/associate-operator/internal/mirror"
)

// withFieldValue returns the created payload with one FieldValues column replaced.
func withFieldValue(t testing.TB, key string, value any) []byte {
	var payload map[string]any
	if err := json.Unmarshal(samples.MustPayload("created"), &payload); err != nil {
		t.Fatal(err)
	}
	payload["FieldValues"].(map[string]any)[key] = value
	body, _ := json.Marshal(payload)
	return body
}

func TestValuesThatCannotBeStoredAre400BeforeTheMirror(t *testing.T) {
	tests := []struct {
		name string
		body []byte
	}{
		{"a type beyond 32 bits (it would wrap to Employee)", withFieldValue(t, "type", int64(1)<<32)},
		{"a negative type beyond 32 bits", withFieldValue(t, "type", -(int64(1)<<31)-1)},
		{"a group_idx beyond 32 bits", withFieldValue(t, "group_idx", int64(1)<<31)},
		{"an EventId over the limit", withField(t, "EventId", strings.Repeat("e", mirror.MaxEventIDLength+1))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := &fakeApplier{result: mirror.Applied}
			rec := httptest.NewRecorder()
			newTestHandler(app).ServeHTTP(rec, signedRequest("/webhooks/acc/so", tt.body, testSecret))
			if rec.Code != 400 {
				t.Fatalf("want HTTP 400, got %d: %s", rec.Code, rec.Body)
			}
			if len(app.got) != 0 {
				t.Errorf("want the mirror not called, it was called %d times", len(app.got))
			}
		})
	}
}

func TestOnlyEventTestIsTheTestEvent(t *testing.T) {
	app := &fakeApplier{result: mirror.Applied}
	rec := httptest.NewRecorder()
	newTestHandler(app).ServeHTTP(rec, signedRequest("/webhooks/acc/so", withField(t, "Entity", "test"), testSecret))
	var got reply
	_ = json.Unmarshal(rec.Body.Bytes(), &got)
	if rec.Code != 200 || got.Result != "applied" || len(app.got) != 1 {
		t.Fatalf("want an associate.created with Entity test applied, got %d %q with %d applies", rec.Code, got.Result, len(app.got))
	}
}

// ctxApplier records whether the apply's context was already done when it was called.
type ctxApplier struct{ doneAtApply error }

func (c *ctxApplier) Apply(ctx context.Context, _ mirror.Observation) (mirror.Outcome, error) {
	c.doneAtApply = ctx.Err()
	return mirror.Outcome{Result: mirror.Applied}, nil
}

func TestAnApplyIsNotCutShortWhenTheSenderHangsUp(t *testing.T) {
	app := &ctxApplier{}
	ctx, cancel := context.WithCancel(context.Background())
	req := signedRequest("/webhooks/acc/so", samples.MustPayload("created"), testSecret).WithContext(ctx)
	cancel() // SuperOffice gave up waiting; a write half done must still be finished or undone
	newTestHandler(app).ServeHTTP(httptest.NewRecorder(), req)
	if app.doneAtApply != nil {
		t.Fatalf("want the apply to run under its own deadline, its context was already done: %v", app.doneAtApply)
	}
}

func TestMetricsLabelAnExistingReceiverThatIsNotReadyByItsName(t *testing.T) {
	h := newTestHandler(&fakeApplier{result: mirror.Applied})
	before := testutil.ToFloat64(requestsTotal.WithLabelValues("acc/nosecret", resultNotFound))
	h.ServeHTTP(httptest.NewRecorder(), signedRequest("/webhooks/acc/nosecret", samples.MustPayload("created"), testSecret))
	if got := testutil.ToFloat64(requestsTotal.WithLabelValues("acc/nosecret", resultNotFound)) - before; got != 1 {
		t.Errorf(`associate_operator_webhook_requests_total{receiver="acc/nosecret",result="not_found"}: want +1, got +%v`, got)
	}
}
