package testenv

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// TCPProxy forwards loopback connections to a backend (the API server) until Cut, which
// closes the listener and every forwarded connection: the outage a fault test needs.
type TCPProxy struct {
	backend string

	mu       sync.Mutex
	listener net.Listener
	address  string
	conns    map[net.Conn]struct{}
}

// StartTCPProxy listens on a free loopback port and forwards to backend (host:port); the
// proxy is cut when the test ends.
func StartTCPProxy(t testing.TB, backend string) *TCPProxy {
	t.Helper()
	p := &TCPProxy{backend: backend, conns: map[net.Conn]struct{}{}}
	if err := p.Restore(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Cut)
	return p
}

// Addr is the proxy's host:port; it stays the same across Cut and Restore.
func (p *TCPProxy) Addr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.address
}

// Restore listens again on the same address and forwards new connections. It is safe to
// call from any goroutine, and a no-op while the proxy is up.
func (p *TCPProxy) Restore() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.listener != nil {
		return nil
	}
	address := p.address
	if address == "" {
		address = "127.0.0.1:0"
	}
	var lc net.ListenConfig
	listener, err := lc.Listen(context.Background(), "tcp", address)
	if err != nil {
		return fmt.Errorf("proxy listening on %s: %w", address, err)
	}
	p.listener, p.address = listener, listener.Addr().String()
	go p.accept(listener)
	return nil
}

func (p *TCPProxy) accept(listener net.Listener) {
	for {
		client, err := listener.Accept()
		if err != nil {
			return
		}
		dialer := net.Dialer{Timeout: 5 * time.Second}
		server, err := dialer.DialContext(context.Background(), "tcp", p.backend)
		if err != nil {
			_ = client.Close()
			continue
		}
		p.mu.Lock()
		if p.listener != listener { // cut while dialling
			p.mu.Unlock()
			_ = client.Close()
			_ = server.Close()
			continue
		}
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

// Cut stops listening and closes every forwarded connection: the backend is gone.
func (p *TCPProxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.listener != nil {
		_ = p.listener.Close()
		p.listener = nil
	}
	for c := range p.conns {
		_ = c.Close()
	}
	clear(p.conns)
}
