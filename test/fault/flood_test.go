package fault

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/assocsync/associate-operator/internal/testenv"
)

// Sizes of the flood: 128 unauthenticated senders each announce a 1 MiB body (the
// default limit) and send all of it but its last byte, then hold it. Read at once, as
// before the in-flight budget, their bodies alone are 128 MiB.
const (
	floodSenders = 128
	floodBody    = 1 << 20
	// floodPeakGrowth is the ceiling stated for the manager's peak resident memory during
	// the flood: three times the default in-flight budget of 32 MiB (the bodies it admits,
	// and the collector's headroom over them), and well below what 128 bodies need.
	floodPeakGrowth = 96 << 20
)

// TestAFloodOfSlowLargeBodiesKeepsTheManagersMemoryBoundedAndSignedDeliveriesGetThrough:
// while the flood holds the in-flight budget, the senders beyond it get 503 busy unread,
// the manager's peak RSS grows by less than floodPeakGrowth, and every signed delivery
// sent beside the flood gets 200, or a 503 with Retry-After that gets 200 when resent.
func TestAFloodOfSlowLargeBodiesKeepsTheManagersMemoryBoundedAndSignedDeliveriesGetThrough(t *testing.T) {
	ns := setupReceiver(t)
	m, url := startServing(t, adminKubeconfig(t, ""), ns)
	before, err := peakRSS(m.Pid())
	if err != nil {
		t.Skipf("no peak RSS to read here: %v", err)
	}

	release := make(chan struct{})
	var senders sync.WaitGroup
	var settled atomic.Int32
	codes := make(chan int, floodSenders)
	for range floodSenders {
		senders.Go(func() { codes <- slowSender(m.WebhookAddr, "/webhooks/"+ns+"/"+receiverName, release, &settled) })
	}
	// Every sender has either handed its body over (the manager holds it) or been answered.
	testenv.Eventually(t, 120*time.Second, "every flood sender to have sent its body or been answered", func() error {
		if n := settled.Load(); n < floodSenders {
			return fmt.Errorf("%d of %d settled", n, floodSenders)
		}
		return nil
	})

	// Signed deliveries beside the flood: 200, or 503 with Retry-After.
	const signed = 20
	events := make([]event, signed)
	pending := map[int]bool{}
	for i := range signed {
		events[i] = event{id: fmt.Sprintf("flood-%d", i), kind: "associate.created", associate: int64(500 + i), at: time.Now().Add(-time.Minute)}
		a := post(url, events[i].body(), "")
		switch {
		case a.err == nil && a.code == http.StatusOK:
		case a.err == nil && a.code == http.StatusServiceUnavailable && a.retryAfter != "":
			pending[i] = true
		default:
			t.Errorf("signed delivery %d beside the flood: want 200 or 503 with Retry-After, got %d %q (Retry-After %q) %v",
				i, a.code, a.result, a.retryAfter, a.err)
		}
	}
	close(release)
	senders.Wait()
	close(codes)
	for code := range codes {
		if code != http.StatusServiceUnavailable && code != http.StatusUnauthorized && code != http.StatusBadRequest && code != 0 {
			t.Errorf("a flood request got %d; want 503 busy, 401 or 400 (its body was cut short), or a closed connection", code)
		}
	}

	for i := range pending {
		testenv.Eventually(t, 60*time.Second, fmt.Sprintf("signed delivery %d, refused as busy, to succeed when resent", i), func() error {
			if a := post(url, events[i].body(), ""); a.err != nil || a.code != http.StatusOK {
				return fmt.Errorf("got %d %q %v", a.code, a.result, a.err)
			}
			return nil
		})
	}
	for _, e := range events {
		if !associateExists(t, ns, e.name()) {
			t.Errorf("acknowledged delivery %s: Associate %s missing", e.id, e.name())
		}
	}

	after, err := peakRSS(m.Pid())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("peak RSS %d -> %d MiB during a flood of %d bodies of 1 MiB (%d refused as busy); %d of %d signed deliveries were busy first",
		before>>20, after>>20, floodSenders, int(busyCount(t, m)), len(pending), signed)
	if growth := after - before; growth >= floodPeakGrowth {
		t.Errorf("the flood grew the manager's peak RSS by %d MiB; want less than %d MiB: bodies are read beyond the in-flight budget",
			growth>>20, floodPeakGrowth>>20)
	}
}

// slowSender announces a 1 MiB body, sends all of it but the last byte, and holds it
// until release (or the server answers or closes); it returns the HTTP code, 0 for none.
func slowSender(addr, path string, release <-chan struct{}, settled *atomic.Int32) int {
	var once sync.Once
	settle := func() { once.Do(func() { settled.Add(1) }) }
	defer settle()
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return 0
	}
	defer func() { _ = conn.Close() }()
	answered := make(chan int, 1)
	go func() {
		_ = conn.SetReadDeadline(time.Now().Add(120 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			answered <- 0
			return
		}
		_ = resp.Body.Close()
		settle()
		answered <- resp.StatusCode
	}()
	head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: fault\r\nContent-Type: application/json\r\nContent-Length: %d\r\nX-SuperOffice-Signature: %s\r\n\r\n",
		path, floodBody, badSignature(7))
	_ = conn.SetWriteDeadline(time.Now().Add(60 * time.Second))
	if _, err := conn.Write(append([]byte(head), bytes.Repeat([]byte(" "), floodBody-1)...)); err != nil {
		settle()
		return <-answered
	}
	settle()
	select {
	case code := <-answered:
		return code
	case <-release:
		_, _ = conn.Write([]byte(" "))
		return <-answered
	}
}

// busyCount is how many deliveries the manager refused as busy.
func busyCount(t *testing.T, m *managerProcess) float64 {
	t.Helper()
	code, body, err := testenv.HTTPGet(context.Background(), "http://"+m.MetricsAddr+"/metrics")
	if err != nil || code != http.StatusOK {
		t.Fatalf("reading the metrics of %s: %d %v", m.MetricsAddr, code, err)
	}
	families, err := testenv.ParseMetrics(body)
	if err != nil {
		t.Fatal(err)
	}
	return testenv.SumMetric(families, "associate_operator_webhook_requests_total", map[string]string{"result": "busy"})
}

// peakRSS is a process's peak resident set size (VmHWM) in bytes.
func peakRSS(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kib, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				return 0, err
			}
			return kib << 10, nil
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", pid)
}
