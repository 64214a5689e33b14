package ingress

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/assocsync/associate-operator/internal/ingress/samples"
	"github.com/assocsync/associate-operator/internal/mirror"
	"github.com/assocsync/associate-operator/internal/testenv"
)

// watchedBody is a request body that counts the bytes read from it.
type watchedBody struct {
	r    io.Reader
	read atomic.Int64
}

func (b *watchedBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.read.Add(int64(n))
	return n, err
}

func (b *watchedBody) Close() error { return nil }

// budgetHandler is the test handler with an in-flight budget of total bytes.
func budgetHandler(app applier, total int64) (*handler, http.Handler) {
	reader := fake.NewClientBuilder().WithScheme(testenv.Scheme()).WithObjects(receiverObjects()...).Build()
	h := &handler{reader: reader, mirror: app, log: logr.Discard(), budget: newBodyBudget(total), maxBodyCeiling: 1 << 20}
	return h, newMux(h)
}

func TestABodyAnnouncedOverTheLimitIs413BeforeAnyOfItIsRead(t *testing.T) {
	_, h := budgetHandler(&fakeApplier{result: mirror.Applied}, 32<<20)
	body := &watchedBody{r: bytes.NewReader(bytes.Repeat([]byte(" "), 2<<20))}
	req := signedRequest("/webhooks/acc/so", nil, testSecret)
	req.Body, req.ContentLength = body, 2<<20
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("a Content-Length of 2 MiB over the 1 MiB limit: want 413, got %d: %s", rec.Code, rec.Body)
	}
	if n := body.read.Load(); n != 0 {
		t.Errorf("want no byte of the body read before the 413, %d were", n)
	}
}

func TestABodyOfUnknownLengthOverTheLimitIs413(t *testing.T) {
	_, h := budgetHandler(&fakeApplier{result: mirror.Applied}, 32<<20)
	body := &watchedBody{r: bytes.NewReader(bytes.Repeat([]byte(" "), 3<<20))}
	req := signedRequest("/webhooks/acc/so", nil, testSecret)
	req.Body, req.ContentLength = body, -1
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("a chunked 3 MiB body: want 413, got %d: %s", rec.Code, rec.Body)
	}
	if n := body.read.Load(); n > 1<<20+readChunk {
		t.Errorf("read %d bytes of a body over the 1 MiB limit; want at most the limit and one chunk", n)
	}
}

func TestADeliveryThatDoesNotFitTheInflightBudgetIs503BusyUnreadAndFitsOnceItIsFree(t *testing.T) {
	app := &fakeApplier{result: mirror.Applied}
	h, mux := budgetHandler(app, 64<<10)
	created := samples.MustPayload("created")
	// Slow bodies being read hold all but a few bytes of the budget.
	release, ok := h.budget.reserve(64<<10 - 16)
	if !ok {
		t.Fatal("could not take the budget")
	}
	busyBefore := testutil.ToFloat64(requestsTotal.WithLabelValues("acc/so", resultBusy))
	body := &watchedBody{r: bytes.NewReader(created)}
	req := signedRequest("/webhooks/acc/so", nil, testSecret)
	req.Body, req.ContentLength = body, int64(len(created))
	req.Header.Set(HeaderSignature, signedRequest("/", created, testSecret).Header.Get(HeaderSignature))
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("with the budget spent: want 503 with Retry-After, got %d (Retry-After %q): %s", rec.Code, rec.Header().Get("Retry-After"), rec.Body)
	}
	if n := body.read.Load(); n != 0 {
		t.Errorf("want the refused body unread, %d bytes were read", n)
	}
	if len(app.got) != 0 {
		t.Error("a delivery refused as busy reached the mirror")
	}
	if got := testutil.ToFloat64(requestsTotal.WithLabelValues("acc/so", resultBusy)) - busyBefore; got != 1 {
		t.Errorf("want result busy counted once, got +%v", got)
	}

	release()
	rec = httptest.NewRecorder()
	mux.ServeHTTP(rec, signedRequest("/webhooks/acc/so", created, testSecret))
	if rec.Code != http.StatusOK {
		t.Fatalf("the same delivery resent once the budget is free: want 200, got %d: %s", rec.Code, rec.Body)
	}
	// Every reservation went back: the whole budget can be taken again.
	if release, ok := h.budget.reserve(64 << 10); !ok {
		t.Error("the budget did not get its bytes back after the deliveries")
	} else {
		release()
	}
}

func TestABodyOfUnknownLengthReservesTheReceiversLimit(t *testing.T) {
	// acc/small accepts 1 KiB: with 1.5 KiB of budget, one chunked body fits, two do not.
	h, mux := budgetHandler(&fakeApplier{result: mirror.Applied}, 1536)
	release, _ := h.budget.reserve(1024)
	defer release()
	created := samples.MustPayload("created")
	req := signedRequest("/webhooks/acc/small", created, testSecret)
	req.ContentLength = -1
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("a chunked body reserves the receiver's 1 KiB limit, which does not fit: want 503, got %d: %s", rec.Code, rec.Body)
	}
}

func TestTheBodyCeilingCannotBeAboveTheInflightBudget(t *testing.T) {
	tests := []struct {
		name            string
		ceiling, budget int64
		wantErr         bool
	}{
		{"the defaults", 1 << 20, DefaultMaxInflightBodyBytes, false},
		{"no ceiling", 0, DefaultMaxInflightBodyBytes, false},
		{"a ceiling equal to the budget", 4 << 20, 4 << 20, false},
		{"a ceiling above the budget", 64 << 20, 32 << 20, true},
		{"no budget", 1 << 20, 0, true},
		{"a negative ceiling", -1, 32 << 20, true},
	}
	for _, tt := range tests {
		if err := CheckBodyLimits(tt.ceiling, tt.budget); (err != nil) != tt.wantErr {
			t.Errorf("%s: want an error %v, got %v", tt.name, tt.wantErr, err)
		}
	}
}

func TestRefusalsOfUnauthenticatedSendersAreLoggedAtABoundedRate(t *testing.T) {
	var lines, refusals, suppressed atomic.Int64
	log := funcr.New(func(_, args string) {
		lines.Add(1)
		if !strings.Contains(args, `"code"=200`) {
			refusals.Add(1)
		}
		if strings.Contains(args, "suppressedRefusals") {
			suppressed.Add(1)
		}
	}, funcr.Options{})
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	reader := fake.NewClientBuilder().WithScheme(testenv.Scheme()).WithObjects(receiverObjects()...).Build()
	h := newMux(&handler{reader: reader, mirror: &fakeApplier{result: mirror.Applied}, log: log,
		refusals: newLogSampler(func() time.Time { return clock })})
	body := samples.MustPayload("created")
	for range 1000 {
		h.ServeHTTP(httptest.NewRecorder(), signedRequest("/webhooks/acc/so", body, "wrong"))
		h.ServeHTTP(httptest.NewRecorder(), signedRequest("/webhooks/random/path", body, testSecret))
	}
	if n := refusals.Load(); n != refusalLogBurst {
		t.Errorf("2,000 refusals at one instant: want %d log lines (the burst), got %d", refusalLogBurst, n)
	}
	clock = clock.Add(refusalLogInterval)
	h.ServeHTTP(httptest.NewRecorder(), signedRequest("/webhooks/acc/so", body, "wrong"))
	if suppressed.Load() != 1 {
		t.Error("want the next refusal logged after the interval to say how many were left out")
	}
	// Verified deliveries are not sampled: each is logged.
	before := lines.Load()
	for range 50 {
		h.ServeHTTP(httptest.NewRecorder(), signedRequest("/webhooks/acc/so", body, testSecret))
	}
	if got := lines.Load() - before; got != 50 {
		t.Errorf("50 signed deliveries: want 50 log lines, got %d", got)
	}
}

func TestReadBodyKeepsWithinTheLimit(t *testing.T) {
	for _, size := range []int{0, 1, readChunk - 1, readChunk, readChunk + 1, 100_000} {
		data := bytes.Repeat([]byte("x"), size)
		got, err := readBody(bytes.NewReader(data), -1, 100_000)
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("a body of %d bytes of unknown length: got %d bytes, %v", size, len(got), err)
		}
		if cap(got) > 100_001 {
			t.Errorf("a body of %d bytes: buffer of %d bytes, over the limit", size, cap(got))
		}
	}
	if _, err := readBody(bytes.NewReader(make([]byte, 100_001)), -1, 100_000); !errors.As(err, new(errBodyTooLarge)) {
		t.Errorf("a body one byte over the limit: want errBodyTooLarge, got %v", err)
	}
	if _, err := readBody(bytes.NewReader(make([]byte, 10)), 20, 100); err == nil {
		t.Error("a body shorter than its Content-Length: want an error")
	}
}
