package ingress

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/assocsync/associate-operator/internal/ingress/samples"
	"github.com/assocsync/associate-operator/internal/mirror"
	"github.com/assocsync/associate-operator/internal/signature"
)

// startTestServer serves the handler on loopback with the given timeouts.
func startTestServer(t *testing.T, app applier, tm timeouts) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	srv.Config = newHTTPServer(newTestHandler(app), tm)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// rawPost writes a request byte for byte, so header names keep the case given.
func rawPost(t *testing.T, addr, path string, headers []string, body []byte) (int, string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: test\r\nContent-Length: %d\r\nConnection: close\r\n%s\r\n\r\n",
		path, len(body), strings.Join(headers, "\r\n"))
	_, _ = conn.Write(body)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the reply: %v", err)
	}
	defer resp.Body.Close()
	reply, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(reply)
}

func TestSignatureHeaderNameIsMatchedWhateverItsCaseOnTheWire(t *testing.T) {
	addr := startTestServer(t, &fakeApplier{result: mirror.Applied}, defaultTimeouts)
	body := samples.MustPayload("created")
	sig := signature.Sign([]byte(testSecret), body)
	for _, name := range []string{"x-superoffice-signature", "X-SUPEROFFICE-SIGNATURE", "X-Superoffice-Signature", "X-SuperOffice-Signature"} {
		code, reply := rawPost(t, addr, "/webhooks/acc/so", []string{name + ": " + sig, "content-type: application/json"}, body)
		if code != http.StatusOK {
			t.Errorf("header %s: want 200, got %d %s", name, code, reply)
		}
	}
}

func TestServerTimeoutsCloseASlowClient(t *testing.T) {
	tm := timeouts{readHeader: 200 * time.Millisecond, read: 500 * time.Millisecond, write: 2 * time.Second, idle: time.Second}
	addr := startTestServer(t, &fakeApplier{result: mirror.Applied}, tm)

	t.Run("headers that never end", func(t *testing.T) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "POST /webhooks/acc/so HTTP/1.1\r\nHost: test\r\n")
		expectClosedWithin(t, conn, 10*time.Second)
	})
	t.Run("a body that trickles", func(t *testing.T) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "POST /webhooks/acc/so HTTP/1.1\r\nHost: test\r\nContent-Length: 100000\r\n\r\n{")
		expectClosedWithin(t, conn, 10*time.Second)
	})
}

// expectClosedWithin reads until the server ends the connection (EOF, a reset or an
// error reply), failing if it is still open at the deadline.
func expectClosedWithin(t *testing.T, conn net.Conn, limit time.Duration) {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(limit))
	buf := make([]byte, 4096)
	for {
		_, err := conn.Read(buf)
		if err == nil {
			continue
		}
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("the server still holds the slow client's connection after %s", limit)
		}
		return
	}
}
