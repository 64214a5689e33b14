package fault

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"
)

// TestAPIServerOutageLosesNoAcknowledgedDelivery: the manager reaches the API server
// through a loopback proxy that the test cuts and restores during a bounded stream.
// Deliveries answered 200 are stored; the others were answered 503 with Retry-After and
// succeed when resent.
func TestAPIServerOutageLosesNoAcknowledgedDelivery(t *testing.T) {
	ns := setupReceiver(t)
	host, err := url.Parse(restConfig.Host)
	if err != nil {
		t.Fatal(err)
	}
	proxy := startProxy(t, host.Host)
	_, target := startServing(t, adminKubeconfig(t, proxy.addr()), ns)

	const n = 30
	base := time.Now().Add(-time.Hour)
	events := make([]event, n)
	answers := make([]answer, n)
	for i := range n {
		events[i] = event{id: fmt.Sprintf("outage-%d", i), kind: "associate.created", associate: int64(200 + i), at: base}
	}
	for i := range n {
		switch i {
		case n / 3:
			proxy.cut()
		case 2 * n / 3:
			proxy.restore(t)
		}
		answers[i] = post(target, events[i].body(), "")
	}
	refused := 0
	for i, a := range answers {
		switch {
		case a.code == http.StatusOK:
		case a.code == http.StatusServiceUnavailable && a.retryAfter != "":
			refused++
		default:
			t.Errorf("delivery %d during the outage: want 200, or 503 with Retry-After; got %d (Retry-After %q) %v", i, a.code, a.retryAfter, a.err)
		}
	}
	if refused == 0 {
		t.Errorf("no delivery was refused while the API server was unreachable: the outage did not bite")
	}
	checkAcknowledgedPresentAndResendRest(t, ns, target, events, answers)
}

// tcpProxy forwards loopback connections to the API server until cut.
type tcpProxy struct {
	backend  string
	mu       sync.Mutex
	listener net.Listener
	address  string
	conns    map[net.Conn]struct{}
}

func startProxy(t *testing.T, backend string) *tcpProxy {
	t.Helper()
	p := &tcpProxy{backend: backend, conns: map[net.Conn]struct{}{}}
	p.restore(t)
	t.Cleanup(p.cut)
	return p
}

func (p *tcpProxy) addr() string { return p.address }

// restore listens again on the same address and forwards new connections.
func (p *tcpProxy) restore(t *testing.T) {
	t.Helper()
	address := p.address
	if address == "" {
		address = "127.0.0.1:0"
	}
	listener, err := net.Listen("tcp", address)
	if err != nil {
		t.Fatalf("proxy listening on %s: %v", address, err)
	}
	p.mu.Lock()
	p.listener, p.address = listener, listener.Addr().String()
	p.mu.Unlock()
	go p.accept(listener)
}

func (p *tcpProxy) accept(listener net.Listener) {
	for {
		client, err := listener.Accept()
		if err != nil {
			return
		}
		server, err := net.DialTimeout("tcp", p.backend, 5*time.Second)
		if err != nil {
			_ = client.Close()
			continue
		}
		p.mu.Lock()
		p.conns[client], p.conns[server] = struct{}{}, struct{}{}
		p.mu.Unlock()
		go pipe(client, server)
		go pipe(server, client)
	}
}

func pipe(dst, src net.Conn) {
	_, _ = io.Copy(dst, src)
	_ = dst.Close()
	_ = src.Close()
}

// cut stops listening and closes every forwarded connection: the API server is gone.
func (p *tcpProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.listener != nil {
		_ = p.listener.Close()
		p.listener = nil
	}
	for c := range p.conns {
		_ = c.Close()
		delete(p.conns, c)
	}
}
