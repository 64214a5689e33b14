package ingress

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/assocsync/associate-operator/internal/ingress/samples"
	"github.com/assocsync/associate-operator/internal/mirror"
	"github.com/assocsync/associate-operator/internal/testenv"
)

func TestMetricsCountEveryDeliveryByReceiverAndResult(t *testing.T) {
	h := newTestHandler(&fakeApplier{result: mirror.Applied})
	before := map[[2]string]float64{}
	labels := [][2]string{{"acc/so", "applied"}, {"acc/so", "bad_signature"}, {unknownReceiver, "not_found"}}
	for _, l := range labels {
		before[l] = testutil.ToFloat64(requestsTotal.WithLabelValues(l[0], l[1]))
	}
	durationsBefore := map[string]uint64{"acc/so": durationSamples(t, "acc/so"), unknownReceiver: durationSamples(t, unknownReceiver)}
	body := samples.MustPayload("created")
	h.ServeHTTP(httptest.NewRecorder(), signedRequest("/webhooks/acc/so", body, testSecret))
	h.ServeHTTP(httptest.NewRecorder(), signedRequest("/webhooks/acc/so", body, "wrong"))
	h.ServeHTTP(httptest.NewRecorder(), signedRequest("/webhooks/random/path-1", body, testSecret))
	h.ServeHTTP(httptest.NewRecorder(), signedRequest("/webhooks/random/path-2", body, testSecret))
	want := map[[2]string]float64{labels[0]: 1, labels[1]: 1, labels[2]: 2}
	for l, n := range want {
		if got := testutil.ToFloat64(requestsTotal.WithLabelValues(l[0], l[1])) - before[l]; got != n {
			t.Errorf("associate_operator_webhook_requests_total{receiver=%q,result=%q}: want +%v, got +%v", l[0], l[1], n, got)
		}
	}
	// Every delivery is timed under its receiver: two for acc/so, two for the unknown path.
	for receiver, n := range map[string]uint64{"acc/so": 2, unknownReceiver: 2} {
		if got := durationSamples(t, receiver) - durationsBefore[receiver]; got != n {
			t.Errorf("associate_operator_webhook_request_duration_seconds{receiver=%q}: want +%d samples, got +%d", receiver, n, got)
		}
	}
}

// durationSamples is the sample count of the request duration histogram of one receiver.
func durationSamples(t *testing.T, receiver string) uint64 {
	t.Helper()
	var m dto.Metric
	if err := requestDuration.WithLabelValues(receiver).(prometheus.Histogram).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount()
}

func TestRefusedDeliveriesRaiseOneWarningEventPerReceiverAndReasonInAFlood(t *testing.T) {
	recorder := events.NewFakeRecorder(100)
	reader := fake.NewClientBuilder().WithScheme(testenv.Scheme()).WithObjects(receiverObjects()...).Build()
	h := newMux(&handler{reader: reader, mirror: &fakeApplier{}, warnings: newWarningRecorder(recorder), log: logr.Discard()})
	body := samples.MustPayload("created")
	for range 50 {
		h.ServeHTTP(httptest.NewRecorder(), signedRequest("/webhooks/acc/so", body, "wrong"))
		h.ServeHTTP(httptest.NewRecorder(), signedRequest("/webhooks/acc/so", withField(t, "ContextIdentifier", "Other"), testSecret))
	}
	close(recorder.Events)
	var got []string
	for e := range recorder.Events {
		got = append(got, e)
	}
	if len(got) != 2 {
		t.Fatalf("want one BadSignature and one WrongTenant event for 100 refusals, got %d: %q", len(got), got)
	}
	for _, e := range got {
		if contains(e, testSecret) {
			t.Errorf("an Event names the secret: %q", e)
		}
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
