package fault

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	superofficev1alpha1 "github.com/assocsync/associate-operator/api/v1alpha1"
	"github.com/assocsync/associate-operator/internal/testenv"
)

// TestBadSignaturesWriteNothingButRateLimitedEvents: 1,000 deliveries with bad signatures
// get 401, the API server's own request counters show no write but Events, and the
// manager's log holds a sample of them, not a line each.
func TestBadSignaturesWriteNothingButRateLimitedEvents(t *testing.T) {
	ns := setupReceiver(t)
	m, url := startServing(t, adminKubeconfig(t, ""), ns)

	// The receiver's own status writes (Ready, the test event's lastDeliveryTime, written
	// off the request path) are seen first, then the counters must settle.
	testenv.Eventually(t, 60*time.Second, "the receiver's Ready and lastDeliveryTime", func() error {
		var receiver superofficev1alpha1.WebhookReceiver
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: receiverName}, &receiver); err != nil {
			return err
		}
		if !meta.IsStatusConditionTrue(receiver.Status.Conditions, "Ready") || receiver.Status.LastDeliveryTime == nil {
			return fmt.Errorf("status %+v", receiver.Status)
		}
		return nil
	})
	var before map[string]float64
	previous := apiServerWrites(t)
	testenv.Eventually(t, 30*time.Second, "the API server's write counters to stay still for a second", func() error {
		time.Sleep(time.Second) // the quiet interval being checked, not a wait for a result
		before = apiServerWrites(t)
		if !maps.Equal(before, previous) {
			previous = before
			return fmt.Errorf("writes still moving")
		}
		return nil
	})
	body := event{id: "abuse", kind: "associate.created", associate: 7, at: time.Now()}.body()
	linesBefore := strings.Count(m.Log(), `"webhook delivery"`)
	start := time.Now()
	for i := range 1000 {
		sig := badSignature(i)
		if a := post(url, body, sig); a.code != http.StatusUnauthorized {
			t.Fatalf("delivery %d with a bad signature: want 401, got %d %v", i, a.code, a.err)
		}
	}
	// The refusal log lines are sampled: a burst of 10, then about one a second. A signed
	// delivery (always logged) marks where the flood's lines end in the log.
	elapsed := time.Since(start)
	// (zap itself also samples repeated messages per second, so the marker is sent again
	// until one of its lines is through.)
	marker := []byte(`{"EventId":"log-marker","Timestamp":"2026-11-26T12:00:00Z","Event":"test","Entity":"test"}`)
	testenv.Eventually(t, 30*time.Second, "the marker delivery's log line", func() error {
		if a := post(url, marker, ""); a.code != http.StatusOK {
			return fmt.Errorf("the signed marker delivery: want 200, got %d %v", a.code, a.err)
		}
		if !strings.Contains(m.Log(), "log-marker") {
			return fmt.Errorf("not logged yet")
		}
		return nil
	})
	log := m.Log()
	if lines, most := strings.Count(log, `"webhook delivery"`)-linesBefore-strings.Count(log, "log-marker"), 10+int(elapsed/time.Second)+2; lines > most {
		t.Errorf("1,000 bad deliveries in %s logged %d lines; want at most %d: refusals of unauthenticated senders must be sampled", elapsed, lines, most)
	}
	after := apiServerWrites(t)
	for resource, n := range after {
		delta := n - before[resource]
		switch {
		case delta == 0:
		case resource == "leases":
			// Leader-election renewals tick on their own clock, deliveries or not.
		case resource == "events":
			if delta > 100 {
				t.Errorf("1,000 bad deliveries wrote %.0f Events: the Warning Events are not rate-limited", delta)
			}
		default:
			t.Errorf("1,000 bad deliveries made %.0f writes to %s; want none", delta, resource)
		}
	}
	if associateExists(t, ns, "cust1234-7") {
		t.Errorf("a delivery with a bad signature created Associate cust1234-7")
	}
}

// badSignature is a well-formed base64 signature of 32 bytes that is not the body's.
func badSignature(i int) string {
	return base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf("%032d", i)))
}

// apiServerWrites sums the API server's own apiserver_request_total for the writing verbs
// (server-side apply included) by resource.
func apiServerWrites(t *testing.T) map[string]float64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	requests, err := testenv.APIServerRequests(ctx, restConfig)
	if err != nil {
		t.Fatal(err)
	}
	writes := map[string]float64{}
	for r, n := range requests {
		if r.IsWrite() {
			writes[r.Resource] += n
		}
	}
	return writes
}

// TestSlowHeaderClientIsCutOff: a client that sends its headers a byte at a time is
// disconnected by the server's header timeout before it finishes them.
func TestSlowHeaderClientIsCutOff(t *testing.T) {
	ns := setupReceiver(t)
	m := startManager(t, adminKubeconfig(t, ""))
	m.WaitReady(t, readyTimeout)

	conn, err := net.DialTimeout("tcp", m.WebhookAddr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	// 200 bytes at one per 100 ms would take 20 s, four times the header timeout.
	headers := "POST /webhooks/" + ns + "/" + receiverName + " HTTP/1.1\r\nHost: x\r\nX-Padding: " + strings.Repeat("p", 200) + "\r\n\r\n"
	start := time.Now()
	sent := 0
	for ; sent < len(headers); sent++ {
		_ = conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if _, err := conn.Write([]byte{headers[sent]}); err != nil {
			break
		}
		if closedByPeer(conn) {
			break
		}
		time.Sleep(100 * time.Millisecond) // the slow client's pace, not a wait for the server
	}
	if sent == len(headers) {
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err == nil {
			_ = resp.Body.Close()
		}
		if err == nil && resp.StatusCode != http.StatusRequestTimeout {
			t.Fatalf("the server took %d header bytes sent a byte per 100 ms and answered %d; want it to cut the client off", sent, resp.StatusCode)
		}
	}
	// Cut off by the header timeout, not by something else closing early (a crash, a
	// connection limit): not before it, and within a generous bound after it.
	elapsed := time.Since(start)
	if elapsed < headerTimeout-time.Second || elapsed > 3*headerTimeout {
		t.Fatalf("the server cut the slow client off after %s; want about the header timeout of %s", elapsed.Round(time.Millisecond), headerTimeout)
	}
	t.Logf("the server cut the slow client off after %d of %d header bytes, %s", sent, len(headers), elapsed.Round(time.Millisecond))
}

// headerTimeout is the webhook server's ReadHeaderTimeout (internal/ingress/server.go).
const headerTimeout = 5 * time.Second

// closedByPeer peeks at the connection without blocking for long: EOF or a reset means
// the server closed it.
func closedByPeer(conn net.Conn) bool {
	_ = conn.SetReadDeadline(time.Now().Add(time.Millisecond))
	var b [512]byte
	_, err := conn.Read(b[:])
	_ = conn.SetReadDeadline(time.Time{})
	if err == nil {
		return true // an answer (408) before the headers were complete
	}
	var netErr net.Error
	if ok := asNetError(err, &netErr); ok && netErr.Timeout() {
		return false
	}
	return true
}

func asNetError(err error, target *net.Error) bool {
	ne, ok := err.(net.Error)
	if ok {
		*target = ne
	}
	return ok
}

// TestHundredMegabyteBodyIsRefusedUnread: a 100 MB body, generated as it is sent, gets
// 413 (or the connection closed) long before the server has read it all.
func TestHundredMegabyteBodyIsRefusedUnread(t *testing.T) {
	ns := setupReceiver(t)
	_, url := startServing(t, adminKubeconfig(t, ""), ns)

	const size = 100 << 20
	body := &countingReader{remaining: size}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = size
	req.Header.Set("X-SuperOffice-Signature", badSignature(1))
	resp, err := http.DefaultClient.Do(req)
	sent := body.sent.Load()
	switch {
	case err != nil:
		t.Logf("the server closed the connection: %v", err)
	case resp.StatusCode != http.StatusRequestEntityTooLarge:
		_ = resp.Body.Close()
		t.Fatalf("a 100 MB body: want 413, got %d", resp.StatusCode)
	default:
		_ = resp.Body.Close()
	}
	if sent >= size/2 {
		t.Fatalf("the client sent %d of %d bytes before the refusal: the server read far past its limit", sent, size)
	}
	t.Logf("the client sent %d of %d bytes before the refusal", sent, size)
}

// countingReader yields remaining bytes of '{' without allocating them, counting what was read.
type countingReader struct {
	remaining int64
	sent      atomic.Int64
}

func (r *countingReader) Read(p []byte) (int, error) {
	if r.remaining == 0 {
		return 0, io.EOF
	}
	n := min(int64(len(p)), r.remaining)
	for i := range p[:n] {
		p[i] = ' '
	}
	r.remaining -= n
	r.sent.Add(n)
	return int(n), nil
}
