package actionhttp

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
)

// post sends a body and answers the reply's status code.
func post(t *testing.T, client *http.Client, target string) (int, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, target, strings.NewReader(`{"signed":"body"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer func() { _ = resp.Body.Close() }()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

func requireRefused(t *testing.T, err error, addr string) {
	t.Helper()
	var blocked *BlockedError
	if !errors.As(err, &blocked) {
		t.Fatalf("expected the call to %s to be refused with a *BlockedError, got %v", addr, err)
	}
	if !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), "not allowed") {
		t.Fatalf("expected the error to say that %s is not allowed, got %q", addr, err)
	}
}

func TestALoopbackServerIsRefusedByDefault(t *testing.T) {
	var hits atomic.Int32
	server := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	defer server.Close()
	_, err := post(t, NewClient(nil), server.URL+"/hook")
	requireRefused(t, err, "127.0.0.1")
	if hits.Load() != 0 {
		t.Fatalf("expected the refused call never to reach the server, it got %d requests", hits.Load())
	}
}

func TestALoopbackServerIsAllowedByAllowActionNetworks(t *testing.T) {
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	defer server.Close()
	allow, err := ParseNetworks("127.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	code, err := post(t, NewClient(allow), server.URL+"/hook")
	if err != nil || code != http.StatusNoContent {
		t.Fatalf("expected --allow-action-networks=127.0.0.0/8 to let the call through, got %d, %v", code, err)
	}
}

// A 307 would re-send the signed body to wherever the endpoint points, past the address
// check of the first call: the client returns the 3xx as it is.
func TestARedirectIsNotFollowed(t *testing.T) {
	var elsewhere atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { elsewhere.Add(1) }))
	defer target.Close()
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/stolen", http.StatusTemporaryRedirect)
	}))
	defer redirector.Close()
	code, err := post(t, NewClient(Networks{netip.MustParsePrefix("127.0.0.0/8")}), redirector.URL+"/hook")
	if err != nil {
		t.Fatalf("expected the 307 itself as the answer, got %v", err)
	}
	if code != http.StatusTemporaryRedirect || elsewhere.Load() != 0 {
		t.Fatalf("expected a 307 answer and no request elsewhere, got %d and %d requests elsewhere", code, elsewhere.Load())
	}
}

// The check is on the address dialled, after DNS: a name is no way around it, and the
// metadata endpoint is refused before any packet leaves.
func TestTheMetadataAddressIsRefused(t *testing.T) {
	for _, target := range []string{"http://169.254.169.254/latest/meta-data/", "http://169.254.170.2/v2/credentials",
		"http://[fd00:ec2::254]/", "http://100.100.100.200/latest/meta-data/", "http://[::ffff:169.254.169.254]/", "http://0.0.0.0:80/",
		"http://localhost:1/"} {
		t.Run(target, func(t *testing.T) {
			_, err := post(t, NewClient(nil), target)
			var blocked *BlockedError
			if !errors.As(err, &blocked) || !strings.Contains(err.Error(), "not allowed") {
				t.Fatalf("expected %s to be refused as not allowed, got %v", target, err)
			}
		})
	}
}

// The manager's own addresses (its Pod IP: the metrics and webhook ports, and any
// sidecar) are refused like loopback.
func TestTheManagersOwnAddressIsRefused(t *testing.T) {
	own := firstInterfaceAddr(t)
	listener, err := net.Listen("tcp", netip.AddrPortFrom(own, 0).String())
	if err != nil {
		t.Skipf("cannot listen on %s: %v", own, err)
	}
	server := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	server.Listener = listener
	server.Start()
	defer server.Close()

	_, err = post(t, NewClient(nil), server.URL+"/hook")
	requireRefused(t, err, own.String())

	code, err := post(t, NewClient(Networks{netip.PrefixFrom(own, own.BitLen())}), server.URL+"/hook")
	if err != nil || code != http.StatusOK {
		t.Fatalf("expected --allow-action-networks=%s/%d to let the call through, got %d, %v", own, own.BitLen(), code, err)
	}
}

// firstInterfaceAddr is an address of this host that is neither loopback nor link-local.
func firstInterfaceAddr(t *testing.T) netip.Addr {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Skipf("cannot list the interface addresses: %v", err)
	}
	for _, a := range addrs {
		prefix, err := netip.ParsePrefix(a.String())
		if err != nil {
			continue
		}
		if addr := prefix.Addr(); !addr.IsLoopback() && !addr.IsLinkLocalUnicast() {
			return addr
		}
	}
	t.Skip("this host has no address besides loopback and link-local ones")
	return netip.Addr{}
}

// HTTP_PROXY and HTTPS_PROXY would have a proxy dial the target, past the check: the
// client uses no proxy.
func TestTheClientUsesNoProxyFromTheEnvironment(t *testing.T) {
	transport, ok := NewClient(nil).Transport.(*http.Transport)
	if !ok || transport.Proxy != nil {
		t.Fatalf("expected an *http.Transport without Proxy, got %#v", NewClient(nil).Transport)
	}
}

func TestAnAllowedNetworkLiftsTheBlockForItselfOnly(t *testing.T) {
	_, err := post(t, NewClient(Networks{netip.MustParsePrefix("127.0.0.0/8")}), "http://169.254.169.254/")
	requireRefused(t, err, "169.254.169.254")
}
